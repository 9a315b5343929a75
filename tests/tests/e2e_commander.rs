//! End-to-end: matrix-commander, a Matrix command-line client on matrix-nio with end-to-end
//! encryption, against a real `flotilla run`.
//!
//! Runs only with `FLOTILLA_E2E=1`, because it needs python3 with the venv module, PyPI (or a
//! pip cache) on first use and libmagic; without it the test passes after saying it skipped.
//! The virtualenv lives in `target/e2e-commander-venv` and is reinstalled only when
//! `tests/e2e/commander/requirements.txt` changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use flotilla_tests::{e2e_requested, python_venv, run_client_against_fresh_node};

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/commander")
}

/// Password login, an encrypted room made with an alias, invite and join, a message each way
/// decrypted with --listen once, history with --tail, room and profile queries, logout; each
/// checked against what the node stored.
#[test]
fn matrix_commander_logs_in_chats_encrypted_and_logs_out() {
    if !e2e_requested("matrix-commander") {
        return;
    }
    let python = python_venv(&sources().join("requirements.txt"), "e2e-commander-venv");
    run_client_against_fresh_node(Command::new(python).arg(sources().join("run_commander.py")));
}
