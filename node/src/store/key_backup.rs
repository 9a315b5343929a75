//! Server-side key backup: each user's backup versions and the encrypted room keys stored in
//! them. The keys are opaque to the node; only the fields that decide which copy of a session
//! key is better are read.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::StoreError;

/// A backup version as `GET /room_keys/version` describes it, without its key count.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupVersion {
    pub version: i64,
    pub algorithm: String,
    pub auth_data_json: String,
    pub etag: i64,
}

/// One backed-up megolm session key (`KeyBackupData`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionKey {
    pub first_message_index: u32,
    pub forwarded_count: u32,
    pub is_verified: bool,
    pub session_data: Map<String, Value>,
}

impl SessionKey {
    /// Whether this copy should replace `stored`: a verified key beats an unverified one,
    /// then the one that decrypts from an earlier message, then the one forwarded fewer times.
    fn is_better_than(&self, stored: &SessionKey) -> bool {
        let rank = |key: &SessionKey| {
            (
                !key.is_verified,
                key.first_message_index,
                key.forwarded_count,
            )
        };
        rank(self) < rank(stored)
    }
}

/// Which keys of a version an operation covers: all, a room's, or one session's.
#[derive(Debug, Clone, Copy)]
pub struct KeyScope<'a> {
    pub room_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
}

pub fn create_version(
    connection: &Connection,
    user_id: &str,
    algorithm: &str,
    auth_data_json: &str,
) -> Result<i64, StoreError> {
    let version: i64 = connection.query_row(
        "SELECT coalesce(max(version), 0) + 1 FROM key_backup_versions WHERE user_id = ?1",
        [user_id],
        |row| row.get(0),
    )?;
    connection.execute(
        "INSERT INTO key_backup_versions (user_id, version, algorithm, auth_data_json)
         VALUES (?1, ?2, ?3, ?4)",
        params![user_id, version, algorithm, auth_data_json],
    )?;
    Ok(version)
}

/// The newest version that is not deleted.
pub fn current_version(
    connection: &Connection,
    user_id: &str,
) -> Result<Option<BackupVersion>, StoreError> {
    find_version(connection, user_id, None)
}

/// The version, unless it does not exist or was deleted.
pub fn version(
    connection: &Connection,
    user_id: &str,
    version: i64,
) -> Result<Option<BackupVersion>, StoreError> {
    find_version(connection, user_id, Some(version))
}

fn find_version(
    connection: &Connection,
    user_id: &str,
    version: Option<i64>,
) -> Result<Option<BackupVersion>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT version, algorithm, auth_data_json, etag FROM key_backup_versions
             WHERE user_id = ?1 AND deleted = 0 AND (?2 IS NULL OR version = ?2)
             ORDER BY version DESC LIMIT 1",
            params![user_id, version],
            |row| {
                Ok(BackupVersion {
                    version: row.get(0)?,
                    algorithm: row.get(1)?,
                    auth_data_json: row.get(2)?,
                    etag: row.get(3)?,
                })
            },
        )
        .optional()?)
}

pub fn update_auth_data(
    connection: &Connection,
    user_id: &str,
    version: i64,
    auth_data_json: &str,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE key_backup_versions SET auth_data_json = ?3
         WHERE user_id = ?1 AND version = ?2",
        params![user_id, version, auth_data_json],
    )?;
    Ok(())
}

/// Deletes the version and its keys; whether the version ever existed.
pub fn delete_version(
    connection: &Connection,
    user_id: &str,
    version: i64,
) -> Result<bool, StoreError> {
    let transaction = connection.unchecked_transaction()?;
    let existed = transaction.execute(
        "UPDATE key_backup_versions SET deleted = 1 WHERE user_id = ?1 AND version = ?2",
        params![user_id, version],
    )? > 0;
    let all = KeyScope {
        room_id: None,
        session_id: None,
    };
    delete_keys(&transaction, user_id, version, all)?;
    transaction.commit()?;
    Ok(existed)
}

pub fn key_count(connection: &Connection, user_id: &str, version: i64) -> Result<i64, StoreError> {
    Ok(connection.query_row(
        "SELECT count(*) FROM key_backup_sessions WHERE user_id = ?1 AND version = ?2",
        params![user_id, version],
        |row| row.get(0),
    )?)
}

/// Stores the key unless the stored copy is at least as good; whether it stored it.
pub fn put_key(
    connection: &Connection,
    user_id: &str,
    version: i64,
    (room_id, session_id): (&str, &str),
    key: &SessionKey,
) -> Result<bool, StoreError> {
    let scope = KeyScope {
        room_id: Some(room_id),
        session_id: Some(session_id),
    };
    let stored = keys(connection, user_id, version, scope)?.pop();
    if stored.is_some_and(|(_, _, stored)| !key.is_better_than(&stored)) {
        return Ok(false);
    }
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO key_backup_sessions (user_id, version, room_id, session_id,
                 first_message_index, forwarded_count, is_verified, session_data_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            user_id,
            version,
            room_id,
            session_id,
            key.first_message_index,
            key.forwarded_count,
            key.is_verified,
            Value::Object(key.session_data.clone()).to_string(),
        ])?;
    Ok(true)
}

/// The keys in scope as `(room_id, session_id, key)`, sorted.
pub fn keys(
    connection: &Connection,
    user_id: &str,
    version: i64,
    scope: KeyScope<'_>,
) -> Result<Vec<(String, String, SessionKey)>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified,
                session_data_json
         FROM key_backup_sessions
         WHERE user_id = ?1 AND version = ?2 AND (?3 IS NULL OR room_id = ?3)
           AND (?4 IS NULL OR session_id = ?4)
         ORDER BY room_id, session_id",
    )?;
    let rows = statement
        .query_map(
            params![user_id, version, scope.room_id, scope.session_id],
            |row| {
                let session_data: String = row.get(5)?;
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    SessionKey {
                        first_message_index: row.get(2)?,
                        forwarded_count: row.get(3)?,
                        is_verified: row.get(4)?,
                        session_data: serde_json::from_str(&session_data).unwrap_or_default(),
                    },
                ))
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Deletes the keys in scope; how many there were.
pub fn delete_keys(
    connection: &Connection,
    user_id: &str,
    version: i64,
    scope: KeyScope<'_>,
) -> Result<usize, StoreError> {
    Ok(connection.execute(
        "DELETE FROM key_backup_sessions
         WHERE user_id = ?1 AND version = ?2 AND (?3 IS NULL OR room_id = ?3)
           AND (?4 IS NULL OR session_id = ?4)",
        params![user_id, version, scope.room_id, scope.session_id],
    )?)
}

/// Records that the version's keys changed, so clients comparing etags notice.
pub fn bump_etag(connection: &Connection, user_id: &str, version: i64) -> Result<i64, StoreError> {
    Ok(connection.query_row(
        "UPDATE key_backup_versions SET etag = etag + 1
         WHERE user_id = ?1 AND version = ?2 RETURNING etag",
        params![user_id, version],
        |row| row.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temporary_connection;

    const USER: &str = "@alice:ship";

    fn key(verified: bool, index: u32, forwarded: u32) -> SessionKey {
        SessionKey {
            first_message_index: index,
            forwarded_count: forwarded,
            is_verified: verified,
            session_data: Map::new(),
        }
    }

    #[test]
    fn the_better_copy_of_a_session_key_is_kept() {
        let (_dir, connection) = temporary_connection();
        let version = create_version(&connection, USER, "alg", "{}").unwrap();
        let session = ("!room:ship", "session");
        let put = |key: SessionKey| put_key(&connection, USER, version, session, &key).unwrap();
        assert!(put(key(false, 5, 1)));
        assert!(!put(key(false, 5, 1)), "the same again");
        assert!(!put(key(false, 6, 0)), "a later first message loses");
        assert!(put(key(false, 5, 0)), "fewer forwards win");
        assert!(put(key(true, 9, 3)), "verified wins");
        assert!(!put(key(false, 0, 0)));
        let all = KeyScope {
            room_id: None,
            session_id: None,
        };
        let stored = keys(&connection, USER, version, all).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].2, key(true, 9, 3));
    }

    #[test]
    fn versions_are_numbered_and_the_newest_undeleted_is_current() {
        let (_dir, connection) = temporary_connection();
        assert_eq!(current_version(&connection, USER).unwrap(), None);
        let first = create_version(&connection, USER, "alg", "{}").unwrap();
        let second = create_version(&connection, USER, "alg", "{}").unwrap();
        assert_eq!((first, second), (1, 2));
        assert_eq!(
            current_version(&connection, USER).unwrap().unwrap().version,
            2
        );
        assert!(delete_version(&connection, USER, second).unwrap());
        assert_eq!(
            current_version(&connection, USER).unwrap().unwrap().version,
            1
        );
        assert_eq!(version(&connection, USER, second).unwrap(), None);
        assert_eq!(
            create_version(&connection, USER, "alg", "{}").unwrap(),
            3,
            "never reused"
        );
        assert_eq!(current_version(&connection, "@bob:ship").unwrap(), None);
    }
}
