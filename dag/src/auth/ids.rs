//! The small part of the Matrix identifier grammar the authorization rules need: validating user
//! IDs and taking the server name out of user and room IDs.

/// User IDs are at most 255 bytes including the sigil and domain.
const MAX_USER_ID_BYTES: usize = 255;
/// A DNS name is at most 255 characters.
const MAX_DNS_NAME_CHARS: usize = 255;
/// An IPv6 literal (without brackets) is between 2 and 45 characters.
const IPV6_LITERAL_CHARS: std::ops::RangeInclusive<usize> = 2..=45;
/// A port is one to five digits.
const PORT_DIGITS: std::ops::RangeInclusive<usize> = 1..=5;

/// Whether `user_id` is a valid user ID: `@localpart:server_name`, where the localpart is the
/// historical grammar every server must still accept (printable ASCII except `:`).
pub fn is_valid_user_id(user_id: &str) -> bool {
    if user_id.len() > MAX_USER_ID_BYTES {
        return false;
    }
    let Some(rest) = user_id.strip_prefix('@') else {
        return false;
    };
    let Some((localpart, server_name)) = rest.split_once(':') else {
        return false;
    };
    !localpart.is_empty()
        && localpart.bytes().all(|b| (0x21..=0x7e).contains(&b))
        && is_valid_server_name(server_name)
}

/// The server of a valid user ID.
pub fn user_server_name(user_id: &str) -> Option<&str> {
    if is_valid_user_id(user_id) {
        server_name_of(user_id)
    } else {
        None
    }
}

/// The server name of a user ID or a room ID with a domain: everything after the first `:`.
pub fn server_name_of(id: &str) -> Option<&str> {
    id.split_once(':').map(|(_, server_name)| server_name)
}

/// `server_name = hostname [":" port]` where hostname is an IPv4 address, a bracketed IPv6 address
/// or a DNS name.
fn is_valid_server_name(server_name: &str) -> bool {
    let (host, port) = match server_name.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((ipv6, after)) => {
                let port_ok =
                    after.is_empty() || after.strip_prefix(':').is_some_and(is_valid_port);
                return port_ok && is_valid_ipv6_literal(ipv6);
            }
            None => return false,
        },
        None => match server_name.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (server_name, None),
        },
    };
    let host_ok = (1..=MAX_DNS_NAME_CHARS).contains(&host.len())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    host_ok && port.is_none_or(is_valid_port)
}

fn is_valid_ipv6_literal(literal: &str) -> bool {
    IPV6_LITERAL_CHARS.contains(&literal.len())
        && literal
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

fn is_valid_port(port: &str) -> bool {
    PORT_DIGITS.contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_and_historical_user_ids() {
        for id in [
            "@alice:example.org",
            "@a:1.2.3.4:8448",
            "@x:[::1]:80",
            "@Old!Style:hs",
        ] {
            assert!(is_valid_user_id(id), "{id}");
        }
    }

    #[test]
    fn rejects_malformed_user_ids() {
        let too_long = format!("@{}:example.org", "a".repeat(250));
        for id in [
            "alice:example.org",
            "@alice",
            "@:example.org",
            "@al ice:hs",
            "@a:",
            "@a:hs:",
            "@a:[zz]",
            "@a:h_s",
            &too_long,
        ] {
            assert!(!is_valid_user_id(id), "{id}");
        }
    }

    #[test]
    fn server_name_is_everything_after_the_first_colon() {
        assert_eq!(
            server_name_of("@alice:example.org:8448"),
            Some("example.org:8448")
        );
        assert_eq!(server_name_of("!room:hs"), Some("hs"));
        assert_eq!(server_name_of("!roomhash"), None);
    }
}
