//! Whole-object tests: a hand-built `UpgradeStatusStatus` for the `4.14.1-paused-worker-pool` case,
//! encoded as the contract says, rendered and compared with `oc`'s expected output files read from
//! `../shared/conformance/oc-examples/` (skipped with a message when that folder is absent).

use std::path::PathBuf;

use update_status_api::constraints::BoundedVec;
use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    ClusterVersionAssessment, ConditionStatus, ControlPlane, HealthInsight, ImpactLevel,
    ImpactType, InformerInsights, InformerState, InformerSummary, Insight, InsightPayload,
    InsightType, NodeCount, OmittedInsights, PoolAssessment, ResourceRef, ScopeType,
    UpgradeStatusStatus, WorkerPool,
};

use super::control_plane::tests::{co, cv, ts};
use super::health::tests::health;
use super::nodes::tests::node;
use super::pools::tests::mcp;
use super::{Details, render};

use ConditionStatus::{False, True};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/oc-examples")
}

/// The expected output `<case><suffix>`, or `None` (with a note) when the shared folder is absent.
fn expected(case: &str, suffix: &str) -> Option<String> {
    let path = examples_dir().join(format!("{case}{suffix}"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("skipping: cannot read {}: {e}", path.display());
            None
        }
    }
}

fn insight(uid: &str, at: Timestamp, payload: InsightPayload) -> Insight {
    Insight {
        uid: uid.parse().unwrap(),
        acquired_at: at,
        insight: payload,
    }
}

fn informer(name: &str, insights: Vec<Insight>) -> InformerInsights {
    InformerInsights {
        name: name.parse().unwrap(),
        insights: BoundedVec::new(insights).unwrap(),
    }
}

fn pool_ref(name: &str) -> ResourceRef {
    ResourceRef {
        group: Some("machineconfiguration.openshift.io".parse().unwrap()),
        resource: "machineconfigpools".parse().unwrap(),
        name: name.parse().unwrap(),
        namespace: None,
    }
}

fn uid(prefix: &str, name: &str) -> String {
    format!("{prefix}-{}", name.replace('.', "-"))
}

const PAUSED: &str = "4.14.1-paused-worker-pool";
const PAUSED_NOW: &str = "2024-02-07T16:31:09.000368975Z";

/// `4.14.1-paused-worker-pool`: 4.14.0 → 4.14.1, 6 s in, 4 of 33 operators updated, the worker pool
/// paused.
fn paused_worker_pool() -> UpgradeStatusStatus {
    let now = ts(PAUSED_NOW);
    let mut version = cv(
        True,
        ClusterVersionAssessment::Progressing,
        Some("4.14.1"),
        Some(("4.14.0", false)),
        12,
    );
    version.started_at = Some(ts("2024-02-07T16:31:03Z"));
    version.estimated_completed_at = Some(now.plus(GoDuration::from_mins(72)));

    let updated = [
        "config-operator",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
    ];
    let names = [
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
        "openshift-apiserver",
        "openshift-controller-manager",
        "openshift-samples",
        "operator-lifecycle-manager",
        "operator-lifecycle-manager-catalog",
        "operator-lifecycle-manager-packageserver",
        "service-ca",
        "storage",
    ];
    let mut cluster_version = vec![insight(
        "cv-version",
        now,
        InsightPayload::ClusterVersion(Box::new(version)),
    )];
    for name in names {
        let reason = if updated.contains(&name) {
            "Updated"
        } else {
            "Pending"
        };
        cluster_version.push(insight(
            &uid("co", name),
            now,
            InsightPayload::ClusterOperator(co(
                name,
                (False, reason, "", "2024-02-07T16:10:00Z"),
                (True, "AsExpected"),
            )),
        ));
    }

    let pending = [
        ("Updating", False, "Pending"),
        ("Available", True, "AsExpected"),
        ("Degraded", False, "AsExpected"),
    ];
    let paused = [
        ("Updating", False, "Paused"),
        ("Available", True, "AsExpected"),
        ("Degraded", False, "AsExpected"),
    ];
    let mut master = vec![insight(
        "mcp-master",
        now,
        InsightPayload::MachineConfigPool(mcp(
            "master",
            PoolAssessment::Pending,
            Some(0),
            [3, 3, 0, 3, 0, 0, 0],
        )),
    )];
    for name in [
        "ip-10-0-30-217.us-east-2.compute.internal",
        "ip-10-0-53-40.us-east-2.compute.internal",
        "ip-10-0-92-180.us-east-2.compute.internal",
    ] {
        master.push(insight(
            &uid("node", name),
            now,
            InsightPayload::Node(node(name, "master", Some("4.14.0"), None, None, &pending)),
        ));
    }
    let mut worker = vec![insight(
        "mcp-worker",
        now,
        InsightPayload::MachineConfigPool(mcp(
            "worker",
            PoolAssessment::Excluded,
            Some(0),
            [3, 3, 0, 3, 0, 3, 0],
        )),
    )];
    for name in [
        "ip-10-0-20-162.us-east-2.compute.internal",
        "ip-10-0-4-159.us-east-2.compute.internal",
        "ip-10-0-99-40.us-east-2.compute.internal",
    ] {
        worker.push(insight(
            &uid("node", name),
            now,
            InsightPayload::Node(node(
                name,
                "worker",
                Some("4.14.0"),
                Some(GoDuration::from_nanos(0)),
                None,
                &paused,
            )),
        ));
    }
    let mut paused_pool = health(
        None,
        ImpactLevel::Warning,
        ImpactType::UpdateStalled,
        "Outdated nodes in a paused pool 'worker' will not be updated",
        "Pool is paused, which stops all changes to the nodes in the pool, including updates. The nodes will not be updated until the pool is unpaused by the administrator.",
        Some(
            "https://docs.openshift.com/container-platform/latest/support/troubleshooting/troubleshooting-operator-issues.html#troubleshooting-disabling-autoreboot-mco_troubleshooting-operator-issues",
        ),
        &[(
            "machineconfiguration.openshift.io",
            "machineconfigpools",
            None,
            "worker",
        )],
    );
    paused_pool.scope.type_ = ScopeType::WorkerPool;
    paused_pool.scope.pool = Some("worker".parse().unwrap());
    worker.push(insight(
        "paused-pool-worker",
        now,
        InsightPayload::Health(Box::new(paused_pool)),
    ));

    UpgradeStatusStatus {
        observed_at: Some(now),
        control_plane: Some(ControlPlane {
            pool_resource: Some(pool_ref("master")),
            informers: BoundedVec::new(vec![
                informer("cluster-version", cluster_version),
                informer("machine-config", master),
            ])
            .unwrap(),
            ..ControlPlane::default()
        }),
        worker_pools: BoundedVec::new(vec![WorkerPool {
            name: "worker".parse().unwrap(),
            resource: Some(pool_ref("worker")),
            conditions: Default::default(),
            informers: BoundedVec::new(vec![informer("machine-config", worker)]).unwrap(),
        }])
        .unwrap(),
        health_insights: NodeCount::new(1).unwrap(),
        ..UpgradeStatusStatus::default()
    }
}

#[test]
fn paused_worker_pool_matches_oc_output() {
    let got = render(&paused_worker_pool(), ts(PAUSED_NOW), &Details::none()).unwrap();
    // The pool row is a fixed point of the case, checked even without the shared folder.
    assert!(got.contains(
        "worker        Excluded     0% (0/3)     3 Available, 0 Progressing, 0 Draining, 3 Excluded\n"
    ));
    if let Some(want) = expected(PAUSED, ".output") {
        assert_eq!(got, want);
    }
}

#[test]
fn paused_worker_pool_matches_oc_detailed_output() {
    let got = render(&paused_worker_pool(), ts(PAUSED_NOW), &Details::all()).unwrap();
    assert!(got.contains(
        "  Resources:\n    machineconfigpools.machineconfiguration.openshift.io: worker\n"
    ));
    if let Some(want) = expected(PAUSED, ".detailed-output") {
        assert_eq!(got, want);
    }
}

#[test]
fn nothing_updating_prints_one_line() {
    let mut status = paused_worker_pool();
    let Some(cp) = status.control_plane.as_mut() else {
        panic!("built with a control plane")
    };
    let mut informers = cp.informers.clone().into_vec();
    let mut cv_informer = informers.remove(0).insights.into_vec();
    let first = cv_informer.remove(0);
    let InsightPayload::ClusterVersion(mut version) = first.insight else {
        panic!("the first insight is the ClusterVersion")
    };
    version.conditions = BoundedVec::new(vec![
        update_status_api::v1alpha1::Condition::new(
            "Updating",
            False,
            ts(PAUSED_NOW),
            "ClusterVersionNotProgressing",
            "",
        )
        .unwrap(),
    ])
    .unwrap();
    cv_informer.insert(
        0,
        insight(
            "cv-version",
            first.acquired_at,
            InsightPayload::ClusterVersion(version),
        ),
    );
    informers.insert(0, informer("cluster-version", cv_informer));
    cp.informers = BoundedVec::new(informers).unwrap();
    // The paused worker pool is still outdated, so oc keeps reporting.
    let got = render(&status, ts(PAUSED_NOW), &Details::none()).unwrap();
    assert!(got.starts_with("= Control Plane =\n"), "{got}");

    status.worker_pools = BoundedVec::empty();
    let got = render(&status, ts(PAUSED_NOW), &Details::all()).unwrap();
    assert_eq!(got, "The cluster is not updating.\n");
}

#[test]
fn omitted_insights_add_a_note_only_when_present() {
    let mut status = paused_worker_pool();
    let summary = |name: &str, omitted: Vec<OmittedInsights>| InformerSummary {
        name: name.parse().unwrap(),
        builtin: true,
        state: InformerState::Reporting,
        last_report_time: None,
        insights: NodeCount::new(10).unwrap(),
        omitted: BoundedVec::new(omitted).unwrap(),
    };
    status.informers = BoundedVec::new(vec![summary("cluster-version", Vec::new())]).unwrap();
    let without = render(&status, ts(PAUSED_NOW), &Details::none()).unwrap();
    assert!(!without.contains("Note:"));

    let node_omitted = |count| OmittedInsights {
        type_: InsightType::Node,
        count: NodeCount::new(count).unwrap(),
    };
    let health_omitted = OmittedInsights {
        type_: InsightType::Health,
        count: NodeCount::new(2).unwrap(),
    };
    status.informers = BoundedVec::new(vec![
        summary("machine-config", vec![node_omitted(40), health_omitted]),
        summary("other", vec![node_omitted(2)]),
    ])
    .unwrap();
    let with = render(&status, ts(PAUSED_NOW), &Details::none()).unwrap();
    assert!(with.starts_with(&without));
    assert_eq!(
        &with[without.len()..],
        "\nNote: 42 Node insights were left out of this UpgradeStatus to keep it within its size budget.\n\
         Note: 2 Health insights were left out of this UpgradeStatus to keep it within its size budget.\n"
    );
}

#[test]
fn health_insights_are_gathered_in_contract_order() {
    // Same start and level everywhere, so the order is the gathering order: machine-config by pool
    // name (master before worker), then alerts, then cluster-version, then other informers by name.
    let now = ts(PAUSED_NOW);
    let make = |summary: &str| {
        let h: HealthInsight = health(
            Some("2024-02-07T16:00:00Z"),
            ImpactLevel::Warning,
            ImpactType::None,
            summary,
            "d",
            Some("https://example.com/x"),
            &[],
        );
        h
    };
    let h = |uid: &str, summary: &str| {
        insight(uid, now, InsightPayload::Health(Box::new(make(summary))))
    };
    let mut status = paused_worker_pool();
    let mut worker_informers = status
        .worker_pools
        .first()
        .unwrap()
        .informers
        .clone()
        .into_vec();
    worker_informers.retain(|i| i.name.as_str() != "machine-config");
    worker_informers.push(informer("machine-config", vec![h("w1", "worker-mc")]));
    worker_informers.push(informer("zeta", vec![h("z1", "worker-zeta")]));
    let mut pools = status.worker_pools.clone().into_vec();
    if let Some(first) = pools.first_mut() {
        first.informers = BoundedVec::new(worker_informers).unwrap();
    }
    status.worker_pools = BoundedVec::new(pools).unwrap();
    if let Some(cp) = status.control_plane.as_mut() {
        cp.informers = BoundedVec::new(vec![
            informer("zeta", vec![h("z0", "cp-zeta")]),
            informer("beta", vec![h("b0", "cp-beta")]),
            informer("cluster-version", vec![h("c0", "cp-cv")]),
            informer("alerts", vec![h("a0", "cp-alert-1"), h("a1", "cp-alert-2")]),
            informer("machine-config", vec![h("m0", "master-mc")]),
        ])
        .unwrap();
    }
    let summaries: Vec<&str> = super::gather::health_insights(&status)
        .into_iter()
        .map(|h| h.impact.summary.as_str())
        .collect();
    assert_eq!(
        summaries,
        [
            "master-mc",
            "worker-mc",
            "cp-alert-1",
            "cp-alert-2",
            "cp-cv",
            "cp-beta",
            "cp-zeta",
            "worker-zeta"
        ]
    );
}
