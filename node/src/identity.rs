//! The node's one ed25519 key: its Matrix server name, its event signing key and its libp2p
//! PeerId all derive from it, so a peer's transport identity and its events' signer are one.
//!
//! The key file uses the format Synapse uses for signing keys, one line:
//! `ed25519 <key version> <unpadded standard base64 of the 32-byte seed>`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::SigningKey;

pub const KEY_FILE_NAME: &str = "node.key";
/// The only signing key version a node has; its key ID is `ed25519:1`.
pub const KEY_VERSION: &str = "1";

pub struct NodeIdentity {
    signing_key: SigningKey,
    server_name: String,
    peer_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot {action} key file {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt key file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

impl NodeIdentity {
    pub fn from_signing_key(signing_key: SigningKey) -> NodeIdentity {
        let public = signing_key.verifying_key().to_bytes();
        let server_name = hex::encode(public);
        let peer_id = libp2p_identity::ed25519::PublicKey::try_from_bytes(&public)
            .map(|key| {
                libp2p_identity::PublicKey::from(key)
                    .to_peer_id()
                    .to_base58()
            })
            .expect("a valid ed25519 verifying key is a valid libp2p ed25519 public key");
        NodeIdentity {
            signing_key,
            server_name,
            peer_id,
        }
    }

    /// Loads `data_dir/node.key`, creating the directory and a fresh key (mode 0600) on first
    /// start.
    pub fn load_or_create(data_dir: &Path) -> Result<NodeIdentity, IdentityError> {
        let path = data_dir.join(KEY_FILE_NAME);
        match fs::read_to_string(&path) {
            Ok(text) => Self::parse_key_file(&path, &text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Self::create(&path),
            Err(source) => Err(io_error("read", &path, source)),
        }
    }

    /// The Matrix server name: lowercase hex of the public key.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// The libp2p PeerId in its usual base58 form.
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    pub fn key_id(&self) -> String {
        format!("ed25519:{KEY_VERSION}")
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The key that signs this node's events: server name = hex public key, key ID `ed25519:1`.
    pub fn server_key(&self) -> dag::signing::ServerKey {
        dag::signing::ServerKey::from_seed(
            self.server_name.clone(),
            self.key_id(),
            &self.signing_key.to_bytes(),
        )
    }

    fn parse_key_file(path: &Path, text: &str) -> Result<NodeIdentity, IdentityError> {
        let corrupt = |reason: &str| IdentityError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.to_owned(),
        };
        let mut fields = text.split_whitespace();
        let (Some(algorithm), Some(version), Some(seed), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(corrupt(
                "expected one line: ed25519 <version> <base64 seed>",
            ));
        };
        if algorithm != "ed25519" {
            return Err(corrupt("the algorithm is not ed25519"));
        }
        if version != KEY_VERSION {
            return Err(corrupt("unknown key version"));
        }
        let seed = STANDARD_NO_PAD
            .decode(seed.trim_end_matches('='))
            .map_err(|_| corrupt("the seed is not base64"))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| corrupt("the seed is not 32 bytes"))?;
        warn_if_readable_by_others(path);
        Ok(Self::from_signing_key(SigningKey::from_bytes(&seed)))
    }

    /// Writes the key to a temporary file and renames it into place, so a crash never leaves
    /// a half-written key behind.
    fn create(path: &Path) -> Result<NodeIdentity, IdentityError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)
            .map_err(|source| io_error("create the directory of", path, source))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| IdentityError::Random(error.to_string()))?;
        let line = format!("ed25519 {KEY_VERSION} {}\n", STANDARD_NO_PAD.encode(seed));
        let temporary = path.with_extension("key.tmp");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|source| io_error("create", &temporary, source))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|source| io_error("write", &temporary, source))?;
        fs::rename(&temporary, path).map_err(|source| io_error("install", path, source))?;
        fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| io_error("sync the directory of", path, source))?;
        let identity = Self::from_signing_key(SigningKey::from_bytes(&seed));
        tracing::info!(
            server_name = identity.server_name(),
            "created a new node identity"
        );
        Ok(identity)
    }
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> IdentityError {
    IdentityError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(metadata) = fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the node key file is readable by others; chmod 600 it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested/data");
        let first = NodeIdentity::load_or_create(&data_dir).unwrap();
        let mode = fs::metadata(data_dir.join(KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = NodeIdentity::load_or_create(&data_dir).unwrap();
        assert_eq!(first.server_name(), second.server_name());
        assert_eq!(first.peer_id(), second.peer_id());
        assert_eq!(first.server_name().len(), 64);
        assert!(
            first
                .server_name()
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_eq!(first.key_id(), "ed25519:1");
    }

    #[test]
    fn peer_id_is_derived_from_the_same_key() {
        let identity = NodeIdentity::from_signing_key(SigningKey::from_bytes(&[7u8; 32]));
        let public = libp2p_identity::ed25519::PublicKey::try_from_bytes(
            &hex::decode(identity.server_name()).unwrap(),
        )
        .unwrap();
        let expected = libp2p_identity::PublicKey::from(public).to_peer_id();
        assert_eq!(identity.peer_id(), expected.to_base58());
        // Identity-multihash PeerIds of ed25519 keys start with "12D3KooW".
        assert!(identity.peer_id().starts_with("12D3KooW"));
    }

    #[test]
    fn corrupt_key_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        for text in [
            "",
            "garbage",
            "ed25519 1",
            "rsa 1 AAAA",
            "ed25519 2 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ed25519 1 !!!!",
            "ed25519 1 AAAA",
            "ed25519 1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA extra",
        ] {
            fs::write(&path, text).unwrap();
            let error = NodeIdentity::load_or_create(dir.path()).err().unwrap();
            assert!(
                matches!(error, IdentityError::Corrupt { .. }),
                "{text}: {error}"
            );
        }
        fs::write(&path, [0xff, 0xfe]).unwrap();
        let error = NodeIdentity::load_or_create(dir.path()).err().unwrap();
        assert!(matches!(error, IdentityError::Io { .. }));
    }
}
