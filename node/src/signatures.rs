//! Signature checks for events from peers, on the machine's other cores. A peer's backlog
//! arrives in frames of up to 64 events, and ed25519 verification is about half the cost of
//! receiving one. `dag` has no threads: it hands a frame's signatures over at once
//! ([`SignatureCheck::verify_all`]) and then stores the events one after the other, taking each
//! event's answers just before its checks. [`ParallelEd25519`] verifies them on helper threads
//! meanwhile, so the database thread stores event n while the helpers verify event n + 1.

use std::num::NonZeroUsize;
use std::sync::{Arc, mpsc};
use std::thread;

use dag::signing::{Ed25519, PendingVerdicts, SignatureCheck, SignatureError, SignatureRequest};
use ed25519_dalek::{Signature, VerifyingKey};

/// Batches smaller than this are verified by the asking thread as it takes the answers.
const MIN_BATCH: usize = 4;

/// Ed25519 verification with the same answers as [`Ed25519`], batches verified in order by
/// one helper thread per core but the asking thread's.
#[derive(Debug, Clone, Copy)]
pub struct ParallelEd25519 {
    helpers: usize,
}

impl ParallelEd25519 {
    /// A helper per core beyond the first; none on a single core, where batches would only
    /// add thread switches.
    pub fn new() -> Self {
        let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        ParallelEd25519 { helpers: cores - 1 }
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
        requests: &mut dyn Iterator<Item = SignatureRequest>,
    ) -> Option<Box<dyn PendingVerdicts>> {
        if self.helpers == 0 {
            return None;
        }
        let requests: Arc<[SignatureRequest]> = requests.collect();
        // A frame of live traffic carries one or two events: not worth a thread switch.
        let helpers = match requests.len() < MIN_BATCH {
            true => 0,
            false => self.helpers.min(requests.len()),
        };
        let answers = (0..helpers)
            .map(|helper| start_helper(&requests, helper, helpers))
            .collect();
        Some(Box::new(Verdicts {
            requests,
            answers,
            next: 0,
        }))
    }
}

/// Starts a thread that verifies every `stride`-th request from `first`, in order; `None` if
/// no thread could be started.
fn start_helper(
    requests: &Arc<[SignatureRequest]>,
    first: usize,
    stride: usize,
) -> Option<mpsc::Receiver<Result<(), SignatureError>>> {
    let (answer, answers) = mpsc::sync_channel(requests.len().div_ceil(stride));
    let requests = Arc::clone(requests);
    thread::Builder::new()
        .name("flotilla-verify".into())
        .spawn(move || {
            let mut keys = KeyCache::default();
            for request in requests.iter().skip(first).step_by(stride) {
                // The receiver is gone if the batch was abandoned: nothing left to do.
                if answer.send(keys.verify(request)).is_err() {
                    return;
                }
            }
        })
        .ok()?;
    Some(answers)
}

/// The answers of one batch, taken in request order from the helper that verified each.
struct Verdicts {
    requests: Arc<[SignatureRequest]>,
    answers: Vec<Option<mpsc::Receiver<Result<(), SignatureError>>>>,
    next: usize,
}

impl PendingVerdicts for Verdicts {
    fn next_verdict(&mut self) -> Option<Result<(), SignatureError>> {
        let request = self.requests.get(self.next)?;
        let helper = self
            .answers
            .get(self.next % self.answers.len().max(1))
            .and_then(Option::as_ref);
        self.next += 1;
        // A helper that could not start or that stopped leaves its requests to this thread.
        let answer = helper.and_then(|answers| answers.recv().ok());
        Some(answer.unwrap_or_else(|| KeyCache::default().verify(request)))
    }
}

/// [`Ed25519::verify`], decompressing a key once for a run of requests that share it (a
/// backlog is mostly one sender's).
#[derive(Default)]
struct KeyCache {
    last: Option<([u8; 32], Result<VerifyingKey, SignatureError>)>,
}

impl KeyCache {
    fn verify(&mut self, request: &SignatureRequest) -> Result<(), SignatureError> {
        let key = match &self.last {
            Some((bytes, key)) if *bytes == request.public_key => key,
            _ => {
                let key = VerifyingKey::from_bytes(&request.public_key)
                    .map_err(|_| SignatureError::InvalidKey);
                &self.last.insert((request.public_key, key)).1
            }
        };
        let key = key.as_ref().map_err(Clone::clone)?;
        let signature = Signature::from_bytes(&request.signature);
        key.verify_strict(&request.message, &signature)
            .map_err(|_| SignatureError::BadSignature)
    }
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
                message: message.clone(),
                signature,
            });
        }
        let expected: Vec<_> = requests
            .iter()
            .map(|r| Ed25519.verify(&r.public_key, &r.message, &r.signature))
            .collect();
        assert!(expected.iter().any(Result::is_ok));
        assert!(expected.contains(&Err(SignatureError::InvalidKey)));
        assert!(expected.contains(&Err(SignatureError::BadSignature)));
        for helpers in [1, 2, 3, 16] {
            let check = ParallelEd25519 { helpers };
            assert_eq!(answers(&check, &requests), expected);
            assert_eq!(answers(&check, &requests[..1]), expected[..1].to_vec());
            assert_eq!(answers(&check, &[]), Vec::new());
        }
        let single_core = ParallelEd25519 { helpers: 0 };
        assert!(
            single_core
                .verify_all(&mut requests.clone().into_iter())
                .is_none()
        );
        let key = ServerKey::node(&[9; 32]);
        let public = key.verifying_key().to_bytes();
        assert_eq!(
            ParallelEd25519::new().verify(&public, b"m", &[0; 64]),
            Ed25519.verify(&public, b"m", &[0; 64])
        );
    }

    fn answers(
        check: &ParallelEd25519,
        requests: &[SignatureRequest],
    ) -> Vec<Result<(), SignatureError>> {
        let mut pending = check
            .verify_all(&mut requests.iter().cloned())
            .expect("a batch");
        let answers = std::iter::from_fn(|| pending.next_verdict()).collect();
        assert_eq!(pending.next_verdict(), None);
        answers
    }

    /// 32 bytes that do not decompress to a point on the curve.
    fn not_a_curve_point() -> [u8; 32] {
        (0..=u8::MAX)
            .map(|i| [i; 32])
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .unwrap_or([0xff; 32])
    }
}
