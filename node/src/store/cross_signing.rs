//! Cross-signing keys of local users (master, self-signing, user-signing): opaque signed JSON
//! objects, replaced by a new upload and extended by signature uploads.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::e2ee::record_device_list_change;

/// The three kinds of cross-signing key, as `/keys/device_signing/upload` names their `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyUsage {
    Master,
    SelfSigning,
    UserSigning,
}

impl KeyUsage {
    pub const ALL: [KeyUsage; 3] = [
        KeyUsage::Master,
        KeyUsage::SelfSigning,
        KeyUsage::UserSigning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::Master => "master",
            KeyUsage::SelfSigning => "self_signing",
            KeyUsage::UserSigning => "user_signing",
        }
    }

    fn parse(text: &str) -> Option<KeyUsage> {
        KeyUsage::ALL
            .into_iter()
            .find(|usage| usage.as_str() == text)
    }
}

/// The user's cross-signing keys by usage; empty if they never uploaded any.
pub fn cross_signing_keys(
    connection: &Connection,
    user_id: &str,
) -> Result<BTreeMap<KeyUsage, String>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT usage, key_json FROM cross_signing_keys WHERE user_id = ?1")?;
    let rows: Vec<(String, String)> = statement
        .query_map([user_id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(usage, json)| Some((KeyUsage::parse(&usage)?, json)))
        .collect())
}

/// The user's key of one usage.
pub fn cross_signing_key(
    connection: &Connection,
    user_id: &str,
    usage: KeyUsage,
) -> Result<Option<String>, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT key_json FROM cross_signing_keys WHERE user_id = ?1 AND usage = ?2",
        )?
        .query_row(params![user_id, usage.as_str()], |row| row.get(0))
        .optional()?)
}

/// Stores (or replaces) a key, and tells the users who share a room with `user_id` to query
/// their keys again, as a changed device list does.
pub fn put_cross_signing_key(
    connection: &Connection,
    user_id: &str,
    usage: KeyUsage,
    key_json: &str,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO cross_signing_keys (user_id, usage, key_json) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, usage) DO UPDATE SET key_json = excluded.key_json",
        )?
        .execute(params![user_id, usage.as_str(), key_json])?;
    record_device_list_change(connection, user_id)?;
    Ok(())
}
