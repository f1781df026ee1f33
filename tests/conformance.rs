//! The conformance bar of the design (section 10): for every case in the shared `oc` examples,
//! `snapshot` on the case and then `status` on the resulting object alone reproduce `oc adm
//! upgrade status` byte for byte, with and without `--details=all`. Run through the binary,
//! exactly as a user would.
//!
//! The folder is `../shared/conformance/oc-examples` (or `$OC_EXAMPLES_DIR`). Without it the
//! test says so and passes, except under `CI=true`, where its absence is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/oc_examples.rs"]
mod oc_examples;
use oc_examples::examples_dir;

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn snapshot_then_status_reproduces_oc_for_every_case() {
    let Some(dir) = examples_dir() else { return };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-cv.yaml"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no -cv.yaml case in {}", dir.display());
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for cv in &cases {
        let case = cv
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches("-cv.yaml")
            .to_owned();
        let object = tmp.path().join(format!("{case}.yaml"));
        std::fs::write(&object, run(bin().arg("snapshot").arg(cv))).unwrap();
        for (details, expected) in [("none", "output"), ("all", "detailed-output")] {
            let got = run(bin()
                .arg("status")
                .arg("--file")
                .arg(&object)
                .arg(format!("--details={details}")));
            let want = std::fs::read_to_string(dir.join(format!("{case}.{expected}"))).unwrap();
            if got != want {
                failures.push(format!(
                    "{case}.{expected}:\n--- want\n{want}\n--- got\n{got}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} outputs differ:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
    eprintln!(
        "{} cases, {} outputs byte-identical",
        cases.len(),
        cases.len() * 2
    );
}
