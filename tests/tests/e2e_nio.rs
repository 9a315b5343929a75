//! End-to-end: matrix-nio (Python) against a real `flotilla run`.
//!
//! Runs only with `FLOTILLA_E2E=1`, because it needs python3 with the venv module and
//! PyPI (or a pip cache) on first use; without it the test passes after saying it skipped.
//! The virtualenv lives in `target/e2e-venv` and is reinstalled only when
//! `tests/e2e/requirements.txt` changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use flotilla_tests::{NodeProcess, flotilla_binary};

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e")
}

/// `target/e2e-venv` with the requirements installed; returns its python. The tests of this
/// file run in parallel in one process, so the venv is prepared once for all of them.
fn prepared_venv() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(prepare_venv).clone()
}

fn prepare_venv() -> PathBuf {
    let target_dir = flotilla_binary()
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in target/<profile>");
    let venv = target_dir.join("e2e-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    }
    let requirements = e2e_dir().join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(&wanted) {
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements));
        std::fs::write(&stamp, wanted).unwrap();
    }
    python
}

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(status.success(), "{command:?} failed with {status}");
}

/// Runs `script` against a fresh node; skipped unless `FLOTILLA_E2E=1`.
fn run_script(script: &str) {
    if std::env::var("FLOTILLA_E2E").as_deref() != Ok("1") {
        eprintln!("skipped: set FLOTILLA_E2E=1 to run the matrix-nio end-to-end test {script}");
        return;
    }
    let python = prepared_venv();
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&dir.path().join("node"));
    let homeserver = format!("http://{}", node.address);
    let output = Command::new(&python)
        .arg(e2e_dir().join(script))
        .arg(&homeserver)
        .output()
        .unwrap();
    let report = format!(
        "stdout:\n{}\nstderr:\n{}\nnode log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        node.log()
    );
    assert!(output.status.success(), "{report}");
    assert!(node.stop_with("TERM", Duration::from_secs(20)).success());
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
