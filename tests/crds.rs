//! `crds/` holds exactly what `update-status-controller crds` prints, and nothing stale.
//! Run with `UPDATE_GOLDEN=1` to rewrite the files after changing the API types.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should abort loudly

use std::path::Path;

use update_status_controller::crds::{CRD_FILES, documents, yaml_stream};

#[test]
fn crds_directory_matches_the_generated_crds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let docs = documents().unwrap();
    assert_eq!(docs.len(), CRD_FILES.len());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, doc) in CRD_FILES.iter().zip(&docs) {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, doc).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == *doc,
            "{} is stale: run `UPDATE_GOLDEN=1 cargo test --test crds`",
            path.display()
        );
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("manifests/0000_00_update-status-controller_01_crds.yaml");
    if update {
        std::fs::write(&manifest, yaml_stream().unwrap()).unwrap();
    }
    let mut listed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listed.sort();
    let mut expected: Vec<String> = CRD_FILES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "crds/ holds files that are not generated");
}

#[test]
fn crds_subcommand_prints_every_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, yaml_stream().unwrap());
    assert!(text.contains("name: upgradestatuses.update.openshift.io"));
    assert!(text.contains("name: updateinformers.update.openshift.io"));
    assert!(text.contains("name: nodeprogressinsights.update.openshift.io"));
    assert_eq!(
        text.matches("\n---\n").count() + usize::from(text.starts_with("---\n")),
        3
    );
}

#[test]
fn serve_without_a_cluster_says_what_is_missing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cluster-dir"));
}
