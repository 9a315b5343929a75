//! What the node knows about its uploaded media (the bytes are files, see [`crate::media`]),
//! and the rooms each user has forgotten.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    pub media_id: String,
    pub content_type: String,
    pub file_name: Option<String>,
    pub size: u64,
    pub uploader: String,
    pub created_ts: i64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}

pub fn insert_media(connection: &Connection, record: &MediaRecord) -> Result<(), StoreError> {
    let size = i64::try_from(record.size).map_err(|_| StoreError::Corrupt {
        table: "media",
        reason: format!("size {} out of range", record.size),
    })?;
    connection
        .prepare_cached(
            "INSERT INTO media (media_id, content_type, file_name, size, uploader, created_ts,
                                sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            record.media_id,
            record.content_type,
            record.file_name,
            size,
            record.uploader,
            record.created_ts,
            record.sha256,
        ])?;
    Ok(())
}

pub fn media(connection: &Connection, media_id: &str) -> Result<Option<MediaRecord>, StoreError> {
    let row = connection
        .prepare_cached(
            "SELECT media_id, content_type, file_name, size, uploader, created_ts, sha256
             FROM media WHERE media_id = ?1",
        )?
        .query_row([media_id], |row| {
            Ok((
                MediaRecord {
                    media_id: row.get(0)?,
                    content_type: row.get(1)?,
                    file_name: row.get(2)?,
                    size: 0,
                    uploader: row.get(4)?,
                    created_ts: row.get(5)?,
                    sha256: row.get(6)?,
                },
                row.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    row.map(|(mut record, size)| {
        record.size = u64::try_from(size).map_err(|_| StoreError::Corrupt {
            table: "media",
            reason: format!("negative size {size}"),
        })?;
        Ok(record)
    })
    .transpose()
}

/// Marks the room forgotten at the user's current membership event `event_id`.
pub fn forget_room(
    connection: &Connection,
    user_id: &str,
    room_id: &str,
    event_id: &str,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO forgotten_rooms (user_id, room_id, event_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, room_id) DO UPDATE SET event_id = excluded.event_id",
        )?
        .execute(params![user_id, room_id, event_id])?;
    Ok(())
}
