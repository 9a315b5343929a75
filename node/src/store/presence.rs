//! Presence kept across restarts: each user's status message and when they were last active.

use rusqlite::{Connection, params};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPresence {
    pub user_id: String,
    pub status_msg: Option<String>,
    pub last_active_ms: i64,
}

/// Saves the entries, replacing what was saved for those users, in one transaction.
pub fn save_presence(connection: &Connection, entries: &[SavedPresence]) -> Result<(), StoreError> {
    let transaction = connection.unchecked_transaction()?;
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO presence (user_id, status_msg, last_active_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id) DO UPDATE SET
                 status_msg = excluded.status_msg, last_active_ms = excluded.last_active_ms",
        )?;
        for entry in entries {
            statement.execute(params![
                entry.user_id,
                entry.status_msg,
                entry.last_active_ms
            ])?;
        }
    }
    transaction.commit()?;
    Ok(())
}

/// The `limit` most recently active users' saved presence.
pub fn load_presence(
    connection: &Connection,
    limit: usize,
) -> Result<Vec<SavedPresence>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT user_id, status_msg, last_active_ms FROM presence
         ORDER BY last_active_ms DESC LIMIT ?1",
    )?;
    let entries = statement
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok(SavedPresence {
                user_id: row.get(0)?,
                status_msg: row.get(1)?,
                last_active_ms: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temporary_connection;

    fn saved(user_id: &str, status_msg: Option<&str>, last_active_ms: i64) -> SavedPresence {
        SavedPresence {
            user_id: user_id.to_owned(),
            status_msg: status_msg.map(str::to_owned),
            last_active_ms,
        }
    }

    #[test]
    fn saved_presence_is_replaced_and_loaded_most_recent_first() {
        let (_dir, connection) = temporary_connection();
        save_presence(
            &connection,
            &[saved("@a:x", Some("aft"), 10), saved("@b:x", None, 20)],
        )
        .unwrap();
        save_presence(&connection, &[saved("@a:x", None, 30)]).unwrap();
        assert_eq!(
            load_presence(&connection, 10).unwrap(),
            [saved("@a:x", None, 30), saved("@b:x", None, 20)]
        );
        assert_eq!(load_presence(&connection, 1).unwrap().len(), 1);
    }
}
