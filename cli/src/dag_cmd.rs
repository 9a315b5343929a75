//! `flotilla dag …`: event tools that read stdin and write stdout.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use dag::canonical_json::{self, Object};
use dag::signing::{self, ContentHash, ServerKey};
use dag::{Pdu, RoomVersion, base64, hashing, wire};

#[derive(Subcommand)]
pub enum DagCommand {
    /// Print the canonical JSON of the input, then a newline.
    Canonical,
    /// Print the content hash (`hashes.sha256`) of the input event.
    Hash(VersionArg),
    /// Print the event ID; the content hash is computed first if the event has none.
    EventId(VersionArg),
    /// Add the content hash and sign the input event; print it as canonical JSON.
    Sign {
        #[command(flatten)]
        version: VersionArg,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Sign a plain JSON object as in the spec's "Signing JSON"; print it as canonical JSON.
    SignJson(KeyArgs),
    /// Check the signature and content hash of the input event; print `ok` or fail.
    Verify {
        #[command(flatten)]
        version: VersionArg,
        #[arg(long)]
        server: String,
        #[arg(long)]
        key_id: String,
        /// The server's ed25519 public key, base64.
        #[arg(long)]
        public_key: String,
    },
    /// The CBOR wire form of one event.
    #[command(subcommand)]
    Wire(WireCommand),
    /// Resolve room state from events in the minimal fixture form (state resolution v2/v2.1).
    Resolve(crate::resolve_cmd::ResolveArgs),
}

#[derive(Subcommand)]
pub enum WireCommand {
    /// Signed event JSON on stdin → CBOR wire bytes on stdout.
    Encode(VersionArg),
    /// CBOR wire bytes on stdin → canonical JSON on stdout.
    Decode(VersionArg),
    /// Sizes of one event as canonical JSON, as CBOR, and as zstd-compressed CBOR.
    Stats(VersionArg),
}

#[derive(Args)]
pub struct VersionArg {
    /// Room version: 10, 11 or 12.
    #[arg(long = "room-version")]
    room_version: RoomVersion,
}

#[derive(Args)]
pub struct KeyArgs {
    /// Server name to sign as.
    #[arg(long)]
    server: String,
    /// Signing key ID, e.g. `ed25519:1`.
    #[arg(long)]
    key_id: String,
    /// The 32-byte ed25519 seed, base64.
    #[arg(
        long,
        conflicts_with = "seed_file",
        required_unless_present = "seed_file"
    )]
    seed: Option<String>,
    /// A file holding the seed, as base64 text or 32 raw bytes.
    #[arg(long)]
    seed_file: Option<PathBuf>,
}

/// zstd level for `wire stats`: the slowest, to show what compression can reach.
const STATS_ZSTD_LEVEL: i32 = 19;

pub fn run(command: DagCommand) -> anyhow::Result<()> {
    match command {
        DagCommand::Canonical => {
            let value =
                canonical_json::parse_bytes(&read_stdin()?).context("reading JSON from stdin")?;
            print_line(&canonical_json::to_string(&value))
        }
        DagCommand::Hash(_) => print_line(&base64::encode(hashing::content_hash(&read_object()?))),
        DagCommand::EventId(VersionArg { room_version }) => {
            let mut event = read_object()?;
            if event.get("hashes").and_then(|h| h.get("sha256")).is_none() {
                hashing::add_content_hash(&mut event);
            }
            print_line(&hashing::event_id(room_version, &event))
        }
        DagCommand::Sign { version, key } => {
            let mut event = read_object()?;
            signing::hash_and_sign_event(version.room_version, &mut event, &key.load()?)?;
            print_line(&canonical_json::object_to_string(&event))
        }
        DagCommand::SignJson(key) => {
            let mut object = read_object()?;
            signing::sign_json(&mut object, &key.load()?)?;
            print_line(&canonical_json::object_to_string(&object))
        }
        DagCommand::Verify {
            version,
            server,
            key_id,
            public_key,
        } => {
            let public_key =
                signing::verifying_key_from_base64(&public_key).context("--public-key")?;
            let event = read_object()?;
            match signing::verify_event(version.room_version, &event, &server, &key_id, &public_key)
            {
                Ok(ContentHash::Matches) => print_line("ok"),
                Ok(ContentHash::Mismatch) => {
                    bail!(
                        "content hash mismatch: the signature is valid but the content was altered (the event must be redacted)"
                    )
                }
                Err(error) => bail!("signature check failed: {error}"),
            }
        }
        DagCommand::Wire(command) => run_wire(command),
        DagCommand::Resolve(args) => crate::resolve_cmd::run(args),
    }
}

fn run_wire(command: WireCommand) -> anyhow::Result<()> {
    match command {
        WireCommand::Encode(VersionArg { room_version }) => {
            let pdu = Pdu::from_json(room_version, read_object()?)
                .context("input is not a valid event")?;
            write_stdout(&wire::encode(pdu.json()))
        }
        WireCommand::Decode(VersionArg { room_version }) => {
            let event = wire::decode(&read_stdin()?).context("decoding wire bytes")?;
            let pdu = Pdu::from_json(room_version, event)
                .context("decoded bytes are not a valid event")?;
            print_line(&pdu.canonical_json())
        }
        WireCommand::Stats(VersionArg { room_version }) => {
            let pdu = Pdu::from_json(room_version, read_object()?)
                .context("input is not a valid event")?;
            let cbor = wire::encode(pdu.json());
            let compressed = zstd::bulk::compress(&cbor, STATS_ZSTD_LEVEL).context("zstd")?;
            let stats = serde_json::json!({
                "json_bytes": pdu.canonical_json().len(),
                "cbor_bytes": cbor.len(),
                "zstd_bytes": compressed.len(),
            });
            print_line(&stats.to_string())
        }
    }
}

impl KeyArgs {
    fn load(&self) -> anyhow::Result<ServerKey> {
        let seed = match (&self.seed, &self.seed_file) {
            (Some(seed), _) => signing::seed_from_base64(seed).context("--seed")?,
            (None, Some(path)) => read_seed_file(path)?,
            (None, None) => bail!("one of --seed or --seed-file is required"),
        };
        Ok(ServerKey::from_seed(&self.server, &self.key_id, &seed))
    }
}

fn read_seed_file(path: &PathBuf) -> anyhow::Result<[u8; 32]> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let as_text = std::str::from_utf8(&bytes)
        .ok()
        .map(signing::seed_from_base64);
    match as_text {
        Some(Ok(seed)) => Ok(seed),
        _ => bytes.try_into().map_err(|_| {
            anyhow::anyhow!(
                "{}: not a base64 or raw 32-byte ed25519 seed",
                path.display()
            )
        }),
    }
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("reading stdin")?;
    Ok(bytes)
}

fn read_object() -> anyhow::Result<Object> {
    match canonical_json::parse_bytes(&read_stdin()?).context("reading JSON from stdin")? {
        serde_json::Value::Object(object) => Ok(object),
        _ => bail!("expected a JSON object on stdin"),
    }
}

fn print_line(text: &str) -> anyhow::Result<()> {
    write_stdout(format!("{text}\n").as_bytes())
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .context("writing stdout")
}
