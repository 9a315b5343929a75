//! Signature checks for events from peers, spread over the machine's cores. A peer's backlog
//! arrives in frames of up to 64 events and ed25519 verification is most of the cost of
//! receiving one; `dag` has no threads, so it asks for a frame's signatures at once
//! ([`SignatureCheck::verify_all`]) and [`ParallelEd25519`] answers them on scoped threads
//! while the database thread, which asked, verifies its own share.

use std::num::NonZeroUsize;
use std::thread;

use dag::signing::{Ed25519, SignatureCheck, SignatureError, SignatureRequest};
use ed25519_dalek::{Signature, VerifyingKey};

/// Below this many signatures per thread, starting a thread costs more than it saves.
const MIN_PER_THREAD: usize = 4;

/// Ed25519 verification with the same answers as [`Ed25519`], a batch split over threads.
#[derive(Debug, Clone, Copy)]
pub struct ParallelEd25519 {
    threads: usize,
}

impl ParallelEd25519 {
    /// One thread per core.
    pub fn new() -> Self {
        let threads = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        ParallelEd25519 { threads }
    }
}

impl Default for ParallelEd25519 {
    fn default() -> Self {
        ParallelEd25519::new()
    }
}

impl SignatureCheck for ParallelEd25519 {
    fn verify(
        &self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), SignatureError> {
        Ed25519.verify(public_key, message, signature)
    }

    fn verify_all(
        &self,
        requests: &[SignatureRequest<'_>],
    ) -> Option<Vec<Result<(), SignatureError>>> {
        let per_thread = requests.len().div_ceil(self.threads).max(MIN_PER_THREAD);
        let mut chunks = requests.chunks(per_thread);
        let own = chunks.next().unwrap_or_default();
        thread::scope(|scope| {
            let helpers: Vec<_> = chunks
                .map(|chunk| {
                    let spawned = thread::Builder::new()
                        .name("flotilla-verify".into())
                        .spawn_scoped(scope, move || verify_chunk(chunk));
                    // A thread that cannot start leaves its share to this one.
                    (chunk, spawned.ok())
                })
                .collect();
            let mut results = verify_chunk(own);
            for (chunk, helper) in helpers {
                match helper.map(|h| h.join()) {
                    Some(Ok(answers)) => results.extend(answers),
                    _ => results.extend(verify_chunk(chunk)),
                }
            }
            Some(results)
        })
    }
}

/// [`Ed25519::verify`] of each request, decompressing a key once for a run of requests that
/// share it (a backlog is mostly one sender's).
fn verify_chunk(requests: &[SignatureRequest<'_>]) -> Vec<Result<(), SignatureError>> {
    let mut key: Option<([u8; 32], Result<VerifyingKey, SignatureError>)> = None;
    requests
        .iter()
        .map(|request| {
            let decompressed = match &key {
                Some((bytes, decompressed)) if *bytes == request.public_key => decompressed,
                _ => {
                    let decompressed = VerifyingKey::from_bytes(&request.public_key)
                        .map_err(|_| SignatureError::InvalidKey);
                    &key.insert((request.public_key, decompressed)).1
                }
            };
            let signature = Signature::from_bytes(&request.signature);
            decompressed.as_ref().map_err(Clone::clone).and_then(|k| {
                k.verify_strict(request.message, &signature)
                    .map_err(|_| SignatureError::BadSignature)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use dag::signing::ServerKey;
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    #[test]
    fn answers_as_ed25519_does_in_order() {
        let keys: Vec<SigningKey> = (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let messages: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; usize::from(i) + 1]).collect();
        let not_a_point = not_a_curve_point();
        let mut requests = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let key = &keys[i % keys.len()];
            let mut signature = key.sign(message).to_bytes();
            let public_key = match i % 7 {
                3 => not_a_point,
                5 => keys[(i + 1) % keys.len()].verifying_key().to_bytes(),
                _ => key.verifying_key().to_bytes(),
            };
            if i % 11 == 4 {
                signature[0] ^= 1;
            }
            requests.push(SignatureRequest {
                public_key,
                message,
                signature,
            });
        }
        let expected: Vec<_> = requests
            .iter()
            .map(|r| Ed25519.verify(&r.public_key, r.message, &r.signature))
            .collect();
        assert!(expected.iter().any(Result::is_ok));
        assert!(expected.contains(&Err(SignatureError::InvalidKey)));
        assert!(expected.contains(&Err(SignatureError::BadSignature)));
        for threads in [1, 2, 3, 16] {
            let check = ParallelEd25519 { threads };
            assert_eq!(check.verify_all(&requests), Some(expected.clone()));
            assert_eq!(
                check.verify_all(&requests[..1]),
                Some(expected[..1].to_vec())
            );
            assert_eq!(check.verify_all(&[]), Some(Vec::new()));
        }
        let key = ServerKey::node(&[9; 32]);
        let public = key.verifying_key().to_bytes();
        assert_eq!(
            ParallelEd25519::new().verify(&public, b"m", &[0; 64]),
            Ed25519.verify(&public, b"m", &[0; 64])
        );
    }

    /// 32 bytes that do not decompress to a point on the curve.
    fn not_a_curve_point() -> [u8; 32] {
        (0..=u8::MAX)
            .map(|i| [i; 32])
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .unwrap_or([0xff; 32])
    }
}
