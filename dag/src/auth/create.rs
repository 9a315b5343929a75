//! Rule 1 (the `m.room.create` event itself) and what the rest of the rules need from it: who
//! the room's creators are.

use serde_json::Value;

use super::error::AuthError;
use super::ids::{is_valid_user_id, server_name_of};
use crate::{RoomEvent, RoomVersion};

/// Rule 1: whether a create event is allowed. It depends on nothing but the event itself.
pub fn check_create<E: RoomEvent>(version: RoomVersion, create: &E) -> Result<(), AuthError> {
    if create.prev_events().len() > 0 {
        return Err(AuthError::CreateHasPrevEvents);
    }
    check_create_room_id(version, create)?;
    check_declared_room_version(version, create.content())?;
    if version.create_has_creator_field() && create.content().get("creator").is_none() {
        return Err(AuthError::CreateMissingCreator);
    }
    if version.room_id_is_create_hash() {
        additional_creators(create.content())?;
    }
    Ok(())
}

/// v12 derives the room ID from the create event, so the event has none; earlier versions
/// require the room ID to be on the sender's server.
fn check_create_room_id<E: RoomEvent>(version: RoomVersion, create: &E) -> Result<(), AuthError> {
    match (version.room_id_is_create_hash(), create.room_id()) {
        (true, None) => Ok(()),
        (true, Some(_)) => Err(AuthError::CreateHasRoomId),
        (false, None) => Err(AuthError::CreateMissingRoomId),
        (false, Some(room_id)) => {
            let sender_server = server_name_of(create.sender());
            if sender_server.is_some() && server_name_of(room_id) == sender_server {
                Ok(())
            } else {
                Err(AuthError::CreateRoomIdDomainMismatch {
                    room_id: room_id.to_owned(),
                    sender: create.sender().to_owned(),
                })
            }
        }
    }
}

/// "Recognised" means a version this node implements. A create event naming a version other than
/// the one the caller checks it as would make the caller apply the wrong rules, so that is
/// refused as well.
fn check_declared_room_version(version: RoomVersion, content: &Value) -> Result<(), AuthError> {
    let Some(declared) = content.get("room_version") else {
        return Ok(());
    };
    let Some(declared) = declared.as_str() else {
        return Err(AuthError::UnrecognisedRoomVersion(declared.to_string()));
    };
    match declared.parse::<RoomVersion>() {
        Err(_) => Err(AuthError::UnrecognisedRoomVersion(declared.to_owned())),
        Ok(found) if found != version => Err(AuthError::RoomVersionMismatch {
            found: declared.to_owned(),
            expected: version.to_string(),
        }),
        Ok(_) => Ok(()),
    }
}

/// v12 `content.additional_creators`: absent, or an array of valid user IDs.
fn additional_creators(content: &Value) -> Result<Vec<&str>, AuthError> {
    let Some(value) = content.get("additional_creators") else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or(AuthError::InvalidAdditionalCreators)?;
    items
        .iter()
        .map(|item| item.as_str().filter(|id| is_valid_user_id(id)))
        .collect::<Option<Vec<_>>>()
        .ok_or(AuthError::InvalidAdditionalCreators)
}

/// The room's creators: v10 `content.creator`; v11 the create event's sender; v12 the sender plus
/// `content.additional_creators`.
pub fn creators<E: RoomEvent>(version: RoomVersion, create: &E) -> Result<Vec<&str>, AuthError> {
    if version.create_has_creator_field() {
        return Ok(create
            .content()
            .get("creator")
            .and_then(Value::as_str)
            .into_iter()
            .collect());
    }
    let mut creators = vec![create.sender()];
    if version.room_id_is_create_hash() {
        creators.extend(additional_creators(create.content())?);
    }
    Ok(creators)
}

/// The creator whose join directly after the create event needs no other permission (rule
/// 5.3.1): v10 `content.creator`, later versions the create event's sender.
pub fn original_creator<E: RoomEvent>(version: RoomVersion, create: &E) -> Option<&str> {
    if version.create_has_creator_field() {
        create.content().get("creator").and_then(Value::as_str)
    } else {
        Some(create.sender())
    }
}
