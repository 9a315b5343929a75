//! Passwords, access tokens, device IDs and user names: how they are made and checked.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes with Argon2id and its recommended parameters, as a PHC string. Slow on purpose:
/// call it off the async runtime.
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| CredentialError::Hash(error.to_string()))
}

/// False for a wrong password and for a hash that does not parse.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], CredentialError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| CredentialError::Random(error.to_string()))?;
    Ok(bytes)
}

/// 256 random bits; the prefix makes leaked tokens easy to recognise in logs and scanners.
pub fn new_access_token() -> Result<String, CredentialError> {
    Ok(format!(
        "flo_{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// Ten upper-case letters, the shape other homeservers use.
pub fn new_device_id() -> Result<String, CredentialError> {
    Ok(random_bytes::<10>()?
        .iter()
        .map(|byte| char::from(b'A' + byte % 26))
        .collect())
}

/// 192 random bits in URL-safe base64: the characters the spec allows in a media ID, and
/// unguessable, since knowing an `mxc://` URI is enough to download it.
pub fn new_media_id() -> Result<String, CredentialError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<24>()?))
}

pub fn new_session_id() -> Result<String, CredentialError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<18>()?))
}

/// The localpart of a pre-v12 room ID: 18 letters, the shape Synapse uses.
pub fn new_room_localpart() -> Result<String, CredentialError> {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    Ok(random_bytes::<18>()?
        .iter()
        .map(|byte| char::from(LETTERS[usize::from(*byte) % LETTERS.len()]))
        .collect())
}

/// A localpart for a user who registers without choosing one.
pub fn new_localpart() -> Result<String, CredentialError> {
    Ok(format!("u{}", hex::encode(random_bytes::<6>()?)))
}

/// The longest localpart whose user ID fits the spec's 255 bytes with a 64-character server
/// name: `@` + localpart + `:` + 64.
pub const MAX_LOCALPART_LEN: usize = 255 - 66;

/// Why a localpart cannot be registered, or `Ok` if it can. New localparts use only the
/// characters the spec allows: `a-z 0-9 . _ = - / +`.
pub fn check_localpart(localpart: &str) -> Result<(), &'static str> {
    if localpart.is_empty() {
        return Err("User ID cannot be empty");
    }
    if localpart.len() > MAX_LOCALPART_LEN {
        return Err("User ID is too long");
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-/+".contains(c);
    if !localpart.chars().all(allowed) {
        return Err("User ID can only contain characters a-z, 0-9, or '._=-/+'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn generated_identifiers_have_their_shapes() {
        let token = new_access_token().unwrap();
        assert!(token.starts_with("flo_") && token.len() == 47);
        assert_ne!(token, new_access_token().unwrap());
        let device = new_device_id().unwrap();
        assert_eq!(device.len(), 10);
        assert!(device.chars().all(|c| c.is_ascii_uppercase()));
        assert!(check_localpart(&new_localpart().unwrap()).is_ok());
    }

    #[test]
    fn localparts_follow_the_grammar() {
        for good in ["alice", "a.b_c=d-e/f+g", "007"] {
            assert!(check_localpart(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Alice",
            "a b",
            "a:b",
            "ä",
            &"x".repeat(MAX_LOCALPART_LEN + 1),
        ] {
            assert!(check_localpart(bad).is_err(), "{bad}");
        }
    }
}
