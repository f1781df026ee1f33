//! Runs one generated cluster through the real `oc adm upgrade status` and through our
//! `snapshot` + `status`, with and without `--details=all`, and reports any byte difference.
//! Shared by `tests/oc_differential.rs` and `benches/oc_differential.rs`.

#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::random_cluster::generate;

/// The real `oc`: `$KUBEBUILDER_ASSETS/oc`, if present.
pub fn oc_binary() -> Option<PathBuf> {
    let dir = std::env::var_os("KUBEBUILDER_ASSETS")?;
    let oc = Path::new(&dir).join("oc");
    oc.is_file().then_some(oc)
}

/// One seed whose outputs differ.
pub struct Failure {
    pub seed: u64,
    pub summary: String,
    /// Lines that differ, over both detail levels.
    pub lines: usize,
    pub report: String,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{cmd:?}: not UTF-8: {e}"))
}

/// The number of differing lines (by position after the common prefix and suffix) and a short
/// unified-style excerpt around the first difference.
pub fn diff(want: &str, got: &str) -> (usize, String) {
    let w: Vec<&str> = want.split_inclusive('\n').collect();
    let g: Vec<&str> = got.split_inclusive('\n').collect();
    let prefix = w.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let suffix = w[prefix..]
        .iter()
        .rev()
        .zip(g[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let w_mid = &w[prefix..w.len() - suffix];
    let g_mid = &g[prefix..g.len() - suffix];
    let lines = w_mid.len().max(g_mid.len());
    if lines == 0 {
        return (0, String::new());
    }
    let mut out = format!(
        "@@ line {} (-oc +ours, {} and {} lines differ) @@\n",
        prefix + 1,
        w_mid.len(),
        g_mid.len()
    );
    for l in &w[prefix.saturating_sub(2)..prefix] {
        out.push_str(&format!(" {}", show(l)));
    }
    const MAX: usize = 12;
    for l in w_mid.iter().take(MAX) {
        out.push_str(&format!("-{}", show(l)));
    }
    if w_mid.len() > MAX {
        out.push_str(&format!("-... {} more\n", w_mid.len() - MAX));
    }
    for l in g_mid.iter().take(MAX) {
        out.push_str(&format!("+{}", show(l)));
    }
    if g_mid.len() > MAX {
        out.push_str(&format!("+... {} more\n", g_mid.len() - MAX));
    }
    (lines, out)
}

/// A line as printed in a report: a missing final newline is made visible.
fn show(line: &str) -> String {
    if line.ends_with('\n') {
        line.to_owned()
    } else {
        format!("{line}⏎(no newline)\n")
    }
}

/// Generates `seed` anchored at the wall clock, writes it under `work`, runs both sides and
/// compares. `Ok(())` means byte-identical output at both detail levels.
pub fn check_seed(seed: u64, oc: &Path, ours: &Path, work: &Path) -> Result<(), Failure> {
    let anchor = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let cluster = generate(seed, anchor);
    let dir = work.join(format!("seed-{seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    let cv = cluster.write(&dir, "random");
    let fail = |lines: usize, report: String| Failure {
        seed,
        summary: cluster.summary.clone(),
        lines,
        report,
    };
    let object = dir.join("upgradestatus.yaml");
    let snapshot = run(Command::new(ours).arg("snapshot").arg(&cv)).map_err(|e| fail(1, e))?;
    std::fs::write(&object, snapshot).unwrap();
    let mut lines = 0;
    let mut report = String::new();
    for details in ["none", "all"] {
        let want = run(Command::new(oc)
            .args(["adm", "upgrade", "status"])
            .arg(format!("--mock-clusterversion={}", cv.display()))
            .arg(format!("--details={details}")))
        .map_err(|e| fail(1, format!("oc could not render the generated state: {e}")))?;
        let got = run(Command::new(ours)
            .arg("status")
            .arg("--file")
            .arg(&object)
            .arg(format!("--details={details}")))
        .map_err(|e| fail(1, e))?;
        let (n, excerpt) = diff(&want, &got);
        if n > 0 {
            lines += n;
            report.push_str(&format!("--details={details}\n{excerpt}"));
        }
    }
    if lines > 0 {
        return Err(fail(lines, report));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Checks every seed on `threads` threads; the failures, by seed.
pub fn check_seeds(
    seeds: &[u64],
    threads: usize,
    oc: &Path,
    ours: &Path,
    work: &Path,
) -> Vec<Failure> {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    if let Err(f) = check_seed(seed, oc, ours, work) {
                        failures.lock().unwrap().push(f);
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|f| f.seed);
    failures
}

/// The report of all failures, each with its seed and how to reproduce it (`{seed}` in
/// `reproduce` is replaced by the seed).
pub fn report(failures: &[Failure], reproduce: &str) -> String {
    let mut out = String::new();
    for f in failures {
        out.push_str(&format!(
            "\n=== seed {} ({} lines differ): {}\n{}reproduce: {}\n",
            f.seed,
            f.lines,
            f.summary,
            f.report,
            reproduce.replace("{seed}", &f.seed.to_string())
        ));
    }
    out
}
