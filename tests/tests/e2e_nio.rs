//! End-to-end: matrix-nio (Python) against a real `flotilla run`.
//!
//! Runs only with `FLOTILLA_E2E=1`, because it needs python3 with the venv module and
//! PyPI (or a pip cache) on first use; without it the test passes after saying it skipped.
//! The virtualenv lives in `target/e2e-venv` and is reinstalled only when
//! `tests/e2e/requirements.txt` changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use flotilla_tests::{e2e_requested, python_venv, run_client_against_fresh_node};

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e")
}

/// `target/e2e-venv` with the requirements installed; returns its python. The tests of this
/// file run in parallel in one process, so the venv is prepared once for all of them.
fn prepared_venv() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| python_venv(&e2e_dir().join("requirements.txt"), "e2e-venv"))
        .clone()
}

/// Runs `script` against a fresh node; skipped unless `FLOTILLA_E2E=1`.
fn run_script(script: &str) {
    if e2e_requested(&format!("matrix-nio {script}")) {
        run_client_against_fresh_node(Command::new(prepared_venv()).arg(e2e_dir().join(script)));
    }
}

#[test]
fn matrix_nio_registers_logs_in_and_out() {
    run_script("session_basics.py");
}

/// Invite and join, three messages in order through long-poll sync, /messages both ways
/// across pages, and logout.
#[test]
fn matrix_nio_rooms_sync_and_history() {
    run_script("rooms_and_sync.py");
}
