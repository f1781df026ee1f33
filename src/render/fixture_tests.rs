//! Whole-object tests: a hand-built `UpgradeStatusStatus` for the `4.14.1-paused-worker-pool` case,
//! encoded as the contract says, rendered and compared with `oc`'s expected output files read from
//! `../shared/conformance/oc-examples/` (skipped with a message when that folder is absent).

use std::path::PathBuf;

use update_status_api::constraints::BoundedVec;
use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    ClusterVersionAssessment, ConditionStatus, ControlPlane, HealthInsight, ImpactLevel,
    ImpactType, InformerInsights, InformerSource, InformerState, InformerSummary, Insight,
    InsightPayload, InsightType, MAX_INFORMERS, NodeCount, NodeProgressInsightStatus,
    OmittedInsights, PoolAssessment, ResourceRef, ScopeType, UpgradeStatusStatus, WorkerPool,
};

use super::control_plane::tests::{co, cv, ts, with_estimate};
use super::health::tests::health;
use super::nodes::tests::node;
use super::pools::tests::mcp;
use super::{Details, RenderError, render};

use ConditionStatus::{False, True};

/// Renders a status built as one object, node insights included, as the publisher splits it:
/// the node insights go to their own objects.
fn render_split(
    status: &UpgradeStatusStatus,
    now: Timestamp,
    details: &Details,
) -> Result<String, RenderError> {
    let mut status = status.clone();
    let mut nodes = Vec::new();
    let mut split = |informers: &mut BoundedVec<InformerInsights, { MAX_INFORMERS }>| {
        let kept: Vec<InformerInsights> = std::mem::take(informers)
            .into_vec()
            .into_iter()
            .map(|mut group| {
                let (node, other): (Vec<Insight>, Vec<Insight>) =
                    std::mem::take(&mut group.insights)
                        .into_vec()
                        .into_iter()
                        .partition(|i| matches!(i.insight, InsightPayload::Node(_)));
                nodes.extend(node.into_iter().filter_map(|i| match i.insight {
                    InsightPayload::Node(n) => Some(NodeProgressInsightStatus {
                        informer: group.name.clone(),
                        uid: i.uid,
                        acquired_at: i.acquired_at,
                        node: n,
                    }),
                    _ => None,
                }));
                group.insights = BoundedVec::new(other).unwrap();
                group
            })
            .collect();
        *informers = BoundedVec::new(kept).unwrap();
    };
    if let Some(cp) = status.control_plane.as_mut() {
        split(&mut cp.informers);
    }
    let pools: Vec<_> = std::mem::take(&mut status.worker_pools)
        .into_vec()
        .into_iter()
        .map(|mut p| {
            split(&mut p.informers);
            p
        })
        .collect();
    status.worker_pools = BoundedVec::new(pools).unwrap();
    render(&status, &nodes, now, details)
}

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
    with_estimate(&mut version, now, now.plus(GoDuration::from_mins(72)));

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
    let got = render_split(&paused_worker_pool(), ts(PAUSED_NOW), &Details::none()).unwrap();
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
    let got = render_split(&paused_worker_pool(), ts(PAUSED_NOW), &Details::all()).unwrap();
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
    let got = render_split(&status, ts(PAUSED_NOW), &Details::none()).unwrap();
    assert!(got.starts_with("= Control Plane =\n"), "{got}");

    status.worker_pools = BoundedVec::empty();
    let got = render_split(&status, ts(PAUSED_NOW), &Details::all()).unwrap();
    assert_eq!(got, "The cluster is not updating.\n");
}

#[test]
fn omitted_insights_add_a_note_only_when_present() {
    let mut status = paused_worker_pool();
    let summary = |name: &str, omitted: Vec<OmittedInsights>| InformerSummary {
        name: name.parse().unwrap(),
        source: InformerSource::BuiltIn,
        state: InformerState::Reporting,
        last_report_time: None,
        insights: NodeCount::new(10).unwrap(),
        omitted: BoundedVec::new(omitted).unwrap(),
    };
    status.informers = BoundedVec::new(vec![summary("cluster-version", Vec::new())]).unwrap();
    let without = render_split(&status, ts(PAUSED_NOW), &Details::none()).unwrap();
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
    let with = render_split(&status, ts(PAUSED_NOW), &Details::none()).unwrap();
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
        .map(|(_, h)| h.impact.summary.as_str())
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

const PDB: &str = "4.16.0-ec2-control-plane-updated-pdb-prohibits-draining";
const PDB_NOW: &str = "2024-02-27T16:16:13.000368975Z";
const MCO_DOCS: &str = "https://docs.openshift.com/container-platform/latest/post_installation_configuration/machine-configuration-tasks.html#understanding-the-machine-config-operator";

/// Node insights for the 59 worker rows of `oc`'s detailed output, encoded back as the contract says.
/// Draining rows that are not degraded are unavailable while updating (the pool row counts 44
/// available), so their `Available` condition is False with reason `Updating`.
fn pdb_worker_nodes(detailed: &str) -> Vec<update_status_api::v1alpha1::NodeInsight> {
    let table = detailed
        .split("Worker Pool Nodes: worker\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap();
    table
        .lines()
        .skip(1)
        .map(|line| {
            let mut cells = line.split_whitespace();
            let mut next = || cells.next().unwrap().to_owned();
            let (name, assessment, phase, version, est) = (next(), next(), next(), next(), next());
            let mut rest = line;
            for _ in 0..5 {
                rest = rest.trim_start();
                rest = rest.find(' ').map_or("", |end| &rest[end..]);
            }
            let message =
                Some(rest.trim_start().replace("<node>", &name)).filter(|m| !m.is_empty());
            let updating: (&str, ConditionStatus, &str) = match phase.as_str() {
                "Updated" => ("Updating", False, "Completed"),
                "Pending" => ("Updating", False, "Pending"),
                "Paused" => ("Updating", False, "Paused"),
                other => ("Updating", True, other),
            };
            let available = match (assessment.as_str(), phase.as_str()) {
                ("Unavailable", _) => ("Available", False, "Unavailable"),
                ("Progressing", "Draining") => ("Available", False, "Updating"),
                _ => ("Available", True, "AsExpected"),
            };
            let degraded = if assessment == "Degraded" {
                ("Degraded", True, "Degraded")
            } else {
                ("Degraded", False, "AsExpected")
            };
            let estimate = match est.as_str() {
                "?" => None,
                "-" => Some(GoDuration::from_nanos(0)),
                plus => Some(plus.trim_start_matches('+').parse().unwrap()),
            };
            let version = (version != "?").then_some(version.as_str());
            node(
                &name,
                "worker",
                version,
                estimate,
                message.as_deref(),
                &[updating, available, degraded],
            )
        })
        .collect()
}

/// `4.16.0-ec2-control-plane-updated-pdb-prohibits-draining`: control plane done, 59 workers, seven
/// of them degraded because a PodDisruptionBudget blocks draining.
fn pdb_case(detailed: &str) -> UpgradeStatusStatus {
    let now = ts(PDB_NOW);
    let mut version = cv(
        False,
        ClusterVersionAssessment::Completed,
        Some("4.16.0-ec.3"),
        Some(("4.16.0-ec.2", false)),
        100,
    );
    version.started_at = Some(ts("2024-02-27T12:12:27Z"));
    version.completed_at = Some(ts("2024-02-27T15:42:58Z"));
    let failing = health(
        Some("2024-02-27T16:16:13Z"),
        ImpactLevel::Warning,
        ImpactType::UpdateStalled,
        "Cluster Version version is failing to proceed with the update (ClusterOperatorDegraded)",
        "Cluster operator machine-config is degraded",
        Some(
            "https://github.com/openshift/runbooks/blob/master/alerts/cluster-monitoring-operator/ClusterOperatorDegraded.md",
        ),
        &[("config.openshift.io", "clusterversions", None, "version")],
    );
    let cluster_version = vec![
        insight(
            "cv-version",
            now,
            InsightPayload::ClusterVersion(Box::new(version)),
        ),
        insight("cv-failing", now, InsightPayload::Health(Box::new(failing))),
    ];
    let done = [
        ("Updating", False, "Completed"),
        ("Available", True, "AsExpected"),
        ("Degraded", False, "AsExpected"),
    ];
    let mut master = vec![insight(
        "mcp-master",
        now,
        InsightPayload::MachineConfigPool(mcp(
            "master",
            PoolAssessment::Completed,
            Some(100),
            [3, 3, 0, 0, 0, 0, 0],
        )),
    )];
    for name in ["master-0", "master-1", "master-2"] {
        master.push(insight(
            &uid("node", name),
            now,
            InsightPayload::Node(node(
                name,
                "master",
                Some("4.16.0-ec.3"),
                Some(GoDuration::from_nanos(0)),
                None,
                &done,
            )),
        ));
    }

    let nodes = pdb_worker_nodes(detailed);
    let mut worker = vec![insight(
        "mcp-worker",
        now,
        InsightPayload::MachineConfigPool(mcp(
            "worker",
            PoolAssessment::Degraded,
            Some(37),
            [59, 44, 5, 37, 12, 0, 7],
        )),
    )];
    let mut node_health = Vec::new();
    // Node names of this case reach 63 characters, so `node-<name>` would not be a valid uid;
    // these tests number them instead.
    for (index, n) in nodes.iter().enumerate() {
        let name = n.name.as_str();
        let mut scoped = |mut h: HealthInsight| {
            h.scope.type_ = ScopeType::WorkerPool;
            h.scope.pool = Some("worker".parse().unwrap());
            node_health.push(insight(
                &format!("health-node-{index:03}"),
                now,
                InsightPayload::Health(Box::new(h)),
            ));
        };
        if name == "build0-gstfj-ci-tests-worker-b-d9vz2" {
            scoped(health(
                Some("2024-02-27T15:53:29Z"),
                ImpactLevel::Warning,
                ImpactType::UpdateSpeed,
                &format!("Node {name} is not ready"),
                "Node has a Ready!=True condition with Reason \"Not ready\" and message \"kubelet is still setting up stuff\"",
                Some(MCO_DOCS),
                &[("", "nodes", None, name)],
            ));
        }
        if let Some(message) = n
            .message
            .as_ref()
            .filter(|m| m.as_str().starts_with("failed to drain"))
        {
            scoped(health(
                None,
                ImpactLevel::Error,
                ImpactType::UpdateStalled,
                &format!("Node {name} is degraded"),
                message.as_str(),
                Some(MCO_DOCS),
                &[("", "nodes", None, name)],
            ));
        }
    }
    // Stored by name (the node list order), as oc gathers them.
    node_health.sort_by(|a, b| a.uid.as_str().cmp(b.uid.as_str()));
    worker.extend(
        nodes
            .into_iter()
            .enumerate()
            .map(|(index, n)| insight(&format!("node-{index:03}"), now, InsightPayload::Node(n))),
    );
    worker.extend(node_health);

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
        ..UpgradeStatusStatus::default()
    }
}

#[test]
fn control_plane_updated_pdb_case_matches_oc_outputs() {
    // The node rows come from the expected file itself, so without it there is nothing to build.
    let (Some(output), Some(detailed)) =
        (expected(PDB, ".output"), expected(PDB, ".detailed-output"))
    else {
        return;
    };
    let status = pdb_case(&detailed);
    assert_eq!(
        render_split(&status, ts(PDB_NOW), &Details::none()).unwrap(),
        output
    );
    assert_eq!(
        render_split(&status, ts(PDB_NOW), &Details::all()).unwrap(),
        detailed
    );
}

/// Reads `oc`'s detailed health blocks back into insights, dated so that SINCE prints the same.
fn health_blocks(section: &str, now: Timestamp) -> Vec<HealthInsight> {
    let mut insights = Vec::new();
    for block in section.split("\n\nMessage: ") {
        let block = block.trim_start_matches("Message: ");
        let mut lines = block.lines();
        let summary = lines.next().unwrap();
        let mut field = |label: &str| {
            let line = lines.next().unwrap();
            line.strip_prefix(&format!("  {label:<13}"))
                .unwrap()
                .to_owned()
        };
        let (since, level, impact, reference) = (
            field("Since:"),
            field("Level:"),
            field("Impact:"),
            field("Reference:"),
        );
        let rest: Vec<&str> = lines.collect();
        let mut resources: Vec<(String, String, Option<String>, String)> = Vec::new();
        let mut description = String::new();
        for line in rest {
            if let Some(text) = line.strip_prefix("  Description: ") {
                description = text.to_owned();
            } else if let Some(more) = line.strip_prefix(&format!("{}, ", " ".repeat(15))) {
                description = format!("{description}\n{more}");
            } else if let Some(entry) = line.strip_prefix("    ") {
                let (kind, names) = entry.split_once(": ").unwrap();
                let (resource, group) = kind.split_once('.').unwrap_or((kind, ""));
                if resources.iter().any(|r| r.1 == resource && r.0 == group) {
                    continue;
                }
                for name in names.split(", ") {
                    let (namespace, name) = match name.split_once('/') {
                        Some((ns, n)) => (Some(ns.to_owned()), n.to_owned()),
                        None => (None, name.to_owned()),
                    };
                    resources.push((group.to_owned(), resource.to_owned(), namespace, name));
                }
            }
        }
        let started = match since.as_str() {
            "-" => None,
            "now" => Some(now),
            s => Some(
                Timestamp::from_nanos(
                    now.as_nanos() - i128::from(s.parse::<GoDuration>().unwrap().as_nanos()),
                )
                .unwrap(),
            ),
        };
        let level = match level.as_str() {
            "Critical" => ImpactLevel::Critical,
            "Error" => ImpactLevel::Error,
            "Warning" => ImpactLevel::Warning,
            _ => ImpactLevel::Info,
        };
        // oc's words ("API Availability") are the PascalCase wire value with spaces.
        let wire = impact.replace("API ", "Api").replace(' ', "");
        let impact: ImpactType = serde_json::from_value(serde_json::Value::String(wire)).unwrap();
        let refs: Vec<(&str, &str, Option<&str>, &str)> = resources
            .iter()
            .map(|(g, r, ns, n)| (g.as_str(), r.as_str(), ns.as_deref(), n.as_str()))
            .collect();
        let mut h = health(None, level, impact, summary, &description, None, &refs);
        h.started_at = started;
        h.remediation.reference = (!reference.starts_with('<')).then(|| reference.parse().unwrap());
        insights.push(h);
    }
    insights
}

#[test]
fn health_sections_of_every_case_match_oc() {
    let now = ts("2024-01-01T00:00:00.000368975Z");
    let Ok(dir) = std::fs::read_dir(examples_dir()) else {
        eprintln!("skipping: no {}", examples_dir().display());
        return;
    };
    let mut checked = 0;
    for entry in dir {
        let path = entry.unwrap().path();
        let Some(case) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".detailed-output"))
        else {
            continue;
        };
        let (Some(output), Some(detailed)) = (
            expected(case, ".output"),
            expected(case, ".detailed-output"),
        ) else {
            continue;
        };
        let Some((_, detailed_health)) = detailed.split_once("= Update Health =\n") else {
            continue;
        };
        if !detailed_health.starts_with("Message: ") {
            continue; // Only the default "Update is proceeding well" row.
        }
        let insights = health_blocks(detailed_health.trim_end_matches('\n'), now);
        let refs: Vec<(&str, &HealthInsight)> = insights.iter().map(|h| ("alerts", h)).collect();
        for (text, detailed) in [(&output, false), (&detailed, true)] {
            let want = &text[text.find("= Update Health =\n").unwrap()..];
            let mut got = String::new();
            super::health::write(&mut got, &refs, now, GoDuration::from_secs(0), detailed);
            assert_eq!(&got, want, "{case} detailed={detailed}");
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} cases had health insights");
}
