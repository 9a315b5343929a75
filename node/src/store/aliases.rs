//! Room aliases of this node: `#localpart:server` → room ID, with who made each alias.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A stored alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasEntry {
    pub room_id: String,
    pub creator: String,
}

/// Stores `alias` for the room unless the alias exists; returns whether it was stored.
pub fn insert_alias(
    connection: &Connection,
    alias: &str,
    room_id: &str,
    creator: &str,
    ts: i64,
) -> Result<bool, StoreError> {
    let inserted = connection
        .prepare_cached(
            "INSERT INTO room_aliases (alias, room_id, creator, created_ts)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (alias) DO NOTHING",
        )?
        .execute(params![alias, room_id, creator, ts])?;
    Ok(inserted == 1)
}

pub fn alias_entry(connection: &Connection, alias: &str) -> Result<Option<AliasEntry>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT room_id, creator FROM room_aliases WHERE alias = ?1")?
        .query_row([alias], |row| {
            Ok(AliasEntry {
                room_id: row.get(0)?,
                creator: row.get(1)?,
            })
        })
        .optional()?)
}

/// Removes `alias`; returns whether it existed.
pub fn delete_alias(connection: &Connection, alias: &str) -> Result<bool, StoreError> {
    let deleted = connection
        .prepare_cached("DELETE FROM room_aliases WHERE alias = ?1")?
        .execute([alias])?;
    Ok(deleted == 1)
}

/// The room's aliases, sorted.
pub fn aliases_of_room(connection: &Connection, room_id: &str) -> Result<Vec<String>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT alias FROM room_aliases WHERE room_id = ?1 ORDER BY alias")?;
    let aliases = statement
        .query_map([room_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(aliases)
}
