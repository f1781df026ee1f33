//! Writes a synthetic OpenShift cluster in the middle of an update, in the `oc` mock layout
//! (`<case>-cv.yaml`, `-co.yaml`, `-mcp.yaml`, `-mc.yaml`, `-node.yaml`, `-alerts.json`; the
//! contents are JSON, which is YAML too, and parses much faster), for benchmarks and the
//! development sample cluster.
//!
//! ```sh
//! cargo run --release --example gen_cluster -- --out /tmp/big --nodes 5000 --operators 60
//! ```
//!
//! Everything is deterministic: the same arguments give the same files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a generator: failing loudly is right

use std::path::PathBuf;

use serde_json::{Value, json};

const FROM: &str = "4.16.3";
const TO: &str = "4.17.0";
const NOW: &str = "2026-06-01T12:00:00Z";

struct Args {
    out: PathBuf,
    case: String,
    nodes: usize,
    operators: usize,
    yaml: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        out: PathBuf::from("synthetic"),
        case: "synthetic".into(),
        nodes: 5000,
        operators: 60,
        yaml: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => a.out = PathBuf::from(value()),
            "--case" => a.case = value(),
            "--nodes" => a.nodes = value().parse().expect("--nodes takes a number"),
            "--operators" => a.operators = value().parse().expect("--operators takes a number"),
            "--yaml" => a.yaml = true,
            other => panic!(
                "unknown flag {other}; flags: --out DIR --case NAME --nodes N --operators N --yaml"
            ),
        }
    }
    a
}

/// A tiny deterministic generator, so the files do not depend on a random crate.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn minutes_before_now(m: i64) -> String {
    let now: jiff::Timestamp = NOW.parse().unwrap();
    let t = now
        .checked_sub(jiff::SignedDuration::from_secs(m * 60))
        .unwrap();
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", t).unwrap()
}

fn cond(type_: &str, status: &str, minutes_ago: i64, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "lastTransitionTime": minutes_before_now(minutes_ago), "reason": reason, "message": message})
}

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

fn cluster_version() -> Value {
    json!({
        "apiVersion": "config.openshift.io/v1",
        "kind": "ClusterVersion",
        "metadata": {"name": "version"},
        "spec": {"clusterID": "5a1b7e0e-2f5e-4f3c-9d51-2b7b5f7d0c11", "desiredUpdate": {"version": TO, "image": format!("quay.io/openshift-release-dev/ocp-release@sha256:{}", "1".repeat(64))}},
        "status": {
            // Required by the ClusterVersion CRD: a real API server refuses a status without them.
            "observedGeneration": 1,
            "versionHash": "aBcD1234eFg=",
            "availableUpdates": null,
            "desired": {"version": TO, "image": format!("quay.io/openshift-release-dev/ocp-release@sha256:{}", "1".repeat(64))},
            "history": [
                {"state": "Partial", "version": TO, "image": format!("quay.io/openshift-release-dev/ocp-release@sha256:{}", "1".repeat(64)), "startedTime": minutes_before_now(47), "completionTime": null, "verified": true},
                {"state": "Completed", "version": FROM, "image": format!("quay.io/openshift-release-dev/ocp-release@sha256:{}", "2".repeat(64)), "startedTime": minutes_before_now(60 * 24 * 30), "completionTime": minutes_before_now(60 * 24 * 30 - 83), "verified": true},
                {"state": "Completed", "version": "4.16.0", "image": format!("quay.io/openshift-release-dev/ocp-release@sha256:{}", "3".repeat(64)), "startedTime": minutes_before_now(60 * 24 * 90), "completionTime": minutes_before_now(60 * 24 * 90 - 35), "verified": false},
            ],
            "conditions": [
                cond("Available", "True", 60 * 24 * 90, "", "Done applying 4.16.3"),
                cond("Failing", "False", 60 * 24, "", ""),
                cond("Progressing", "True", 47, "", &format!("Working towards {TO}: 712 of 903 done (78% complete), waiting on machine-config")),
                cond("RetrievedUpdates", "True", 60 * 24, "", ""),
            ],
        },
    })
}

const OPERATOR_NAMES: &[&str] = &[
    "authentication",
    "baremetal",
    "cloud-controller-manager",
    "cloud-credential",
    "cluster-autoscaler",
    "config-operator",
    "console",
    "control-plane-machine-set",
    "csi-snapshot-controller",
    "dns",
    "etcd",
    "image-registry",
    "ingress",
    "insights",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-storage-version-migrator",
    "machine-api",
    "machine-approver",
    "machine-config",
    "marketplace",
    "monitoring",
    "network",
    "node-tuning",
    "olm",
    "openshift-apiserver",
    "openshift-controller-manager",
    "openshift-samples",
    "operator-lifecycle-manager",
    "operator-lifecycle-manager-catalog",
    "operator-lifecycle-manager-packageserver",
    "service-ca",
    "storage",
];

fn cluster_operators(n: usize) -> Vec<Value> {
    let names: Vec<String> = (0..n)
        .map(|i| {
            OPERATOR_NAMES.get(i).map_or_else(
                || format!("example-operator-{:02}", i - OPERATOR_NAMES.len()),
                |s| s.to_string(),
            )
        })
        .collect();
    let mut names = names;
    names.sort();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let updated = name != "machine-config" && name != "network" && i % 11 != 3;
            let updating = name == "machine-config" || name == "network";
            let version = if updated { TO } else { FROM };
            let progressing = if updating {
                cond("Progressing", "True", if name == "machine-config" { 9 } else { 4 }, "RolloutInProgress", &format!("Working towards {TO}"))
            } else {
                cond("Progressing", "False", if updated { 20 + (i as i64 % 17) } else { 60 * 24 * 30 }, "AsExpected", "")
            };
            let degraded = if name == "monitoring" {
                cond("Degraded", "True", 14, "UpdatingPrometheusFailed", "Prometheus is degraded: 1 of 2 replicas available")
            } else {
                cond("Degraded", "False", 60 * 24 * 30, "AsExpected", "")
            };
            json!({
                "apiVersion": "config.openshift.io/v1",
                "kind": "ClusterOperator",
                "metadata": {"name": name, "annotations": {
                    "include.release.openshift.io/self-managed-high-availability": "true",
                    "include.release.openshift.io/single-node-developer": "true",
                }},
                // Required by the ClusterOperator CRD, though it has no fields.
                "spec": {},
                "status": {
                    "versions": [{"name": "operator", "version": version}, {"name": name, "version": version}],
                    "conditions": [
                        cond("Available", "True", 60 * 24 * 30, "AsExpected", "All is well"),
                        degraded,
                        progressing,
                        cond("Upgradeable", "True", 60 * 24 * 30, "AsExpected", ""),
                    ],
                },
            })
        })
        .collect()
}

/// Pools: name, share of nodes, paused.
const POOLS: &[(&str, usize, bool)] = &[
    ("infra", 6, false),
    ("master", 0, false),
    ("storage", 3, true),
    ("worker", 91, false),
];

fn machine_config_pools() -> Vec<Value> {
    POOLS
        .iter()
        .map(|(name, _, paused)| {
            json!({
                "apiVersion": "machineconfiguration.openshift.io/v1",
                "kind": "MachineConfigPool",
                "metadata": {"name": name},
                "spec": {
                    "configuration": {"name": format!("rendered-{name}-new")},
                    "nodeSelector": {"matchLabels": {format!("node-role.kubernetes.io/{name}"): ""}},
                    "paused": paused,
                },
                "status": {},
            })
        })
        .collect()
}

fn machine_configs() -> Vec<Value> {
    POOLS
        .iter()
        .flat_map(|(name, _, _)| {
            [("old", FROM), ("new", TO)].map(|(age, version)| {
                json!({
                    "apiVersion": "machineconfiguration.openshift.io/v1",
                    "kind": "MachineConfig",
                    "metadata": {"name": format!("rendered-{name}-{age}"), "annotations": {
                        "machineconfiguration.openshift.io/release-image-version": version,
                    }},
                    "spec": {},
                })
            })
        })
        .collect()
}

fn node(name: &str, pool: &str, phase: &str, rng: &mut Lcg) -> Value {
    let (current, desired, state, drain) = match phase {
        "updated" => ("new", "new", "Done", ("uncordon-new", "uncordon-new")),
        "draining" => ("old", "new", "Working", ("drain-new", "uncordon-old")),
        "updating" => ("old", "new", "Working", ("drain-new", "drain-new")),
        "rebooting" => ("old", "new", "Rebooting", ("drain-new", "drain-new")),
        "degraded" => ("old", "new", "Degraded", ("drain-new", "uncordon-old")),
        _ => ("old", "old", "Done", ("uncordon-old", "uncordon-old")),
    };
    let mut labels = serde_json::Map::new();
    labels.insert(format!("node-role.kubernetes.io/{pool}"), json!(""));
    if pool != "master" {
        labels.insert("node-role.kubernetes.io/worker".into(), json!(""));
    }
    let ready = if phase == "notready" {
        cond(
            "Ready",
            "False",
            30,
            "KubeletNotReady",
            "container runtime network not ready",
        )
    } else {
        cond(
            "Ready",
            "True",
            60 * 24 + rng.below(600) as i64,
            "KubeletReady",
            "kubelet is posting ready status",
        )
    };
    let reason = if phase == "degraded" {
        format!(
            "failed to drain node: {name} after 1 hour. Please see machine-config-controller logs for more information"
        )
    } else {
        String::new()
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {
            "machineconfiguration.openshift.io/currentConfig": format!("rendered-{pool}-{current}"),
            "machineconfiguration.openshift.io/desiredConfig": format!("rendered-{pool}-{desired}"),
            "machineconfiguration.openshift.io/desiredDrain": format!("{}-rendered-{pool}", drain.0),
            "machineconfiguration.openshift.io/lastAppliedDrain": format!("{}-rendered-{pool}", drain.1),
            "machineconfiguration.openshift.io/state": state,
            "machineconfiguration.openshift.io/reason": reason,
        }},
        "spec": if phase == "draining" || phase == "degraded" { json!({"unschedulable": true}) } else { json!({}) },
        "status": {"conditions": [
            cond("MemoryPressure", "False", 60 * 24, "KubeletHasSufficientMemory", ""),
            cond("DiskPressure", "False", 60 * 24, "KubeletHasNoDiskPressure", ""),
            cond("PIDPressure", "False", 60 * 24, "KubeletHasSufficientPID", ""),
            ready,
        ]},
    })
}

fn nodes(total: usize) -> Vec<Value> {
    let mut rng = Lcg(42);
    let mut out = Vec::with_capacity(total);
    for i in 0..3 {
        out.push(node(
            &format!("master-{i}.example.internal"),
            "master",
            "pending",
            &mut rng,
        ));
    }
    let workers = total.saturating_sub(3);
    for (pool, share, paused) in POOLS.iter().filter(|p| p.0 != "master") {
        let n = workers * share / 100;
        for i in 0..n {
            let phase = if *paused {
                "pending"
            } else {
                match rng.below(1000) {
                    0..=399 => "updated",
                    400..=419 => "draining",
                    420..=439 => "updating",
                    440..=449 => "rebooting",
                    450..=452 => "degraded",
                    453..=455 => "notready",
                    _ => "pending",
                }
            };
            out.push(node(
                &format!("{pool}-{i:05}.example.internal"),
                pool,
                phase,
                &mut rng,
            ));
        }
    }
    out.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    out
}

fn alerts() -> Value {
    json!({"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "PodDisruptionBudgetAtLimit", "namespace": "openshift-ingress", "severity": "warning"},
         "annotations": {"summary": "The pod disruption budget is preventing further disruption to pods.", "description": "The pod disruption budget is at the minimum disruptions allowed level.", "runbook_url": "https://github.com/openshift/runbooks/blob/master/alerts/cluster-kube-controller-manager-operator/PodDisruptionBudgetAtLimit.md"},
         "state": "firing", "activeAt": minutes_before_now(12)},
        {"labels": {"alertname": "KubeNodeNotReady", "namespace": "openshift-monitoring", "severity": "warning"},
         "annotations": {"summary": "Node is not ready.", "description": "A node has been unready for more than 15 minutes."},
         "state": "firing", "activeAt": minutes_before_now(25)},
        {"labels": {"alertname": "Watchdog", "namespace": "openshift-monitoring", "severity": "none"},
         "annotations": {"summary": "An alert that should always be firing."}, "state": "firing", "activeAt": minutes_before_now(60 * 24 * 90)},
    ]}})
}

fn main() {
    let a = parse_args();
    std::fs::create_dir_all(&a.out).unwrap();
    let write = |suffix: &str, v: &Value| {
        let path = a.out.join(format!("{}-{suffix}", a.case));
        let text = if a.yaml && suffix.ends_with(".yaml") {
            serde_saphyr::to_string(v).unwrap()
        } else {
            serde_json::to_string(v).unwrap()
        };
        std::fs::write(&path, text).unwrap();
    };
    write("cv.yaml", &cluster_version());
    write("co.yaml", &list(cluster_operators(a.operators)));
    write("mcp.yaml", &list(machine_config_pools()));
    write("mc.yaml", &list(machine_configs()));
    write("node.yaml", &list(nodes(a.nodes)));
    write("alerts.json", &alerts());
    eprintln!(
        "wrote {} nodes and {} operators to {}",
        a.nodes,
        a.operators,
        a.out.display()
    );
}
