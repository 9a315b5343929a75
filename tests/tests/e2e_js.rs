//! End-to-end: matrix-js-sdk (Node.js) against a real `flotilla run`.
//!
//! Runs only with `FLOTILLA_E2E=1`, because it needs Node.js 20 or later with npm and the npm
//! registry (or npm's cache) on first use; without it the test passes after saying it skipped.
//! The packages are installed with `npm ci` from `tests/e2e/js/package-lock.json` into
//! `target/e2e-js`, again only when the lock file changes. matrix-js-sdk is pinned to 37.5.0:
//! the last release of the 37 line that supports Node 20 (37.6 and later need Node 22).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use flotilla_tests::{e2e_requested, npm_packages, run_client_against_fresh_node};

fn js_sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/js")
}

/// `target/e2e-js` with the locked packages installed. The tests of this file run in
/// parallel in one process, so it is prepared once for all of them.
fn prepared_packages() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| npm_packages(&js_sources(), "e2e-js"))
        .clone()
}

/// Runs `script` against a fresh node; skipped unless `FLOTILLA_E2E=1`.
fn run_script(script: &str) {
    if !e2e_requested(&format!("matrix-js-sdk {script}")) {
        return;
    }
    let packages = prepared_packages();
    // Node resolves `import "matrix-js-sdk"` from the script's own directory, so the scripts
    // (and the module they share) run from beside the installed packages.
    for file in [script, "support.mjs"] {
        std::fs::copy(js_sources().join(file), packages.join(file)).unwrap();
    }
    run_client_against_fresh_node(Command::new("node").arg(packages.join(script)));
}

/// Interactive registration, a room alias, invite and join by the alias, three messages in
/// order through the SDK's sync loop, scrollback to the room's creation, and logout.
#[test]
fn matrix_js_sdk_rooms_sync_and_scrollback() {
    run_script("rooms_and_sync.mjs");
}

/// An encrypted room with the SDK's Rust crypto: device and one-time keys uploaded, queried
/// and claimed, the room key shared to-device, and the message decrypted by the other user.
#[test]
fn matrix_js_sdk_encrypted_room() {
    run_script("encrypted_room.mjs");
}
