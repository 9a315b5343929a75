//! One ed25519 key per node: its Matrix server name is the lowercase hex of the public key and
//! its libp2p PeerId derives from the same key, so a link's peer and its events' signer are one.

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey, ed25519};

/// The libp2p keypair for a node's 32-byte ed25519 seed.
pub fn keypair_from_seed(seed: [u8; 32]) -> Keypair {
    let mut bytes = seed;
    // `ed25519_from_bytes` only fails for a wrong length, and a [u8; 32] has the right one.
    match Keypair::ed25519_from_bytes(&mut bytes) {
        Ok(keypair) => keypair,
        Err(error) => unreachable!("a 32-byte seed is a valid ed25519 secret: {error}"),
    }
}

/// The server name a peer signs its events as: the hex of its ed25519 key, if it has one.
pub fn server_name_of(peer: &PeerId) -> Option<String> {
    let multihash = peer.as_ref();
    if multihash.code() != 0 {
        return None;
    }
    let public = PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    Some(hex::encode(public.try_into_ed25519().ok()?.to_bytes()))
}

/// The PeerId of the node whose server name is `server_name`.
pub fn peer_id_of(server_name: &str) -> Option<PeerId> {
    let bytes = hex::decode(server_name).ok()?;
    let public = ed25519::PublicKey::try_from_bytes(&bytes).ok()?;
    Some(PublicKey::from(public).to_peer_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_and_server_name_name_the_same_key() {
        let keypair = keypair_from_seed([7; 32]);
        let peer = keypair.public().to_peer_id();
        let server_name = server_name_of(&peer).unwrap();
        assert_eq!(server_name.len(), 64);
        assert_eq!(peer_id_of(&server_name), Some(peer));
        assert_eq!(peer_id_of("not hex"), None);
        assert_eq!(server_name_of(&PeerId::random()), None);
    }
}
