//! Per-link zstd streams. Each direction of a link is one zstd stream flushed after every frame,
//! so a frame is decodable as soon as it arrives and later frames reuse what earlier ones
//! carried (repeated keys, server names, event types) as compression context. This relies on the
//! link delivering frames reliably and in order, as a libp2p stream does; a new link starts new
//! streams.

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
        let mut encoder = Encoder::new(LEVEL)?;
        encoder.set_parameter(CParameter::WindowLog(WINDOW_LOG))?;
        encoder.set_parameter(CParameter::HashLog(TABLE_LOG))?;
        encoder.set_parameter(CParameter::ChainLog(TABLE_LOG))?;
        encoder.set_parameter(CParameter::ChecksumFlag(false))?;
        encoder.set_parameter(CParameter::ContentSizeFlag(false))?;
        let mut decoder = Decoder::new()?;
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
