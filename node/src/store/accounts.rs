//! Users, devices and access tokens.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::e2ee::record_device_list_change;
use super::{StoreError, now_ms};

#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub user_id: &'a str,
    pub localpart: &'a str,
    pub password_hash: Option<&'a str>,
    pub is_admin: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub deactivated: bool,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen_ts: Option<i64>,
    pub last_seen_ip: Option<String>,
}

/// Who an access token belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenOwner {
    pub user_id: String,
    pub device_id: String,
    pub is_admin: bool,
}

pub fn create_user(connection: &Connection, user: &NewUser) -> Result<(), StoreError> {
    let inserted = connection.execute(
        "INSERT INTO users (user_id, localpart, password_hash, is_admin, created_ts)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![
            user.user_id,
            user.localpart,
            user.password_hash,
            user.is_admin,
            now_ms()
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::UserExists);
    }
    Ok(())
}

pub fn user_exists(connection: &Connection, user_id: &str) -> Result<bool, StoreError> {
    Ok(connection
        .query_row("SELECT 1 FROM users WHERE user_id = ?1", [user_id], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

pub fn get_user(connection: &Connection, user_id: &str) -> Result<Option<User>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT user_id, password_hash, is_admin, deactivated, displayname, avatar_url
             FROM users WHERE user_id = ?1",
            [user_id],
            |row| {
                Ok(User {
                    user_id: row.get(0)?,
                    password_hash: row.get(1)?,
                    is_admin: row.get(2)?,
                    deactivated: row.get(3)?,
                    displayname: row.get(4)?,
                    avatar_url: row.get(5)?,
                })
            },
        )
        .optional()?)
}

/// Sets or clears the display name; false if there is no such user.
pub fn set_displayname(
    connection: &Connection,
    user_id: &str,
    displayname: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = connection.execute(
        "UPDATE users SET displayname = ?2 WHERE user_id = ?1",
        params![user_id, displayname],
    )?;
    Ok(updated == 1)
}

/// Sets or clears the avatar URL; false if there is no such user.
pub fn set_avatar_url(
    connection: &Connection,
    user_id: &str,
    avatar_url: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = connection.execute(
        "UPDATE users SET avatar_url = ?2 WHERE user_id = ?1",
        params![user_id, avatar_url],
    )?;
    Ok(updated == 1)
}

/// Creates the device, or reuses it when the user already has one with this ID (a client
/// logging in again with its old device ID keeps its keys). As the spec says for login, the
/// display name is ignored for an existing device.
pub fn upsert_device(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    display_name: Option<&str>,
    ip: Option<&str>,
) -> Result<(), StoreError> {
    let now = now_ms();
    connection.execute(
        "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, last_seen_ip, created_ts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?4)
         ON CONFLICT (user_id, device_id) DO UPDATE SET
             last_seen_ts = excluded.last_seen_ts,
             last_seen_ip = coalesce(excluded.last_seen_ip, last_seen_ip)",
        params![user_id, device_id, display_name, now, ip],
    )?;
    Ok(())
}

pub fn list_devices(connection: &Connection, user_id: &str) -> Result<Vec<Device>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT device_id, display_name, last_seen_ts, last_seen_ip
         FROM devices WHERE user_id = ?1 ORDER BY device_id",
    )?;
    let devices = statement
        .query_map([user_id], device_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(devices)
}

pub fn get_device(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
) -> Result<Option<Device>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT device_id, display_name, last_seen_ts, last_seen_ip
             FROM devices WHERE user_id = ?1 AND device_id = ?2",
            [user_id, device_id],
            device_from_row,
        )
        .optional()?)
}

fn device_from_row(row: &rusqlite::Row) -> rusqlite::Result<Device> {
    Ok(Device {
        device_id: row.get(0)?,
        display_name: row.get(1)?,
        last_seen_ts: row.get(2)?,
        last_seen_ip: row.get(3)?,
    })
}

/// False if the user has no such device.
/// Renames a device; `None` keeps its name, as the spec says of a `PUT /devices/{deviceId}`
/// without `display_name`. Whether the device exists.
pub fn set_device_display_name(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    display_name: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = connection.execute(
        "UPDATE devices SET display_name = coalesce(?3, display_name)
         WHERE user_id = ?1 AND device_id = ?2",
        params![user_id, device_id, display_name],
    )?;
    Ok(updated == 1)
}

/// Deletes a device with its access tokens, keys and pending to-device messages.
pub fn delete_device(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
) -> Result<bool, StoreError> {
    let deleted = connection.execute(
        "DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2",
        [user_id, device_id],
    )?;
    if deleted == 1 {
        record_device_list_change(connection, user_id)?;
    }
    Ok(deleted == 1)
}

/// Deletes every device of the user, which logs out every session.
pub fn delete_all_devices(connection: &Connection, user_id: &str) -> Result<usize, StoreError> {
    let deleted = connection.execute("DELETE FROM devices WHERE user_id = ?1", [user_id])?;
    if deleted > 0 {
        record_device_list_change(connection, user_id)?;
    }
    Ok(deleted)
}

/// Logs a device in: creates or reuses the device and records a new access token for it.
pub fn start_session(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    display_name: Option<&str>,
    ip: Option<&str>,
    token: &str,
) -> Result<(), StoreError> {
    upsert_device(connection, user_id, device_id, display_name, ip)?;
    insert_access_token(connection, token, user_id, device_id)
}

fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub fn insert_access_token(
    connection: &Connection,
    token: &str,
    user_id: &str,
    device_id: &str,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO access_tokens (token_sha256, user_id, device_id, created_ts)
         VALUES (?1, ?2, ?3, ?4)",
        params![token_digest(token), user_id, device_id, now_ms()],
    )?;
    Ok(())
}

pub fn token_owner(connection: &Connection, token: &str) -> Result<Option<TokenOwner>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT t.user_id, t.device_id, u.is_admin
         FROM access_tokens t JOIN users u ON u.user_id = t.user_id
         WHERE t.token_sha256 = ?1 AND u.deactivated = 0",
    )?;
    Ok(statement
        .query_row([token_digest(token)], |row| {
            Ok(TokenOwner {
                user_id: row.get(0)?,
                device_id: row.get(1)?,
                is_admin: row.get(2)?,
            })
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temporary_connection;

    const ALICE: &str = "@alice:example";

    fn add_alice(connection: &Connection) {
        create_user(
            connection,
            &NewUser {
                user_id: ALICE,
                localpart: "alice",
                password_hash: Some("$argon2id$fake"),
                is_admin: true,
            },
        )
        .unwrap();
    }

    #[test]
    fn users_are_created_once() {
        let (_dir, connection) = temporary_connection();
        assert!(!user_exists(&connection, ALICE).unwrap());
        add_alice(&connection);
        assert!(user_exists(&connection, ALICE).unwrap());
        let again = create_user(
            &connection,
            &NewUser {
                user_id: ALICE,
                localpart: "alice",
                password_hash: None,
                is_admin: false,
            },
        );
        assert!(matches!(again, Err(StoreError::UserExists)));
        let user = get_user(&connection, ALICE).unwrap().unwrap();
        assert_eq!(user.password_hash.as_deref(), Some("$argon2id$fake"));
        assert!(user.is_admin);
        assert!(get_user(&connection, "@bob:example").unwrap().is_none());
    }

    #[test]
    fn profile_fields_are_set_and_cleared() {
        let (_dir, connection) = temporary_connection();
        add_alice(&connection);
        assert!(set_displayname(&connection, ALICE, Some("Alice")).unwrap());
        assert!(set_avatar_url(&connection, ALICE, Some("mxc://x/y")).unwrap());
        let user = get_user(&connection, ALICE).unwrap().unwrap();
        assert_eq!(user.displayname.as_deref(), Some("Alice"));
        assert_eq!(user.avatar_url.as_deref(), Some("mxc://x/y"));
        assert!(set_displayname(&connection, ALICE, None).unwrap());
        assert!(
            get_user(&connection, ALICE)
                .unwrap()
                .unwrap()
                .displayname
                .is_none()
        );
        assert!(!set_displayname(&connection, "@nobody:x", Some("x")).unwrap());
    }

    #[test]
    fn devices_are_reused_renamed_and_deleted_with_their_tokens() {
        let (_dir, connection) = temporary_connection();
        add_alice(&connection);
        upsert_device(
            &connection,
            ALICE,
            "PHONE",
            Some("Phone"),
            Some("127.0.0.1"),
        )
        .unwrap();
        insert_access_token(&connection, "secret-1", ALICE, "PHONE").unwrap();
        upsert_device(&connection, ALICE, "PHONE", Some("Renamed"), None).unwrap();
        insert_access_token(&connection, "secret-2", ALICE, "PHONE").unwrap();
        upsert_device(&connection, ALICE, "LAPTOP", None, None).unwrap();
        let devices = list_devices(&connection, ALICE).unwrap();
        assert_eq!(devices.len(), 2);
        let phone = get_device(&connection, ALICE, "PHONE").unwrap().unwrap();
        assert_eq!(phone.display_name.as_deref(), Some("Phone"));
        assert_eq!(phone.last_seen_ip.as_deref(), Some("127.0.0.1"));

        let owner = token_owner(&connection, "secret-1").unwrap().unwrap();
        assert_eq!(owner.device_id, "PHONE");
        assert!(owner.is_admin);
        assert!(token_owner(&connection, "secret-3").unwrap().is_none());

        assert!(set_device_display_name(&connection, ALICE, "PHONE", Some("Old phone")).unwrap());
        assert!(set_device_display_name(&connection, ALICE, "PHONE", None).unwrap());
        let kept = get_device(&connection, ALICE, "PHONE").unwrap().unwrap();
        assert_eq!(kept.display_name.as_deref(), Some("Old phone"));
        assert!(!set_device_display_name(&connection, ALICE, "NONE", Some("x")).unwrap());

        assert!(delete_device(&connection, ALICE, "PHONE").unwrap());
        assert!(!delete_device(&connection, ALICE, "PHONE").unwrap());
        assert!(token_owner(&connection, "secret-1").unwrap().is_none());
        assert!(token_owner(&connection, "secret-2").unwrap().is_none());
        assert_eq!(delete_all_devices(&connection, ALICE).unwrap(), 1);
        assert!(list_devices(&connection, ALICE).unwrap().is_empty());
    }

    #[test]
    fn tokens_are_stored_as_digests() {
        let (_dir, connection) = temporary_connection();
        add_alice(&connection);
        upsert_device(&connection, ALICE, "D", None, None).unwrap();
        insert_access_token(&connection, "plain-token", ALICE, "D").unwrap();
        let stored: Vec<u8> = connection
            .query_row("SELECT token_sha256 FROM access_tokens", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(stored.len(), 32);
        assert!(!stored.windows(5).any(|window| window == b"plain"));
    }
}
