//! End-to-end: matrix-rust-sdk (the `matrix-sdk` crate) against a real `flotilla run`.
//!
//! Runs only with `FLOTILLA_E2E=1`, because it builds matrix-sdk and its dependencies from
//! crates.io on first use; without it the test passes after saying it skipped. The client is
//! its own cargo project, `tests/e2e/rust-sdk` (kept out of the workspace, whose build its
//! dependency tree would double), built `--locked` from its committed `Cargo.lock` into
//! `target/e2e-rust-sdk`. Cargo rebuilds it only when its sources or lock file change.

use std::path::{Path, PathBuf};
use std::process::Command;

use flotilla_tests::{e2e_requested, run_checked, run_client_against_fresh_node, target_subdir};

fn client_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/rust-sdk")
}

/// Builds the client program and returns its path.
fn built_client() -> PathBuf {
    let target_dir = target_subdir("e2e-rust-sdk");
    run_checked(
        Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--locked", "--manifest-path"])
            .arg(client_project().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir),
    );
    target_dir.join("debug/flotilla-e2e-rust-sdk")
}

/// Registration through interactive auth with a cross-signing bootstrap, password login on a
/// second device, invite and join, three messages in order through `/sync`, scrollback to the
/// room's creation, an encrypted room where each side decrypts the other's message and sees
/// the other's device cross-signed, and logout invalidating the token.
#[test]
fn matrix_rust_sdk_crew_session() {
    if e2e_requested("matrix-rust-sdk") {
        run_client_against_fresh_node(&mut Command::new(built_client()));
    }
}
