//! `update-status-controller status` and the real `oc adm upgrade status`, run against the same
//! live API server at the same moment and compared: what the oc-cases test and the scale test and
//! bench share.
//!
//! What a real cluster has and the test control plane lacks: the machine-config operator's
//! Deployment, which `oc` reads live and fails without ([`mco_deployment`]); and a monitoring
//! stack: `oc` prints `Unable to fetch alerts, ...` and goes on without alerts, as the controller
//! does with its alerts informer off, so that one line of `oc`'s stdout is set aside.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use update_status_controller::cluster::kube::kinds;

/// The machine-config operator's Deployment `oc` needs, for a cluster whose ClusterOperators are
/// `cluster_operators`: its `machine-config-operator` container runs the image the
/// `machine-config` ClusterOperator reports as its `operator-image` (as once the operator has
/// rolled out), or a placeholder when it reports none. The controller must read the same image
/// from its own watch.
pub fn mco_deployment(cluster_operators: &[Value]) -> String {
    let image = cluster_operators
        .iter()
        .filter(|co| co["metadata"]["name"] == "machine-config")
        .flat_map(|co| {
            co["status"]["versions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|v| v["name"] == "operator-image")
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "registry.invalid/machine-config-operator:test".to_owned());
    let ns = kinds::MCO_NAMESPACE;
    let name = kinds::MCO_DEPLOYMENT;
    serde_json::to_string(&json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": name}},
            "template": {
                "metadata": {"labels": {"k8s-app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }))
    .unwrap()
}

/// One run's result: exit status, stdout and stderr.
#[derive(Debug)]
pub struct Printed {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Printed {
    fn from(o: Output) -> Self {
        Printed {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A child's output, killed (by its own id) when it takes longer than `limit`. Its pipes are
/// read while it runs: `--details=all` of thousands of nodes fills a pipe's buffer many times.
pub fn wait_bounded(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            rx.recv().unwrap().unwrap()
        }
    }
}

/// Sleeps until 50 ms past the next whole wall-clock second, so that two runs started together
/// read their "now" within the same second (both print durations to the second).
pub fn align_to_second() {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = Duration::from_nanos(u64::from(since.subsec_nanos()));
    std::thread::sleep(Duration::from_millis(1050) - into);
}

/// `oc adm upgrade status` and `update-status-controller status`, started at the same moment.
pub fn run_pair(cp: &envtest::ControlPlane, details: &str) -> (Printed, Printed) {
    let spawn = |c: &mut Command| {
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut oc = cp.oc().unwrap();
    oc.args(["adm", "upgrade", "status", &format!("--details={details}")]);
    let mut ours = Command::new(env!("CARGO_BIN_EXE_update-status-controller"));
    ours.arg("status")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .arg(format!("--details={details}"))
        .env_remove("KUBECONFIG");
    align_to_second();
    let oc = spawn(&mut oc);
    let ours = spawn(&mut ours);
    let limit = Duration::from_secs(60);
    (
        wait_bounded(oc, limit).into(),
        wait_bounded(ours, limit).into(),
    )
}

/// The line `oc` prints when it cannot reach the cluster's monitoring stack (there is none in
/// the test cluster): `oc` then reports health without alerts, as the controller does with its
/// alerts informer off. Only this line is set aside, and only from `oc`'s output.
pub fn is_alerts_unavailable_line(line: &str) -> bool {
    line.starts_with("Unable to fetch alerts")
}

pub fn without_alerts_line(text: &str) -> (String, Vec<String>) {
    let mut kept = String::new();
    let mut dropped = Vec::new();
    for line in text.split_inclusive('\n') {
        if is_alerts_unavailable_line(line) {
            dropped.push(line.trim_end().to_owned());
        } else {
            kept.push_str(line);
        }
    }
    (kept, dropped)
}

/// A unified-ish line diff, enough to read a mismatch.
pub fn diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut out = String::new();
    for i in 0..w.len().max(g.len()) {
        match (w.get(i), g.get(i)) {
            (Some(a), Some(b)) if a == b => out.push_str(&format!("  {a}\n")),
            (a, b) => {
                if let Some(a) = a {
                    out.push_str(&format!("- {a}\n"));
                }
                if let Some(b) = b {
                    out.push_str(&format!("+ {b}\n"));
                }
            }
        }
    }
    out
}

/// Compares one pair; `Err` describes the difference.
pub fn compare(oc: &Printed, ours: &Printed) -> Result<(), String> {
    let (oc_out, _) = without_alerts_line(&oc.stdout);
    if oc_out.trim().is_empty() {
        return Err(format!("oc printed nothing; its stderr: {}", oc.stderr));
    }
    if oc.ok != ours.ok {
        return Err(format!(
            "oc exit ok={} ours ok={}\noc stderr: {}\nour stderr: {}",
            oc.ok, ours.ok, oc.stderr, ours.stderr
        ));
    }
    if oc_out != ours.stdout {
        return Err(format!(
            "stdout differs (- oc, + ours):\n{}\noc stderr: {}\nour stderr: {}",
            diff(&oc_out, &ours.stdout),
            oc.stderr,
            ours.stderr
        ));
    }
    Ok(())
}

/// `1h2m3s` in seconds (anything else, such as `N/A`, is `u64::MAX`, which never matches).
pub fn seconds(text: &str) -> u64 {
    let (mut total, mut number) = (0u64, 0u64);
    for c in text.chars() {
        match c {
            '0'..='9' => number = number * 10 + u64::from(c as u8 - b'0'),
            'h' => (total, number) = (total + number * 3600, 0),
            'm' => (total, number) = (total + number * 60, 0),
            's' => (total, number) = (total + number, 0),
            _ => return u64::MAX,
        }
    }
    if number == 0 { total } else { u64::MAX }
}

/// Runs both with `--details=<details>` and compares (one retry: a duration may tick between
/// the two runs); `Err` describes the difference. The lines set aside from `oc` are added to
/// `set_aside`.
pub fn equal_to_oc(
    cp: &envtest::ControlPlane,
    details: &str,
    set_aside: &mut Vec<String>,
) -> Result<(), String> {
    let mut outcome = Ok(());
    for attempt in 0..2 {
        let (oc, ours) = run_pair(cp, details);
        set_aside.extend(without_alerts_line(&oc.stdout).1);
        outcome = compare(&oc, &ours);
        if outcome.is_ok() {
            break;
        }
        if attempt == 0 {
            eprintln!("--details={details}: differs, retrying once");
        }
    }
    outcome
}
