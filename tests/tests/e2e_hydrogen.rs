//! End-to-end: Hydrogen, the Matrix web client, in a real headless Chromium against a real
//! `flotilla run`.
//!
//! Runs only with `FLOTILLA_E2E=1`, because it needs Node.js 20 or later with npm, the npm
//! registry (or npm's cache) on first use, and Chromium (Debian's, `/usr/bin/chromium`, or the
//! one `FLOTILLA_CHROMIUM` names); without it the test passes after saying it skipped.
//! hydrogen-view-sdk 0.3.1 (Hydrogen's own client, session and view classes), esbuild (to
//! bundle them for the page) and playwright-core (to drive the browser) are installed with
//! `npm ci` from `tests/e2e/hydrogen/package-lock.json` into `target/e2e-hydrogen`, again only
//! when the lock file changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use flotilla_tests::{e2e_requested, npm_packages, run_client_against_fresh_node};

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/hydrogen")
}

/// Password login, first sync with Olm keys uploaded, an invite accepted, the room rendered by
/// Hydrogen's timeline view, scrollback to the room's creation, a message each way, logout.
#[test]
fn hydrogen_in_chromium_logs_in_syncs_and_chats() {
    if !e2e_requested("Hydrogen in Chromium") {
        return;
    }
    let packages = npm_packages(&sources(), "e2e-hydrogen");
    // The driver resolves its imports (and the page's bundle) from beside the packages.
    for file in ["run_hydrogen.mjs", "page.mjs", "index.html"] {
        std::fs::copy(sources().join(file), packages.join(file)).expect("target/ is writable");
    }
    run_client_against_fresh_node(Command::new("node").arg(packages.join("run_hydrogen.mjs")));
}
