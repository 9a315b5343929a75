//! Any bytes as JSON text: parsing must fail cleanly or yield a value whose canonical form
//! parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(value) = dag::canonical_json::parse_bytes(bytes) {
        let canonical = dag::canonical_json::to_string(&value);
        assert_eq!(dag::canonical_json::parse(&canonical), Ok(value));
    }
});
