//! Unpadded base64 as Matrix uses it (appendices, "Unpadded Base64").
//!
//! Encoders never pad. Decoders accept padded and unpadded input and ignore non-zero trailing
//! bits, as the spec asks for interoperability; its own signing-key seed needs the latter.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);

const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64: {0}")]
pub struct Base64Error(String);

/// Standard alphabet, unpadded: hashes, keys, signatures.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// URL-safe alphabet, unpadded: event IDs and v12 room IDs.
pub fn encode_url_safe(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE.encode(bytes)
}

pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    STANDARD
        .decode(text)
        .map_err(|e| Base64Error(e.to_string()))
}

pub fn decode_url_safe(text: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE
        .decode(text)
        .map_err(|e| Base64Error(e.to_string()))
}

/// Decodes `text` only if encoding the result gives `text` back, i.e. it is the one canonical
/// spelling of those bytes. The wire codec relies on this to stay lossless.
pub fn decode_canonical(text: &str) -> Option<Vec<u8>> {
    decode(text).ok().filter(|bytes| encode(bytes) == text)
}

pub fn decode_url_safe_canonical(text: &str) -> Option<Vec<u8>> {
    decode_url_safe(text)
        .ok()
        .filter(|bytes| encode_url_safe(bytes) == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(encode(plain), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn decoding_accepts_padding_and_trailing_bits() {
        assert_eq!(decode("Zm8=").unwrap(), b"fo");
        assert_eq!(decode("Zg==").unwrap(), b"f");
        // The spec's signing-key seed has non-zero trailing bits.
        assert_eq!(
            decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
                .unwrap()
                .len(),
            32
        );
        assert_eq!(decode("Zh").unwrap(), b"f");
        assert!(decode_canonical("Zh").is_none());
        assert!(decode_canonical("Zg").is_some());
    }

    #[test]
    fn url_safe_alphabet() {
        assert_eq!(encode_url_safe([0xfb, 0xff]), "-_8");
        assert_eq!(decode_url_safe("-_8").unwrap(), [0xfb, 0xff]);
        assert!(decode("-_8").is_err());
    }

    #[test]
    fn rejects_garbage() {
        for text in ["Z", "Zm9v!", "Zm=9v", "Z==="] {
            assert!(decode(text).is_err(), "{text}");
        }
    }
}
