//! Benchmark (not a test): the controller binary in Kubernetes mode against the fake API server
//! holding a 5,000-node cluster mid-update. Prints the time from a Node change to the published
//! UpgradeStatus, and the controller's resident memory at steady state.
//!
//!   cargo bench --bench kube_5000
//!
//! Targets (issue 5): under 1.5 s from change to publication (the 1 s publish interval
//! included), under 150 MiB resident. Everything runs on 127.0.0.1; the controller is a child
//! process, so its memory is its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_apiserver::{FakeApiServer, FakeConfig};
use serde_json::{Value, json};

const NODES: usize = 5_000;
const CHANGES: usize = 10;
const UPGRADE_STATUSES: &str = "upgradestatuses.update.openshift.io";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The sample cluster's objects, nodes aside, and its first worker node as a template.
fn sample() -> (Vec<Value>, Value) {
    let mut objects = Vec::new();
    let mut template = None;
    for entry in std::fs::read_dir(root().join("samples/cluster")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") || name.starts_with("upgradestatus") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            let items = match doc["items"].as_array() {
                Some(items) => items.clone(),
                None => vec![doc],
            };
            for item in items {
                if item["kind"] == "Node" {
                    if template.is_none()
                        && item["metadata"]["name"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("worker-"))
                    {
                        template = Some(item);
                    }
                } else {
                    objects.push(item);
                }
            }
        }
    }
    (objects, template.expect("a worker node in the sample"))
}

fn node(template: &Value, i: usize) -> Value {
    let mut n = template.clone();
    n["metadata"] = json!({
        "name": format!("worker-{i:05}.bench.internal"),
        "labels": template["metadata"]["labels"],
        "annotations": template["metadata"]["annotations"],
    });
    // A third already updated, a few updating, the rest pending.
    let state = match i % 100 {
        0..=32 => "Done",
        33 => "Working",
        _ => "Done",
    };
    n["metadata"]["annotations"]["machineconfiguration.openshift.io/state"] = state.into();
    n
}

fn rss_mib(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn published_version(server: &FakeApiServer) -> Option<String> {
    server
        .get_object(UPGRADE_STATUSES, None, "cluster")
        .and_then(|o| o["metadata"]["resourceVersion"].as_str().map(str::to_owned))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = FakeApiServer::start(FakeConfig::default()).await.unwrap();
    for entry in std::fs::read_dir(root().join("crds")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        server.register_crd_yaml(&text).unwrap();
    }
    server
        .put_object(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "openshift-machine-config-operator"}}))
        .unwrap();
    let (objects, template) = sample();
    for mut o in objects {
        if let Some(meta) = o["metadata"].as_object_mut() {
            for k in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "managedFields",
            ] {
                meta.remove(k);
            }
        }
        server.put_object(o).unwrap();
    }
    let created = Instant::now();
    for i in 0..NODES {
        server.put_object(node(&template, i)).unwrap();
    }
    println!(
        "fake API server: {NODES} nodes created in {:?}",
        created.elapsed()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
        .current_dir(root())
        .args(["serve", "--probe-listen=127.0.0.1:0", "--kubeconfig"])
        .arg(server.kubeconfig_path())
        .args([
            "--tls-cert-file",
            "certs-dev/tls.crt",
            "--tls-key-file",
            "certs-dev/tls.key",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    while published_version(&server).is_none() {
        assert!(Instant::now() < deadline, "nothing published within 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "controller: first publication {:?} after start",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let steady = rss_mib(&child);

    let mut latencies = Vec::new();
    for k in 0..CHANGES {
        let before = published_version(&server);
        let name = format!("worker-{:05}.bench.internal", 40 + k * 97);
        let mut n = server.get_object("nodes", None, &name).unwrap();
        n["metadata"]["annotations"]["machineconfiguration.openshift.io/state"] = "Working".into();
        n["metadata"]["annotations"]["machineconfiguration.openshift.io/desiredConfig"] =
            format!("rendered-worker-bench-{k}").into();
        let changed = Instant::now();
        server.put_object(n).unwrap();
        let deadline = changed + Duration::from_secs(30);
        while published_version(&server) == before {
            assert!(
                Instant::now() < deadline,
                "change {k} not published within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(changed.elapsed());
        // Let the publish interval pass so each change is measured on its own.
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let peak = rss_mib(&child);
    let _ = child.kill();
    let _ = child.wait();

    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    println!(
        "node change -> published UpgradeStatus over {CHANGES} changes: median {median:?}, max {max:?} (target < 1.5 s)"
    );
    println!(
        "controller RSS: {steady:.1} MiB at steady state, {peak:.1} MiB after the changes (target < 150 MiB)"
    );
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "latency {} / memory {}",
        verdict(max < Duration::from_millis(1500)),
        verdict(peak < 150.0)
    );
}
