//! The binary as a kubectl / oc plugin: installed under the name `kubectl-update_status` (or
//! `oc-update_status`), `kubectl update-status` and `oc update-status` run it with only the
//! status flags, and it renders exactly what `status` renders.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_update-status-controller");

/// The binary installed in `dir` under `name`, as a plugin manager would (a symbolic link).
fn installed(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink(BIN, &path).unwrap();
    path
}

fn run(program: &Path, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn as_a_kubectl_or_oc_plugin_it_renders_what_status_renders_with_ocs_flags() {
    let tmp = tempfile::tempdir().unwrap();
    // The sample cluster's UpgradeStatus, as `snapshot` computes it.
    let cluster = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/cluster");
    let snapshot = run(Path::new(BIN), &["snapshot", &cluster.to_string_lossy()]);
    let file = tmp.path().join("upgradestatus.yaml");
    std::fs::write(&file, &snapshot.stdout).unwrap();
    let file = file.to_string_lossy();

    for details in ["none", "all"] {
        let details = format!("--details={details}");
        let expected = run(Path::new(BIN), &["status", "--file", &file, &details]).stdout;
        assert!(!expected.is_empty());
        for name in ["kubectl-update_status", "oc-update_status"] {
            let plugin = tmp.path().join(name);
            if !plugin.exists() {
                installed(tmp.path(), name);
            }
            let rendered = run(&plugin, &["--file", &file, &details]).stdout;
            assert_eq!(
                String::from_utf8_lossy(&rendered),
                String::from_utf8_lossy(&expected),
                "{name} {details}"
            );
        }
    }

    // Its help speaks of the plugin, not of the subcommands.
    let plugin = tmp.path().join("kubectl-update_status");
    let help = String::from_utf8(run(&plugin, &["--help"]).stdout).unwrap();
    assert!(help.contains("Usage: kubectl update-status"), "{help}");
    let oc_help = run(&tmp.path().join("oc-update_status"), &["--help"]).stdout;
    assert!(String::from_utf8_lossy(&oc_help).contains("Usage: oc update-status"));
    assert!(help.contains("--details"), "{help}");
    assert!(!help.contains("Commands:"), "{help}");
    // A subcommand is not a plugin argument: a clear error, not a silent render.
    let out = Command::new(&plugin).arg("serve").output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unexpected argument"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Under its own name the binary is unchanged.
    let out = run(Path::new(BIN), &["--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Commands:"));
}
