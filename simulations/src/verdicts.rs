//! A signature check that remembers its verdicts, shared by all the nodes of one run.
//!
//! Every simulated node checks the signatures of every event it receives, through the same
//! `dag::room` code as a real node. With a thousand nodes in one process that is a thousand
//! ed25519 verifications of one signature over the same bytes, and they dominated the run time.
//! A verification is a pure function of the key, the message and the signature, so a repeat is
//! answered from memory: each node still builds the signed bytes from the event it decoded and
//! asks, and the answer is the one `dag::signing::Ed25519` gives for exactly those bytes.
//!
//! Verdicts are keyed by SHA-256 over key, signature and message (the fixed-size fields first,
//! so the concatenation is unambiguous). The memory is bounded: when full it starts over, which
//! costs time but changes no answer, so runs stay deterministic.

use std::collections::HashMap;
use std::sync::Mutex;

use dag::signing::{Ed25519, SignatureCheck, SignatureError};
use sha2::{Digest, Sha256};

/// Verdicts kept before the memory starts over: far more than the distinct signatures of a
/// scenario's events, at about 100 bytes each.
const CAPACITY: usize = 1 << 16;

/// The simulator's [`SignatureCheck`]: [`Ed25519`], remembered.
#[derive(Default)]
pub struct Verdicts {
    /// The engine is single-threaded; the lock is there because `dag::sync::Sync` may move
    /// between threads in a real node, so its check must be `Sync`.
    known: Mutex<HashMap<[u8; 32], Result<(), SignatureError>>>,
}

impl SignatureCheck for Verdicts {
    fn verify(
        &self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), SignatureError> {
        let key: [u8; 32] = Sha256::new()
            .chain_update(public_key)
            .chain_update(signature)
            .chain_update(message)
            .finalize()
            .into();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(verdict) = known.get(&key) {
            return verdict.clone();
        }
        let verdict = Ed25519.verify(public_key, message, signature);
        if known.len() >= CAPACITY {
            known.clear();
        }
        known.insert(key, verdict.clone());
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dag::signing::ServerKey;
    use ed25519_dalek::Signer;

    #[test]
    fn answers_as_ed25519_does_first_time_and_again() {
        let key = ServerKey::node(&[7; 32]);
        let public = key.verifying_key().to_bytes();
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let good = signing.sign(b"message").to_bytes();
        let verdicts = Verdicts::default();
        for _ in 0..2 {
            assert_eq!(verdicts.verify(&public, b"message", &good), Ok(()));
            assert_eq!(
                verdicts.verify(&public, b"massage", &good),
                Err(SignatureError::BadSignature)
            );
            let mut forged = good;
            forged[0] ^= 1;
            assert_eq!(
                verdicts.verify(&public, b"message", &forged),
                Ed25519.verify(&public, b"message", &forged)
            );
        }
    }
}
