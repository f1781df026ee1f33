//! The harness stops what it started: on drop, and when the test binary ends in a panic, with the
//! control plane still held by a `static`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The pids a control plane recorded in its directory.
fn pids(dir: &Path) -> Vec<String> {
    ["etcd.pid", "kube-apiserver.pid"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect()
}

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn wait_gone(pids: &[String], limit: Duration) {
    let deadline = Instant::now() + limit;
    while pids.iter().any(|p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "still running after {limit:?}: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dropped_control_plane_leaves_no_process_or_directory() {
    let Some(cp) = envtest::own() else { return };
    let dir = cp.dir().to_owned();
    let pids = pids(&dir);
    assert!(pids.iter().all(|p| alive(p)));
    assert_eq!(cp.kubectl_run(&["get", "--raw", "/readyz"]).unwrap(), "ok");
    drop(cp);
    wait_gone(&pids, Duration::from_secs(5));
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// Run by the next test in a child process: starts the shared control plane, says where it is,
/// and panics with it still running.
#[test]
#[ignore = "the child of a_test_binary_that_panics_leaves_no_process_behind"]
fn child_that_panics_holding_the_shared_control_plane() {
    let cp = envtest::shared().expect("a control plane");
    println!("DIR={}", cp.dir().display());
    println!("PIDS={}", pids(cp.dir()).join(" "));
    panic!("a test failing with the control plane running");
}

#[test]
fn a_test_binary_that_panics_leaves_no_process_behind() {
    if envtest::assets().is_err() {
        let _ = envtest::own(); // says why it skips, or fails under CI=true
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_that_panics_holding_the_shared_control_plane",
            "--nocapture",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child was meant to fail");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("DIR="))
        .unwrap_or_else(|| panic!("no DIR line in: {stdout}"));
    let dir = Path::new(dir);
    let pids: Vec<String> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PIDS="))
        .unwrap()
        .split(' ')
        .map(str::to_owned)
        .collect();
    assert_eq!(pids.len(), 2);
    wait_gone(&pids, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    while dir.exists() {
        assert!(Instant::now() < deadline, "{} left behind", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}
