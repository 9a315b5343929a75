//! The `flotilla` command line: output of the one-shot commands and clear errors on bad input.

use std::process::Output;

use flotilla_tests::flotilla_command;

fn run(args: &[&str]) -> Output {
    flotilla_command().args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn init_writes_the_commented_template() {
    let output = run(&["init"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8008\""));
    assert!(text.contains("default_room_version = \"12\""));
    assert!(text.lines().filter(|line| line.starts_with('#')).count() > 10);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flotilla.toml");
    let path_arg = path.to_str().unwrap();
    assert!(run(&["init", path_arg]).status.success());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let again = run(&["init", path_arg]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert!(run(&["init", path_arg, "--force"]).status.success());
}

#[test]
fn id_is_stable_and_read_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config = dir.path().join("flotilla.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", data_dir.to_str().unwrap()),
    )
    .unwrap();
    let first = run(&["id", "--config", config.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = run(&["id", "--data-dir", data_dir.to_str().unwrap()]);
    assert_eq!(first.stdout, second.stdout);
    let id: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(id["server_name"].as_str().unwrap().len(), 64);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "run",
                "--data-dir",
                data_dir,
                "--default-room-version",
                "13",
            ],
            "13",
        ),
        (
            &["run", "--data-dir", data_dir, "--listen", "nowhere"],
            "listen",
        ),
        (
            &["run", "--config", "/nonexistent/flotilla.toml"],
            "config file",
        ),
        (
            &["user", "add", "Bad Name", "--data-dir", data_dir],
            "invalid user name",
        ),
        (&["no-such-command"], "no-such-command"),
    ];
    for (args, expected) in cases {
        let output = run(args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn corrupt_key_files_are_reported_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("node.key"), "ed25519 1 garbage!").unwrap();
    let output = run(&["id", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("corrupt key file"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn user_add_refuses_duplicates_and_empty_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let add = |password: &[u8]| {
        use std::io::Write;
        let mut child = flotilla_command()
            .args(["user", "add", "cook", "--data-dir", data_dir])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(password).unwrap();
        child.wait_with_output().unwrap()
    };
    let empty = add(b"\n");
    assert!(!empty.status.success());
    assert!(stderr(&empty).contains("empty"));
    assert!(add(b"galley\n").status.success());
    let duplicate = add(b"galley\n");
    assert!(!duplicate.status.success());
    assert!(stderr(&duplicate).contains("already exists"));
}
