//! The `cluster-version` informer: the ClusterVersion insight, one insight per platform
//! ClusterOperator, and the control-plane health insights, as `oc`'s `assessControlPlaneStatus`
//! computes them (controlplane.go).

use k8s_openapi::api::apps::v1::Deployment;
use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    Architecture, ClusterOperatorInsight, ClusterVersionAssessment, ClusterVersionInsight,
    ConditionStatus, ControlPlaneVersions, ImpactLevel, ImpactType, InsightPayload, OperatorCounts,
    Percent, PreviousVersion, Seconds, TargetVersion, UpdateState,
};
use update_status_api::wire::ReportedInsight;

use super::estimate::baseline_duration;
use super::fit;
use super::health::{Health, Scope};
use super::ids::status_uid;
use crate::cluster::go_zero_time;
use crate::cluster::openshift::{
    ClusterOperator, ClusterVersion, HISTORY_COMPLETED, HISTORY_PARTIAL, OperatorCondition,
    find_condition, name_of,
};

const CONFIG_GROUP: &str = "config.openshift.io";
const RUNBOOK_DEGRADED: &str = "https://github.com/openshift/runbooks/blob/master/alerts/cluster-monitoring-operator/ClusterOperatorDegraded.md";
const RUNBOOK_DOWN: &str = "https://github.com/openshift/runbooks/blob/master/alerts/cluster-monitoring-operator/ClusterOperatorDown.md";
const DOC_HISTORY: &str = "https://docs.openshift.com/container-platform/latest/updating/troubleshooting_updates/gathering-data-cluster-update.html#gathering-clusterversion-history-cli_troubleshooting_updates";
const NO_FAILING_DESCRIPTION: &str = "Current status of Cluster Version reconciliation is unclear.  See 'oc -n openshift-cluster-version logs -l k8s-app=cluster-version-operator --tail -1' to debug.";

/// The operator whose own image decides, besides its version, whether it is updated.
const MCO: &str = "machine-config";
const MCO_CONTAINER: &str = "machine-config-operator";

/// A CO unavailable this long is a Warning, and this long an Error.
const UNAVAILABLE_WARNING: GoDuration = GoDuration::from_mins(5);
const UNAVAILABLE_ERROR: GoDuration = GoDuration::from_mins(20);
/// A CO degraded this long is a Warning, and this long an Error.
const DEGRADED_WARNING: GoDuration = GoDuration::from_mins(5);
const DEGRADED_ERROR: GoDuration = GoDuration::from_mins(40);

/// The image of the `machine-config-operator` container, or "" without a Deployment (as in `oc`,
/// where a missing Deployment makes an `operator-image` entry count as not yet updated).
pub fn mco_image_pull_spec(deployment: Option<&Deployment>) -> &str {
    deployment
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.iter().find(|c| c.name == MCO_CONTAINER))
        .and_then(|c| c.image.as_deref())
        .unwrap_or("")
}

/// A platform operator is one the release payload manages: it carries an
/// `include.release.openshift.io/` or `exclude.release.openshift.io/` annotation.
pub fn is_platform_operator(co: &ClusterOperator) -> bool {
    co.metadata.annotations.iter().flatten().any(|(k, _)| {
        k.starts_with("include.release.openshift.io/")
            || k.starts_with("exclude.release.openshift.io/")
    })
}

/// The last condition of a type, as oc's `switch` over the conditions leaves it.
fn last_condition<'a>(
    conditions: &'a [OperatorCondition],
    type_: &str,
) -> Option<&'a OperatorCondition> {
    conditions.iter().rev().find(|c| c.type_ == type_)
}

/// Whether the operator runs the desired version (and, for the MCO, its own new image).
pub fn is_operator_updated(co: &ClusterOperator, target_version: &str, mco_image: &str) -> bool {
    let versions = &co.status.versions;
    let mco_image_upgrading = name_of(&co.metadata) == MCO
        && versions
            .iter()
            .any(|v| v.name == "operator-image" && v.version != mco_image);
    !mco_image_upgrading
        && versions
            .iter()
            .any(|v| v.name == "operator" && v.version == target_version)
}

fn co_ref(name: &str) -> update_status_api::v1alpha1::ResourceRef {
    fit::resource_ref(CONFIG_GROUP, "clusteroperators", name, "")
}

fn cv_ref(name: &str) -> update_status_api::v1alpha1::ResourceRef {
    fit::resource_ref(CONFIG_GROUP, "clusterversions", name, "")
}

/// `a` is strictly later than `b`, with `None` as Go's zero time.
fn after(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    let zero = go_zero_time();
    a.unwrap_or(zero) > b.unwrap_or(zero)
}

/// The facts `oc` gathers about one platform operator.
struct OperatorFacts<'a> {
    name: &'a str,
    updated: bool,
    available: Option<&'a OperatorCondition>,
    degraded: Option<&'a OperatorCondition>,
    progressing: Option<&'a OperatorCondition>,
}

impl OperatorFacts<'_> {
    fn unavailable(&self) -> bool {
        self.available.is_none_or(|c| !c.is("True"))
    }

    fn available_but_degraded(&self) -> bool {
        !self.unavailable() && self.degraded.is_some_and(|c| c.is("True"))
    }

    fn updating(&self) -> bool {
        !self.updated && self.progressing.is_some_and(|c| c.is("True"))
    }

    /// The ClusterOperator status insight (contract: "ClusterOperator insight").
    fn insight(&self, now: Timestamp) -> ReportedInsight {
        let ltt =
            |c: Option<&OperatorCondition>| c.and_then(|c| c.last_transition_time).unwrap_or(now);
        let progressing_message = self.progressing.map_or("", |c| c.message.as_str());
        let updating = if self.updated {
            fit::condition(
                "Updating",
                ConditionStatus::False,
                ltt(self.progressing),
                "Updated",
                "The operator runs the desired version",
            )
        } else {
            match self.progressing {
                Some(p) if p.is("True") => fit::condition(
                    "Updating",
                    ConditionStatus::True,
                    ltt(self.progressing),
                    &p.reason,
                    &p.message,
                ),
                Some(p) if p.is("False") => fit::condition(
                    "Updating",
                    ConditionStatus::False,
                    ltt(self.progressing),
                    "Pending",
                    progressing_message,
                ),
                _ => fit::condition(
                    "Updating",
                    ConditionStatus::Unknown,
                    ltt(self.progressing),
                    "CannotDetermine",
                    "The operator is not updated and its Progressing condition is missing or Unknown",
                ),
            }
        };
        let healthy = if self.unavailable() {
            let message = self.available.map_or(
                "The cluster operator is unavailable because the available condition is not found in the cluster operator's status",
                |c| c.message.as_str(),
            );
            fit::condition(
                "Healthy",
                ConditionStatus::False,
                ltt(self.available),
                "Unavailable",
                message,
            )
        } else if self.available_but_degraded() {
            let message = self.degraded.map_or("", |c| c.message.as_str());
            fit::condition(
                "Healthy",
                ConditionStatus::False,
                ltt(self.degraded),
                "Degraded",
                message,
            )
        } else {
            fit::condition(
                "Healthy",
                ConditionStatus::True,
                ltt(self.available),
                "AsExpected",
                "The operator is available and not degraded",
            )
        };
        let insight = ClusterOperatorInsight {
            name: fit::object_name(self.name),
            resource: co_ref(self.name),
            conditions: update_status_api::constraints::BoundedVec::new(vec![updating, healthy])
                .unwrap_or_default(),
        };
        ReportedInsight {
            uid: status_uid("co", self.name),
            insight: InsightPayload::ClusterOperator(insight),
        }
    }

    /// `coInsights`: unavailable or degraded for too long.
    fn health(&self, now: Timestamp, out: &mut Vec<ReportedInsight>) {
        let zero = go_zero_time();
        if let Some(a) = self.available.filter(|c| c.is("False")) {
            let since = a.last_transition_time.unwrap_or(zero);
            if now > since.plus(UNAVAILABLE_WARNING) {
                let level = if now > since.plus(UNAVAILABLE_ERROR) {
                    ImpactLevel::Error
                } else {
                    ImpactLevel::Warning
                };
                let summary = format!(
                    "Cluster Operator {} is unavailable ({})",
                    self.name, a.reason
                );
                let description = if a.message.is_empty() {
                    "<no message>"
                } else {
                    &a.message
                };
                out.extend(
                    Health {
                        kind: "co-unavailable",
                        started_at: a.last_transition_time,
                        scope: Scope::ControlPlane,
                        resources: vec![co_ref(self.name)],
                        level,
                        impact_type: ImpactType::ApiAvailability,
                        summary: &summary,
                        description,
                        reference: Some(RUNBOOK_DOWN),
                    }
                    .build(),
                );
            }
        }
        if let Some(d) = self.degraded.filter(|c| c.is("True")) {
            let since = d.last_transition_time.unwrap_or(zero);
            if now > since.plus(DEGRADED_WARNING) {
                let level = if now > since.plus(DEGRADED_ERROR) {
                    ImpactLevel::Error
                } else {
                    ImpactLevel::Warning
                };
                let summary = format!("Cluster Operator {} is degraded ({})", self.name, d.reason);
                let description = if d.message.is_empty() {
                    "<no message>"
                } else {
                    &d.message
                };
                out.extend(
                    Health {
                        kind: "co-degraded",
                        started_at: d.last_transition_time,
                        scope: Scope::ControlPlane,
                        resources: vec![co_ref(self.name)],
                        level,
                        impact_type: ImpactType::ApiAvailability,
                        summary: &summary,
                        description,
                        reference: Some(RUNBOOK_DEGRADED),
                    }
                    .build(),
                );
            }
        }
    }
}

/// `Failing` missing or not False: the CVO cannot (or may not) proceed.
fn failing_health(cv: &ClusterVersion, now: Timestamp) -> Option<ReportedInsight> {
    let name = name_of(&cv.metadata);
    let resources = vec![cv_ref(name)];
    match find_condition(&cv.status.conditions, "Failing") {
        None => {
            let summary = format!("Cluster Version {name} has no Failing condition");
            Health {
                kind: "cv-no-failing",
                started_at: Some(now),
                scope: Scope::ControlPlane,
                resources,
                level: ImpactLevel::Warning,
                impact_type: ImpactType::UpdateStalled,
                summary: &summary,
                description: NO_FAILING_DESCRIPTION,
                reference: Some(RUNBOOK_DEGRADED),
            }
            .build()
        }
        Some(c) if !c.is("False") => {
            let verb = if c.is("True") { "is" } else { "may be" };
            let summary = format!(
                "Cluster Version {name} {verb} failing to proceed with the update ({})",
                c.reason
            );
            Health {
                kind: "cv-failing",
                started_at: c.last_transition_time,
                scope: Scope::ControlPlane,
                resources,
                level: ImpactLevel::Warning,
                impact_type: ImpactType::UpdateStalled,
                summary: &summary,
                description: &c.message,
                reference: Some(RUNBOOK_DEGRADED),
            }
            .build()
        }
        Some(_) => None,
    }
}

/// Everything the `cluster-version` informer reports: the ClusterVersion insight, one insight per
/// platform operator in list order, then the health insights in `oc`'s order (CV Failing, each
/// operator's, previous update incomplete). `mco_image` comes from [`mco_image_pull_spec`].
pub fn assess_cluster_version(
    cv: &ClusterVersion,
    cos: &[ClusterOperator],
    mco_image: &str,
    now: Timestamp,
) -> Vec<ReportedInsight> {
    let zero = go_zero_time();
    let name = name_of(&cv.metadata);
    let target_version = cv.status.desired.version.as_str();
    let history = &cv.status.history;
    let mut health = Vec::new();
    health.extend(failing_health(cv, now));

    let facts: Vec<OperatorFacts<'_>> = cos
        .iter()
        .filter(|co| is_platform_operator(co))
        .map(|co| {
            let conds = &co.status.conditions;
            OperatorFacts {
                name: name_of(&co.metadata),
                updated: is_operator_updated(co, target_version, mco_image),
                available: last_condition(conds, "Available"),
                degraded: last_condition(conds, "Degraded"),
                progressing: last_condition(conds, "Progressing"),
            }
        })
        .collect();

    let mut last_observed_progress: Option<Timestamp> = None;
    let mut mco_started_updating: Option<Timestamp> = None;
    for f in &facts {
        if let Some(p) = f.progressing {
            if after(p.last_transition_time, last_observed_progress) {
                last_observed_progress = p.last_transition_time;
            }
            if f.updating() && f.name == MCO {
                mco_started_updating = Some(p.last_transition_time.unwrap_or(zero));
            }
        }
        f.health(now, &mut health);
    }
    let total = facts.len();
    let updated = facts.iter().filter(|f| f.updated).count();
    let completed = updated == total;

    // If the MCO is the last operator updating, its start is the last observed progress: daemon
    // set operators flip Progressing while nodes reboot and would pollute it.
    if let Some(t) = mco_started_updating.filter(|t| *t != zero)
        && total - updated == 1
    {
        last_observed_progress = Some(t);
    }

    // When the current update's history item completed; the estimate's other inputs are
    // published as they are, and readers compute it as of their own now.
    let completion_at = history.first().map(|current| {
        if current.state == HISTORY_COMPLETED {
            current.completion_time.unwrap_or(zero)
        } else {
            now
        }
    });
    let assessment = if completed {
        ClusterVersionAssessment::Completed
    } else {
        ClusterVersionAssessment::Progressing
    };

    let (versions, incomplete) = versions_from_history(cv, completed);
    health.extend(incomplete);

    let progressing = find_condition(&cv.status.conditions, "Progressing");
    let updating = match progressing {
        Some(p) => {
            let (status, reason) = match p.status.as_str() {
                "True" => (ConditionStatus::True, "ClusterVersionProgressing"),
                "False" => (ConditionStatus::False, "ClusterVersionNotProgressing"),
                _ => (ConditionStatus::Unknown, "CannotDetermineUpdating"),
            };
            fit::condition(
                "Updating",
                status,
                p.last_transition_time.unwrap_or(now),
                reason,
                &p.message,
            )
        }
        None => fit::condition(
            "Updating",
            ConditionStatus::Unknown,
            now,
            "CannotDetermineUpdating",
            "No Progressing condition in ClusterVersion",
        ),
    };

    let started_at = match history.first() {
        Some(h) => Some(h.started_time.unwrap_or(zero)),
        None => progressing.and_then(|p| p.last_transition_time),
    };
    let completed_at = match history.first() {
        Some(h) if h.state == HISTORY_COMPLETED => completion_at,
        _ if completed => Some(now),
        _ => None,
    };
    let completion_percent = if total == 0 {
        100
    } else {
        fit::percent(updated, total).unwrap_or(0)
    };
    let expected = baseline_duration(history).as_nanos() / GoDuration::SECOND;

    let cv_insight = ClusterVersionInsight {
        name: fit::object_name(name),
        resource: cv_ref(name),
        conditions: update_status_api::constraints::BoundedVec::new(vec![updating])
            .unwrap_or_default(),
        assessment,
        versions,
        completion: Percent::new(completion_percent).unwrap_or_default(),
        started_at,
        completed_at,
        operators: OperatorCounts {
            updated: fit::count(updated),
            total: fit::count(total),
        },
        last_observed_progress_at: last_observed_progress,
        expected_duration_seconds: Seconds::new(expected.clamp(0, Seconds::MAX))
            .unwrap_or_default(),
    };

    let mut out = vec![ReportedInsight {
        uid: status_uid("cv", name),
        insight: InsightPayload::ClusterVersion(Box::new(cv_insight)),
    }];
    out.extend(facts.iter().map(|f| f.insight(now)));
    out.extend(health);
    out
}

/// `versionsFromHistory`: from where to where, and the "previous update never completed"
/// insight when the control plane is not done yet.
fn versions_from_history(
    cv: &ClusterVersion,
    control_plane_completed: bool,
) -> (ControlPlaneVersions, Option<ReportedInsight>) {
    let history = &cv.status.history;
    let current = history.first();
    let previous = history.get(1);
    let multi_arch = matches!((current, previous), (Some(c), Some(p)) if c.version == p.version && c.image != p.image);
    let versions = ControlPlaneVersions {
        target: TargetVersion {
            version: current.and_then(|c| fit::version(&c.version)),
            architecture: multi_arch.then_some(Architecture::Multi),
        },
        previous: previous.and_then(|p| {
            fit::version(&p.version).map(|version| PreviousVersion {
                version,
                state: if p.state == HISTORY_PARTIAL {
                    UpdateState::Partial
                } else {
                    UpdateState::Completed
                },
            })
        }),
    };
    let incomplete = match (current, previous) {
        (Some(c), Some(p)) if !control_plane_completed && p.state == HISTORY_PARTIAL => {
            let last_complete = history
                .iter()
                .skip(2)
                .find(|h| h.state == HISTORY_COMPLETED)
                .map_or("unknown", |h| h.version.as_str());
            let summary = format!(
                "Previous update to {} never completed, last complete update was {last_complete}",
                p.version
            );
            let description = format!(
                "Current update to {} was initiated while the previous update to version {} was still in progress",
                c.version, p.version
            );
            Health {
                kind: "cv-previous-incomplete",
                started_at: c.started_time,
                scope: Scope::ControlPlane,
                resources: vec![cv_ref(name_of(&cv.metadata))],
                level: ImpactLevel::Warning,
                impact_type: ImpactType::None,
                summary: &summary,
                description: &description,
                reference: Some(DOC_HISTORY),
            }
            .build()
        }
        _ => None,
    };
    (versions, incomplete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::openshift::{OperandVersion, UpdateHistory};
    use std::collections::BTreeMap;
    use update_status_api::v1alpha1::{Condition, HealthInsight, find_condition as find};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const NOW: &str = "2024-01-01T12:00:00.000368975Z";

    fn oc(type_: &str, status: &str, ltt: &str, reason: &str, message: &str) -> OperatorCondition {
        OperatorCondition {
            type_: type_.into(),
            status: status.into(),
            last_transition_time: Some(ts(ltt)),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn co(name: &str, version: &str, conditions: Vec<OperatorCondition>) -> ClusterOperator {
        let mut co = ClusterOperator::default();
        co.metadata.name = Some(name.into());
        co.metadata.annotations = Some(BTreeMap::from([(
            "include.release.openshift.io/self-managed-high-availability".into(),
            "true".into(),
        )]));
        co.status.versions = vec![OperandVersion {
            name: "operator".into(),
            version: version.into(),
        }];
        co.status.conditions = conditions;
        co
    }

    fn healthy(progressing: &str) -> Vec<OperatorCondition> {
        vec![
            oc("Available", "True", "2024-01-01T00:00:00Z", "", ""),
            oc("Degraded", "False", "2024-01-01T00:00:00Z", "", ""),
            oc(
                "Progressing",
                progressing,
                "2024-01-01T11:00:00Z",
                "Working",
                "Working on it",
            ),
        ]
    }

    fn history(entries: &[(&str, &str, &str, Option<&str>)]) -> Vec<UpdateHistory> {
        entries
            .iter()
            .map(|(version, state, started, completed)| UpdateHistory {
                state: state.to_string(),
                started_time: Some(ts(started)),
                completion_time: completed.map(ts),
                version: version.to_string(),
                image: format!("quay.io/release:{version}"),
            })
            .collect()
    }

    fn cv(history: Vec<UpdateHistory>, conditions: Vec<OperatorCondition>) -> ClusterVersion {
        let mut cv = ClusterVersion::default();
        cv.metadata.name = Some("version".into());
        cv.status.desired.version = history
            .first()
            .map(|h| h.version.clone())
            .unwrap_or_default();
        cv.status.history = history;
        cv.status.conditions = conditions;
        cv
    }

    fn updating_cv() -> ClusterVersion {
        cv(
            history(&[
                ("4.15.0", "Partial", "2024-01-01T11:30:00Z", None),
                (
                    "4.14.0",
                    "Completed",
                    "2023-12-01T00:00:00Z",
                    Some("2023-12-01T01:00:00Z"),
                ),
            ]),
            vec![
                oc("Failing", "False", "2024-01-01T00:00:00Z", "", ""),
                oc(
                    "Progressing",
                    "True",
                    "2024-01-01T11:30:00Z",
                    "",
                    "Working towards 4.15.0",
                ),
            ],
        )
    }

    fn payloads(
        out: &[ReportedInsight],
    ) -> (
        Vec<&ClusterVersionInsight>,
        Vec<&ClusterOperatorInsight>,
        Vec<&HealthInsight>,
    ) {
        let (mut cvs, mut cos, mut hs) = (Vec::new(), Vec::new(), Vec::new());
        for r in out {
            match &r.insight {
                InsightPayload::ClusterVersion(x) => cvs.push(&**x),
                InsightPayload::ClusterOperator(x) => cos.push(x),
                InsightPayload::Health(x) => hs.push(&**x),
                other => panic!("unexpected {other:?}"),
            }
        }
        (cvs, cos, hs)
    }

    fn cond<'a>(c: &'a [Condition], t: &str) -> &'a Condition {
        find(c, t).unwrap()
    }

    #[test]
    fn platform_operators_carry_include_or_exclude_annotations() {
        let mut c = co("a", "1", vec![]);
        assert!(is_platform_operator(&c));
        c.metadata.annotations = Some(BTreeMap::from([(
            "exclude.release.openshift.io/internal-openshift-hosted".into(),
            "true".into(),
        )]));
        assert!(is_platform_operator(&c));
        c.metadata.annotations = Some(BTreeMap::from([("other/x".into(), "".into())]));
        assert!(!is_platform_operator(&c));
        c.metadata.annotations = None;
        assert!(!is_platform_operator(&c));
    }

    #[test]
    fn updated_needs_the_version_and_for_the_mco_its_image() {
        let with_image = |name: &str, image: &str| {
            let mut c = co(name, "4.15.0", vec![]);
            c.status.versions.push(OperandVersion {
                name: "operator-image".into(),
                version: image.into(),
            });
            c
        };
        let cases = [
            (co("etcd", "4.15.0", vec![]), "", true),
            (co("etcd", "4.14.0", vec![]), "", false),
            (with_image("machine-config", "img-new"), "img-new", true),
            (with_image("machine-config", "img-old"), "img-new", false),
            // Without the Deployment the pull spec is "", so the image entry never matches.
            (with_image("machine-config", "img-new"), "", false),
            // Only the MCO's image is checked.
            (with_image("etcd", "img-old"), "img-new", true),
            (co("machine-config", "4.15.0", vec![]), "", true),
        ];
        for (c, image, want) in cases {
            assert_eq!(
                is_operator_updated(&c, "4.15.0", image),
                want,
                "{:?} {image}",
                c.status.versions
            );
        }
    }

    #[test]
    fn mco_image_comes_from_the_operator_container() {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "machine-config-operator"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "kube-rbac-proxy", "image": "proxy"},
                {"name": "machine-config-operator", "image": "mco-image"}
            ]}}}
        }))
        .unwrap();
        assert_eq!(mco_image_pull_spec(Some(&d)), "mco-image");
        assert_eq!(mco_image_pull_spec(None), "");
    }

    #[test]
    fn operator_conditions_table() {
        let now = ts(NOW);
        let t = "2024-01-01T11:00:00Z";
        type Expect<'a> = (ConditionStatus, &'a str);
        let rows: Vec<(ClusterOperator, Expect<'_>, Expect<'_>)> = vec![
            (
                co("a", "4.15.0", healthy("False")),
                (ConditionStatus::False, "Updated"),
                (ConditionStatus::True, "AsExpected"),
            ),
            (
                co("b", "4.14.0", healthy("True")),
                (ConditionStatus::True, "Working"),
                (ConditionStatus::True, "AsExpected"),
            ),
            (
                co("c", "4.14.0", healthy("False")),
                (ConditionStatus::False, "Pending"),
                (ConditionStatus::True, "AsExpected"),
            ),
            (
                co("d", "4.14.0", healthy("Unknown")),
                (ConditionStatus::Unknown, "CannotDetermine"),
                (ConditionStatus::True, "AsExpected"),
            ),
            (
                co("e", "4.14.0", vec![]),
                (ConditionStatus::Unknown, "CannotDetermine"),
                (ConditionStatus::False, "Unavailable"),
            ),
            (
                co(
                    "f",
                    "4.15.0",
                    vec![
                        oc("Available", "False", t, "Down", "down"),
                        oc("Degraded", "True", t, "Bad", "bad"),
                    ],
                ),
                (ConditionStatus::False, "Updated"),
                (ConditionStatus::False, "Unavailable"),
            ),
            (
                co(
                    "g",
                    "4.15.0",
                    vec![
                        oc("Available", "True", t, "", ""),
                        oc("Degraded", "True", t, "Bad", "bad"),
                    ],
                ),
                (ConditionStatus::False, "Updated"),
                (ConditionStatus::False, "Degraded"),
            ),
        ];
        for (c, (us, ur), (hs, hr)) in rows {
            let out = assess_cluster_version(&updating_cv(), std::slice::from_ref(&c), "", now);
            let (_, cos, _) = payloads(&out);
            let u = cond(&cos[0].conditions, "Updating");
            let h = cond(&cos[0].conditions, "Healthy");
            assert_eq!(
                (u.status, u.reason.as_str()),
                (us, ur),
                "{:?}",
                c.metadata.name
            );
            assert_eq!(
                (h.status, h.reason.as_str()),
                (hs, hr),
                "{:?}",
                c.metadata.name
            );
        }
    }

    #[test]
    fn updating_operator_keeps_progressing_reason_message_and_time() {
        let mut conds = healthy("True");
        conds[2].reason = String::new();
        let c = co("kube-apiserver", "4.14.0", conds);
        let out = assess_cluster_version(&updating_cv(), &[c], "", ts(NOW));
        let (_, cos, _) = payloads(&out);
        let u = cond(&cos[0].conditions, "Updating");
        assert_eq!(u.reason.as_str(), "");
        assert_eq!(u.message.as_str(), "Working on it");
        assert_eq!(u.last_transition_time, ts("2024-01-01T11:00:00Z"));
        assert_eq!(out[1].uid.as_str(), "co-kube-apiserver");
    }

    #[test]
    fn operator_health_thresholds() {
        let now = ts("2024-01-01T12:00:00Z");
        let at = |mins_before: i64, extra_ns: i64| {
            now.plus(GoDuration::from_nanos(
                -(mins_before * GoDuration::MINUTE + extra_ns),
            ))
            .to_string()
        };
        // (condition, expected (level, summary)); the threshold must be strictly exceeded.
        let rows: Vec<(OperatorCondition, Option<(ImpactLevel, &str)>)> = vec![
            (oc("Available", "False", &at(5, 0), "R", "m"), None),
            (
                oc("Available", "False", &at(5, 1), "R", "m"),
                Some((
                    ImpactLevel::Warning,
                    "Cluster Operator x is unavailable (R)",
                )),
            ),
            (
                oc("Available", "False", &at(20, 0), "R", "m"),
                Some((
                    ImpactLevel::Warning,
                    "Cluster Operator x is unavailable (R)",
                )),
            ),
            (
                oc("Available", "False", &at(20, 1), "R", "m"),
                Some((ImpactLevel::Error, "Cluster Operator x is unavailable (R)")),
            ),
            (oc("Available", "Unknown", &at(60, 0), "R", "m"), None),
            (
                oc("Degraded", "True", &at(5, 1), "D", "m"),
                Some((ImpactLevel::Warning, "Cluster Operator x is degraded (D)")),
            ),
            (
                oc("Degraded", "True", &at(40, 0), "D", "m"),
                Some((ImpactLevel::Warning, "Cluster Operator x is degraded (D)")),
            ),
            (
                oc("Degraded", "True", &at(40, 1), "D", "m"),
                Some((ImpactLevel::Error, "Cluster Operator x is degraded (D)")),
            ),
        ];
        for (c, want) in rows {
            let out = assess_cluster_version(
                &updating_cv(),
                &[co("x", "4.15.0", vec![c.clone()])],
                "",
                now,
            );
            let (_, _, hs) = payloads(&out);
            let got = hs
                .first()
                .map(|h| (h.impact.level, h.impact.summary.as_str()));
            assert_eq!(got, want, "{c:?}");
            if let Some(h) = hs.first() {
                assert_eq!(h.started_at, c.last_transition_time);
                assert_eq!(h.impact.type_, ImpactType::ApiAvailability);
                assert_eq!(h.scope.resources[0].resource.as_str(), "clusteroperators");
            }
        }
    }

    #[test]
    fn empty_operator_message_is_backfilled() {
        let c = co(
            "x",
            "4.15.0",
            vec![oc("Available", "False", "2023-01-01T00:00:00Z", "R", "")],
        );
        let out = assess_cluster_version(&updating_cv(), &[c], "", ts(NOW));
        let (_, _, hs) = payloads(&out);
        assert_eq!(hs[0].impact.description.as_deref(), Some("<no message>"));
        assert!(
            hs[0]
                .remediation
                .reference
                .as_deref()
                .unwrap()
                .ends_with("ClusterOperatorDown.md")
        );
    }

    #[test]
    fn failing_condition_table() {
        let now = ts(NOW);
        type Expect<'a> = Option<(&'a str, Option<Timestamp>)>;
        let rows: Vec<(Option<OperatorCondition>, Expect<'_>)> = vec![
            (
                None,
                Some((
                    "Cluster Version version has no Failing condition",
                    Some(now),
                )),
            ),
            (
                Some(oc("Failing", "False", "2024-01-01T00:00:00Z", "", "")),
                None,
            ),
            (
                Some(oc(
                    "Failing",
                    "True",
                    "2024-01-01T10:00:00Z",
                    "ClusterOperatorDegraded",
                    "etcd is degraded",
                )),
                Some((
                    "Cluster Version version is failing to proceed with the update (ClusterOperatorDegraded)",
                    Some(ts("2024-01-01T10:00:00Z")),
                )),
            ),
            (
                Some(oc(
                    "Failing",
                    "Unknown",
                    "2024-01-01T10:00:00Z",
                    "Slow",
                    "hmm",
                )),
                Some((
                    "Cluster Version version may be failing to proceed with the update (Slow)",
                    Some(ts("2024-01-01T10:00:00Z")),
                )),
            ),
            // No message: oc drops the insight as incomplete.
            (
                Some(oc("Failing", "True", "2024-01-01T10:00:00Z", "X", "")),
                None,
            ),
        ];
        for (failing, want) in rows {
            let mut v = updating_cv();
            v.status.conditions.retain(|c| c.type_ != "Failing");
            v.status.conditions.extend(failing.clone());
            let out = assess_cluster_version(&v, &[co("a", "4.15.0", healthy("False"))], "", now);
            let (_, _, hs) = payloads(&out);
            let got = hs
                .first()
                .map(|h| (h.impact.summary.as_str(), h.started_at));
            assert_eq!(got, want, "{failing:?}");
            if let Some(h) = hs.first() {
                assert_eq!(
                    (h.impact.level, h.impact.type_),
                    (ImpactLevel::Warning, ImpactType::UpdateStalled)
                );
            }
        }
    }

    #[test]
    fn previous_update_incomplete_table() {
        let partial_chain = history(&[
            ("4.15.0-ec.2", "Partial", "2024-01-01T11:58:31Z", None),
            ("4.14.1", "Partial", "2023-12-01T00:00:00Z", None),
            (
                "4.14.0-rc.7",
                "Completed",
                "2023-11-01T00:00:00Z",
                Some("2023-11-01T01:12:22Z"),
            ),
            (
                "4.14.0-rc.6",
                "Completed",
                "2023-10-01T00:00:00Z",
                Some("2023-10-01T01:00:00Z"),
            ),
        ]);
        let progressing = vec![
            oc("Failing", "False", "2024-01-01T00:00:00Z", "", ""),
            oc("Progressing", "True", "2024-01-01T11:58:31Z", "", ""),
        ];
        let not_done = [co("a", "4.14.1", healthy("False"))];
        let out = assess_cluster_version(
            &cv(partial_chain.clone(), progressing.clone()),
            &not_done,
            "",
            ts(NOW),
        );
        let (cvs, _, hs) = payloads(&out);
        assert_eq!(hs.len(), 1);
        assert_eq!(
            hs[0].impact.summary.as_str(),
            "Previous update to 4.14.1 never completed, last complete update was 4.14.0-rc.7"
        );
        assert_eq!(
            hs[0].impact.description.as_deref(),
            Some(
                "Current update to 4.15.0-ec.2 was initiated while the previous update to version 4.14.1 was still in progress"
            )
        );
        assert_eq!(hs[0].started_at, Some(ts("2024-01-01T11:58:31Z")));
        assert_eq!(hs[0].impact.type_, ImpactType::None);
        let prev = cvs[0].versions.previous.as_ref().unwrap();
        assert_eq!(
            (prev.version.as_str(), prev.state),
            ("4.14.1", UpdateState::Partial)
        );

        // Done control plane: no insight. No complete update at all: "unknown".
        let done = [co("a", "4.15.0-ec.2", healthy("False"))];
        let out = assess_cluster_version(
            &cv(partial_chain.clone(), progressing.clone()),
            &done,
            "",
            ts(NOW),
        );
        assert!(payloads(&out).2.is_empty());
        let only_partial = partial_chain[..2].to_vec();
        let out = assess_cluster_version(&cv(only_partial, progressing), &not_done, "", ts(NOW));
        assert!(payloads(&out).2[0].impact.summary.ends_with("was unknown"));
    }

    #[test]
    fn versions_table() {
        let p = vec![
            oc("Failing", "False", "2024-01-01T00:00:00Z", "", ""),
            oc("Progressing", "True", "2024-01-01T11:00:00Z", "", ""),
        ];
        let install = history(&[(
            "4.15.0",
            "Completed",
            "2024-01-01T00:00:00Z",
            Some("2024-01-01T01:00:00Z"),
        )]);
        let out = assess_cluster_version(&cv(install, p.clone()), &[], "", ts(NOW));
        let v = &payloads(&out).0[0].versions;
        assert_eq!(v.target.version.as_deref(), Some("4.15.0"));
        assert!(v.previous.is_none() && v.target.architecture.is_none());

        let mut multi = history(&[
            ("4.18.0-ec.3", "Partial", "2024-01-01T11:00:00Z", None),
            (
                "4.18.0-ec.3",
                "Completed",
                "2023-12-01T00:00:00Z",
                Some("2023-12-01T01:00:00Z"),
            ),
        ]);
        multi[0].image = "multi".into();
        let out = assess_cluster_version(&cv(multi, p.clone()), &[], "", ts(NOW));
        let v = &payloads(&out).0[0].versions;
        assert_eq!(v.target.architecture, Some(Architecture::Multi));
        assert_eq!(v.previous.as_ref().unwrap().state, UpdateState::Completed);

        let out = assess_cluster_version(&cv(vec![], p), &[], "", ts(NOW));
        let c = payloads(&out).0[0];
        assert!(c.versions.target.version.is_none() && c.versions.previous.is_none());
        assert_eq!(c.started_at, Some(ts("2024-01-01T11:00:00Z")));
    }

    #[test]
    fn progress_completion_and_estimate() {
        let now = ts(NOW);
        // 1 of 4 updated, 30 minutes in; no operator progressed since the start, so the last
        // observed progress is "now": 1800s / timewiseComplete(0.25) ≈ 4710s in total,
        // (4710 - 1800) × 1.2 ≈ 3492s left → rounded to 58m.
        let cos = [
            co("a", "4.15.0", healthy("False")),
            co("b", "4.14.0", healthy("True")),
            co("c", "4.14.0", healthy("False")),
            co("d", "4.14.0", healthy("False")),
        ];
        let out = assess_cluster_version(&updating_cv(), &cos, "", now);
        let c = payloads(&out).0[0];
        assert_eq!(c.completion.get(), 25);
        assert_eq!(c.assessment, ClusterVersionAssessment::Progressing);
        assert_eq!(c.started_at, Some(ts("2024-01-01T11:30:00Z")));
        assert!(c.completed_at.is_none());
        assert_eq!((c.operators.updated.get(), c.operators.total.get()), (1, 4));
        assert_eq!(
            c.expected_duration_seconds.get(),
            3600,
            "no completed update: an hour"
        );
        // The estimate is the reader's, as of its now.
        assert_eq!(eta(c, now), Some(GoDuration::from_mins(58)));
        let u = cond(&c.conditions, "Updating");
        assert_eq!(
            (u.status, u.reason.as_str()),
            (ConditionStatus::True, "ClusterVersionProgressing")
        );
        assert_eq!(u.message.as_str(), "Working towards 4.15.0");

        // The last progress was 10 minutes after the start, so the update should take about
        // 600s / timewiseComplete(0.25) ≈ 1570s: far past that it is Stalled (ETA < -10m), a
        // little past it is Progressing - Slow (ETA < 0).
        let late = |elapsed_secs: i64| {
            let start = now.plus(GoDuration::from_secs(-elapsed_secs));
            let mut v = updating_cv();
            v.status.history[0].started_time = Some(start);
            let mut cos = cos.to_vec();
            for c in &mut cos {
                c.status.conditions[2].last_transition_time =
                    Some(start.plus(GoDuration::from_mins(10)));
            }
            let out = assess_cluster_version(&v, &cos, "", now);
            let c = payloads(&out).0[0].clone();
            assert_eq!(
                c.assessment,
                ClusterVersionAssessment::Progressing,
                "stored as is"
            );
            crate::render::control_plane::ControlPlaneView::new(&c, vec![], now)
                .assessment()
                .to_owned()
        };
        assert_eq!(late(3 * 3600), "Stalled");
        assert_eq!(late(1600), "Progressing - Slow");
        assert_eq!(late(1200), "Progressing");

        // Every operator updated: Completed at "now" while history is still Partial.
        let done = [co("a", "4.15.0", healthy("False"))];
        let out = assess_cluster_version(&updating_cv(), &done, "", now);
        let c = payloads(&out).0[0];
        assert_eq!(
            (c.assessment, c.completion.get()),
            (ClusterVersionAssessment::Completed, 100)
        );
        assert_eq!(c.completed_at, Some(now));
        assert_eq!(eta(c, now), None);
    }

    #[test]
    fn completed_history_gives_completion_time_and_not_progressing() {
        let v = cv(
            history(&[
                (
                    "4.15.0",
                    "Completed",
                    "2024-01-01T08:00:00Z",
                    Some("2024-01-01T11:31:00Z"),
                ),
                (
                    "4.14.0",
                    "Completed",
                    "2023-12-01T00:00:00Z",
                    Some("2023-12-01T01:00:00Z"),
                ),
            ]),
            vec![
                oc("Failing", "False", "2024-01-01T00:00:00Z", "", ""),
                oc(
                    "Progressing",
                    "False",
                    "2024-01-01T11:31:00Z",
                    "",
                    "Cluster version is 4.15.0",
                ),
            ],
        );
        let out = assess_cluster_version(&v, &[co("a", "4.15.0", healthy("False"))], "", ts(NOW));
        let c = payloads(&out).0[0];
        assert_eq!(c.completed_at, Some(ts("2024-01-01T11:31:00Z")));
        let u = cond(&c.conditions, "Updating");
        assert_eq!(
            (u.status, u.reason.as_str()),
            (ConditionStatus::False, "ClusterVersionNotProgressing")
        );
        assert_eq!(u.last_transition_time, ts("2024-01-01T11:31:00Z"));
    }

    #[test]
    fn missing_progressing_is_unknown() {
        let mut v = updating_cv();
        v.status.conditions.retain(|c| c.type_ != "Progressing");
        let out = assess_cluster_version(&v, &[], "", ts(NOW));
        let u = cond(&payloads(&out).0[0].conditions, "Updating");
        assert_eq!(
            (u.status, u.reason.as_str()),
            (ConditionStatus::Unknown, "CannotDetermineUpdating")
        );
        assert_eq!(u.last_transition_time, ts(NOW));
    }

    #[test]
    fn mco_last_to_update_sets_last_observed_progress() {
        // 32 of 33 updated, the MCO progressing since 40 minutes into a 59-minute update: the
        // estimate extrapolates from the MCO's start, not from the other operators' flapping.
        let now = ts("2024-01-01T12:59:00Z");
        let mut cos: Vec<ClusterOperator> = (0..32)
            .map(|i| {
                let mut c = co(&format!("op{i}"), "4.15.0", healthy("False"));
                c.status.conditions[2].last_transition_time = Some(ts("2024-01-01T12:58:00Z"));
                c
            })
            .collect();
        let mut mco = co("machine-config", "4.14.0", healthy("True"));
        mco.status.conditions[2].last_transition_time = Some(ts("2024-01-01T12:40:00Z"));
        cos.push(mco);
        let mut v = updating_cv();
        v.status.history[0].started_time = Some(ts("2024-01-01T12:00:00Z"));
        let out = assess_cluster_version(&v, &cos, "", now);
        let c = payloads(&out).0[0];
        let want = crate::builtin::estimate::estimate_completion(
            GoDuration::from_mins(60),
            GoDuration::from_mins(40),
            GoDuration::from_mins(59),
            32.0 / 33.0,
        );
        assert_eq!(
            c.last_observed_progress_at,
            Some(ts("2024-01-01T12:40:00Z")),
            "the MCO's start is the last observed progress"
        );
        assert_eq!(eta(c, now), Some(want));
    }

    /// The estimate a reader computes from `c` as of `now`.
    fn eta(c: &ClusterVersionInsight, now: Timestamp) -> Option<GoDuration> {
        crate::render::control_plane::ControlPlaneView::new(c, vec![], now).eta()
    }

    #[test]
    fn insights_come_in_oc_order() {
        let mut v = updating_cv();
        v.status.conditions.retain(|c| c.type_ != "Failing");
        let cos = [
            co(
                "z",
                "4.14.0",
                vec![oc("Available", "False", "2020-01-01T00:00:00Z", "R", "m")],
            ),
            co(
                "a",
                "4.14.0",
                vec![
                    oc("Degraded", "True", "2020-01-01T00:00:00Z", "R", "m"),
                    oc("Available", "True", "2020-01-01T00:00:00Z", "", ""),
                ],
            ),
        ];
        let out = assess_cluster_version(&v, &cos, "", ts(NOW));
        let uids: Vec<&str> = out.iter().map(|r| r.uid.as_str()).collect();
        assert_eq!(&uids[..3], ["cv-version", "co-z", "co-a"]);
        assert!(uids[3].starts_with("cv-no-failing-"));
        assert!(uids[4].starts_with("co-unavailable-"));
        assert!(uids[5].starts_with("co-degraded-"));
        assert_eq!(uids.len(), 6);
    }
}
