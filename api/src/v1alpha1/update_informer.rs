//! `UpdateInformer`: an administrator's registration of one remote producer of insights. Only
//! cluster administrators may write it; the controller writes its status.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ConditionMessage, ConditionStatus, ConditionType, ObjectName};
use super::insight::{ImpactLevel, InsightType, NodeCount, ScopeType};
use crate::constraints::{
    BoundedVec, DNS_LABEL_PATTERN, NonEmptyVec, SINGLE_LINE_PATTERN, bounded_int,
    constrained_string,
};
use crate::time::{GoDuration, Timestamp};

constrained_string!(
    /// A Kubernetes UID (as `metadata.uid`), used to pin one incarnation of a service account.
    KubeUid, min = 36, max = 36, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    what = "must be a Kubernetes UID such as 2a3c1c1e-8f0b-4f0e-9a7e-0d9c4f0b1a2b"
);

constrained_string!(
    /// A namespace name.
    NamespaceName, min = 1, max = 63, pattern = DNS_LABEL_PATTERN,
    what = "must be a lower-case RFC 1123 label"
);

constrained_string!(
    /// A condition reason exactly as `metav1.Condition` has it: CamelCase and never empty.
    ConditionReason, min = 1, max = 1024, pattern = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    what = "must be CamelCase: a letter followed by letters, digits, '_', ',' or ':'"
);

constrained_string!(
    /// Why a producer's report or insight was refused, for the administrator: one line, bounded,
    /// because it quotes what the producer sent.
    RejectionMessage, min = 1, max = 1024, pattern = SINGLE_LINE_PATTERN,
    what = "must be one line without control characters"
);

bounded_int!(
    /// The most insights the informer may hold: one report, all its pages together.
    MaxInsights(i32), min = 1, max = 50_000
);

bounded_int!(
    /// How often, in seconds, a producer promises to report: at least every 10 s (more often is
    /// noise), at most once a day (less often could not tell a dead producer from a quiet one).
    ReportIntervalSeconds(i32), min = 10, max = 86_400
);

/// A `metadata.generation` an observation was computed from: never negative.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Generation(i64);

impl Generation {
    /// Checks the value and wraps it.
    pub fn new(value: i64) -> Result<Self, crate::constraints::ConstraintError> {
        if value < 0 {
            return Err(crate::constraints::ConstraintError::OutOfRange {
                min: 0,
                max: i64::MAX,
                value,
            });
        }
        Ok(Self(value))
    }

    /// The value.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl Serialize for Generation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Generation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Generation {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Generation".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "format": "int64", "minimum": 0})
    }
}

/// Whether the controller takes an informer's reports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Reporting {
    /// Reports are taken.
    Enabled,
    /// Reports are refused (403) and the informer's insights removed, without uninstalling the
    /// producer.
    Disabled,
}

/// Who may report for an informer.
// Each printer column repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "update.openshift.io",
    version = "v1alpha1",
    kind = "UpdateInformer",
    plural = "updateinformers",
    singular = "updateinformer",
    status = "UpdateInformerStatus",
    derive = "PartialEq",
    doc = "UpdateInformer registers a remote producer of update insights: which service accounts may report for it, how often it reports, and what it may say.",
    printcolumn(name = "Reporting", type_ = "string", json_path = ".spec.reporting"),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Reporting\")].reason"
    ),
    printcolumn(
        name = "Insights",
        type_ = "integer",
        json_path = ".status.heldInsights"
    ),
    printcolumn(
        name = "Last Report",
        type_ = "date",
        json_path = ".status.lastReportTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInformerSpec {
    /// Enabled or Disabled; required, so switching a producer off is always a visible choice.
    /// Disabled refuses its reports (403) and removes its insights, without uninstalling it.
    pub reporting: Reporting,
    /// The identities allowed to report for this informer: 1 to 16 service accounts.
    // `namespace` is a CEL reserved word, which Kubernetes exposes to rules as `__namespace__`.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(p, self.exists_one(q, q.serviceAccount.__namespace__ == p.serviceAccount.__namespace__ && q.serviceAccount.name == p.serviceAccount.name))",
        "message": "each service account may be listed only once",
    }]))]
    pub producers: NonEmptyVec<Producer, 16>,
    /// How often, in seconds (10–86400), the producer promises to report; after three missed
    /// intervals it is Stale. Absent means 300 (5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_interval_seconds: Option<ReportIntervalSeconds>,
    /// The most insights the informer may hold (1–50000): a single report, or all pages of a
    /// paged report together. Absent means the server's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_insights: Option<MaxInsights>,
    /// The scopes its insights may target (1 or 2 entries). Absent means both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub allowed_scopes: Option<NonEmptyVec<ScopeType, 2>>,
    /// The insight types it may send (1 to 5 entries). Absent means Health only, or every type
    /// for the `cluster-version` and `machine-config` informers, which own the status insights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub allowed_insight_types: Option<NonEmptyVec<InsightType, 5>>,
    /// The highest impact level its Health insights may claim. Absent means Warning, or no
    /// limit for the `cluster-version` and `machine-config` informers: a third party cannot
    /// dress its insight up as a platform-wide `Critical` without an administrator saying so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_level: Option<ImpactLevel>,
}

impl UpdateInformerSpec {
    /// Whether its reports are taken.
    pub fn is_enabled(&self) -> bool {
        self.reporting == Reporting::Enabled
    }

    /// How often the producer promises to report ([`DEFAULT_REPORT_INTERVAL_SECONDS`] when the
    /// spec does not say).
    pub fn report_interval(&self) -> GoDuration {
        let secs = self
            .report_interval_seconds
            .map_or(DEFAULT_REPORT_INTERVAL_SECONDS, ReportIntervalSeconds::get);
        GoDuration::from_secs(i64::from(secs))
    }
}

/// The informer names allowed to send status insights: the owners of those resources. They are
/// also the built-in informers a remote producer of the same name takes over from.
pub const STATUS_INSIGHT_INFORMERS: [&str; 2] = ["cluster-version", "machine-config"];

/// Built-in informer names no UpdateInformer may take: a remote `alerts` would silently replace
/// the controller's own reading of the cluster's alerts, which no producer owns.
pub const RESERVED_INFORMER_NAMES: [&str; 1] = ["alerts"];

/// The report interval, in seconds, when the UpdateInformer does not say.
pub const DEFAULT_REPORT_INTERVAL_SECONDS: i32 = 300;

/// One identity allowed to report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Producer {
    /// The service account whose projected token the producer presents.
    pub service_account: ServiceAccountRef,
}

/// A service account, optionally pinned to one incarnation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountRef {
    /// Its namespace.
    pub namespace: NamespaceName,
    /// Its name.
    pub name: ObjectName,
    /// Its UID: when set, a deleted and recreated account of the same name does not inherit the
    /// right to report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<KubeUid>,
}

impl ServiceAccountRef {
    /// The username Kubernetes gives this service account.
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    /// Whether `username` is this service account's, without building the username: every
    /// report is authorized with it.
    pub fn has_username(&self, username: &str) -> bool {
        username
            .strip_prefix("system:serviceaccount:")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(ns, name)| ns == self.namespace.as_str() && name == self.name.as_str())
    }
}

/// How many rejections an UpdateInformer's status keeps.
pub const MAX_RECENT_REJECTIONS: usize = 5;

/// What the controller observed of the producer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInformerStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<Generation>,
    /// `Reporting` (True, or False with reason Stale, NeverReported or Disabled) and `Degraded`
    /// (its last report had rejected insights).
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: BoundedVec<InformerCondition, 8>,
    /// When it last reported (a paged report: when its last page arrived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report_time: Option<Timestamp>,
    /// Insights the controller holds for it.
    #[serde(default)]
    pub held_insights: NodeCount,
    /// Of those, how many the published UpgradeStatus leaves out to stay within its size budget.
    /// Absent until the controller has published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted_insights: Option<NodeCount>,
    /// Insights rejected from its last report.
    #[serde(default)]
    pub rejected_insights: NodeCount,
    /// The latest refusals of its reports or insights, newest first (at most five), so an
    /// administrator sees why without the producer's logs.
    #[serde(default, skip_serializing_if = "<[RecentRejection]>::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub recent_rejections: BoundedVec<RecentRejection, MAX_RECENT_REJECTIONS>,
}

/// A condition with exactly `metav1.Condition`'s rules: a non-empty CamelCase reason, a
/// `lastTransitionTime` that moves only when `status` changes (written to the second), and the
/// generation it was computed from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InformerCondition {
    /// `Reporting` or `Degraded`.
    #[serde(rename = "type")]
    pub type_: ConditionType,
    /// Whether the aspect holds.
    pub status: ConditionStatus,
    /// The `metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<Generation>,
    /// When `status` last changed, to the second.
    pub last_transition_time: Timestamp,
    /// Why, in one CamelCase word.
    pub reason: ConditionReason,
    /// Why, for people.
    pub message: ConditionMessage,
}

/// One refusal of a producer's report, or of one insight in it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentRejection {
    /// When, to the second.
    pub time: Timestamp,
    /// What kind of refusal, as the HTTP API's error reason (`MalformedReport`,
    /// `TooManyInsights`, ...) or `InsightRejected` for one insight.
    pub reason: ConditionReason,
    /// What was wrong, as the producer was told (cut to 1024 characters).
    pub message: RejectionMessage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_username_agrees_with_username() {
        let sa = ServiceAccountRef {
            namespace: NamespaceName::new("ns").unwrap(),
            name: ObjectName::new("sa.one").unwrap(),
            uid: None,
        };
        assert!(sa.has_username(&sa.username()));
        for other in [
            "",
            "system:serviceaccount:ns",
            "system:serviceaccount:ns:",
            "system:serviceaccount:ns:sa.on",
            "system:serviceaccount:ns:sa.one:x",
            "system:serviceaccount:nsx:sa.one",
            "system:serviceaccounts:ns:sa.one",
            "ns:sa.one",
            " system:serviceaccount:ns:sa.one",
        ] {
            assert_ne!(sa.username(), other);
            assert!(!sa.has_username(other), "{other:?}");
        }
    }
}
