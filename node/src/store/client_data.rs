//! Per-user data clients keep on the server: filters, account data, transaction IDs.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, next_stream_position, now_ms};

pub const ACCOUNT_DATA_STREAM: &str = "account_data";

/// Stores a filter and returns its ID, unique per user.
pub fn create_filter(
    connection: &Connection,
    user_id: &str,
    filter_json: &str,
) -> Result<i64, StoreError> {
    Ok(connection.query_row(
        "INSERT INTO filters (user_id, filter_id, filter_json)
         VALUES (?1, (SELECT coalesce(max(filter_id), -1) + 1 FROM filters WHERE user_id = ?1), ?2)
         RETURNING filter_id",
        params![user_id, filter_json],
        |row| row.get(0),
    )?)
}

pub fn get_filter(
    connection: &Connection,
    user_id: &str,
    filter_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT filter_json FROM filters WHERE user_id = ?1 AND filter_id = ?2",
            params![user_id, filter_id],
            |row| row.get(0),
        )
        .optional()?)
}

/// One account data entry; `room_id` is `None` for global data.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountData {
    pub room_id: Option<String>,
    pub data_type: String,
    pub content_json: String,
    pub stream_pos: i64,
}

/// Replaces the entry and moves it to a new position of the account data stream.
pub fn put_account_data(
    connection: &Connection,
    user_id: &str,
    room_id: Option<&str>,
    data_type: &str,
    content_json: &str,
) -> Result<i64, StoreError> {
    let position = next_stream_position(connection, ACCOUNT_DATA_STREAM)?;
    connection.execute(
        "INSERT INTO account_data (user_id, room_id, data_type, content_json, stream_pos)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (user_id, room_id, data_type) DO UPDATE SET
             content_json = excluded.content_json, stream_pos = excluded.stream_pos",
        params![
            user_id,
            room_id.unwrap_or(""),
            data_type,
            content_json,
            position
        ],
    )?;
    Ok(position)
}

pub fn get_account_data(
    connection: &Connection,
    user_id: &str,
    room_id: Option<&str>,
    data_type: &str,
) -> Result<Option<String>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT content_json FROM account_data
             WHERE user_id = ?1 AND room_id = ?2 AND data_type = ?3",
            params![user_id, room_id.unwrap_or(""), data_type],
            |row| row.get(0),
        )
        .optional()?)
}

/// Entries changed after stream position `since`, oldest first, for incremental sync.
pub fn account_data_since(
    connection: &Connection,
    user_id: &str,
    since: i64,
) -> Result<Vec<AccountData>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT room_id, data_type, content_json, stream_pos FROM account_data
         WHERE user_id = ?1 AND stream_pos > ?2 ORDER BY stream_pos",
    )?;
    let entries = statement
        .query_map(params![user_id, since], |row| {
            let room_id: String = row.get(0)?;
            Ok(AccountData {
                room_id: (!room_id.is_empty()).then_some(room_id),
                data_type: row.get(1)?,
                content_json: row.get(2)?,
                stream_pos: row.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(entries)
}

/// What happened to a client transaction ID.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionStatus {
    /// First use: the request must be carried out.
    New,
    /// A retry; carries what the first request recorded.
    Seen(Option<String>),
}

/// Records the transaction ID of a device for an endpoint (`scope`), or reports that the
/// device used it before. Call in the same transaction as the work it guards.
pub fn claim_transaction_id(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    scope: &str,
    txn_id: &str,
    result: Option<&str>,
) -> Result<TransactionStatus, StoreError> {
    let inserted = connection.execute(
        "INSERT INTO transaction_ids (user_id, device_id, scope, txn_id, result, created_ts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        params![user_id, device_id, scope, txn_id, result, now_ms()],
    )?;
    if inserted == 1 {
        return Ok(TransactionStatus::New);
    }
    let previous = connection.query_row(
        "SELECT result FROM transaction_ids
         WHERE user_id = ?1 AND device_id = ?2 AND scope = ?3 AND txn_id = ?4",
        params![user_id, device_id, scope, txn_id],
        |row| row.get(0),
    )?;
    Ok(TransactionStatus::Seen(previous))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts::{NewUser, create_user, upsert_device};
    use crate::store::test_support::temporary_connection;

    const ALICE: &str = "@alice:example";
    const BOB: &str = "@bob:example";

    fn setup() -> (tempfile::TempDir, Connection) {
        let (dir, connection) = temporary_connection();
        for (user_id, localpart) in [(ALICE, "alice"), (BOB, "bob")] {
            create_user(
                &connection,
                &NewUser {
                    user_id,
                    localpart,
                    password_hash: None,
                    is_admin: false,
                },
            )
            .unwrap();
        }
        upsert_device(&connection, ALICE, "D", None, None).unwrap();
        (dir, connection)
    }

    #[test]
    fn filter_ids_count_up_per_user() {
        let (_dir, connection) = setup();
        assert_eq!(create_filter(&connection, ALICE, "{\"a\":1}").unwrap(), 0);
        assert_eq!(create_filter(&connection, ALICE, "{\"a\":2}").unwrap(), 1);
        assert_eq!(create_filter(&connection, BOB, "{}").unwrap(), 0);
        assert_eq!(
            get_filter(&connection, ALICE, 1).unwrap().as_deref(),
            Some("{\"a\":2}")
        );
        assert_eq!(get_filter(&connection, BOB, 1).unwrap(), None);
    }

    #[test]
    fn account_data_is_replaced_and_streamed() {
        let (_dir, connection) = setup();
        let first = put_account_data(&connection, ALICE, None, "m.direct", "{}").unwrap();
        let second =
            put_account_data(&connection, ALICE, Some("!r:x"), "m.tag", "{\"tags\":{}}").unwrap();
        let third = put_account_data(&connection, ALICE, None, "m.direct", "{\"x\":1}").unwrap();
        assert!(first < second && second < third);
        assert_eq!(
            get_account_data(&connection, ALICE, None, "m.direct")
                .unwrap()
                .as_deref(),
            Some("{\"x\":1}")
        );
        assert_eq!(
            get_account_data(&connection, ALICE, None, "m.tag").unwrap(),
            None
        );
        assert!(
            get_account_data(&connection, ALICE, Some("!r:x"), "m.tag")
                .unwrap()
                .is_some()
        );
        let changes = account_data_since(&connection, ALICE, first).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].room_id.as_deref(), Some("!r:x"));
        assert_eq!(changes[1].data_type, "m.direct");
        assert!(account_data_since(&connection, BOB, 0).unwrap().is_empty());
    }

    #[test]
    fn transaction_ids_remember_their_first_result() {
        let (_dir, connection) = setup();
        let claim = |scope: &str, txn: &str, result: Option<&str>| {
            claim_transaction_id(&connection, ALICE, "D", scope, txn, result).unwrap()
        };
        assert_eq!(claim("send", "t1", Some("$e1")), TransactionStatus::New);
        assert_eq!(
            claim("send", "t1", Some("$other")),
            TransactionStatus::Seen(Some("$e1".into()))
        );
        assert_eq!(claim("to_device", "t1", None), TransactionStatus::New);
        assert_eq!(
            claim("to_device", "t1", None),
            TransactionStatus::Seen(None)
        );
    }
}
