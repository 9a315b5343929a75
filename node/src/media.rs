//! The bytes of the local media repository: one file per upload under `data_dir/media/`,
//! named by its media ID (`media/ab/cdef…`, so no directory grows too large). An upload is
//! streamed into `media/tmp/`, hashed on the way, fsynced, then renamed into place and its
//! directories fsynced, so a file that was acknowledged survives a crash and a half-written
//! upload is never served. Media is local to the node: the mesh carries room events only.

use std::io;
use std::path::{Path, PathBuf};

use axum::body::Body;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// The directory under the data directory that holds the media files.
const MEDIA_DIR: &str = "media";
/// Where uploads are written until they are complete.
const PARTIAL_DIR: &str = "tmp";
/// The longest media ID accepted in a request; the node's own are 32 characters.
const MAX_MEDIA_ID_LEN: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the request body could not be read")]
    Body,
    #[error("cannot write the media file")]
    Io(#[from] io::Error),
}

/// The media files of one node.
#[derive(Debug, Clone)]
pub struct MediaFiles {
    root: PathBuf,
}

/// An upload that is complete and fsynced in the partial directory, not yet in place.
#[derive(Debug)]
pub struct ReceivedFile {
    partial: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}

impl MediaFiles {
    pub fn new(data_dir: &Path) -> MediaFiles {
        MediaFiles {
            root: data_dir.join(MEDIA_DIR),
        }
    }

    /// Deletes uploads that a crash interrupted: nothing refers to them.
    pub fn remove_partial_uploads(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(self.root.join(PARTIAL_DIR)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Streams `body` to a new partial file, failing as soon as it exceeds `limit` bytes.
    pub async fn receive(&self, body: Body, limit: u64) -> Result<ReceivedFile, UploadError> {
        let partial_dir = self.root.join(PARTIAL_DIR);
        tokio::fs::create_dir_all(&partial_dir).await?;
        let partial = partial_dir.join(format!("{}.part", random_name()?));
        let written = write_limited(&partial, body, limit).await;
        if written.is_err() {
            // Best effort: a leftover is removed at the next start anyway.
            let _ = tokio::fs::remove_file(&partial).await;
        }
        let (size, sha256) = written?;
        Ok(ReceivedFile {
            partial,
            size,
            sha256,
        })
    }

    /// Moves a received file into place under `media_id` and makes the rename durable.
    pub async fn commit(&self, received: ReceivedFile, media_id: &str) -> io::Result<()> {
        let destination = self
            .path_of(media_id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "media ID too short"))?;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let directory = destination.parent().unwrap_or(&root).to_path_buf();
            std::fs::create_dir_all(&directory)?;
            std::fs::rename(&received.partial, &destination)?;
            // The rename lives in the file's directory, a new directory in the root.
            std::fs::File::open(&directory)?.sync_all()?;
            std::fs::File::open(&root)?.sync_all()
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Opens the file of a stored media ID.
    pub async fn open(&self, media_id: &str) -> io::Result<tokio::fs::File> {
        let path = self
            .path_of(media_id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "media ID too short"))?;
        tokio::fs::File::open(path).await
    }

    fn path_of(&self, media_id: &str) -> Option<PathBuf> {
        if !is_valid_media_id(media_id) {
            return None;
        }
        let (directory, name) = (media_id.get(..2)?, media_id.get(2..)?);
        (!name.is_empty()).then(|| self.root.join(directory).join(name))
    }
}

/// The spec's rule against path traversal: only `A-Za-z0-9`, `_` and `-`.
pub fn is_valid_media_id(media_id: &str) -> bool {
    !media_id.is_empty()
        && media_id.len() <= MAX_MEDIA_ID_LEN
        && media_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

fn random_name() -> io::Result<String> {
    crate::credentials::new_media_id().map_err(io::Error::other)
}

async fn write_limited(
    path: &Path,
    mut body: Body,
    limit: u64,
) -> Result<(u64, String), UploadError> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| UploadError::Body)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size = size.saturating_add(data.len() as u64);
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        hasher.update(&data);
        file.write_all(&data).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ids_are_checked_before_they_name_a_file() {
        let files = MediaFiles::new(Path::new("/data"));
        assert_eq!(
            files.path_of("abcdef"),
            Some(PathBuf::from("/data/media/ab/cdef"))
        );
        for bad in ["", "a", "ab", "../../etc", "ab/cd", "a.b", "ab%2F", "é"] {
            assert_eq!(files.path_of(bad), None, "{bad:?}");
        }
        assert!(!is_valid_media_id(&"a".repeat(MAX_MEDIA_ID_LEN + 1)));
    }

    #[tokio::test]
    async fn a_committed_file_stays_and_interrupted_uploads_go_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        files
            .remove_partial_uploads()
            .expect("nothing to remove is fine");
        let received = files.receive(Body::from("kept"), 10).await.unwrap();
        assert_eq!(received.size, 4);
        files.commit(received, "keptfile").await.unwrap();
        let interrupted = files.receive(Body::from("half"), 10).await.unwrap();
        assert!(interrupted.partial.exists());
        files.remove_partial_uploads().unwrap();
        assert!(!interrupted.partial.exists());
        let path = files.path_of("keptfile").unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"kept");
    }
}
