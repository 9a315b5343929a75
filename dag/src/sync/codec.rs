//! Per-link zstd streams. Each direction of a link is one zstd stream flushed after every frame,
//! so a frame is decodable as soon as it arrives and later frames reuse what earlier ones
//! carried (repeated keys, server names, event types) as compression context. This relies on the
//! link delivering frames reliably and in order, as a libp2p stream does; a new link starts new
//! streams.
//!
//! Both streams start from a dictionary trained on representative link traffic
//! (`examples/train_dictionary.rs`), so even a link's first frames find the usual field names,
//! event types and content keys as matches. The dictionary is part of the protocol: its version
//! is in the protocol name both ends negotiate ([`super::PROTOCOL_NAME`]), and its ID is in the
//! zstd stream header, which a decoder with another dictionary refuses.

use std::io;

use zstd::stream::raw::{CParameter, DParameter, Decoder, Encoder, InBuffer, Operation, OutBuffer};

/// A middle level: small frames compress in microseconds, and the window below bounds memory.
const LEVEL: i32 = 6;
/// 64 KiB windows keep a link's two contexts to a few hundred KiB, which matters at a thousand
/// simulated nodes, while still spanning many recent frames.
const WINDOW_LOG: u32 = 16;
/// The match-finder tables. Left to the level, a stream of unknown length gets level 6's
/// 2^19-entry hash and 2^18-entry chain tables (about 3.5 MiB per encoder, so ~14 GiB for a
/// thousand nodes of degree four); sized to the window they take about 300 KiB.
const TABLE_LOG: u32 = WINDOW_LOG - 1;
const CHUNK: usize = 4096;

/// Version of [`DICTIONARY`]; part of [`super::PROTOCOL_NAME`].
pub const DICTIONARY_VERSION: u32 = 1;
/// Retrain with `cargo run --release -p dag --example train_dictionary`.
const DICTIONARY: &[u8] = include_bytes!("dictionary-1.zdict");

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("zstd: {0}")]
    Zstd(#[from] io::Error),
    #[error("frame decompresses to more than {0} bytes")]
    TooLarge(usize),
}

pub struct FrameCodec {
    encoder: Encoder<'static>,
    decoder: Decoder<'static>,
}

impl FrameCodec {
    pub fn new() -> Result<FrameCodec, CodecError> {
        let mut encoder = Encoder::with_dictionary(LEVEL, DICTIONARY)?;
        encoder.set_parameter(CParameter::WindowLog(WINDOW_LOG))?;
        encoder.set_parameter(CParameter::HashLog(TABLE_LOG))?;
        encoder.set_parameter(CParameter::ChainLog(TABLE_LOG))?;
        encoder.set_parameter(CParameter::ChecksumFlag(false))?;
        encoder.set_parameter(CParameter::ContentSizeFlag(false))?;
        let mut decoder = Decoder::with_dictionary(DICTIONARY)?;
        decoder.set_parameter(DParameter::WindowLogMax(WINDOW_LOG))?;
        Ok(FrameCodec { encoder, decoder })
    }

    /// Compresses one message into a frame and flushes the stream.
    pub fn compress(&mut self, message: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut frame = Vec::with_capacity(message.len() / 2 + 16);
        let mut input = InBuffer::around(message);
        let mut chunk = [0u8; CHUNK];
        while input.pos() < message.len() {
            let mut output = OutBuffer::around(&mut chunk[..]);
            self.encoder.run(&mut input, &mut output)?;
            frame.extend_from_slice(output.as_slice());
        }
        loop {
            let mut output = OutBuffer::around(&mut chunk[..]);
            let remaining = self.encoder.flush(&mut output)?;
            frame.extend_from_slice(output.as_slice());
            if remaining == 0 {
                return Ok(frame);
            }
        }
    }

    /// Decompresses one frame, refusing to produce more than `limit` bytes.
    pub fn decompress(&mut self, frame: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
        let mut message = Vec::new();
        let mut input = InBuffer::around(frame);
        let mut chunk = [0u8; CHUNK];
        loop {
            let mut output = OutBuffer::around(&mut chunk[..]);
            self.decoder.run(&mut input, &mut output)?;
            let produced = output.as_slice();
            if message.len() + produced.len() > limit {
                return Err(CodecError::TooLarge(limit));
            }
            message.extend_from_slice(produced);
            if input.pos() == frame.len() && produced.len() < CHUNK {
                return Ok(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::message::Message;
    use super::*;

    #[test]
    fn frames_round_trip_and_later_frames_shrink() {
        let mut sender = FrameCodec::new().unwrap();
        let mut receiver = FrameCodec::new().unwrap();
        let message = b"{\"msgtype\":\"m.text\",\"body\":\"position report 0600\"}".repeat(3);
        let first = sender.compress(&message).unwrap();
        let second = sender.compress(&message).unwrap();
        assert!(
            second.len() < first.len() / 2,
            "{} then {}",
            first.len(),
            second.len()
        );
        assert_eq!(receiver.decompress(&first, 1 << 20).unwrap(), message);
        assert_eq!(receiver.decompress(&second, 1 << 20).unwrap(), message);
    }

    #[test]
    fn the_protocol_name_carries_the_dictionary_version() {
        let suffix = format!("/zdict/{DICTIONARY_VERSION}");
        assert!(super::super::PROTOCOL_NAME.ends_with(&suffix));
    }

    /// A link's first frame as it travels: an `Events` message holding one wire-form event.
    fn first_events_frame(event_type: &str, state_key: Option<&str>, content: Value) -> Vec<u8> {
        let server = "5b8e2a61c0f3d4e7a9b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f6071";
        let mut event = json!({
            "type": event_type,
            "room_id": "!x7HHrvtGWZ3uqcbWI8RhXSmwZsHBu4eJZXFb3Mtw9LM",
            "sender": format!("@nav:{server}"),
            "content": content,
            "origin_server_ts": 1_795_651_260_123u64,
            "depth": 42,
            "prev_events": ["$Pr3vEv3ntHashPr3vEv3ntHashPr3vEv3ntHash0aB"],
            "auth_events": [
                "$CreateEventHashCreateEventHashCreateEvent0",
                "$PowerLevelsHashPowerLevelsHashPowerLevels0",
                "$MemberEventHashMemberEventHashMemberEvent0",
            ],
            "hashes": {"sha256": "K8Y4gyqoYf3x3hG1dYJmN0m8t4hVzXG0bZtVJpQyx2s"},
            "signatures": {server: {"ed25519:1": "Sig".repeat(28) + "A"}},
        });
        if let Some(state_key) = state_key {
            event["state_key"] = json!(state_key);
        }
        let Value::Object(event) = event else {
            unreachable!()
        };
        let events = vec![crate::wire::encode(&event)];
        Message::Events { acked: 0, events }.encode()
    }

    fn compressed_without_dictionary(message: &[u8]) -> usize {
        let mut encoder = Encoder::new(LEVEL).unwrap();
        encoder
            .set_parameter(CParameter::ContentSizeFlag(false))
            .unwrap();
        let mut out = vec![0u8; 4096];
        let mut output = OutBuffer::around(&mut out[..]);
        encoder
            .run(&mut InBuffer::around(message), &mut output)
            .unwrap();
        encoder.flush(&mut output).unwrap();
        output.pos()
    }

    /// The dictionary earns its place on a link's first frames, before the stream has any
    /// history of its own.
    #[test]
    fn the_dictionary_shrinks_a_fresh_links_first_frames() {
        let samples = [
            first_events_frame(
                "m.room.message",
                None,
                json!({"msgtype": "m.text", "body": "Contact bearing 270, closing"}),
            ),
            first_events_frame(
                "m.room.member",
                Some("@nav:5b8e2a61c0f3d4e7a9b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f6071"),
                json!({"membership": "join", "displayname": "nav of the fleet"}),
            ),
        ];
        for sample in samples {
            let with = FrameCodec::new().unwrap().compress(&sample).unwrap().len();
            let without = compressed_without_dictionary(&sample);
            assert!(
                with * 10 <= without * 9,
                "{with} bytes with the dictionary, {without} without"
            );
        }
    }

    #[test]
    fn a_stream_made_with_another_dictionary_is_refused() {
        let mut other =
            Encoder::with_dictionary(LEVEL, b"not the flotilla dictionary, just some bytes")
                .unwrap();
        let mut out = vec![0u8; 1024];
        let mut output = OutBuffer::around(&mut out[..]);
        other
            .run(
                &mut InBuffer::around(&b"hello hello hello"[..]),
                &mut output,
            )
            .unwrap();
        other.flush(&mut output).unwrap();
        let frame = output.as_slice().to_vec();
        assert!(
            FrameCodec::new()
                .unwrap()
                .decompress(&frame, 1 << 20)
                .is_err()
        );
    }

    #[test]
    fn large_frames_and_bombs() {
        let mut sender = FrameCodec::new().unwrap();
        let mut receiver = FrameCodec::new().unwrap();
        let big = vec![b'x'; 200_000];
        let frame = sender.compress(&big).unwrap();
        assert!(matches!(
            receiver.decompress(&frame, 100_000),
            Err(CodecError::TooLarge(_))
        ));
        let mut fresh = FrameCodec::new().unwrap();
        assert!(fresh.decompress(b"not zstd at all", 1000).is_err());
    }
}
