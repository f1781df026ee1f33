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
use oc_examples::examples_dir;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
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
    let image = objects(&dir.join(format!("{case}-co.yaml")))
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

/// One run's result: exit status, stdout and stderr.
#[derive(Debug)]
struct Printed {
    ok: bool,
    stdout: String,
    stderr: String,
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

/// A child's output, killed (by its own id) when it takes longer than `limit`.
fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Sleeps until 50 ms past the next whole wall-clock second, so that two runs started together
/// read their "now" within the same second (both print durations to the second).
fn align_to_second() {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = Duration::from_nanos(u64::from(since.subsec_nanos()));
    std::thread::sleep(Duration::from_millis(1050) - into);
}

/// `oc adm upgrade status` and `update-status-controller status`, started at the same moment.
fn run_pair(cp: &envtest::ControlPlane, details: &str) -> (Printed, Printed) {
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
fn is_alerts_unavailable_line(line: &str) -> bool {
    line.starts_with("Unable to fetch alerts")
}

fn without_alerts_line(text: &str) -> (String, Vec<String>) {
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
fn diff(want: &str, got: &str) -> String {
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
fn compare(oc: &Printed, ours: &Printed) -> Result<(), String> {
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
    if oc_out != ours.stdout && !only_estimate_drift(&oc_out, &ours.stdout) {
        return Err(format!(
            "stdout differs (- oc, + ours):\n{}\noc stderr: {}\nour stderr: {}",
            diff(&oc_out, &ours.stdout),
            oc.stderr,
            ours.stderr
        ));
    }
    Ok(())
}

/// Whether the two outputs differ only in the control plane's estimate, by at most a minute.
///
/// A known defect, not a rendering difference: the object stores `estimatedCompletedAt`, computed
/// when the controller assessed the cluster, while live `oc` computes the estimate as of the
/// moment it runs, and `oc`'s estimate moves at a fraction of the clock's rate when an update is
/// late. Seconds between the publication and the two runs can tip the printed minute. Issue 15
/// removes values computed from "now" from the object; until then this drift, and only this, is
/// let through (and said so).
fn only_estimate_drift(oc: &str, ours: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (oc.lines().collect(), ours.lines().collect());
    if a.len() != b.len() {
        return false;
    }
    let drift = a.iter().zip(&b).all(|(x, y)| {
        x == y || {
            let (mx, dx) = mask_estimates(x);
            let (my, dy) = mask_estimates(y);
            mx == my
                && dx.len() == dy.len()
                && dx.iter().zip(&dy).all(|(p, q)| p.abs_diff(*q) <= 60)
        }
    });
    if drift {
        eprintln!("let through: the control plane's estimate drifted by at most a minute");
    }
    drift
}

/// `line` with the durations after "estimate duration was " and "Est. Time Remaining: " replaced
/// by `*`, and those durations in seconds.
fn mask_estimates(line: &str) -> (String, Vec<u64>) {
    let mut masked = String::new();
    let mut found = Vec::new();
    let mut rest = line;
    loop {
        let next = ["estimate duration was ", "Est. Time Remaining: "]
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i + m.len(), *m)))
            .min();
        let Some((start, _)) = next else { break };
        let end = rest[start..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(rest.len(), |e| start + e);
        masked.push_str(&rest[..start]);
        masked.push('*');
        found.push(seconds(&rest[start..end]));
        rest = &rest[end..];
    }
    masked.push_str(rest);
    (masked, found)
}

/// `1h2m3s` in seconds (anything else, such as `N/A`, is `u64::MAX`, which never matches).
fn seconds(text: &str) -> u64 {
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

#[test]
fn estimate_drift_is_the_only_difference_let_through() {
    let oc =
        "Duration:        26616h19m (Est. Time Remaining: N/A; estimate duration was 4436h48m)";
    let ours =
        "Duration:        26616h19m (Est. Time Remaining: N/A; estimate duration was 4436h47m)";
    assert!(only_estimate_drift(oc, ours));
    let far =
        "Duration:        26616h19m (Est. Time Remaining: N/A; estimate duration was 4436h45m)";
    assert!(!only_estimate_drift(oc, far));
    let elsewhere =
        "Duration:        26616h18m (Est. Time Remaining: N/A; estimate duration was 4436h48m)";
    assert!(!only_estimate_drift(oc, elsewhere));
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
        let mut equal = true;
        for details in ["none", "all"] {
            let mut outcome = Ok(());
            for attempt in 0..2 {
                let (oc, ours) = tokio::task::block_in_place(|| run_pair(cp, details));
                set_aside.extend(without_alerts_line(&oc.stdout).1);
                outcome = compare(&oc, &ours);
                // A duration may tick between the two runs: one retry.
                if outcome.is_ok() || attempt == 1 {
                    break;
                }
                eprintln!("{case} --details={details}: differs, retrying once");
            }
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
