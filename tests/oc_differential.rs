//! Differential test against the real `oc adm upgrade status`: random but valid cluster states
//! (`support/random_cluster.rs`) are rendered by `oc` (from its mock files) and by our `snapshot`
//! + `status`, with and without `--details=all`, and must match byte for byte.
//!
//! `oc` is `$KUBEBUILDER_ASSETS/oc`. Without it the test says `SKIPPED` and passes, except under
//! `CI=true`, where its absence is a failure. `OC_DIFF_SEEDS=3,17` checks only those seeds and
//! keeps their files under `$OC_DIFF_KEEP` (if set) for inspection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/oc_differential.rs"]
mod oc_differential;
#[path = "support/random_cluster.rs"]
mod random_cluster;

use std::path::{Path, PathBuf};

use oc_differential::{check_seeds, oc_binary, report};

/// Enough seeds to reach every generator branch many times, in under three minutes on two
/// busy cores in a debug build (the bench runs more).
const SEEDS: u64 = 200;

fn seeds() -> Vec<u64> {
    match std::env::var("OC_DIFF_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("OC_DIFF_SEEDS is a comma-separated list of seeds")
            })
            .collect(),
        Err(_) => (0..SEEDS).collect(),
    }
}

#[test]
fn random_clusters_render_as_oc_renders_them() {
    let Some(oc) = oc_binary() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "KUBEBUILDER_ASSETS/oc is missing, and CI=true requires it"
        );
        eprintln!(
            "SKIPPED: no oc in $KUBEBUILDER_ASSETS (run eval \"$(../shared/envtest/install.sh)\")"
        );
        return;
    };
    let ours = Path::new(env!("CARGO_BIN_EXE_update-status-controller"));
    let tmp = tempfile::tempdir().unwrap();
    let work: PathBuf =
        std::env::var_os("OC_DIFF_KEEP").map_or_else(|| tmp.path().to_owned(), PathBuf::from);
    let seeds = seeds();
    let failures = check_seeds(&seeds, 2, &oc, ours, &work);
    assert!(
        failures.is_empty(),
        "{} of {} seeds differ from oc:{}",
        failures.len(),
        seeds.len(),
        report(
            &failures,
            "OC_DIFF_SEEDS={seed} OC_DIFF_KEEP=/tmp/oc-diff cargo test --test oc_differential"
        )
    );
}
