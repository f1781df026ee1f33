//! Benchmark (not a test): from a Node change to its NodeProgressInsight written on a real
//! kube-apiserver and etcd (`tests/envtest`, `KUBEBUILDER_ASSETS`), at 100 and 5,000 nodes, with
//! the default publish interval (1 s) and budget; and the API server's own share, the same
//! server-side apply of that node object without the controller.
//!
//!   cargo bench --bench real_api_latency
//!
//! `USC_BENCH_BIN=target/release/update-status-controller` measures a release build (the numbers
//! worth quoting); by default the bench profile's build of the binary runs. Everything runs on
//! 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/real_cluster.rs"]
mod real_cluster;
#[path = "../tests/support/size_cluster.rs"]
mod size_cluster;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use envtest::ControlPlane;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use size_cluster::{NODE_OBJECTS_PATH, every_node_published, get_text, grow_to, set_up, stored};

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(node_change_to_published_latency());
}

/// The controller binary as its own process (as in a pod), against `cp` as cluster-admin.
/// `USC_BENCH_BIN` names another build of it (a release build, for numbers worth quoting).
struct Process {
    child: std::process::Child,
}

impl Process {
    fn start(cp: &ControlPlane, extra: &[&str]) -> Self {
        let binary = std::env::var_os("USC_BENCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_update-status-controller")));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(binary)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["serve", "--probe-listen=127.0.0.1:0", "--kubeconfig"])
            .arg(cp.kubeconfig())
            .args([
                "--tls-cert-file",
                "certs-dev/tls.crt",
                "--tls-key-file",
                "certs-dev/tls.key",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--alerts-url",
                "",
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Self { child }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stored node object `name`.
async fn node_object(client: &kube::Client, name: &str) -> Value {
    let text = get_text(client, &format!("{NODE_OBJECTS_PATH}/{name}"))
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Benchmark: from a Node change (one `kubectl`-equivalent patch) to its NodeProgressInsight
/// written on the real API server, with the default publish interval (1 s) and budget, at 100 and 5,000
/// nodes; ten changes each, one every 2 s.
async fn node_change_to_published_latency() {
    const CHANGES: usize = 10;
    for total in [100, 5_000] {
        let Some(cp) = envtest::own() else { return };
        set_up(&cp);
        grow_to(&cp, total).await;
        let client = cp.client().await.unwrap();
        let node_objects: Api<update_status_api::v1alpha1::NodeProgressInsight> =
            Api::all(client.clone());
        let nodes: Api<Node> = Api::all(client.clone());
        let started = Instant::now();
        let process = Process::start(&cp, &[]);
        let objects = every_node_published(&client, Duration::from_secs(600)).await;
        let first = started.elapsed();
        eprintln!(
            "{total} nodes: {} node objects; the singleton as stored {} bytes",
            objects.len(),
            stored(&client).await.unwrap().len()
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut latencies = Vec::new();
        // Nodes waiting for the update (see `generated_node`), each now starting it.
        let waiting = (0..).filter(|i: &usize| i % 40 != 1 && !i.is_multiple_of(3));
        for i in waiting.take(CHANGES) {
            let name = format!("worker-{i:05}.size.internal");
            let before = node_object(&client, &name).await["metadata"]["resourceVersion"].clone();
            let patch = json!({"metadata": {"annotations": {
                "machineconfiguration.openshift.io/desiredConfig": "rendered-worker-new",
                "machineconfiguration.openshift.io/state": "Working"}}});
            let changed = Instant::now();
            nodes
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
            let deadline = changed + Duration::from_secs(60);
            while node_object(&client, &name).await["metadata"]["resourceVersion"] == before {
                assert!(
                    Instant::now() < deadline,
                    "change not published within 60 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            latencies.push(changed.elapsed());
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        drop(process);
        // The API server's share: the same server-side apply, of a node object as published
        // (its `acquiredAt` moved so it is a change), without the controller.
        let name = "worker-00002.size.internal";
        let object = node_object(&client, name).await;
        let mut applies = Vec::new();
        for k in 0..3 {
            let mut status = object["status"].clone();
            status["acquiredAt"] = json!(format!("2030-01-01T00:00:0{k}Z"));
            let body = json!({
                "apiVersion": "update.openshift.io/v1alpha1",
                "kind": "NodeProgressInsight",
                "metadata": {"name": name},
                "status": status,
            });
            let params = PatchParams::apply("update-status-controller").force();
            let started = Instant::now();
            node_objects
                .patch_status(name, &params, &Patch::Apply(&body))
                .await
                .unwrap();
            applies.push(started.elapsed());
        }
        applies.sort();
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        eprintln!(
            "{total} nodes: first publication {:.1} s after start; node change -> published over \
             {CHANGES} changes: min {:.0} ms, median {:.0} ms, max {:.0} ms",
            first.as_secs_f64(),
            ms(latencies[0]),
            ms(latencies[CHANGES / 2]),
            ms(latencies[CHANGES - 1]),
        );
        eprintln!(
            "{total} nodes: the server-side apply of one node object alone takes {:.0} ms (median of 3)",
            ms(applies[1])
        );
    }
}
