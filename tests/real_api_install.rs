//! What a cluster administrator installs, installed on a real kube-apiserver: every CRD in
//! `crds/` and every object in `manifests/` applies (server-side, not a dry run) and the CRDs
//! become Established; the API examples are stored; and every CEL rule has at least twice its
//! cost in hand, so a schema change that brings one near the API server's budget fails here and
//! not at install time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Ours, and stand-ins for the monitoring stack's (which `manifests/0000_90_*` need).
fn apply_crds(cp: &envtest::ControlPlane) {
    for file in yaml_files(&repo("crds"))
        .into_iter()
        .chain([repo("tests/support/monitoring-crds.yaml")])
    {
        let text = std::fs::read_to_string(&file).unwrap();
        if let Err(e) = cp.apply(&text) {
            panic!("the real API server refuses {}: {e}", file.display());
        }
    }
    cp.wait_established(&[
        "upgradestatuses.update.openshift.io",
        "updateinformers.update.openshift.io",
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
    ])
    .unwrap();
}

/// Every object in `manifests/`, server-side applied; answers how many were applied.
fn apply_manifests(cp: &envtest::ControlPlane) -> usize {
    // The machine-config operator's namespace exists in every OpenShift cluster; the payload
    // grants it a Role there (manifest 09).
    cp.apply(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: openshift-machine-config-operator}\n",
    )
    .unwrap();
    let mut applied = 0;
    for file in yaml_files(&repo("manifests")) {
        let text = std::fs::read_to_string(&file).unwrap();
        match cp.apply(&text) {
            Ok(out) => {
                applied += out
                    .lines()
                    .filter(|l| l.contains("serverside-applied"))
                    .count()
            }
            Err(e) => panic!("the real API server refuses {}: {e}", file.display()),
        }
    }
    applied
}

#[test]
fn every_crd_and_manifest_applies_and_the_crds_become_established() {
    let Some(cp) = envtest::shared() else { return };
    apply_crds(cp);
    let applied = apply_manifests(cp);
    // `image-references` is read by the payload build, not applied; everything else was.
    assert!(applied >= 20, "only {applied} objects applied");
    let established = cp
        .kubectl_run(&[
            "get",
            "crd",
            "upgradestatuses.update.openshift.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ])
        .unwrap();
    assert_eq!(established, "True");
}

#[test]
fn every_api_example_is_stored_by_the_real_api_server() {
    let Some(cp) = envtest::shared() else { return };
    apply_crds(cp);
    let mut stored = 0;
    for file in yaml_files(&repo("api/examples")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let object: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let status = object.get("status").cloned();
        if let Err(e) = cp.apply(&text) {
            panic!("the real API server refuses {}: {e}", file.display());
        }
        // A CRD with a status subresource drops `status` on create: store it through the
        // subresource, as the controller does, so the status schema is checked too.
        if let Some(status) = status {
            let kind = object["kind"].as_str().unwrap().to_lowercase();
            let name = object["metadata"]["name"].as_str().unwrap();
            let patch = serde_json::json!({"status": status}).to_string();
            if let Err(e) = cp.kubectl_run(&[
                "patch",
                &kind,
                name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ]) {
                panic!(
                    "the real API server refuses the status of {}: {e}",
                    file.display()
                );
            }
            let back = cp.kubectl_run(&["get", &kind, name, "-o", "json"]).unwrap();
            let back: serde_json::Value = serde_json::from_str(&back).unwrap();
            assert!(
                back["status"].as_object().is_some_and(|s| !s.is_empty()),
                "{} lost its status",
                file.display()
            );
        }
        stored += 1;
    }
    assert!(stored >= 3, "only {stored} examples");
}

/// Every rule written twice over (`(R) && (R)`) roughly doubles its estimated cost; when the real
/// server still accepts the CRDs, every rule and the CRD as a whole use at most half the budget.
#[test]
fn every_cel_rule_has_at_least_twice_its_cost_in_hand() {
    let Some(cp) = envtest::own() else { return };
    let mut doubled_rules = 0;
    for file in yaml_files(&repo("crds")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut crd: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        doubled_rules += double_rules(&mut crd);
        if let Err(e) = cp.apply(&crd.to_string()) {
            panic!(
                "{} has less than twice its CEL cost in hand: with every rule doubled the real API server says {e}",
                file.display()
            );
        }
    }
    assert!(doubled_rules >= 3, "only {doubled_rules} rules found");
}

fn double_rules(value: &mut serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => {
            let mut n = 0;
            if let Some(serde_json::Value::Array(rules)) = map.get_mut("x-kubernetes-validations") {
                for rule in rules {
                    if let Some(serde_json::Value::String(r)) = rule.get_mut("rule") {
                        *r = format!("({r}) && ({r})");
                        n += 1;
                    }
                }
            }
            n + map.values_mut().map(double_rules).sum::<usize>()
        }
        serde_json::Value::Array(items) => items.iter_mut().map(double_rules).sum(),
        _ => 0,
    }
}

/// Whether the real authorizer lets `user` do `request` (`kubectl auth can-i` words).
fn can(cp: &envtest::ControlPlane, user: &str, request: &[&str]) -> bool {
    let out = cp
        .kubectl()
        .args(["auth", "can-i", "--as", user])
        .args(request)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

/// What the new RBAC of the monitoring and Events manifests grants, asked of the real
/// authorizer: the platform Prometheus may discover the scrape target and read nothing else;
/// the controller may write Events where the API server takes them, and nowhere else.
#[test]
fn prometheus_may_discover_the_target_and_the_controller_write_events_only_in_default() {
    let Some(cp) = envtest::shared() else { return };
    apply_crds(cp);
    apply_manifests(cp);
    let ns = "openshift-update-status-controller";
    let prometheus = "system:serviceaccount:openshift-monitoring:prometheus-k8s";
    for request in [
        ["list", "endpoints"],
        ["watch", "endpointslices.discovery.k8s.io"],
        ["get", "services"],
        ["list", "pods"],
    ] {
        assert!(
            can(cp, prometheus, &[request[0], request[1], "-n", ns]),
            "prometheus cannot {request:?} in {ns}"
        );
    }
    for request in [
        ["get", "secrets", "-n", ns],
        ["update", "services", "-n", ns],
        ["list", "endpoints", "-n", "default"],
        ["create", "servicemonitors.monitoring.coreos.com", "-n", ns],
    ] {
        assert!(!can(cp, prometheus, &request), "prometheus can {request:?}");
    }
    let controller = format!("system:serviceaccount:{ns}:update-status-controller");
    for request in [
        ["create", "events.events.k8s.io", "-n", "default"],
        ["patch", "events.events.k8s.io", "-n", "default"],
    ] {
        assert!(
            can(cp, &controller, &request),
            "controller cannot {request:?}"
        );
    }
    for request in [
        ["create", "events.events.k8s.io", "-n", ns],
        ["create", "events.events.k8s.io", "-n", "kube-system"],
        ["delete", "events.events.k8s.io", "-n", "default"],
        ["list", "events.events.k8s.io", "-n", "default"],
        ["create", "configmaps", "-n", "default"],
    ] {
        assert!(
            !can(cp, &controller, &request),
            "controller can {request:?}"
        );
    }
}
