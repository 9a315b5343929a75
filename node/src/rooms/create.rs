//! `createRoom`: the create event, then the events Synapse sends for the request, in its
//! order: the creator's join, power levels, the canonical alias (with `room_alias_name`), the
//! preset's join rules, history visibility and guest access (unless `initial_state` sets them),
//! `initial_state`, name, topic, invites.

use std::sync::Arc;

use dag::RoomVersion;
use dag::canonical_json::Object;
use dag::room::{self, NewEvent, Received};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::aliases::{alias_for_name, check_alias_free};
use super::{EventOrigin, RoomService, send_error};
use crate::api::MatrixError;
use crate::credentials::new_room_localpart;
use crate::store::aliases::insert_alias;
use crate::store::now_ms;

#[derive(Debug, Default, Deserialize)]
pub struct CreateRoomRequest {
    pub room_version: Option<String>,
    pub preset: Option<String>,
    pub visibility: Option<String>,
    pub name: Option<String>,
    pub topic: Option<String>,
    /// The localpart of an alias on this server for the room.
    pub room_alias_name: Option<String>,
    #[serde(default)]
    pub invite: Vec<String>,
    #[serde(default)]
    pub initial_state: Vec<InitialStateEvent>,
    pub power_level_content_override: Option<Map<String, Value>>,
    pub creation_content: Option<Map<String, Value>>,
    #[serde(default)]
    pub is_direct: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InitialStateEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub state_key: String,
    pub content: Map<String, Value>,
}

/// The creator's profile, for their join event.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

impl Profile {
    pub fn member_content(&self, membership: &str) -> Value {
        let mut content = json!({"membership": membership});
        if let Some(name) = &self.displayname {
            content["displayname"] = json!(name);
        }
        if let Some(url) = &self.avatar_url {
            content["avatar_url"] = json!(url);
        }
        content
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Preset {
    Private,
    Public,
    TrustedPrivate,
}

impl Preset {
    fn of(request: &CreateRoomRequest) -> Result<Preset, MatrixError> {
        match request.preset.as_deref() {
            Some("private_chat") => Ok(Preset::Private),
            Some("public_chat") => Ok(Preset::Public),
            Some("trusted_private_chat") => Ok(Preset::TrustedPrivate),
            Some(other) => Err(MatrixError::bad_json(format!("Unknown preset {other:?}"))),
            None if request.visibility.as_deref() == Some("public") => Ok(Preset::Public),
            None => Ok(Preset::Private),
        }
    }
}

/// The room version of a request: the configured default unless it asks for one we support.
pub fn requested_version(
    requested: Option<&str>,
    default: RoomVersion,
) -> Result<RoomVersion, MatrixError> {
    match requested {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| MatrixError::unsupported_room_version(text)),
    }
}

impl RoomService {
    /// Creates a room for `creator` and returns its ID.
    pub async fn create_room(
        &self,
        creator: String,
        profile: Profile,
        request: CreateRoomRequest,
        version: RoomVersion,
    ) -> Result<String, MatrixError> {
        let preset = Preset::of(&request)?;
        for user_id in &request.invite {
            dag::ids::validate_user_id(user_id)
                .map_err(|_| MatrixError::invalid_param(format!("Invalid user ID {user_id:?}")))?;
        }
        let alias = request
            .room_alias_name
            .as_deref()
            .map(|name| alias_for_name(name, self.server_name()))
            .transpose()?;
        let events = initial_events(
            &creator,
            &profile,
            &request,
            preset,
            version,
            alias.as_deref(),
        );
        let create_content = request.creation_content.clone().unwrap_or_default();
        let pre_v12_room_id = match version.room_id_is_create_hash() {
            true => None,
            false => Some(format!(
                "!{}:{}",
                new_room_localpart().map_err(MatrixError::internal)?,
                self.server_name()
            )),
        };
        let key = Arc::clone(self.key());
        self.with_room_store(EventOrigin::Local, move |store| {
            // Checked on the database thread, which runs one job at a time: nobody can take
            // the alias between this check and the insert below.
            if let Some(alias) = &alias {
                check_alias_free(store, alias, axum::http::StatusCode::BAD_REQUEST)?;
            }
            let ts = || u64::try_from(now_ms()).unwrap_or(0);
            let create = room::build_create_event(
                version,
                &creator,
                sanitized_creation_content(create_content),
                ts(),
                pre_v12_room_id.as_deref(),
                &key,
            )
            .map_err(|error| MatrixError::bad_json(format!("Invalid creation_content: {error}")))?;
            let room_id = match room::receive(store, create.into_json()) {
                Ok(Received::Stored { room_id, .. }) => room_id,
                Ok(other) => return Err(MatrixError::internal(format!("create event: {other:?}"))),
                Err(error) => return Err(MatrixError::internal(error)),
            };
            for new in events {
                room::send(store, &room_id, &new, ts(), &key).map_err(send_error)?;
            }
            if let Some(alias) = &alias {
                insert_alias(store.connection(), alias, &room_id, &creator, now_ms())?;
            }
            Ok(room_id)
        })
        .await?
    }
}

/// The room version and creator are the server's to set.
fn sanitized_creation_content(mut content: Map<String, Value>) -> Object {
    content.remove("room_version");
    content.remove("creator");
    content
}

fn initial_events(
    creator: &str,
    profile: &Profile,
    request: &CreateRoomRequest,
    preset: Preset,
    version: RoomVersion,
    alias: Option<&str>,
) -> Vec<NewEvent> {
    let state = |event_type: &str, state_key: &str, content: Value| NewEvent {
        event_type: event_type.to_owned(),
        state_key: Some(state_key.to_owned()),
        sender: creator.to_owned(),
        content,
    };
    let mut events = vec![
        state("m.room.member", creator, profile.member_content("join")),
        state(
            "m.room.power_levels",
            "",
            power_levels(creator, request, preset, version),
        ),
    ];
    if let Some(alias) = alias {
        events.push(state("m.room.canonical_alias", "", json!({"alias": alias})));
    }
    let overridden = |event_type: &str| {
        request
            .initial_state
            .iter()
            .any(|event| event.event_type == event_type && event.state_key.is_empty())
    };
    let join_rule = match preset {
        Preset::Public => "public",
        _ => "invite",
    };
    let mut preset_events = vec![
        ("m.room.join_rules", json!({"join_rule": join_rule})),
        (
            "m.room.history_visibility",
            json!({"history_visibility": "shared"}),
        ),
    ];
    if preset != Preset::Public {
        preset_events.push(("m.room.guest_access", json!({"guest_access": "can_join"})));
    }
    for (event_type, content) in preset_events {
        if !overridden(event_type) {
            events.push(state(event_type, "", content));
        }
    }
    for event in &request.initial_state {
        events.push(state(
            &event.event_type,
            &event.state_key,
            Value::Object(event.content.clone()),
        ));
    }
    if let Some(name) = &request.name {
        events.push(state("m.room.name", "", json!({"name": name})));
    }
    if let Some(topic) = &request.topic {
        events.push(state("m.room.topic", "", json!({"topic": topic})));
    }
    for invitee in &request.invite {
        let mut content = json!({"membership": "invite"});
        if request.is_direct {
            content["is_direct"] = json!(true);
        }
        events.push(state("m.room.member", invitee, content));
    }
    events
}

/// Synapse's default power levels, then the request's override. From v12 the creators have
/// infinite power and must not be listed in `users`.
fn power_levels(
    creator: &str,
    request: &CreateRoomRequest,
    preset: Preset,
    version: RoomVersion,
) -> Value {
    let mut users = Map::new();
    if !version.room_id_is_create_hash() {
        users.insert(creator.to_owned(), json!(100));
    }
    if preset == Preset::TrustedPrivate {
        for invitee in &request.invite {
            users.insert(invitee.clone(), json!(100));
        }
    }
    let mut content = json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 0,
        "notifications": {"room": 50},
    });
    if let (Some(overrides), Value::Object(object)) =
        (&request.power_level_content_override, &mut content)
    {
        for (key, value) in overrides {
            object.insert(key.clone(), value.clone());
        }
    }
    if version.room_id_is_create_hash()
        && let Some(Value::Object(users)) = content.get_mut("users")
    {
        users.remove(creator);
    }
    content
}
