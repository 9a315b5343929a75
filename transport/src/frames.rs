//! Length-delimited frames on a stream: an unsigned LEB128 length, then the bytes. A one-byte
//! length prefix for small frames matters on a 2.4 kbit/s link.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub async fn write_frame(stream: &mut (impl AsyncWrite + Unpin), frame: &[u8]) -> io::Result<()> {
    // One write of prefix and frame together: each write becomes its own Yamux frame, Noise
    // message and (with Nagle off) TCP segment, ~80 bytes of headers on the link.
    let mut framed = Vec::with_capacity(frame.len() + 5);
    let mut length = frame.len();
    loop {
        let byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            framed.push(byte);
            break;
        }
        framed.push(byte | 0x80);
    }
    framed.extend_from_slice(frame);
    stream.write_all(&framed).await?;
    stream.flush().await
}

/// Reads one frame; a length above `limit` is an error before anything is allocated.
pub async fn read_frame(
    stream: &mut (impl AsyncRead + Unpin),
    limit: usize,
) -> io::Result<Vec<u8>> {
    let mut length = 0usize;
    for shift in (0..35).step_by(7) {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).await?;
        length |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            if length > limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("frame of {length} bytes exceeds {limit}"),
                ));
            }
            let mut frame = vec![0; length];
            stream.read_exact(&mut frame).await?;
            return Ok(frame);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "frame length prefix too long",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    #[tokio::test]
    async fn frames_round_trip_with_short_prefixes() {
        let mut buffer = Cursor::new(Vec::new());
        for size in [0, 1, 127, 128, 20_000] {
            write_frame(&mut buffer, &vec![9; size]).await.unwrap();
        }
        assert_eq!(buffer.get_ref().len(), 1 + 2 + 128 + 130 + 20_003);
        buffer.set_position(0);
        for size in [0, 1, 127, 128, 20_000] {
            assert_eq!(read_frame(&mut buffer, 1 << 20).await.unwrap().len(), size);
        }
    }

    #[tokio::test]
    async fn oversized_and_malformed_prefixes_are_errors() {
        let mut big = Cursor::new(vec![0xff, 0xff, 0x7f]);
        assert!(read_frame(&mut big, 1000).await.is_err());
        let mut endless = Cursor::new(vec![0x80; 10]);
        assert!(read_frame(&mut endless, usize::MAX).await.is_err());
        let mut short = Cursor::new(vec![5, 1, 2]);
        assert!(read_frame(&mut short, 1000).await.is_err());
    }
}
