//! Benchmark (not a test): the acceptance numbers at 10,000 nodes, 32 pools and 16
//! informers on a real kube-apiserver and etcd (`tests/envtest`, `KUBEBUILDER_ASSETS`), the
//! controller run as in a cluster (own process, service account, shipped RBAC; the tests' 200 ms
//! publish interval):
//!
//!   cargo bench --bench real_api_scale            # USC_SCALE_NODES=5000 for another size
//!
//! Prints: time to the first full publication; the stored singleton's bytes and the node
//! objects' (count, bytes); whether `status` prints what the real `oc adm upgrade status`
//! prints; write requests and resourceVersion changes over an idle minute; a single node
//! change's write (stored bytes, apply body bytes, requests) and latency (median of 10); and how
//! many node objects a restart rewrites. Everything runs on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/oc_live.rs"]
mod oc_live;
#[path = "../tests/support/real_cluster.rs"]
mod real_cluster;
#[path = "../tests/support/size_cluster.rs"]
mod size_cluster;

use std::time::{Duration, Instant};

use real_cluster::versions;
use serde_json::{Value, json};
use size_cluster::{
    add_custom_pools, api_writes, every_node_published, get_text, grow_to_in, node_apply_body,
    node_objects, rewritten, stored,
};

/// Pools: the sample's four (master, worker, infra, storage) and these.
const CUSTOM_POOLS: usize = 28;
/// Remote informers besides the sample's one; with it and the built-in machine-config and
/// cluster-version informers, 16 in all.
const EXTRA_INFORMERS: usize = 13;
/// Health insights each remote informer reports.
const INSIGHTS_PER_INFORMER: usize = 3;
/// Single-node changes measured.
const CHANGES: usize = 10;

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scale());
}

/// A report of `n` Health insights of `informer` (the wire format from `report_saying`).
fn report_of(informer: &str, n: usize) -> Vec<u8> {
    let one: Value = serde_json::from_slice(&real_cluster::report_saying("x")).unwrap();
    let insights: Vec<Value> = (0..n)
        .map(|k| {
            let mut i = one["insights"][0].clone();
            i["uid"] = json!(format!("{informer}-{k}"));
            i["insight"]["health"]["impact"]["summary"] =
                json!(format!("{informer}: something slows the update ({k})"));
            i
        })
        .collect();
    serde_json::to_vec(&json!({"insights": insights})).unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn singleton(client: &kube::Client) -> (String, Value) {
    let text = stored(client).await.unwrap();
    let object = serde_json::from_str(&text).unwrap();
    (text, object)
}

async fn scale() {
    let total: usize = std::env::var("USC_SCALE_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let Some(cp) = envtest::own() else { return };
    let set_up = Instant::now();
    real_cluster::set_up(&cp);
    let operators: Vec<Value> = real_cluster::sample_objects()
        .into_iter()
        .filter(|o| o["kind"] == "ClusterOperator")
        .collect();
    cp.apply(&oc_live::mco_deployment(&operators)).unwrap();
    add_custom_pools(&cp, CUSTOM_POOLS);
    let informers: Vec<String> = std::iter::once("example-storage-operator".to_owned())
        .chain((0..EXTRA_INFORMERS).map(|k| format!("bench-informer-{k:02}")))
        .collect();
    for name in &informers[1..] {
        cp.apply(&format!(
            "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
             metadata: {{name: {name}}}\n\
             spec: {{reporting: Enabled, producers: [{{serviceAccount: {{namespace: example-storage, name: storage-operator}}}}], \
             allowedInsightTypes: [Health]}}\n"
        ))
        .unwrap();
    }
    grow_to_in(&cp, total, CUSTOM_POOLS).await;
    eprintln!(
        "set-up: {total} nodes, {} pools, {} remote informers in {:.1} s",
        CUSTOM_POOLS + 4,
        informers.len(),
        set_up.elapsed().as_secs_f64()
    );
    let client = cp.client().await.unwrap();

    // First full publication.
    let started = Instant::now();
    let controller = real_cluster::Controller::start(&cp, "scale", &[]);
    controller.wait_ready(Duration::from_secs(120)).await;
    let ready = started.elapsed();
    let token = cp
        .token(
            "example-storage",
            "storage-operator",
            Some(real_cluster::AUDIENCE),
        )
        .unwrap();
    let objects = every_node_published(&client, Duration::from_secs(900)).await;
    let first = started.elapsed();
    // status vs oc, before the remote informers report: oc knows nothing of their insights.
    for details in ["none", "all"] {
        let mut set_aside = Vec::new();
        let t = Instant::now();
        let outcome =
            tokio::task::block_in_place(|| oc_live::equal_to_oc(&cp, details, &mut set_aside));
        eprintln!(
            "status vs oc --details={details}: {} ({:.1} s)",
            match &outcome {
                Ok(()) => "byte for byte equal".to_owned(),
                // The differing lines only: `--details=all` of 10,000 nodes is long.
                Err(e) => format!(
                    "DIFFERENT:\n{}",
                    e.lines()
                        .filter(|l| !l.starts_with("  "))
                        .take(40)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            },
            t.elapsed().as_secs_f64()
        );
    }

    for name in &informers {
        let answer = controller
            .report(name, &token, report_of(name, INSIGHTS_PER_INFORMER))
            .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (text, object) = loop {
        let (text, object) = singleton(&client).await;
        let held: usize = real_cluster::insights(&object["status"])
            .iter()
            .filter(|(name, _)| informers.contains(name))
            .count();
        if held == informers.len() * INSIGHTS_PER_INFORMER {
            break (text, object);
        }
        assert!(Instant::now() < deadline, "reports not published: {held}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let node_bytes: usize = objects
        .values()
        .map(|o| serde_json::to_vec(o).unwrap().len())
        .sum();
    let largest = objects
        .values()
        .map(|o| serde_json::to_vec(o).unwrap().len())
        .max()
        .unwrap_or(0);
    let summaries = object["status"]["informers"].as_array().map_or(0, Vec::len);
    let pools = object["status"]["workerPools"]
        .as_array()
        .map_or(0, Vec::len);
    eprintln!(
        "first full publication: ready {:.1} s, every node object {:.1} s after start",
        ready.as_secs_f64(),
        first.as_secs_f64()
    );
    eprintln!(
        "singleton as stored: {} bytes ({} informers, {pools} worker pools, {} node insights, {} omitted); \
         node objects: {} ({} bytes as listed, largest {largest}); nodes + singleton {} bytes",
        text.len(),
        summaries,
        real_cluster::node_insights(&object["status"]),
        size_cluster::omitted(&object),
        objects.len(),
        node_bytes,
        node_bytes + text.len()
    );

    // An idle minute.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let nodes_before = versions(&node_objects(&client).await);
    let singleton_before = singleton(&client).await.1["metadata"]["resourceVersion"].clone();
    let writes_before = (
        api_writes(&client, "nodeprogressinsights").await,
        api_writes(&client, "upgradestatuses").await,
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let writes_after = (
        api_writes(&client, "nodeprogressinsights").await,
        api_writes(&client, "upgradestatuses").await,
    );
    let nodes_after = versions(&node_objects(&client).await);
    let singleton_after = singleton(&client).await.1["metadata"]["resourceVersion"].clone();
    eprintln!(
        "idle minute: {} node-object write requests, {} singleton write requests; {} node objects \
         and {} singleton changed resourceVersion",
        writes_after.0 - writes_before.0,
        writes_after.1 - writes_before.1,
        rewritten(&nodes_before, &nodes_after).len(),
        usize::from(singleton_after != singleton_before),
    );

    // Single-node changes: nodes waiting for the update (see `generated_node`) start it.
    let mut latencies = Vec::new();
    let mut stored_sizes = Vec::new();
    let mut bodies = Vec::new();
    let mut requests = Vec::new();
    let waiting = (0..).filter(|i: &usize| i % 40 != 1 && !i.is_multiple_of(3));
    for i in waiting.take(CHANGES) {
        let name = format!("worker-{i:05}.size.internal");
        let path = format!("{}/{name}", size_cluster::NODE_OBJECTS_PATH);
        let was: Value = serde_json::from_str(&get_text(&client, &path).await.unwrap()).unwrap();
        let before = api_writes(&client, "nodeprogressinsights").await;
        let patch = json!({"metadata": {"annotations": {
            "machineconfiguration.openshift.io/desiredConfig": "rendered-worker-new",
            "machineconfiguration.openshift.io/state": "Working"}}});
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
        let changed = Instant::now();
        nodes
            .patch(&name, &Default::default(), &kube::api::Patch::Merge(&patch))
            .await
            .unwrap();
        let deadline = changed + Duration::from_secs(60);
        let (text, object) = loop {
            let text = get_text(&client, &path).await.unwrap();
            let object: Value = serde_json::from_str(&text).unwrap();
            if object["metadata"]["resourceVersion"] != was["metadata"]["resourceVersion"] {
                break (text, object);
            }
            assert!(Instant::now() < deadline, "not published within 60 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        latencies.push(changed.elapsed());
        tokio::time::sleep(Duration::from_secs(2)).await;
        stored_sizes.push(text.len());
        bodies.push(node_apply_body(&name, &object["status"]).len());
        requests.push(api_writes(&client, "nodeprogressinsights").await - before);
    }
    latencies.sort();
    eprintln!(
        "single node change over {CHANGES}: visible min {:.0} ms, median {:.0} ms, max {:.0} ms; \
         stored object max {} bytes, apply body max {} bytes, write requests per change {:?}",
        ms(latencies[0]),
        ms(latencies[CHANGES / 2]),
        ms(latencies[CHANGES - 1]),
        stored_sizes.iter().max().unwrap(),
        bodies.iter().max().unwrap(),
        requests
    );

    // A restart.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = versions(&node_objects(&client).await);
    let writes = api_writes(&client, "nodeprogressinsights").await;
    tokio::task::block_in_place(|| controller.stop());
    let restarted = Instant::now();
    let again = real_cluster::Controller::start(&cp, "scale-restarted", &[]);
    again.wait_ready(Duration::from_secs(120)).await;
    let ready = restarted.elapsed();
    // Until the writes stop.
    let mut last = api_writes(&client, "nodeprogressinsights").await;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = api_writes(&client, "nodeprogressinsights").await;
        if now == last {
            break;
        }
        last = now;
    }
    eprintln!(
        "restart: ready after {:.1} s; {} of {} node objects rewritten, {} node-object write \
         requests, settled {:.1} s after the restart",
        ready.as_secs_f64(),
        rewritten(&before, &versions(&node_objects(&client).await)).len(),
        before.len(),
        last - writes,
        restarted.elapsed().as_secs_f64()
    );
    tokio::task::block_in_place(|| again.stop());
}
