//! Every malformed input gives a clear error naming the problem, and a non-zero exit; never a
//! panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
}

const CV: &str = "apiVersion: config.openshift.io/v1\nkind: ClusterVersion\nmetadata: {name: version}\nstatus:\n  desired: {version: 4.16.0}\n  history: []\n  conditions: []\n";

fn case(dir: &Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (f, text) in files {
        std::fs::write(d.join(f), text).unwrap();
    }
    d
}

#[test]
fn malformed_inputs_fail_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mock = |name: &str, cv: &str, co: &str| {
        let d = case(
            t,
            name,
            &[
                ("x-cv.yaml", cv),
                ("x-co.yaml", co),
                ("x-mcp.yaml", "apiVersion: v1\nkind: List\nitems: []\n"),
                ("x-mc.yaml", "apiVersion: v1\nkind: List\nitems: []\n"),
                ("x-node.yaml", "apiVersion: v1\nkind: List\nitems: []\n"),
            ],
        );
        d.join("x-cv.yaml")
    };
    let empty_list = "apiVersion: v1\nkind: List\nitems: []\n";
    let table: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "a path that does not exist",
            vec!["snapshot".into(), t.join("nope").display().to_string()],
            "nope",
        ),
        (
            "a file that is not a -cv.yaml",
            vec![
                "snapshot".into(),
                case(t, "plain", &[("a.yaml", CV)])
                    .join("a.yaml")
                    .display()
                    .to_string(),
            ],
            "-cv.yaml",
        ),
        (
            "malformed YAML",
            vec![
                "snapshot".into(),
                mock("bad-yaml", "kind: [unclosed", empty_list)
                    .display()
                    .to_string(),
            ],
            "x-cv.yaml",
        ),
        (
            "a wrong kind where the ClusterVersion belongs",
            vec![
                "snapshot".into(),
                mock(
                    "wrong-kind",
                    "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n",
                    empty_list,
                )
                .display()
                .to_string(),
            ],
            "Node",
        ),
        (
            "an object missing a required field",
            vec![
                "snapshot".into(),
                mock(
                    "no-name",
                    "apiVersion: config.openshift.io/v1\nkind: ClusterVersion\nmetadata: {}\n",
                    empty_list,
                )
                .display()
                .to_string(),
            ],
            "x-cv.yaml",
        ),
        (
            "a missing sibling file",
            vec!["snapshot".into(), {
                let d = case(t, "no-co", &[("x-cv.yaml", CV)]);
                d.join("x-cv.yaml").display().to_string()
            }],
            "x-co.yaml",
        ),
        (
            "a directory without a ClusterVersion",
            vec![
                "snapshot".into(),
                case(t, "no-cv", &[("co.yaml", empty_list)])
                    .display()
                    .to_string(),
            ],
            "ClusterVersion",
        ),
        (
            "a malformed --now",
            vec![
                "snapshot".into(),
                case(t, "now", &[("cv.yaml", CV)]).display().to_string(),
                "--now".into(),
                "yesterday".into(),
            ],
            "--now",
        ),
        (
            "status of a file that is not an UpgradeStatus",
            vec![
                "status".into(),
                "--file".into(),
                case(t, "st", &[("o.yaml", "just: text\n")])
                    .join("o.yaml")
                    .display()
                    .to_string(),
            ],
            "o.yaml",
        ),
        ("status without a source", vec!["status".into()], "--file"),
        (
            "status with an unknown --details",
            vec![
                "status".into(),
                "--file".into(),
                "x".into(),
                "--details=everything".into(),
            ],
            "everything",
        ),
        (
            "a token for a malformed service account",
            vec![
                "token".into(),
                "--service-account".into(),
                "no-slash".into(),
            ],
            "namespace",
        ),
        (
            "a report to a plain-http server",
            vec![
                "report".into(),
                "--server".into(),
                "http://127.0.0.1:1".into(),
                "--informer".into(),
                "x".into(),
                "--file".into(),
                t.join("nope").display().to_string(),
                "--token-file".into(),
                "t".into(),
                "--ca-file".into(),
                "c".into(),
            ],
            "nope",
        ),
    ];
    for (what, args, needle) in table {
        let out = bin().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: exited 0");
        assert_ne!(out.status.code(), Some(101), "{what}: panicked: {stderr}");
        assert!(
            stderr.contains(needle),
            "{what}: the error does not mention {needle:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}
