//! Any bytes from a peer: decoding must fail cleanly or yield an event that re-encodes to the
//! same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(event) = dag::wire::decode(bytes) {
        assert_eq!(dag::wire::encode(&event), bytes);
    }
});
