//! Random but valid cluster states in the `oc` mock layout, for differential testing against the
//! real `oc adm upgrade status` (`tests/oc_differential.rs`, `benches/oc_differential.rs`).
//!
//! A seed fixes everything except the anchor instant: every timestamp is "so long before the
//! anchor", and the anchor is the latest condition transition, so `oc`'s mocked "now" is the anchor
//! plus 368 975 ns. The only thing `oc` judges by the real clock, whether a node is *seriously*
//! unavailable, is kept away from its 1-minute and 5-minute thresholds by picking node ages well
//! clear of them and anchoring at the wall clock of generation (so generate right before running).

#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// A small deterministic generator (the LCG of `examples/gen_cluster.rs`), so no random crate.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        let mut r = Lcg(seed ^ 0x9E37_79B9_7F4A_7C15);
        r.next();
        r.next();
        r
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }
    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// One generated cluster: the objects `oc` reads, as JSON (which is YAML too).
pub struct Cluster {
    pub cv: Value,
    pub operators: Vec<Value>,
    pub pools: Vec<Value>,
    pub machine_configs: Vec<Value>,
    pub nodes: Vec<Value>,
    pub alerts: Value,
    pub mco_deployment: Option<Value>,
    /// A one-line description, for failure reports.
    pub summary: String,
}

impl Cluster {
    /// Writes the mock files `<case>-*.yaml` into `dir` and returns the `-cv.yaml` path. An alerts
    /// file is always written (maybe with no alerts): without one `oc` prints a notice on stdout.
    pub fn write(&self, dir: &Path, case: &str) -> PathBuf {
        let write = |suffix: &str, v: &Value| {
            std::fs::write(
                dir.join(format!("{case}-{suffix}")),
                serde_json::to_string_pretty(v).unwrap(),
            )
            .unwrap();
        };
        write("cv.yaml", &self.cv);
        write("co.yaml", &list(&self.operators));
        write("mcp.yaml", &list(&self.pools));
        write("mc.yaml", &list(&self.machine_configs));
        write("node.yaml", &list(&self.nodes));
        write("alerts.json", &self.alerts);
        if let Some(d) = &self.mco_deployment {
            write("mco-deployment.yaml", d);
        }
        dir.join(format!("{case}-cv.yaml"))
    }
}

fn list(items: &[Value]) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

/// Seconds since the epoch as RFC 3339 (what the API server writes).
fn ts(secs: i64) -> String {
    let t = jiff::Timestamp::from_second(secs).unwrap();
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", t).unwrap()
}

/// The same with nanoseconds, as Prometheus writes `activeAt`.
fn ts_nanos(secs: i64, nanos: u32) -> String {
    let t = jiff::Timestamp::from_second(secs).unwrap();
    let base = jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S", t).unwrap();
    format!("{base}.{nanos:09}Z")
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86400;

const VERSIONS: &[(&str, &str)] = &[
    ("4.15.3", "4.16.0"),
    ("4.16.0-ec.2", "4.16.0-ec.3"),
    ("4.14.0-rc.3", "4.14.1"),
    ("4.17.12", "4.18.1"),
];

const OPERATORS: &[&str] = &[
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

const CUSTOM_POOLS: &[&str] = &["infra", "storage", "gpu", "zbeast", "edge", "canary"];

const MCO_IMAGE: &str = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:4b4c4e4f";

/// Messages of every shape a condition can carry.
fn message(rng: &mut Lcg, subject: &str) -> String {
    match rng.below(12) {
        0 => String::new(),
        1 => format!("{subject} is fine"),
        2 => format!(
            "Multiple errors are preventing progress:\n* Cluster operator {subject} is updating versions\n* Could not update deployment \"openshift-{subject}/{subject}\" (412 of 903): the object is invalid, possibly due to local cluster configuration"
        ),
        3 => {
            let mut s = String::new();
            for i in 0..rng.range(5, 40) {
                s.push_str(&format!("word{i} of a very long message about {subject}; "));
            }
            s.trim_end().to_owned()
        }
        // Not a tab: the API keeps no control characters but line feeds.
        4 => format!("ÜñïçødéMessage «{subject}» — ready ✓"),
        5 => format!("trailing newline for {subject}\n"),
        6 => format!(
            "DeploymentAvailable: 1 of 3 replicas available for {subject}\nNodeInstallerProgressing: 2 nodes are at revision 7; 1 node is at revision 8"
        ),
        7 => format!("  leading and trailing spaces {subject}  "),
        8 => {
            format!("Working towards 4.16.0: 712 of 903 done (78% complete), waiting on {subject}")
        }
        // Long, but within what the UpgradeStatus API stores in a paragraph (4096 characters).
        9 => "x".repeat(rng.range(300, 3800) as usize),
        10 => format!("line one\n\nline three after an empty line ({subject})"),
        _ => format!("{subject}: all is well"),
    }
}

fn reason(rng: &mut Lcg) -> String {
    rng.pick(&[
        "",
        "AsExpected",
        "RolloutInProgress",
        "NodeInstaller_InstallerPodFailed",
        "MachineConfigControllerFailed",
        "ClusterOperatorDegraded",
        "ClusterOperatorsDegraded",
        "APIServerDeployment_UnavailablePod::NodeController_MasterNodesReady",
        "Unknown",
        "Reason_With_More_Than_Twenty_Characters",
    ])
    .to_string()
}

fn cond(type_: &str, status: &str, at: i64, reason: &str, message: &str) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(type_));
    m.insert("status".into(), json!(status));
    m.insert("lastTransitionTime".into(), json!(ts(at)));
    if !reason.is_empty() {
        m.insert("reason".into(), json!(reason));
    }
    if !message.is_empty() {
        m.insert("message".into(), json!(message));
    }
    Value::Object(m)
}

/// An age in seconds, often right at or next to a threshold `oc` compares with (computed from the
/// data alone, so exact boundaries are deterministic).
fn co_age(rng: &mut Lcg, max: i64) -> i64 {
    let a = match rng.below(10) {
        0 => *rng.pick(&[5 * MIN, 20 * MIN, 40 * MIN, 5 * MIN - 1, 5 * MIN + 1]),
        1 => *rng.pick(&[20 * MIN - 1, 20 * MIN + 1, 40 * MIN - 1, 40 * MIN + 1]),
        2 => rng.range(0, 90),
        3 => rng.range(0, 10 * MIN),
        4 => rng.range(10 * MIN, 2 * HOUR),
        5 => rng.range(2 * HOUR, 3 * DAY),
        _ => rng.range(0, max.max(1)),
    };
    a.clamp(0, max.max(0))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    /// Control plane updating.
    Updating,
    /// Control plane done (history Completed, Progressing=False); nodes maybe not.
    Completed,
    /// Migrating to multi-arch: same version, another image.
    MultiArch,
    /// A new install still in progress (one history item).
    Install,
}

struct Plan {
    from: String,
    to: String,
    scenario: Scenario,
    started: i64,
    anchor: i64,
}

/// Generates the cluster of `seed`, its timestamps relative to `anchor` (seconds since the epoch).
pub fn generate(seed: u64, anchor: i64) -> Cluster {
    let mut rng = Lcg::new(seed);
    let (from, to) = *rng.pick(VERSIONS);
    let scenario = match rng.below(20) {
        0..=10 => Scenario::Updating,
        11..=15 => Scenario::Completed,
        16..=17 => Scenario::MultiArch,
        _ => Scenario::Install,
    };
    let from = if scenario == Scenario::MultiArch {
        to
    } else {
        from
    };
    let elapsed = match rng.below(8) {
        0 => rng.range(1, 59),
        1 => rng.range(60, 10 * MIN),
        2 => *rng.pick(&[
            10 * MIN,
            10 * MIN + 29,
            10 * MIN + 30,
            10 * MIN + 31,
            9 * MIN + 59,
        ]),
        3 => rng.range(10 * MIN, HOUR),
        4 => rng.range(HOUR, 4 * HOUR),
        5 => rng.range(4 * HOUR, 2 * DAY),
        _ => rng.range(2 * MIN, 90 * MIN),
    };
    let plan = Plan {
        from: from.to_owned(),
        to: to.to_owned(),
        scenario,
        started: anchor - elapsed,
        anchor,
    };
    let (operators, mco_deployment) = cluster_operators(&mut rng, &plan);
    let cv = cluster_version(&mut rng, &plan, &operators);
    let (pools, machine_configs, nodes, pool_summary) = machine_config_world(&mut rng, &plan);
    let alerts = alerts(&mut rng, &plan);
    let summary = format!(
        "{:?} {} -> {}, started {}s before now, {} operators, {} nodes, pools [{}]",
        plan.scenario,
        plan.from,
        plan.to,
        elapsed,
        operators.len(),
        nodes.len(),
        pool_summary
    );
    Cluster {
        cv,
        operators,
        pools,
        machine_configs,
        nodes,
        alerts,
        mco_deployment,
        summary,
    }
}

fn image(version: &str, arch: &str) -> String {
    let digest: u64 = version
        .bytes()
        .chain(arch.bytes())
        .fold(1469598103934665603, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1099511628211)
        });
    format!("quay.io/openshift-release-dev/ocp-release@sha256:{digest:016x}{digest:016x}")
}

fn history_item(
    version: &str,
    arch: &str,
    state: &str,
    started: i64,
    completed: Option<i64>,
) -> Value {
    json!({
        "state": state,
        "version": version,
        "image": image(version, arch),
        "startedTime": ts(started),
        "completionTime": completed.map(ts),
        "verified": false,
    })
}

fn cluster_version(rng: &mut Lcg, plan: &Plan, operators: &[Value]) -> Value {
    let mut history = Vec::new();
    let completed_at = plan.started + (plan.anchor - plan.started) * rng.range(30, 100) / 100;
    match plan.scenario {
        Scenario::Updating => history.push(history_item(
            &plan.to,
            "amd64",
            "Partial",
            plan.started,
            None,
        )),
        Scenario::Completed => history.push(history_item(
            &plan.to,
            "amd64",
            "Completed",
            plan.started,
            Some(completed_at),
        )),
        Scenario::MultiArch => history.push(history_item(
            &plan.to,
            "multi",
            "Partial",
            plan.started,
            None,
        )),
        Scenario::Install => history.push(history_item(
            &plan.to,
            "amd64",
            "Partial",
            plan.started,
            None,
        )),
    }
    if plan.scenario != Scenario::Install {
        // Older updates, newest first; the last one is the install.
        let mut end = plan.started - rng.range(MIN, 30 * DAY);
        let older = rng.range(1, 6);
        let mut versions = vec![plan.from.clone()];
        for i in 1..older {
            versions.push(format!("4.{}.{}", 13 - i / 3, 9 - (i % 3)));
        }
        for (i, v) in versions.iter().enumerate() {
            let last = i + 1 == versions.len();
            let took = *rng.pick(&[47 * MIN + 13, HOUR + 12 * MIN + 22, 30 * MIN, 2 * HOUR + 3]);
            let partial = !last && rng.pct(20);
            let start = end - took;
            let arch = "amd64";
            history.push(history_item(
                v,
                arch,
                if partial { "Partial" } else { "Completed" },
                start,
                if partial { None } else { Some(end) },
            ));
            end = start - rng.range(HOUR, 40 * DAY);
        }
    }
    let progressing_true = plan.scenario != Scenario::Completed;
    let progressing = if progressing_true {
        cond(
            "Progressing",
            "True",
            plan.started,
            "",
            &format!(
                "Working towards {}: 106 of 863 done (12% complete)",
                plan.to
            ),
        )
    } else {
        cond(
            "Progressing",
            "False",
            completed_at,
            "",
            &format!("Cluster version is {}", plan.to),
        )
    };
    let mut conditions = vec![cond(
        "Available",
        "True",
        plan.started - rng.range(HOUR, 30 * DAY),
        "",
        "Done applying",
    )];
    match rng.below(20) {
        0..=12 => conditions.push(cond(
            "Failing",
            "False",
            plan.anchor - co_age(rng, 3 * DAY),
            "",
            "",
        )),
        13..=16 => {
            let msg = message(rng, "version");
            let r = reason(rng);
            conditions.push(cond(
                "Failing",
                "True",
                plan.anchor - co_age(rng, plan.anchor - plan.started),
                &r,
                &msg,
            ))
        }
        17..=18 => {
            let msg = message(rng, "version");
            conditions.push(cond(
                "Failing",
                "Unknown",
                plan.anchor - co_age(rng, 2 * HOUR),
                "",
                &msg,
            ))
        }
        _ => {}
    }
    conditions.push(progressing);
    // The latest transition is the anchor: `oc`'s mocked "now" is derived from it. Without an
    // operator condition at the anchor, RetrievedUpdates carries it.
    let anchored = operators.iter().any(|co| {
        co["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["lastTransitionTime"] == json!(ts(plan.anchor)))
    });
    let retrieved_at = if anchored && rng.pct(50) {
        plan.anchor - rng.range(0, DAY)
    } else {
        plan.anchor
    };
    conditions.push(cond("RetrievedUpdates", "True", retrieved_at, "", ""));
    if rng.pct(30) {
        conditions.push(cond(
            "Upgradeable",
            "False",
            plan.anchor - rng.range(0, DAY),
            "PoolUpdating",
            "One or more machine config pools are updating",
        ));
    }
    let desired_arch = if plan.scenario == Scenario::MultiArch {
        "multi"
    } else {
        "amd64"
    };
    let desired = json!({"version": plan.to, "image": image(&plan.to, desired_arch)});
    json!({
        "apiVersion": "config.openshift.io/v1",
        "kind": "ClusterVersion",
        "metadata": {"name": "version"},
        "spec": {"clusterID": "5a1b7e0e-2f5e-4f3c-9d51-2b7b5f7d0c11", "desiredUpdate": desired},
        "status": {
            "observedGeneration": 1,
            "versionHash": "aBcD1234eFg=",
            "availableUpdates": null,
            "desired": desired,
            "history": history,
            "conditions": conditions,
        },
    })
}

fn cluster_operators(rng: &mut Lcg, plan: &Plan) -> (Vec<Value>, Option<Value>) {
    let total = rng.range(1, OPERATORS.len() as i64) as usize;
    let mut names: Vec<&str> = OPERATORS.to_vec();
    rng.shuffle(&mut names);
    names.truncate(total);
    if rng.pct(60) && !names.contains(&"machine-config") {
        names.push("machine-config");
    }
    let extra = rng.range(0, 3);
    let mut names: Vec<String> = names.into_iter().map(str::to_owned).collect();
    for i in 0..extra {
        names.push(format!("addon-operator-{i}"));
    }
    names.sort();
    let done_pct = match plan.scenario {
        Scenario::Completed => 100,
        _ => {
            let any = rng.range(0, 100);
            *rng.pick(&[0, 3, 10, 50, 90, 97, 100, any])
        }
    };
    let since_start = (plan.anchor - plan.started).max(0);
    // The deployment is optional; with it the MCO's operator-image can be current.
    let with_deployment = rng.pct(30);
    let mut anchored = false;
    let mut operators = Vec::new();
    for name in &names {
        let platform = !name.starts_with("addon-");
        let updated = rng.pct(done_pct as u64);
        let mut versions = Vec::new();
        match (plan.scenario, updated) {
            (Scenario::Install, false) => {}
            (_, true) => versions.push(json!({"name": "operator", "version": plan.to})),
            (_, false) => versions.push(json!({"name": "operator", "version": plan.from})),
        }
        if !versions.is_empty() && rng.pct(70) {
            let v = versions[0]["version"].clone();
            versions.push(json!({"name": name, "version": v}));
        }
        if name == "machine-config" && rng.pct(50) {
            let image = if with_deployment && rng.pct(70) {
                MCO_IMAGE.to_owned()
            } else {
                format!("{MCO_IMAGE}-old")
            };
            versions.push(json!({"name": "operator-image", "version": image}));
        }
        let mut conditions = Vec::new();
        // Available
        match rng.below(40) {
            0..=1 => {
                let (r, m) = (reason(rng), message(rng, name));
                conditions.push(cond(
                    "Available",
                    "False",
                    plan.anchor - co_age(rng, 3 * DAY),
                    &r,
                    &m,
                ))
            }
            2 => conditions.push(cond(
                "Available",
                "Unknown",
                plan.anchor - co_age(rng, DAY),
                "",
                "",
            )),
            3 => {}
            _ => conditions.push(cond(
                "Available",
                "True",
                plan.anchor - co_age(rng, 30 * DAY),
                "AsExpected",
                "",
            )),
        }
        // Degraded
        match rng.below(40) {
            0..=2 => {
                let (r, m) = (reason(rng), message(rng, name));
                conditions.push(cond(
                    "Degraded",
                    "True",
                    plan.anchor - co_age(rng, 3 * DAY),
                    &r,
                    &m,
                ))
            }
            3 => {}
            _ => conditions.push(cond(
                "Degraded",
                "False",
                plan.anchor - co_age(rng, 30 * DAY),
                "AsExpected",
                "",
            )),
        }
        // Progressing
        let progressing_roll = rng.below(20);
        if progressing_roll != 0 {
            let status = if !updated && plan.scenario != Scenario::Completed && progressing_roll < 8
            {
                "True"
            } else if progressing_roll == 1 {
                "Unknown"
            } else {
                "False"
            };
            let at = if updated || status == "True" {
                plan.anchor - co_age(rng, since_start)
            } else {
                plan.anchor - co_age(rng, 30 * DAY)
            };
            let (r, m) = if status == "True" {
                (reason(rng), message(rng, name))
            } else {
                ("AsExpected".to_owned(), String::new())
            };
            conditions.push(cond("Progressing", status, at, &r, &m));
        }
        if rng.pct(50) {
            conditions.push(cond(
                "Upgradeable",
                "True",
                plan.anchor - rng.range(HOUR, 9 * DAY),
                "AsExpected",
                "",
            ));
        }
        rng.shuffle(&mut conditions);
        anchored |= conditions
            .iter()
            .any(|c| c["lastTransitionTime"] == json!(ts(plan.anchor)));
        let mut annotations = Map::new();
        if platform {
            let key = if rng.pct(80) {
                "include.release.openshift.io/self-managed-high-availability"
            } else {
                "exclude.release.openshift.io/internal-openshift-hosted"
            };
            annotations.insert(key.into(), json!("true"));
        }
        annotations.insert("capability.openshift.io/name".into(), json!("Console"));
        operators.push(json!({
            "apiVersion": "config.openshift.io/v1",
            "kind": "ClusterOperator",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {},
            "status": {"versions": versions, "conditions": conditions},
        }));
    }
    let _ = anchored;
    let deployment = with_deployment.then(|| {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "machine-config-operator", "namespace": "openshift-machine-config-operator"},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "machine-config-operator"}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "machine-config-operator"}},
                    "spec": {"containers": [
                        {"name": "kube-rbac-proxy", "image": "quay.io/openshift/proxy"},
                        {"name": "machine-config-operator", "image": MCO_IMAGE},
                    ]},
                },
            },
        })
    });
    (operators, deployment)
}

/// What is happening to one node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Updated,
    Pending,
    /// Drain requested and not yet applied.
    Draining,
    /// Targeted, but the MCD has not left `Done` yet (oc shows it as draining).
    JustTargeted,
    Working,
    NoState,
    Rebooting,
    /// Failed while updating.
    DegradedUpdating,
    /// Failed after updating (e.g. a later config change).
    DegradedUpdated,
    Unreconcilable,
    /// A change that is not a version change (the MCD is busy, nothing to update).
    OtherChange,
    /// The current config names a MachineConfig that does not exist.
    UnknownConfig,
    /// No machine-config annotations yet (a node that just joined).
    NoAnnotations,
}

fn phase_for(rng: &mut Lcg, plan: &Plan, pool_paused: bool, progress: u64) -> Phase {
    use Phase::*;
    if plan.scenario == Scenario::Install {
        return *rng.pick(&[
            Updated,
            Updated,
            Updated,
            NoAnnotations,
            Working,
            OtherChange,
        ]);
    }
    if pool_paused {
        return match rng.below(20) {
            0..=13 => Pending,
            14..=16 => Updated,
            17 => Draining,
            18 => Working,
            _ => DegradedUpdating,
        };
    }
    if rng.below(100) < progress {
        return if rng.pct(92) {
            Updated
        } else {
            *rng.pick(&[DegradedUpdated, Unreconcilable, OtherChange])
        };
    }
    match rng.below(40) {
        0..=17 => Pending,
        18..=22 => Draining,
        23..=24 => JustTargeted,
        25..=28 => Working,
        29 => NoState,
        30..=32 => Rebooting,
        33..=35 => DegradedUpdating,
        36 => Unreconcilable,
        37 => OtherChange,
        38 => UnknownConfig,
        _ => NoAnnotations,
    }
}

struct PoolPlan {
    name: String,
    paused: bool,
    /// Percentage of nodes already updated.
    progress: u64,
    nodes: usize,
    /// Degraded nodes are not generated in a paused pool with excluded nodes: `oc` orders the
    /// ", N Excluded" and ", N Degraded" status parts by Go map iteration, at random.
    no_degraded: bool,
}

fn machine_config_world(
    rng: &mut Lcg,
    plan: &Plan,
) -> (Vec<Value>, Vec<Value>, Vec<Value>, String) {
    let total_nodes = match rng.below(10) {
        0..=4 => rng.range(1, 12),
        5..=7 => rng.range(1, 60),
        _ => rng.range(1, 300),
    } as usize;
    let masters = if total_nodes <= 3 {
        total_nodes
    } else {
        *rng.pick(&[0usize, 1, 3, 3, 3, 5]).min(&total_nodes)
    };
    let mut customs: Vec<&str> = CUSTOM_POOLS.to_vec();
    rng.shuffle(&mut customs);
    customs.truncate(rng.range(0, 4) as usize);
    let with_worker = customs.is_empty() || rng.pct(85);
    let mut plans = vec![PoolPlan {
        name: "master".into(),
        paused: rng.pct(5),
        progress: 0,
        nodes: masters,
        no_degraded: false,
    }];
    let mut rest = total_nodes - masters;
    let workers_count = plans.len();
    let _ = workers_count;
    let mut worker_like: Vec<String> = Vec::new();
    if with_worker {
        worker_like.push("worker".into());
    }
    worker_like.extend(customs.iter().map(|s| s.to_string()));
    for (i, name) in worker_like.iter().enumerate() {
        let last = i + 1 == worker_like.len();
        let n = if last {
            rest
        } else if rng.pct(20) {
            0
        } else {
            rng.range(0, rest as i64) as usize
        };
        rest -= n;
        plans.push(PoolPlan {
            name: name.clone(),
            paused: rng.pct(20),
            progress: 0,
            nodes: n,
            no_degraded: false,
        });
    }
    // Nodes left over (no worker-like pool): they go to master.
    plans[0].nodes += rest;
    for p in plans.iter_mut() {
        p.progress = match plan.scenario {
            Scenario::Completed if p.name == "master" && rng.pct(80) => 100,
            _ => *rng.pick(&[0, 0, 10, 50, 90, 100, 100]),
        };
        if p.paused {
            p.no_degraded = true;
        }
    }
    let mut machine_configs = Vec::new();
    let mut pools = Vec::new();
    let mut nodes = Vec::new();
    let mut summary = Vec::new();
    let multi = plan.scenario == Scenario::MultiArch;
    for p in &plans {
        let name = &p.name;
        let old = format!("rendered-{name}-{:08x}", rng.next());
        let new = format!("rendered-{name}-{:08x}", rng.next());
        let other = format!("rendered-{name}-{:08x}", rng.next());
        let unannotated = rng.pct(5);
        for (mc, version) in [
            (&old, plan.from.as_str()),
            (&new, plan.to.as_str()),
            (&other, plan.from.as_str()),
        ] {
            let mut annotations = Map::new();
            annotations.insert(
                "machineconfiguration.openshift.io/generated-by-controller-version".into(),
                json!("1a2b3c"),
            );
            if !(unannotated && mc == &old) {
                annotations.insert(
                    "machineconfiguration.openshift.io/release-image-version".into(),
                    json!(version),
                );
            }
            machine_configs.push(json!({
                "apiVersion": "machineconfiguration.openshift.io/v1",
                "kind": "MachineConfig",
                "metadata": {"name": mc, "annotations": annotations, "ownerReferences": [{"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfigPool", "name": name, "uid": "00000000-0000-0000-0000-000000000000"}]},
                "spec": {"config": {"ignition": {"version": "3.4.0"}}},
            }));
        }
        let role = format!("node-role.kubernetes.io/{name}");
        let selector = if name != "master" && name != "worker" && rng.pct(30) {
            json!({"matchExpressions": [{"key": role, "operator": "Exists"}]})
        } else {
            json!({"matchLabels": {role.clone(): ""}})
        };
        let mut pool_nodes = Vec::new();
        let (mut updated, mut degraded) = (0, 0);
        for i in 0..p.nodes {
            let node_name = node_name(rng, name, i);
            let mut phase = phase_for(rng, plan, p.paused, p.progress);
            if p.no_degraded
                && matches!(
                    phase,
                    Phase::DegradedUpdating | Phase::DegradedUpdated | Phase::Unreconcilable
                )
            {
                phase = Phase::Pending;
            }
            if phase == Phase::Updated {
                updated += 1;
            }
            if matches!(
                phase,
                Phase::DegradedUpdating | Phase::DegradedUpdated | Phase::Unreconcilable
            ) {
                degraded += 1;
            }
            pool_nodes.push(node(
                rng,
                plan,
                &node_name,
                name,
                phase,
                (&old, &new, &other),
                multi,
            ));
        }
        summary.push(format!(
            "{name}{}:{}n/{}u/{}d",
            if p.paused { "(paused)" } else { "" },
            p.nodes,
            updated,
            degraded
        ));
        nodes.extend(pool_nodes);
        pools.push(json!({
            "apiVersion": "machineconfiguration.openshift.io/v1",
            "kind": "MachineConfigPool",
            "metadata": {"name": name, "labels": {format!("pools.operator.machineconfiguration.openshift.io/{name}"): ""}},
            "spec": {
                "configuration": {"name": new, "source": []},
                "machineConfigSelector": {"matchLabels": {"machineconfiguration.openshift.io/role": name}},
                "nodeSelector": selector,
                "paused": p.paused,
            },
            "status": {
                "configuration": {"name": if updated == p.nodes { &new } else { &old }},
                "machineCount": p.nodes,
                "readyMachineCount": updated,
                "updatedMachineCount": updated,
                "degradedMachineCount": degraded,
                "unavailableMachineCount": p.nodes - updated,
                "observedGeneration": 3,
            },
        }));
    }
    // A node no pool selects: `oc` shows it nowhere (only with a worker pool, as `oc` cannot
    // classify a node without one).
    if with_worker && rng.pct(10) {
        let n = node(
            rng,
            plan,
            "unpooled-node-0",
            "unpooled",
            Phase::Pending,
            ("rendered-x", "rendered-y", "rendered-z"),
            multi,
        );
        nodes.push(n);
    }
    // The API server lists cluster-scoped objects by name, and so does this list. (`oc` keeps the
    // order of its mock file; the UpgradeStatus keeps worker pools in name order and has no field
    // for another order, so a shuffled list is not a state a real cluster produces.)
    pools.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    nodes.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    (pools, machine_configs, nodes, summary.join(" "))
}

fn node_name(rng: &mut Lcg, pool: &str, i: usize) -> String {
    match rng.below(4) {
        0 => format!(
            "ip-10-0-{}-{}-{pool}.ec2.internal",
            i / 200 + 1,
            i % 200 + 10
        ),
        1 => format!("{}{i}", &pool[..1]),
        2 => format!("{pool}-{i:05}.example.internal"),
        _ => format!("{pool}-{i}"),
    }
}

/// A node's unavailability, aged relative to the anchor (= the wall clock when run at once),
/// always well clear of `oc`'s 1- and 5-minute "seriously unavailable" thresholds.
fn node(
    rng: &mut Lcg,
    plan: &Plan,
    name: &str,
    pool: &str,
    phase: Phase,
    (old, new, other): (&str, &str, &str),
    multi: bool,
) -> Value {
    use Phase::*;
    let drain = |verb: &str, cfg: &str| format!("{verb}-{cfg}");
    let (current, desired, state, desired_drain, applied_drain) = match phase {
        Updated => (
            new,
            new,
            "Done",
            drain("uncordon", new),
            drain("uncordon", new),
        ),
        Pending => (
            old,
            old,
            "Done",
            drain("uncordon", old),
            drain("uncordon", old),
        ),
        Draining => (
            old,
            new,
            "Working",
            drain("drain", new),
            drain("uncordon", old),
        ),
        JustTargeted => (
            old,
            new,
            "Done",
            drain("uncordon", old),
            drain("uncordon", old),
        ),
        Working => (
            old,
            new,
            "Working",
            drain("drain", new),
            drain("drain", new),
        ),
        NoState => (old, new, "", drain("drain", new), drain("drain", new)),
        Rebooting => (
            old,
            new,
            "Rebooting",
            drain("drain", new),
            drain("drain", new),
        ),
        DegradedUpdating => (
            old,
            new,
            "Degraded",
            drain("drain", new),
            drain("uncordon", old),
        ),
        DegradedUpdated => (
            new,
            other,
            "Degraded",
            drain("uncordon", new),
            drain("uncordon", new),
        ),
        Unreconcilable => (
            old,
            new,
            "Unreconcilable",
            drain("uncordon", old),
            drain("uncordon", old),
        ),
        OtherChange => (
            old,
            other,
            "Working",
            drain("drain", other),
            drain("drain", other),
        ),
        UnknownConfig => (
            "rendered-missing-0000",
            new,
            "Working",
            drain("drain", new),
            drain("drain", new),
        ),
        NoAnnotations => ("", "", "", String::new(), String::new()),
    };
    // In a multi-arch migration old and new configs carry the same version: what differs is
    // whether the node reached the pool's config.
    let _ = multi;
    let mut annotations = Map::new();
    annotations.insert(
        "volumes.kubernetes.io/controller-managed-attach-detach".into(),
        json!("true"),
    );
    if phase != NoAnnotations {
        let mca = |k: &str| format!("machineconfiguration.openshift.io/{k}");
        annotations.insert(mca("currentConfig"), json!(current));
        annotations.insert(mca("desiredConfig"), json!(desired));
        annotations.insert(mca("desiredDrain"), json!(desired_drain));
        annotations.insert(mca("lastAppliedDrain"), json!(applied_drain));
        if !state.is_empty() || rng.pct(50) {
            annotations.insert(mca("state"), json!(state));
        }
        let reason = if matches!(phase, DegradedUpdating | DegradedUpdated | Unreconcilable) {
            match rng.below(5) {
                0 => String::new(),
                1 => format!(
                    "failed to drain node: {name} after 1 hour. Please see machine-config-controller logs for more information"
                ),
                2 => format!(
                    "unexpected on-disk state validating against {new}: content mismatch for file \"/etc/kubernetes/kubelet.conf\"\nnode {name} needs attention"
                ),
                3 => message(rng, name),
                _ => format!("Node {name} is reporting: \"failed to run pivot\""),
            }
        } else {
            String::new()
        };
        annotations.insert(mca("reason"), json!(reason));
    }
    let mut labels = Map::new();
    labels.insert("kubernetes.io/hostname".into(), json!(name));
    labels.insert("kubernetes.io/os".into(), json!("linux"));
    labels.insert(format!("node-role.kubernetes.io/{pool}"), json!(""));
    if pool != "master" && pool != "worker" && pool != "unpooled" {
        labels.insert("node-role.kubernetes.io/worker".into(), json!(""));
    }
    if pool == "master" && rng.pct(30) {
        labels.insert("node-role.kubernetes.io/control-plane".into(), json!(""));
    }
    let a = plan.anchor;
    // Ages safely below or above a threshold, by the wall clock at generation.
    let age_vs = |rng: &mut Lcg, threshold: i64| -> i64 {
        if rng.pct(40) {
            rng.range(0, threshold / 3)
        } else {
            rng.range(threshold * 2, 3 * DAY)
        }
    };
    let old_time = a - rng.range(DAY, 60 * DAY);
    let mut ready = cond(
        "Ready",
        "True",
        old_time,
        "KubeletReady",
        "kubelet is posting ready status",
    );
    let mut disk = cond(
        "DiskPressure",
        "False",
        old_time,
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    );
    let mut network: Option<Value> = rng.pct(30).then(|| {
        cond(
            "NetworkUnavailable",
            "False",
            old_time,
            "RouteCreated",
            "RouteController created a route",
        )
    });
    match rng.below(30) {
        0..=1 => {
            let status = if rng.pct(70) { "False" } else { "Unknown" };
            let age = age_vs(rng, 5 * MIN);
            ready = cond(
                "Ready",
                status,
                a - age,
                "KubeletNotReady",
                &message(rng, "container runtime"),
            );
        }
        2 => {
            disk = cond(
                "DiskPressure",
                "True",
                a - age_vs(rng, MIN),
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
            );
        }
        3 => {
            network = Some(cond(
                "NetworkUnavailable",
                "True",
                a - age_vs(rng, MIN),
                "NoRouteCreated",
                "Node created without a route",
            ));
        }
        4 => {
            // Several at once, one without a transition time.
            ready = cond(
                "Ready",
                "False",
                a - age_vs(rng, 5 * MIN),
                "KubeletNotReady",
                "PLEG is not healthy",
            );
            let mut d = cond(
                "DiskPressure",
                "Unknown",
                0,
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            );
            d["lastTransitionTime"] = Value::Null;
            disk = d;
        }
        _ => {}
    }
    let mut conditions = Vec::new();
    if let Some(n) = network {
        conditions.push(n);
    }
    conditions.push(cond(
        "MemoryPressure",
        "False",
        old_time,
        "KubeletHasSufficientMemory",
        "",
    ));
    conditions.push(disk);
    conditions.push(cond(
        "PIDPressure",
        "False",
        old_time,
        "KubeletHasSufficientPID",
        "",
    ));
    conditions.push(ready);
    let cordoned = matches!(phase, Draining | DegradedUpdating) || rng.pct(4);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": if cordoned { json!({"unschedulable": true}) } else { json!({}) },
        "status": {"conditions": conditions, "nodeInfo": {"architecture": "amd64"}},
    })
}

fn alerts(rng: &mut Lcg, plan: &Plan) -> Value {
    let n = if rng.pct(50) { 0 } else { rng.range(1, 8) };
    let mut out = Vec::new();
    for _ in 0..n {
        let name = *rng.pick(&[
            "PodDisruptionBudgetAtLimit",
            "PodDisruptionBudgetLimit",
            "KubePodNotReady",
            "ClusterOperatorDown",
            "KubeNodeNotReady",
            "Watchdog",
            "",
        ]);
        let severity = *rng.pick(&["warning", "warning", "critical", "info", "none", ""]);
        let state = *rng.pick(&["firing", "firing", "firing", "pending"]);
        let mut labels = Map::new();
        labels.insert("alertname".into(), json!(name));
        if !severity.is_empty() {
            labels.insert("severity".into(), json!(severity));
        }
        if rng.pct(80) {
            labels.insert(
                "namespace".into(),
                json!(*rng.pick(&[
                    "openshift-monitoring",
                    "openshift-ingress",
                    "openshift-etcd"
                ])),
            );
        }
        let mut annotations = Map::new();
        if rng.pct(70) {
            annotations.insert(
                "summary".into(),
                json!(format!("{name} summary: things are not right")),
            );
        }
        if rng.pct(60) {
            annotations.insert("description".into(), json!(message(rng, name)));
        }
        if rng.pct(30) {
            annotations.insert("message".into(), json!(format!("{name} message")));
        }
        if rng.pct(60) {
            annotations.insert(
                "runbook_url".into(),
                json!(format!(
                    "https://github.com/openshift/runbooks/blob/master/alerts/{name}.md"
                )),
            );
        }
        let active = match rng.below(4) {
            0 => plan.started,
            1 => plan.started - rng.range(1, 3 * DAY),
            _ => plan.anchor - rng.range(0, (plan.anchor - plan.started).max(0)),
        };
        let nanos = if rng.pct(70) {
            rng.below(1_000_000_000) as u32
        } else {
            0
        };
        out.push(json!({
            "labels": labels,
            "annotations": annotations,
            "state": state,
            "activeAt": ts_nanos(active, nanos),
            "value": "1e+00",
            "partialResponseStrategy": "WARN",
        }));
    }
    json!({"status": "success", "data": {"alerts": out}})
}
