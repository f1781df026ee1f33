//! The `cluster-version` informer: the ClusterVersion insight, one insight per platform
//! ClusterOperator, and the control-plane health insights, as `oc`'s `assessControlPlaneStatus`
//! computes them (controlplane.go).

use k8s_openapi::api::apps::v1::Deployment;
use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    Architecture, ClusterOperatorInsight, ClusterVersionAssessment, ClusterVersionInsight,
    ConditionStatus, ControlPlaneVersions, ImpactLevel, ImpactType, InsightPayload, Percent,
    PreviousVersion, TargetVersion,
};
use update_status_api::wire::ReportedInsight;

use super::estimate::{baseline_duration, estimate_completion};
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

    let mut updating_for = GoDuration::default();
    let mut to_last_observed_progress = GoDuration::default();
    let mut completion_at = None;
    if let Some(current) = history.first() {
        let started = current.started_time.unwrap_or(zero);
        let last = match last_observed_progress {
            Some(t) if t > started => t,
            _ => now,
        };
        to_last_observed_progress = last.since(started);
        let end = if current.state == HISTORY_COMPLETED {
            current.completion_time.unwrap_or(zero)
        } else {
            now
        };
        completion_at = Some(end);
        updating_for = end.since(started);
    }

    let co_completion = if total == 0 {
        f64::NAN
    } else {
        updated as f64 / total as f64
    };
    let mut assessment = if completed {
        ClusterVersionAssessment::Completed
    } else {
        ClusterVersionAssessment::Progressing
    };
    let mut eta = GoDuration::default();
    if co_completion <= 1.0 && !completed {
        eta = estimate_completion(
            baseline_duration(history),
            to_last_observed_progress,
            updating_for,
            co_completion,
        );
        if eta < GoDuration::from_mins(-10) {
            assessment = ClusterVersionAssessment::Stalled;
        } else if eta < GoDuration::default() {
            assessment = ClusterVersionAssessment::ProgressingSlow;
        }
    }

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
    let estimated_completed_at =
        (!completed && eta != GoDuration::default()).then(|| now.plus(eta));

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
        estimated_completed_at,
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
                partial: p.state == HISTORY_PARTIAL,
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
