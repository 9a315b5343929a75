//! Room aliases: `#localpart:server` names for rooms, kept by the node that made them (the mesh
//! does not carry them). An alias is added by a joined member, removed by its creator, a server
//! admin or whoever may set the room's canonical alias, and read by anyone. A canonical alias
//! event may add only aliases that point to its room.

use axum::http::StatusCode;
use dag::RoomEvent;
use dag::room::RoomStore;
use serde_json::Value;

use super::power::may_send_state;
use super::timeline::{is_joined, reader_membership, world_readable};
use super::{EventOrigin, RoomService};
use crate::api::MatrixError;
use crate::store::aliases::{alias_entry, aliases_of_room, delete_alias, insert_alias};
use crate::store::rooms::SqliteRoomStore;
use crate::store::{now_ms, timeline};

/// The spec's limit on every identifier.
const MAX_ALIAS_BYTES: usize = 255;

/// Checks the grammar of a room alias and returns its server name. The localpart may hold
/// anything but `:`, NUL, whitespace and control characters (the last two as Synapse refuses
/// them: an alias is typed and read by people).
pub fn alias_server(alias: &str) -> Result<&str, MatrixError> {
    let invalid =
        |why: &str| MatrixError::invalid_param(format!("Invalid room alias {alias:?}: {why}"));
    if alias.len() > MAX_ALIAS_BYTES {
        return Err(invalid("longer than 255 bytes"));
    }
    let (localpart, server) = alias
        .strip_prefix('#')
        .ok_or_else(|| invalid("does not start with '#'"))?
        .split_once(':')
        .ok_or_else(|| invalid("no ':' before the server name"))?;
    check_alias_localpart(localpart).map_err(invalid)?;
    dag::ids::validate_server_name(server).map_err(|_| invalid("bad server name"))?;
    Ok(server)
}

fn check_alias_localpart(localpart: &str) -> Result<(), &'static str> {
    if localpart.is_empty() {
        Err("empty localpart")
    } else if localpart
        .chars()
        .any(|c| c == ':' || c.is_whitespace() || c.is_control())
    {
        Err("':', whitespace or a control character in the localpart")
    } else {
        Ok(())
    }
}

/// The alias `createRoom` makes of `room_alias_name` on this server.
pub fn alias_for_name(name: &str, server_name: &str) -> Result<String, MatrixError> {
    let alias = format!("#{name}:{server_name}");
    check_alias_localpart(name).map_err(|why| {
        MatrixError::invalid_param(format!("Invalid room_alias_name {name:?}: {why}"))
    })?;
    alias_server(&alias)?;
    Ok(alias)
}

/// Checks an alias this node may add or remove: well formed and of this server.
fn check_local_alias(alias: &str, server_name: &str) -> Result<(), MatrixError> {
    if alias_server(alias)? == server_name {
        Ok(())
    } else {
        Err(MatrixError::invalid_param(format!(
            "Room alias {alias} is not of this server"
        )))
    }
}

/// Fails with `M_ROOM_IN_USE` (status `status`) if the alias exists.
pub fn check_alias_free(
    store: &SqliteRoomStore,
    alias: &str,
    status: StatusCode,
) -> Result<(), MatrixError> {
    match alias_entry(store.connection(), alias)? {
        Some(_) => Err(MatrixError::room_in_use(status, alias)),
        None => Ok(()),
    }
}

impl RoomService {
    /// The room an alias names (`GET /directory/room/{alias}`, `/join/{alias}`).
    pub async fn resolve_alias(&self, alias: String) -> Result<String, MatrixError> {
        alias_server(&alias)?;
        self.store()
            .call(move |connection| alias_entry(connection, &alias))
            .await?
            .map(|entry| entry.room_id)
            .ok_or_else(|| MatrixError::not_found("Room alias not found"))
    }

    /// `GET /directory/list/room/{roomId}`: every room this node holds is `private`, since it
    /// publishes no room directory (crews find rooms by alias or invite).
    pub async fn directory_visibility(&self, room_id: String) -> Result<&'static str, MatrixError> {
        self.with_room_store(EventOrigin::Local, move |store| {
            match store.room(&room_id) {
                Some(_) => Ok("private"),
                None => Err(MatrixError::not_found("Unknown room")),
            }
        })
        .await?
    }

    /// `PUT /directory/room/{alias}`: only a member of the room (or a server admin) names it.
    pub async fn add_alias(
        &self,
        user_id: String,
        is_admin: bool,
        alias: String,
        room_id: String,
    ) -> Result<(), MatrixError> {
        check_local_alias(&alias, self.server_name())?;
        if !room_id.starts_with('!') {
            return Err(MatrixError::invalid_param(format!(
                "Invalid room ID {room_id:?}"
            )));
        }
        self.with_room_store(EventOrigin::Local, move |store| {
            if store.room(&room_id).is_none() {
                return Err(MatrixError::not_found("Unknown room"));
            }
            let membership = timeline::membership(store.connection(), &room_id, &user_id)?;
            if !is_admin && !is_joined(&membership) {
                return Err(MatrixError::forbidden(
                    "You must be in the room to give it an alias",
                ));
            }
            match insert_alias(store.connection(), &alias, &room_id, &user_id, now_ms())? {
                true => Ok(()),
                false => Err(MatrixError::room_in_use(StatusCode::CONFLICT, &alias)),
            }
        })
        .await?
    }

    /// `DELETE /directory/room/{alias}`.
    pub async fn remove_alias(
        &self,
        user_id: String,
        is_admin: bool,
        alias: String,
    ) -> Result<(), MatrixError> {
        check_local_alias(&alias, self.server_name())?;
        self.with_room_store(EventOrigin::Local, move |store| {
            let entry = alias_entry(store.connection(), &alias)?
                .ok_or_else(|| MatrixError::not_found("Room alias not found"))?;
            let allowed = is_admin
                || entry.creator == user_id
                || may_set_canonical_alias(store, &entry.room_id, &user_id);
            if !allowed {
                return Err(MatrixError::forbidden(
                    "Only the alias's creator, a server admin or a room moderator may remove it",
                ));
            }
            delete_alias(store.connection(), &alias)?;
            Ok(())
        })
        .await?
    }

    /// Checks the content of an `m.room.canonical_alias` event about to be sent: `alias` and
    /// `alt_aliases` must be well formed, and each one the room's current canonical alias
    /// event does not list yet must be an alias of this node for this room (`M_BAD_ALIAS`).
    /// Aliases of other nodes cannot be looked up here, so they can only be kept, not added.
    pub async fn check_canonical_alias(
        &self,
        room_id: String,
        content: Value,
    ) -> Result<(), MatrixError> {
        let aliases = canonical_aliases(&content)?;
        for alias in &aliases {
            alias_server(alias)?;
        }
        self.with_room_store(EventOrigin::Local, move |store| {
            let current = current_canonical_aliases(store, &room_id);
            for alias in aliases.iter().filter(|alias| !current.contains(*alias)) {
                let entry = alias_entry(store.connection(), alias)?;
                if entry.is_none_or(|entry| entry.room_id != room_id) {
                    return Err(MatrixError::bad_alias(alias));
                }
            }
            Ok(())
        })
        .await?
    }

    /// `GET /rooms/{roomId}/aliases`: for joined members, or anyone if the room is
    /// world-readable.
    pub async fn room_aliases(
        &self,
        user_id: String,
        room_id: String,
    ) -> Result<Vec<String>, MatrixError> {
        self.with_room_store(EventOrigin::Local, move |store| {
            let membership = reader_membership(store, &room_id, &user_id)?;
            let readable = is_joined(&membership)
                || store
                    .room(&room_id)
                    .is_some_and(|room| world_readable(store, &room.current_state));
            if !readable {
                return Err(MatrixError::forbidden("You are not in this room"));
            }
            Ok(aliases_of_room(store.connection(), &room_id)?)
        })
        .await?
    }
}

/// The aliases an `m.room.canonical_alias` content names; `M_INVALID_PARAM` unless `alias` is a
/// string and `alt_aliases` a list of strings, where present.
fn canonical_aliases(content: &Value) -> Result<Vec<String>, MatrixError> {
    let invalid =
        |what: &str| MatrixError::invalid_param(format!("{what} in m.room.canonical_alias"));
    let mut aliases = Vec::new();
    match content.get("alias") {
        None | Some(Value::Null) => {}
        Some(Value::String(alias)) => aliases.push(alias.clone()),
        Some(_) => return Err(invalid("alias is not a string")),
    }
    match content.get("alt_aliases") {
        None => {}
        Some(Value::Array(list)) => {
            for alias in list {
                let alias = alias
                    .as_str()
                    .ok_or_else(|| invalid("alt_aliases holds something other than a string"))?;
                aliases.push(alias.to_owned());
            }
        }
        Some(_) => return Err(invalid("alt_aliases is not a list")),
    }
    Ok(aliases)
}

/// The aliases the room's current canonical alias event names.
fn current_canonical_aliases(store: &SqliteRoomStore, room_id: &str) -> Vec<String> {
    store
        .room(room_id)
        .and_then(|room| {
            let id = room
                .current_state
                .get(&("m.room.canonical_alias".to_owned(), String::new()))?
                .clone();
            store.event(&id)
        })
        .and_then(|event| canonical_aliases(event.pdu.content()).ok())
        .unwrap_or_default()
}

/// Whether the user's power in the room's current state lets them set its canonical alias.
fn may_set_canonical_alias(store: &SqliteRoomStore, room_id: &str, user_id: &str) -> bool {
    let Some(room) = store.room(room_id) else {
        return false;
    };
    let state_event = |event_type: &str| {
        room.current_state
            .get(&(event_type.to_owned(), String::new()))
            .and_then(|id| store.event(id))
    };
    let create = state_event("m.room.create");
    let power_levels = state_event("m.room.power_levels");
    may_send_state(
        room.version,
        create.as_ref().map(|event| &*event.pdu),
        power_levels.as_ref().map(|event| event.pdu.content()),
        user_id,
        "m.room.canonical_alias",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_need_a_hash_a_localpart_and_a_server() {
        assert_eq!(alias_server("#deck:ship.example").unwrap(), "ship.example");
        assert_eq!(alias_server("#über-deck:[::1]:8448").unwrap(), "[::1]:8448");
        let too_long = format!("#{}:x", "a".repeat(300));
        for bad in [
            "deck:ship",
            "#deck",
            "#:ship",
            "#de ck:ship",
            "#de\u{0}ck:ship",
            "#deck:",
            "#deck:bad host",
            &too_long,
        ] {
            let error = alias_server(bad).unwrap_err();
            assert_eq!(error.errcode, "M_INVALID_PARAM", "{bad}");
        }
    }

    #[test]
    fn room_alias_names_become_local_aliases() {
        assert_eq!(alias_for_name("deck", "ship").unwrap(), "#deck:ship");
        for bad in ["", "a:b", "a b", "a\nb"] {
            assert!(alias_for_name(bad, "ship").is_err(), "{bad:?}");
        }
    }
}
