//! Validation of Matrix identifiers (appendices, "Identifier Grammar").
//!
//! Identifiers stay `String`s throughout the crate; these checks run once, where an event enters.

use crate::RoomVersion;
use crate::base64;

/// Identifiers, including sigil and server name, may not exceed 255 bytes.
pub const MAX_ID_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn id_error(kind: &'static str, value: &str, reason: &'static str) -> IdError {
    IdError {
        kind,
        value: value.chars().take(300).collect(),
        reason,
    }
}

/// A server name: a DNS name, IPv4 literal or bracketed IPv6 literal, with an optional port.
pub fn validate_server_name(name: &str) -> Result<(), IdError> {
    let err = |reason| Err(id_error("server name", name, reason));
    let (host, port) = match name.rsplit_once(':') {
        Some((host, port))
            if !name.ends_with(']') && (!host.starts_with('[') || host.ends_with(']')) =>
        {
            (host, Some(port))
        }
        _ => (name, None),
    };
    let valid_port = |port: &str| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    };
    if port.is_some_and(|port| !valid_port(port)) {
        return err("bad port");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(address) = inner.strip_suffix(']') else {
            return err("unclosed IPv6 literal");
        };
        let allowed = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
        if !(2..=45).contains(&address.len()) || !address.bytes().all(allowed) {
            return err("bad IPv6 literal");
        }
        return Ok(());
    }
    let dns_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    if host.is_empty() || host.len() > 255 || !host.bytes().all(dns_char) {
        return err("bad host name");
    }
    Ok(())
}

/// The server part of a user ID, room ID of older versions, or room alias.
pub fn server_name_of(id: &str) -> Option<&str> {
    id.split_once(':').map(|(_, server)| server)
}

/// A user ID. Localparts are checked against the historical grammar (anything but `:` and NUL)
/// because events from other servers may legitimately carry such senders.
pub fn validate_user_id(user_id: &str) -> Result<(), IdError> {
    let err = |reason| Err(id_error("user ID", user_id, reason));
    if user_id.len() > MAX_ID_BYTES {
        return err("longer than 255 bytes");
    }
    let Some(rest) = user_id.strip_prefix('@') else {
        return err("does not start with '@'");
    };
    let Some((localpart, server)) = rest.split_once(':') else {
        return err("no ':' before the server name");
    };
    if localpart.contains('\0') {
        return err("NUL in localpart");
    }
    validate_server_name(server).map_err(|e| id_error("user ID", user_id, e.reason))
}

/// Whether a localpart is one this server may create: `a-z 0-9 . _ = - / +`, not empty.
pub fn is_valid_new_localpart(localpart: &str) -> bool {
    !localpart.is_empty()
        && localpart.bytes().all(
            |b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'),
        )
}

/// An event ID of room versions 4 and later: `$` and 43 URL-safe base64 characters.
pub fn validate_event_id(event_id: &str) -> Result<(), IdError> {
    match event_id.strip_prefix('$') {
        Some(hash) if is_reference_hash(hash) => Ok(()),
        _ => Err(id_error(
            "event ID",
            event_id,
            "not '$' followed by a URL-safe base64 SHA-256",
        )),
    }
}

/// A room ID as `version` shapes it: `!` + the create event's hash in v12, `!opaque:server` before.
pub fn validate_room_id(version: RoomVersion, room_id: &str) -> Result<(), IdError> {
    let err = |reason| Err(id_error("room ID", room_id, reason));
    let Some(rest) = room_id.strip_prefix('!') else {
        return err("does not start with '!'");
    };
    if version.room_id_is_create_hash() {
        return if is_reference_hash(rest) {
            Ok(())
        } else {
            err("not '!' followed by a URL-safe base64 SHA-256")
        };
    }
    if room_id.len() > MAX_ID_BYTES {
        return err("longer than 255 bytes");
    }
    let Some((opaque, server)) = rest.split_once(':') else {
        return err("no ':' before the server name");
    };
    if opaque.contains('\0') {
        return err("NUL in opaque part");
    }
    validate_server_name(server).map_err(|e| id_error("room ID", room_id, e.reason))
}

fn is_reference_hash(text: &str) -> bool {
    text.len() == 43
        && base64::decode_url_safe_canonical(text).is_some_and(|bytes| bytes.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for ok in [
            "matrix.org",
            "matrix.org:8888",
            "1.2.3.4",
            "1.2.3.4:1234",
            "[1234:5678::abcd]",
            "[1234:5678::abcd]:5678",
            "localhost",
            "a",
        ] {
            assert!(validate_server_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "matrix.org:",
            "matrix.org:123456",
            "[1234",
            "[::1]x",
            "ex_ample.org",
            "a:b:c",
        ] {
            assert!(validate_server_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids() {
        assert!(validate_user_id("@alice:example.org").is_ok());
        assert!(validate_user_id("@Historic Name:example.org").is_ok());
        for bad in [
            "alice:example.org",
            "@alice",
            "@alice:",
            "@a\0:x",
            &format!("@{}:x", "a".repeat(260)),
        ] {
            assert!(validate_user_id(bad).is_err(), "{bad}");
        }
        assert!(is_valid_new_localpart("alice.b-c_d=e/f+g1"));
        assert!(!is_valid_new_localpart("Alice"));
        assert!(!is_valid_new_localpart(""));
    }

    #[test]
    fn event_and_room_ids() {
        let hash = "a".repeat(43);
        assert!(
            validate_event_id(&format!("${hash}")).is_err(),
            "trailing bits make this non-canonical"
        );
        let good = format!("${}", base64::encode_url_safe([7u8; 32]));
        assert!(validate_event_id(&good).is_ok());
        assert!(validate_event_id("$abc:example.org").is_err());
        let v12_room = format!("!{}", &good[1..]);
        assert!(validate_room_id(RoomVersion::V12, &v12_room).is_ok());
        assert!(validate_room_id(RoomVersion::V12, "!abc:example.org").is_err());
        assert!(validate_room_id(RoomVersion::V11, "!abc:example.org").is_ok());
        assert!(validate_room_id(RoomVersion::V11, "!abc").is_err());
    }
}
