//! The messages of the mesh sync protocol and their CBOR form.
//!
//! A message is a CBOR array whose first item is its kind. Event IDs travel as their 32 hash
//! bytes; room IDs as hash bytes (v12) or text; events in their [`crate::wire`] form. Decoding
//! is bounded: a message may not hold more than [`MAX_ITEMS`] entries in any list.

use ciborium::Value as Cbor;

use crate::base64;

/// No list in a message may be longer than this; a peer that sends more is misbehaving.
pub const MAX_ITEMS: usize = 4096;

/// A room's heads and a sample of older events it holds, for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomHeads {
    pub room_id: String,
    pub heads: Vec<String>,
    /// Held events, with their depths, at exponentially growing distances below the heads: the
    /// receiver finds the newest ones it also holds, and sends only what lies above them.
    pub locator: Vec<(String, u64)>,
    /// The newest event of the room this link carried (either way) when the two nodes last
    /// met: the receiver holds it, and can send exactly what lies above it without asking for
    /// a denser locator.
    pub shared: Option<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message on a link, and a periodic check: a digest of every room's heads.
    Hello { digest: [u8; 16] },
    /// Heads of some rooms; sent for every room when digests differ.
    Heads(Vec<RoomHeads>),
    /// Events in wire form, ancestors first; `acked` is how many events the sender had
    /// received on this link, which its link references count from.
    Events { acked: u64, events: Vec<Vec<u8>> },
    /// Please send these events.
    Want(Vec<String>),
    /// Lazy announcement: I hold these events.
    IHave(Vec<String>),
    /// Stop pushing events to me eagerly; announce them instead.
    Prune,
    /// Push events to me eagerly again, starting with these.
    Graft(Vec<String>),
    /// Please send a denser locator of this room between these depths (exclusive): your
    /// coarse one left too many of my events in doubt.
    Locate {
        room_id: String,
        above: u64,
        below: u64,
    },
}

const HELLO: u8 = 0;
const HEADS: u8 = 1;
const EVENTS: u8 = 2;
const WANT: u8 = 3;
const IHAVE: u8 = 4;
const PRUNE: u8 = 5;
const GRAFT: u8 = 6;
const LOCATE: u8 = 7;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed sync message: {0}")]
pub struct MessageError(pub &'static str);

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let items = match self {
            Message::Hello { digest } => vec![Cbor::from(HELLO), Cbor::Bytes(digest.to_vec())],
            Message::Heads(rooms) => vec![
                Cbor::from(HEADS),
                Cbor::Array(rooms.iter().map(encode_room_heads).collect()),
            ],
            Message::Events { acked, events } => {
                vec![
                    Cbor::from(EVENTS),
                    Cbor::from(*acked),
                    Cbor::Array(events.iter().map(|e| Cbor::Bytes(e.clone())).collect()),
                ]
            }
            Message::Want(ids) => vec![Cbor::from(WANT), encode_ids(ids)],
            Message::IHave(ids) => vec![Cbor::from(IHAVE), encode_ids(ids)],
            Message::Prune => vec![Cbor::from(PRUNE)],
            Message::Graft(ids) => vec![Cbor::from(GRAFT), encode_ids(ids)],
            Message::Locate {
                room_id,
                above,
                below,
            } => {
                vec![
                    Cbor::from(LOCATE),
                    encode_room_id(room_id),
                    Cbor::from(*above),
                    Cbor::from(*below),
                ]
            }
        };
        let mut bytes = Vec::new();
        if let Err(error) = ciborium::ser::into_writer(&Cbor::Array(items), &mut bytes) {
            unreachable!("CBOR serialisation into memory failed: {error}");
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        let mut reader = bytes;
        let value: Cbor = ciborium::de::from_reader_with_recursion_limit(&mut reader, 8)
            .map_err(|_| MessageError("not CBOR"))?;
        if !reader.is_empty() {
            return Err(MessageError("trailing bytes"));
        }
        let mut items = into_array(value)?.into_iter();
        let kind = items
            .next()
            .and_then(|k| k.as_integer())
            .and_then(|k| u8::try_from(k).ok());
        let message = match kind.ok_or(MessageError("no kind"))? {
            HELLO => Message::Hello {
                digest: decode_digest(items.next())?,
            },
            HEADS => Message::Heads(decode_list(items.next(), decode_room_heads)?),
            EVENTS => Message::Events {
                acked: decode_u64(items.next())?,
                events: decode_list(items.next(), |e| match e {
                    Cbor::Bytes(bytes) => Ok(bytes),
                    _ => Err(MessageError("event is not bytes")),
                })?,
            },
            WANT => Message::Want(decode_ids(items.next())?),
            IHAVE => Message::IHave(decode_ids(items.next())?),
            PRUNE => Message::Prune,
            GRAFT => Message::Graft(decode_ids(items.next())?),
            LOCATE => Message::Locate {
                room_id: decode_room_id(items.next())?,
                above: decode_u64(items.next())?,
                below: decode_u64(items.next())?,
            },
            _ => return Err(MessageError("unknown kind")),
        };
        if items.next().is_some() {
            return Err(MessageError("extra items"));
        }
        Ok(message)
    }
}

fn encode_room_heads(room: &RoomHeads) -> Cbor {
    let locator = room
        .locator
        .iter()
        .filter_map(|(id, depth)| encode_locator_entry(id, *depth));
    let mut items = vec![
        encode_room_id(&room.room_id),
        encode_ids(&room.heads),
        Cbor::Array(locator.collect()),
    ];
    let shared = room.shared.as_ref();
    if let Some(shared) = shared.and_then(|(id, depth)| encode_locator_entry(id, *depth)) {
        items.push(shared);
    }
    Cbor::Array(items)
}

fn encode_locator_entry(id: &str, depth: u64) -> Option<Cbor> {
    Some(Cbor::Array(vec![encode_id(id)?, Cbor::from(depth)]))
}

fn decode_locator_entry(entry: Cbor) -> Result<(String, u64), MessageError> {
    let mut parts = into_array(entry)?.into_iter();
    let id = decode_id(parts.next().ok_or(MessageError("empty locator entry"))?)?;
    let depth = decode_u64(parts.next())?;
    match parts.next() {
        None => Ok((id, depth)),
        Some(_) => Err(MessageError("extra items in locator entry")),
    }
}

fn encode_room_id(room_id: &str) -> Cbor {
    match room_id
        .strip_prefix('!')
        .and_then(base64::decode_url_safe_canonical)
    {
        Some(hash) if hash.len() == 32 => Cbor::Bytes(hash),
        _ => Cbor::Text(room_id.to_owned()),
    }
}

fn decode_room_id(value: Option<Cbor>) -> Result<String, MessageError> {
    match value {
        Some(Cbor::Bytes(hash)) if hash.len() == 32 => {
            Ok(format!("!{}", base64::encode_url_safe(hash)))
        }
        Some(Cbor::Text(room_id)) => Ok(room_id),
        _ => Err(MessageError("bad room ID")),
    }
}

fn decode_u64(value: Option<Cbor>) -> Result<u64, MessageError> {
    value
        .and_then(|v| v.as_integer())
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(MessageError("bad integer"))
}

fn decode_room_heads(value: Cbor) -> Result<RoomHeads, MessageError> {
    let mut items = into_array(value)?.into_iter();
    let room_id = decode_room_id(items.next())?;
    let heads = decode_ids(items.next())?;
    let locator = decode_list(items.next(), decode_locator_entry)?;
    let shared = items.next().map(decode_locator_entry).transpose()?;
    if items.next().is_some() {
        return Err(MessageError("extra items in room heads"));
    }
    Ok(RoomHeads {
        room_id,
        heads,
        locator,
        shared,
    })
}

/// Event IDs as raw hash bytes: every event ID in v10–v12 is `$` and a 32-byte hash.
fn encode_ids(ids: &[String]) -> Cbor {
    Cbor::Array(ids.iter().filter_map(|id| encode_id(id)).collect())
}

fn encode_id(id: &str) -> Option<Cbor> {
    id.strip_prefix('$')
        .and_then(base64::decode_url_safe_canonical)
        .map(Cbor::Bytes)
}

fn decode_id(value: Cbor) -> Result<String, MessageError> {
    match value {
        Cbor::Bytes(hash) if hash.len() == 32 => Ok(format!("${}", base64::encode_url_safe(hash))),
        _ => Err(MessageError("bad event ID")),
    }
}

fn decode_ids(value: Option<Cbor>) -> Result<Vec<String>, MessageError> {
    decode_list(value, decode_id)
}

fn decode_list<T>(
    value: Option<Cbor>,
    item: impl Fn(Cbor) -> Result<T, MessageError>,
) -> Result<Vec<T>, MessageError> {
    let items = into_array(value.ok_or(MessageError("missing list"))?)?;
    if items.len() > MAX_ITEMS {
        return Err(MessageError("list too long"));
    }
    items.into_iter().map(item).collect()
}

fn decode_digest(value: Option<Cbor>) -> Result<[u8; 16], MessageError> {
    match value {
        Some(Cbor::Bytes(bytes)) => bytes
            .try_into()
            .map_err(|_| MessageError("digest is not 16 bytes")),
        _ => Err(MessageError("missing digest")),
    }
}

fn into_array(value: Cbor) -> Result<Vec<Cbor>, MessageError> {
    match value {
        Cbor::Array(items) => Ok(items),
        _ => Err(MessageError("expected an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> String {
        format!("${}", base64::encode_url_safe([byte; 32]))
    }

    #[test]
    fn every_message_round_trips() {
        let messages = [
            Message::Hello { digest: [7; 16] },
            Message::Heads(vec![
                RoomHeads {
                    room_id: format!("!{}", &id(1)[1..]),
                    heads: vec![id(2), id(3)],
                    locator: vec![(id(4), 17)],
                    shared: Some((id(6), 12)),
                },
                RoomHeads {
                    room_id: "!legacy:example.org".into(),
                    heads: vec![],
                    locator: vec![],
                    shared: None,
                },
            ]),
            Message::Events {
                acked: 300,
                events: vec![vec![1, 2, 3], vec![]],
            },
            Message::Want(vec![id(5)]),
            Message::IHave(vec![id(6), id(7)]),
            Message::Prune,
            Message::Graft(vec![]),
            Message::Locate {
                room_id: "!a:b".into(),
                above: 3,
                below: 900,
            },
        ];
        for message in messages {
            assert_eq!(Message::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        let too_many =
            Message::Want((0..=MAX_ITEMS as u32).map(|i| id(i as u8)).collect()).encode();
        for bytes in [
            &[][..],
            &[0x80],
            &[0x82, 0x00, 0x41, 0x00],
            &[0x81, 0x09],
            &too_many,
            &[0x82, 0x05, 0x00],
        ] {
            assert!(Message::decode(bytes).is_err(), "{bytes:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = Message::decode(&bytes);
        }
    }
}
