//! A big cluster on the real control plane for the size tests and the latency benchmark: the
//! sample cluster grown with generated worker nodes, and readers of the object as etcd stores it.

// The test and the benchmark each use a part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use envtest::ControlPlane;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

use super::real_cluster;

/// Where the API server serves the object.
pub const UPGRADE_STATUS_PATH: &str = "/apis/update.openshift.io/v1alpha1/upgradestatuses/cluster";

/// Installs the CRDs, the manifests and the sample cluster (40 nodes, mid-update to 4.17.0), and
/// the platform Prometheus' service account, which may read `/metrics`.
pub fn set_up(cp: &ControlPlane) {
    real_cluster::install_crds(cp);
    real_cluster::install_manifests(cp);
    cp.load(&real_cluster::sample_objects()).unwrap();
    real_cluster::platform_prometheus(cp);
}

/// Worker node `i` of the generated part of the cluster, made from the sample's last worker: a
/// third updated, one in forty updating, the rest waiting, as in a large pool mid-update.
pub fn generated_node(template: &Value, i: usize) -> Value {
    let mut n = envtest::fresh(template.clone());
    n["metadata"]["name"] = json!(format!("worker-{i:05}.size.internal"));
    let (current, desired, state) = match i % 40 {
        1 => ("rendered-worker-old", "rendered-worker-new", "Working"),
        _ if i.is_multiple_of(3) => ("rendered-worker-new", "rendered-worker-new", "Done"),
        _ => ("rendered-worker-old", "rendered-worker-old", "Done"),
    };
    let a = &mut n["metadata"]["annotations"];
    a["machineconfiguration.openshift.io/currentConfig"] = json!(current);
    a["machineconfiguration.openshift.io/desiredConfig"] = json!(desired);
    a["machineconfiguration.openshift.io/state"] = json!(state);
    n
}

/// The name of generated custom pool `k`.
pub fn custom_pool(k: usize) -> String {
    format!("custom-{k:02}")
}

/// Adds `count` custom MachineConfigPools (`custom-00`, ...), each selecting the nodes labelled
/// `node-role.kubernetes.io/custom-NN`, rendering the worker's configs; with the sample's four
/// pools that makes `count + 4`.
pub fn add_custom_pools(cp: &ControlPlane, count: usize) {
    let pools: Vec<Value> = (0..count)
        .map(|k| {
            let name = custom_pool(k);
            json!({
                "apiVersion": "machineconfiguration.openshift.io/v1",
                "kind": "MachineConfigPool",
                "metadata": {"name": name},
                "spec": {
                    "configuration": {"name": "rendered-worker-new"},
                    "nodeSelector": {"matchLabels": {format!("node-role.kubernetes.io/{name}"): ""}},
                    "paused": false,
                },
            })
        })
        .collect();
    if !pools.is_empty() {
        cp.load(&pools).unwrap();
    }
}

/// Creates generated worker nodes until the cluster has `total` (a Node keeps the status it is
/// created with). Concurrent creates: `kubectl apply` of a 5,000-item List takes a minute.
pub async fn grow_to(cp: &ControlPlane, total: usize) {
    grow_to_in(cp, total, 0).await
}

/// [`grow_to`], generated node `i` in custom pool `i % (custom_pools + 1)` when that is one of
/// the `custom_pools` (see [`add_custom_pools`]), else in the worker pool.
pub async fn grow_to_in(cp: &ControlPlane, total: usize, custom_pools: usize) {
    let client = cp.client().await.unwrap();
    let nodes: Api<Node> = Api::all(client);
    let have = nodes.list_metadata(&Default::default()).await.unwrap();
    let existing: std::collections::HashSet<String> = have
        .items
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    if existing.len() >= total {
        return;
    }
    let template = real_cluster::sample_objects()
        .into_iter()
        .rfind(|o| {
            o["kind"] == "Node"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("worker-"))
        })
        .expect("a worker node in the sample");
    let wanted: Vec<Node> = (0..)
        .map(|i| {
            let mut node = generated_node(&template, i);
            let k = i % (custom_pools + 1);
            if k < custom_pools {
                let label = format!("node-role.kubernetes.io/{}", custom_pool(k));
                node["metadata"]["labels"][label] = json!("");
            }
            node
        })
        .filter(|n| !existing.contains(n["metadata"]["name"].as_str().unwrap()))
        .take(total - existing.len())
        .map(|n| serde_json::from_value(n).unwrap())
        .collect();
    let started = Instant::now();
    let count = wanted.len();
    let queue = Arc::new(std::sync::Mutex::new(wanted));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (nodes, queue) = (nodes.clone(), queue.clone());
        workers.spawn(async move {
            loop {
                let Some(node) = queue.lock().unwrap().pop() else {
                    return;
                };
                match nodes.create(&PostParams::default(), &node).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => panic!("creating a node: {e}"),
                }
            }
        });
    }
    let deadline = Duration::from_secs(120);
    tokio::time::timeout(deadline, async {
        while let Some(done) = workers.join_next().await {
            done.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{count} nodes not created within {deadline:?}"));
    eprintln!(
        "created {count} nodes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The object as the API server encodes it — the encoding etcd stores, managedFields included
/// — or `None` while there is none.
pub async fn stored(client: &kube::Client) -> Option<String> {
    let request = http::Request::get(UPGRADE_STATUS_PATH)
        .body(Vec::new())
        .unwrap();
    match client.request_text(request).await {
        Ok(text) => Some(text.trim_end().to_owned()),
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => panic!("reading the UpgradeStatus: {e}"),
    }
}

/// Waits (at most `limit`) until the stored object satisfies `pred`; returns its text.
pub async fn published(
    client: &kube::Client,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    let mut last = None;
    loop {
        if let Some(text) = stored(client).await {
            let object: Value = serde_json::from_str(&text).unwrap();
            if pred(&object) {
                return text;
            }
            last = Some(object["status"]["conditions"].clone());
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not published within {limit:?}; last conditions: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Every insight of the object, with the informer list it is in.
pub fn insights(object: &Value) -> Vec<&Value> {
    let status = &object["status"];
    let scopes = std::iter::once(&status["controlPlane"])
        .chain(status["workerPools"].as_array().into_iter().flatten());
    scopes
        .flat_map(|s| s["informers"].as_array().into_iter().flatten())
        .flat_map(|i| i["insights"].as_array().into_iter().flatten())
        .collect()
}

pub fn node_insights(object: &Value) -> usize {
    insights(object)
        .iter()
        .filter(|x| x["insight"]["type"] == "Node")
        .count()
}

pub fn omitted(object: &Value) -> i64 {
    object["status"]["informers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["omitted"].as_array().into_iter().flatten())
        .map(|o| o["count"].as_i64().unwrap())
        .sum()
}

/// The field-set entries (`k:{"uid":"..."}`) of the controller's managedFields, by uid, as JSON.
pub fn field_set_entries(object: &Value) -> std::collections::HashMap<String, usize> {
    let mut out = std::collections::HashMap::new();
    fn walk(v: &Value, out: &mut std::collections::HashMap<String, usize>) {
        if let Some(map) = v.as_object() {
            for (k, child) in map {
                if let Some(uid) = k
                    .strip_prefix("k:")
                    .and_then(|key| serde_json::from_str::<Value>(key).ok())
                    .and_then(|key| key["uid"].as_str().map(str::to_owned))
                {
                    let entry = serde_json::to_string(&json!({ k.clone(): child })).unwrap();
                    out.insert(uid, entry.len() - 2);
                }
                walk(child, out);
            }
        }
    }
    for m in object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["manager"] == "update-status-controller")
    {
        walk(&m["fieldsV1"], &mut out);
    }
    out
}

/// Prints what the stored object is made of: status JSON, managedFields, and per Node insight.
pub fn describe(label: &str, text: &str) -> Value {
    let object: Value = serde_json::from_str(text).unwrap();
    let status_json = serde_json::to_vec(&object["status"]).unwrap().len();
    let managed = serde_json::to_vec(&object["metadata"]["managedFields"])
        .unwrap()
        .len();
    let entries = field_set_entries(&object);
    let (mut json_bytes, mut set_bytes, mut n) = (0, 0, 0);
    for x in insights(&object) {
        if x["insight"]["type"] == "Node"
            && let Some(entry) = entries.get(x["uid"].as_str().unwrap())
        {
            json_bytes += serde_json::to_vec(x).unwrap().len();
            set_bytes += entry;
            n += 1;
        }
    }
    let status: update_status_api::v1alpha1::UpgradeStatusStatus =
        serde_json::from_value(object["status"].clone()).unwrap();
    let estimate = update_status_controller::store::stored_bytes(&status);
    eprintln!(
        "{label}: stored {} bytes (status JSON {status_json}, managedFields {managed}); estimate \
         {estimate}; {} node insights kept, {} insights omitted; per node insight {} bytes of \
         JSON + {} of field set = {} stored (x{:.2})",
        text.len(),
        node_insights(&object),
        omitted(&object),
        json_bytes / n.max(1),
        set_bytes / n.max(1),
        (json_bytes + set_bytes) / n.max(1),
        (json_bytes + set_bytes) as f64 / json_bytes.max(1) as f64,
    );
    object
}

/// Where the API server serves the NodeProgressInsights.
pub const NODE_OBJECTS_PATH: &str = "/apis/update.openshift.io/v1alpha1/nodeprogressinsights";

/// A GET of `path` as the API server answers it, or `None` for 404.
pub async fn get_text(client: &kube::Client, path: &str) -> Option<String> {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    match client.request_text(request).await {
        Ok(text) => Some(text.trim_end().to_owned()),
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// Every NodeProgressInsight as stored, by name: a LIST in pages of 500, as `status` reads them.
pub async fn node_objects(client: &kube::Client) -> std::collections::BTreeMap<String, Value> {
    let mut out = std::collections::BTreeMap::new();
    let mut token = String::new();
    loop {
        let text = get_text(
            client,
            &format!("{NODE_OBJECTS_PATH}?limit=500&continue={token}"),
        )
        .await
        .unwrap();
        let page: Value = serde_json::from_str(&text).unwrap();
        for item in page["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap().to_owned();
            out.insert(name, item.clone());
        }
        match page["metadata"]["continue"].as_str() {
            Some(next) if !next.is_empty() => token = next.to_owned(),
            _ => return out,
        }
    }
}

/// How many NodeProgressInsights there are: a LIST of one, and the count of the rest.
pub async fn node_object_count(client: &kube::Client) -> usize {
    let text = get_text(client, &format!("{NODE_OBJECTS_PATH}?limit=1"))
        .await
        .unwrap();
    let page: Value = serde_json::from_str(&text).unwrap();
    let here = page["items"].as_array().map_or(0, Vec::len);
    here + page["metadata"]["remainingItemCount"].as_u64().unwrap_or(0) as usize
}

/// The names of the cluster's Nodes.
pub async fn node_names(client: &kube::Client) -> std::collections::BTreeSet<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list_metadata(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect()
}

/// Waits (at most `limit`) until there is a NodeProgressInsight with a status for every Node
/// and none for anything else; returns them.
pub async fn every_node_published(
    client: &kube::Client,
    limit: Duration,
) -> std::collections::BTreeMap<String, Value> {
    let names = node_names(client).await;
    let deadline = Instant::now() + limit;
    loop {
        // Counted cheaply (one item and the count of the rest) until there are enough; a full
        // LIST of thousands of objects costs the API server and this process far more.
        let count = node_object_count(client).await;
        if count == names.len() {
            let objects = node_objects(client).await;
            if objects.keys().eq(names.iter()) && objects.values().all(|o| o["status"].is_object())
            {
                return objects;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{count} node objects for {} nodes after {limit:?}",
            names.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The names whose resourceVersion differs between `before` and `after` (or that are in only one).
pub fn rewritten(
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    before
        .keys()
        .chain(after.keys())
        .filter(|n| before.get(*n) != after.get(*n))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Write requests (any verb but GET, LIST and WATCH) the API server has answered for `resource`
/// of `update.openshift.io`, subresources included, from its own `apiserver_request_total`:
/// a write that changes nothing (a no-op apply) counts too, where a resourceVersion would not
/// move.
pub async fn api_writes(client: &kube::Client, resource: &str) -> u64 {
    let text = get_text(client, "/metrics").await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| {
            l.contains("group=\"update.openshift.io\"")
                && l.contains(&format!("resource=\"{resource}\""))
                && !["GET", "LIST", "WATCH"]
                    .iter()
                    .any(|v| l.contains(&format!("verb=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The JSON body of the server-side apply the controller sends to write `status` into the
/// NodeProgressInsight `name` (`src/publish/apply.rs`).
pub fn node_apply_body(name: &str, status: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "update.openshift.io/v1alpha1",
        "kind": "NodeProgressInsight",
        "metadata": {"name": name},
        "status": status,
    }))
    .unwrap()
}
