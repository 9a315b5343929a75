//! Rule 5.2 and the preamble "events must be signed by the server denoted by the sender" depend
//! on signatures, which [`crate::RoomEvent`] does not expose; this names the servers whose
//! signatures the caller must verify.

use super::error::AuthError;
use super::ids::user_server_name;
use super::state::MEMBER;
use crate::RoomEvent;

/// The servers whose signatures the event must carry for the authorization rules to hold: the
/// sender's server ("events must be signed by the server denoted by the sender"), and for a
/// member event with `join_authorised_via_users_server`, that user's server (rule 5.2). The
/// caller verifies these signatures (with [`crate::signing`]) before calling [`super::check_auth`],
/// which takes them as given.
pub fn servers_that_must_sign<E: RoomEvent>(event: &E) -> Result<Vec<&str>, AuthError> {
    let sender_server = user_server_name(event.sender())
        .ok_or_else(|| AuthError::InvalidSender(event.sender().to_owned()))?;
    let mut servers = vec![sender_server];
    let authoriser = event.content().get("join_authorised_via_users_server");
    if event.event_type() == MEMBER
        && let Some(authoriser) = authoriser
    {
        let server = authoriser
            .as_str()
            .and_then(user_server_name)
            .ok_or(AuthError::InvalidJoinAuthoriser)?;
        if !servers.contains(&server) {
            servers.push(server);
        }
    }
    Ok(servers)
}
