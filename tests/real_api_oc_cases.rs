//! The eight shared `oc` cases on a real kube-apiserver: each case's objects are created in the
//! server (the OpenShift CRDs first, every status through its status subresource), the controller
//! runs as it does in a cluster (its own process, its service account's token, the RBAC of
//! `manifests/`) and publishes `UpgradeStatus/cluster`, and then
//! `update-status-controller status` and the real `oc adm upgrade status` are run against the
//! same server at the same moment, with and without `--details=all`, and must print the same.
//!
//! Unlike `tests/conformance.rs` (which renders as of the case's own moment and compares with the
//! recorded `oc` output), this renders as of now, so it checks the live path end to end: watches
//! of real objects, the publication, the read-back and `oc`'s own live code path.
//!
//! What a real cluster has and this one lacks: the machine-config operator's Deployment, which
//! `oc` reads live and fails without (`deployments.apps "machine-config-operator" not found`), so
//! each case gets one (see `mco_deployment`); and a monitoring stack: `oc` prints
//! `Unable to fetch alerts, ...` and goes on without alerts, as the controller does with its alerts
//! informer off, so that one line of `oc`'s stdout is set aside, and a case's `-alerts.json` is
//! not used.
//!
//! One test loops over every case (ClusterVersion `version` and UpgradeStatus `cluster` are
//! singletons) and reports every failing case at once. The folder is
//! `../shared/conformance/oc-examples` (or `$OC_EXAMPLES_DIR`); the control plane comes from
//! `KUBEBUILDER_ASSETS`, which must also hold `oc`. Without any of them the test says so and
//! passes, except under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/real_cluster.rs"]
mod real_cluster;

#[path = "support/oc_examples.rs"]
mod oc_examples;
#[path = "support/oc_live.rs"]
mod oc_live;
use oc_examples::examples_dir;
use oc_live::equal_to_oc;

use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::Value;
use update_status_controller::cluster::kube::kinds;

/// The kinds a case consists of: file suffix and API resource.
fn case_kinds() -> [(&'static str, ApiResource); 5] {
    [
        ("cv", kinds::cluster_versions()),
        ("co", kinds::cluster_operators()),
        ("mcp", kinds::machine_config_pools()),
        ("mc", kinds::machine_configs()),
        ("node", kinds::nodes()),
    ]
}

fn upgrade_statuses() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("update.openshift.io", "v1alpha1", "UpgradeStatus"),
        "upgradestatuses",
    )
}

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn cases(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix("-cv.yaml").map(str::to_owned)
        })
        .collect();
    out.sort();
    out
}

/// The objects of one file (a `List` is flattened), without the fields the server sets.
fn objects(path: &Path) -> Vec<Value> {
    real_cluster::objects_of(path)
        .into_iter()
        .map(envtest::fresh)
        .collect()
}

/// Creates every object of the case and writes its status through the status subresource.
async fn load_case(client: &kube::Client, dir: &Path, case: &str) -> usize {
    let mut created = 0;
    for (suffix, ar) in case_kinds() {
        let path = dir.join(format!("{case}-{suffix}.yaml"));
        let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
        for object in objects(&path) {
            let name = object["metadata"]["name"].as_str().unwrap().to_owned();
            let status = object.get("status").cloned();
            let dynamic: DynamicObject = serde_json::from_value(object).unwrap();
            let mut stored = api
                .create(&PostParams::default(), &dynamic)
                .await
                .unwrap_or_else(|e| panic!("{case}: creating {suffix} {name}: {e}"));
            // A PUT, not a merge patch: in a merge patch `null` deletes, and the recorded
            // statuses hold nulls the schema requires (`availableUpdates: null`, the
            // `completionTime: null` of a partial update).
            if let Some(status) = status.filter(|s| !s.is_null()) {
                stored.data["status"] = status;
                api.replace_status(&name, &PostParams::default(), &stored)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: status of {suffix} {name}: {e}"));
            }
            created += 1;
        }
    }
    created
}

/// The machine-config operator's Deployment, which every cluster has and `oc` reads live (it
/// fails without it): the case's own `-mco-deployment.yaml` when there is one, or else one whose
/// `machine-config-operator` container runs the image the `machine-config` ClusterOperator
/// reports as its `operator-image` (as once the operator has rolled out), or a placeholder when
/// it reports none. The controller must read the same image from its own watch.
fn mco_deployment(dir: &Path, case: &str) -> String {
    let own = dir.join(format!("{case}-mco-deployment.yaml"));
    if own.is_file() {
        let object = objects(&own).into_iter().next().unwrap();
        return serde_json::to_string(&object).unwrap();
    }
    oc_live::mco_deployment(&objects(&dir.join(format!("{case}-co.yaml"))))
}

/// Deletes every object a case may have left, and the UpgradeStatus, and waits until they are
/// gone.
async fn clear(client: &kube::Client) {
    let mut resources: Vec<ApiResource> = case_kinds().into_iter().map(|(_, ar)| ar).collect();
    resources.push(upgrade_statuses());
    for ar in &resources {
        let api = Api::<DynamicObject>::all_with(client.clone(), ar);
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for ar in &resources {
        let api = Api::<DynamicObject>::all_with(client.clone(), ar);
        while !api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
        {
            assert!(
                Instant::now() < deadline,
                "{} not deleted in 30 s",
                ar.plural
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits (at most 60 s) until `UpgradeStatus/cluster` is published with a control plane.
async fn published(client: &kube::Client, case: &str) -> Value {
    let api = Api::<DynamicObject>::all_with(client.clone(), &upgrade_statuses());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(obj) = api.get_opt("cluster").await.unwrap()
            && obj.data["status"]["observedAt"].is_string()
        {
            return obj.data["status"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "{case}: UpgradeStatus/cluster not published within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_oc_case_on_a_real_api_server_prints_what_oc_prints() {
    let started = Instant::now();
    let Some(dir) = examples_dir() else { return };
    let Some(cp) = envtest::shared() else { return };
    if let Err(e) = cp.oc() {
        assert!(!ci(), "CI=true, and there is no oc: {e}");
        eprintln!("SKIPPED: {e}");
        return;
    }
    let cases = cases(&dir);
    assert_eq!(
        cases.len(),
        8,
        "the eight shared cases in {}",
        dir.display()
    );
    real_cluster::install_crds(cp);
    real_cluster::install_manifests(cp);
    let client = cp.client().await.unwrap();
    eprintln!(
        "control plane and CRDs ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut results = Vec::new();
    let mut failures = Vec::new();
    let mut set_aside = Vec::new();
    for case in &cases {
        let case_started = Instant::now();
        clear(&client).await;
        let loaded = load_case(&client, &dir, case).await;
        cp.apply(&mco_deployment(&dir, case)).unwrap();
        // As in a cluster: its own process, its own service account's token, the shipped RBAC.
        let controller = real_cluster::Controller::start(cp, "oc-cases", &[]);
        published(&client, case).await;
        // Node insights are NodeProgressInsights, written after the singleton: one for every
        // Node of the case and none left from the case before (the controller deletes them).
        real_cluster::every_node_published(cp, Duration::from_secs(60)).await;
        let mut equal = true;
        for details in ["none", "all"] {
            let outcome = tokio::task::block_in_place(|| equal_to_oc(cp, details, &mut set_aside));
            if let Err(e) = outcome {
                equal = false;
                failures.push(format!("== {case} --details={details}: {e}"));
            }
        }
        tokio::task::block_in_place(|| controller.stop());
        results.push(format!(
            "{case}: {} ({loaded} objects, {:.1} s)",
            if equal { "equal" } else { "DIFFERENT" },
            case_started.elapsed().as_secs_f64()
        ));
    }
    clear(&client).await;
    set_aside.sort();
    set_aside.dedup();
    eprintln!("oc lines set aside: {set_aside:?}");
    eprintln!(
        "{}\nwall time {:.1} s",
        results.join("\n"),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from oc:\n{}",
        results.iter().filter(|r| r.contains("DIFFERENT")).count(),
        cases.len(),
        failures.join("\n\n")
    );
}
