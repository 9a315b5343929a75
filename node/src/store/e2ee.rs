//! End-to-end encryption material: device keys, one-time and fallback keys, and to-device
//! messages. The server stores these opaque JSON objects; it never decrypts anything.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, next_stream_position};

pub const DEVICE_KEYS_STREAM: &str = "device_keys";
pub const TO_DEVICE_STREAM: &str = "to_device";

pub fn put_device_keys(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    keys_json: &str,
) -> Result<(), StoreError> {
    let position = record_device_list_change(connection, user_id)?;
    connection.execute(
        "INSERT INTO device_keys (user_id, device_id, keys_json, stream_pos)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, device_id) DO UPDATE SET
             keys_json = excluded.keys_json, stream_pos = excluded.stream_pos",
        params![user_id, device_id, keys_json, position],
    )?;
    Ok(())
}

/// Notes that the user's device list changed; returns its position in the device keys stream.
pub fn record_device_list_change(
    connection: &Connection,
    user_id: &str,
) -> Result<i64, StoreError> {
    let position = next_stream_position(connection, DEVICE_KEYS_STREAM)?;
    connection
        .prepare_cached(
            "INSERT INTO device_list_changes (user_id, stream_pos) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET stream_pos = excluded.stream_pos",
        )?
        .execute(params![user_id, position])?;
    Ok(position)
}

/// Users whose device list changed after `since` in the device keys stream.
pub fn device_lists_changed_since(
    connection: &Connection,
    since: i64,
) -> Result<Vec<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT user_id FROM device_list_changes WHERE stream_pos > ?1 ORDER BY user_id",
    )?;
    let users = statement
        .query_map([since], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(users)
}

/// A device's published keys with its display name, as `/keys/query` reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedDeviceKeys {
    pub device_id: String,
    pub keys_json: String,
    pub display_name: Option<String>,
}

/// The published keys of the user's devices, of all of them when `device_ids` is empty.
pub fn query_device_keys(
    connection: &Connection,
    user_id: &str,
    device_ids: &[String],
) -> Result<Vec<PublishedDeviceKeys>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT k.device_id, k.keys_json, d.display_name
         FROM device_keys k JOIN devices d USING (user_id, device_id)
         WHERE k.user_id = ?1 ORDER BY k.device_id",
    )?;
    let all: Vec<PublishedDeviceKeys> = statement
        .query_map([user_id], |row| {
            Ok(PublishedDeviceKeys {
                device_id: row.get(0)?,
                keys_json: row.get(1)?,
                display_name: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(all
        .into_iter()
        .filter(|keys| device_ids.is_empty() || device_ids.contains(&keys.device_id))
        .collect())
}

/// The part of a key ID before the colon: `signed_curve25519:AAAAHg` → `signed_curve25519`.
pub fn key_algorithm(key_id: &str) -> &str {
    key_id
        .split_once(':')
        .map_or(key_id, |(algorithm, _)| algorithm)
}

/// Adds one-time keys; a key ID the device already uploaded is kept as it was.
pub fn add_one_time_keys(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    keys: &[(String, String)],
) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    )?;
    for (key_id, key_json) in keys {
        statement.execute(params![
            user_id,
            device_id,
            key_algorithm(key_id),
            key_id,
            key_json
        ])?;
    }
    Ok(())
}

/// Replaces the device's fallback key of each algorithm given.
pub fn set_fallback_keys(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    keys: &[(String, String)],
) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
         VALUES (?1, ?2, ?3, ?4, ?5, 0)
         ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
             key_id = excluded.key_id, key_json = excluded.key_json, used = 0",
    )?;
    for (key_id, key_json) in keys {
        statement.execute(params![
            user_id,
            device_id,
            key_algorithm(key_id),
            key_id,
            key_json
        ])?;
    }
    Ok(())
}

/// How many unclaimed one-time keys the device has, per algorithm.
pub fn one_time_key_counts(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT algorithm, count(*) FROM one_time_keys
         WHERE user_id = ?1 AND device_id = ?2 GROUP BY algorithm",
    )?;
    let counts = statement
        .query_map([user_id, device_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .map(|row| row.map(|(algorithm, count)| (algorithm, count.unsigned_abs())))
        .collect::<Result<_, _>>()?;
    Ok(counts)
}

/// Algorithms of the device's fallback keys that nobody has claimed yet.
pub fn unused_fallback_key_algorithms(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT algorithm FROM fallback_keys
         WHERE user_id = ?1 AND device_id = ?2 AND used = 0 ORDER BY algorithm",
    )?;
    let algorithms = statement
        .query_map([user_id, device_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(algorithms)
}

/// Hands out (and deletes) one one-time key of the algorithm, or the fallback key when none
/// is left. Returns `(key_id, key_json)`.
pub fn claim_one_time_key(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    algorithm: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let one_time = connection
        .query_row(
            "DELETE FROM one_time_keys WHERE rowid = (
                 SELECT rowid FROM one_time_keys
                 WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3
                 ORDER BY key_id LIMIT 1)
             RETURNING key_id, key_json",
            [user_id, device_id, algorithm],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    if one_time.is_some() {
        return Ok(one_time);
    }
    Ok(connection
        .query_row(
            "UPDATE fallback_keys SET used = 1
             WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3
             RETURNING key_id, key_json",
            [user_id, device_id, algorithm],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

/// A to-device message for one device of a local user.
#[derive(Debug, Clone, PartialEq)]
pub struct ToDeviceMessage {
    pub stream_pos: i64,
    pub sender: String,
    pub event_type: String,
    pub content_json: String,
}

/// Queues a message for `recipient_device` of `recipient_user`, or for all of the user's
/// devices when the device is `*`. Returns how many devices it was queued for.
pub fn queue_to_device(
    connection: &Connection,
    sender: &str,
    event_type: &str,
    recipient_user: &str,
    recipient_device: &str,
    content_json: &str,
) -> Result<usize, StoreError> {
    let devices: Vec<String> = if recipient_device == "*" {
        let mut statement =
            connection.prepare_cached("SELECT device_id FROM devices WHERE user_id = ?1")?;
        statement
            .query_map([recipient_user], |row| row.get(0))?
            .collect::<Result<_, _>>()?
    } else {
        connection
            .query_row(
                "SELECT device_id FROM devices WHERE user_id = ?1 AND device_id = ?2",
                [recipient_user, recipient_device],
                |row| row.get(0),
            )
            .optional()?
            .into_iter()
            .collect()
    };
    let mut insert = connection.prepare_cached(
        "INSERT INTO to_device_messages
             (stream_pos, recipient_user, recipient_device, sender, event_type, content_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for device in &devices {
        let position = next_stream_position(connection, TO_DEVICE_STREAM)?;
        insert.execute(params![
            position,
            recipient_user,
            device,
            sender,
            event_type,
            content_json
        ])?;
    }
    Ok(devices.len())
}

/// Up to `limit` messages waiting for the device after position `since`, oldest first.
pub fn to_device_messages(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    since: i64,
    limit: usize,
) -> Result<Vec<ToDeviceMessage>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT stream_pos, sender, event_type, content_json FROM to_device_messages
         WHERE recipient_user = ?1 AND recipient_device = ?2 AND stream_pos > ?3
         ORDER BY stream_pos LIMIT ?4",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let messages = statement
        .query_map(params![user_id, device_id, since, limit], |row| {
            Ok(ToDeviceMessage {
                stream_pos: row.get(0)?,
                sender: row.get(1)?,
                event_type: row.get(2)?,
                content_json: row.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(messages)
}

/// Drops the device's messages up to and including `upto`: its sync acknowledged them.
pub fn delete_to_device_messages(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    upto: i64,
) -> Result<usize, StoreError> {
    Ok(connection.execute(
        "DELETE FROM to_device_messages
         WHERE recipient_user = ?1 AND recipient_device = ?2 AND stream_pos <= ?3",
        params![user_id, device_id, upto],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts::{NewUser, create_user, delete_device, upsert_device};
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
        upsert_device(&connection, ALICE, "A1", Some("Alice's phone"), None).unwrap();
        upsert_device(&connection, BOB, "B1", None, None).unwrap();
        upsert_device(&connection, BOB, "B2", None, None).unwrap();
        (dir, connection)
    }

    fn keys(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(id, json)| (id.to_string(), json.to_string()))
            .collect()
    }

    #[test]
    fn device_keys_are_replaced_and_queried() {
        let (_dir, connection) = setup();
        put_device_keys(&connection, ALICE, "A1", "{\"v\":1}").unwrap();
        put_device_keys(&connection, ALICE, "A1", "{\"v\":2}").unwrap();
        let published = query_device_keys(&connection, ALICE, &[]).unwrap();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].keys_json, "{\"v\":2}");
        assert_eq!(published[0].display_name.as_deref(), Some("Alice's phone"));
        assert!(
            query_device_keys(&connection, ALICE, &["OTHER".into()])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn one_time_keys_are_counted_and_claimed_once_then_fallback() {
        let (_dir, connection) = setup();
        add_one_time_keys(
            &connection,
            ALICE,
            "A1",
            &keys(&[
                ("signed_curve25519:AAAA", "{\"k\":1}"),
                ("signed_curve25519:AAAB", "{\"k\":2}"),
                ("curve25519:AAAC", "\"raw\""),
            ]),
        )
        .unwrap();
        add_one_time_keys(
            &connection,
            ALICE,
            "A1",
            &keys(&[("signed_curve25519:AAAA", "{\"k\":9}")]),
        )
        .unwrap();
        let counts = one_time_key_counts(&connection, ALICE, "A1").unwrap();
        assert_eq!(counts.get("signed_curve25519"), Some(&2));
        assert_eq!(counts.get("curve25519"), Some(&1));

        set_fallback_keys(
            &connection,
            ALICE,
            "A1",
            &keys(&[("signed_curve25519:FFFF", "{\"fallback\":true}")]),
        )
        .unwrap();
        assert_eq!(
            unused_fallback_key_algorithms(&connection, ALICE, "A1").unwrap(),
            vec!["signed_curve25519".to_string()]
        );

        let claim = || claim_one_time_key(&connection, ALICE, "A1", "signed_curve25519").unwrap();
        assert_eq!(
            claim(),
            Some(("signed_curve25519:AAAA".into(), "{\"k\":1}".into()))
        );
        assert_eq!(claim().unwrap().0, "signed_curve25519:AAAB");
        assert_eq!(claim().unwrap().0, "signed_curve25519:FFFF");
        assert_eq!(claim().unwrap().0, "signed_curve25519:FFFF");
        assert!(
            unused_fallback_key_algorithms(&connection, ALICE, "A1")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            claim_one_time_key(&connection, BOB, "B1", "signed_curve25519").unwrap(),
            None
        );
    }

    #[test]
    fn to_device_messages_fan_out_are_read_in_order_and_deleted() {
        let (_dir, connection) = setup();
        assert_eq!(
            queue_to_device(&connection, ALICE, "m.test", BOB, "*", "{\"n\":1}").unwrap(),
            2
        );
        assert_eq!(
            queue_to_device(&connection, ALICE, "m.test", BOB, "B2", "{\"n\":2}").unwrap(),
            1
        );
        assert_eq!(
            queue_to_device(&connection, ALICE, "m.test", BOB, "GONE", "{}").unwrap(),
            0
        );
        let waiting = to_device_messages(&connection, BOB, "B2", 0, 10).unwrap();
        assert_eq!(waiting.len(), 2);
        assert_eq!(waiting[0].content_json, "{\"n\":1}");
        assert_eq!(waiting[1].content_json, "{\"n\":2}");
        assert_eq!(waiting[0].sender, ALICE);
        assert_eq!(
            to_device_messages(&connection, BOB, "B2", 0, 1)
                .unwrap()
                .len(),
            1
        );
        let later = to_device_messages(&connection, BOB, "B2", waiting[0].stream_pos, 10).unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(
            delete_to_device_messages(&connection, BOB, "B2", waiting[0].stream_pos).unwrap(),
            1
        );
        assert!(delete_device(&connection, BOB, "B1").unwrap());
        let left: i64 = connection
            .query_row("SELECT count(*) FROM to_device_messages", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(left, 1, "B1's message went with the device");
    }
}
