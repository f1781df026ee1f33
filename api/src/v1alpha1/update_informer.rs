//! `UpdateInformer`: an administrator's registration of one remote producer of insights. Only
//! cluster administrators may write it; the controller writes its status.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Conditions, ObjectName};
use super::insight::{InsightType, NodeCount, ScopeType};
use crate::constraints::{BoundedVec, DNS_LABEL_PATTERN, bounded_int, constrained_string};
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

bounded_int!(
    /// The most insights one report may hold.
    MaxInsights(i32), min = 1, max = 8192
);

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
    printcolumn(name = "Enabled", type_ = "boolean", json_path = ".spec.enabled"),
    printcolumn(
        name = "Reporting",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Reporting\")].reason"
    ),
    printcolumn(
        name = "Insights",
        type_ = "integer",
        json_path = ".status.acceptedInsights"
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
    /// False switches the producer off without uninstalling it: its reports are refused (403) and
    /// its insights removed.
    pub enabled: bool,
    /// The identities allowed to report for this informer.
    // `namespace` is a CEL reserved word, which Kubernetes exposes to rules as `__namespace__`.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(p, self.exists_one(q, q.serviceAccount.__namespace__ == p.serviceAccount.__namespace__ && q.serviceAccount.name == p.serviceAccount.name))",
        "message": "each service account may be listed only once",
    }]))]
    pub producers: BoundedVec<Producer, 16>,
    /// How often the producer promises to report; after three missed intervals it is Stale.
    /// Absent means 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_interval: Option<GoDuration>,
    /// The most insights one report may hold. Absent means the server's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_insights: Option<MaxInsights>,
    /// The scopes its insights may target. Absent means both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub allowed_scopes: Option<BoundedVec<ScopeType, 2>>,
    /// The insight types it may send. Absent means Health only, or every type for the
    /// `cluster-version` and `machine-config` informers, which own the status insights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub allowed_insight_types: Option<BoundedVec<InsightType, 5>>,
}

/// The informer names allowed to send status insights: the owners of those resources.
pub const STATUS_INSIGHT_INFORMERS: [&str; 2] = ["cluster-version", "machine-config"];

/// The report interval when the UpdateInformer does not say.
pub const DEFAULT_REPORT_INTERVAL: GoDuration = GoDuration::from_mins(5);

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

/// What the controller observed of the producer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInformerStatus {
    /// `Reporting` (True, or False with reason Stale, NeverReported or Disabled) and `Degraded`
    /// (its last report had rejected insights).
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
    /// When it last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report_time: Option<Timestamp>,
    /// Insights accepted from its last report.
    #[serde(default)]
    pub accepted_insights: NodeCount,
    /// Insights rejected from its last report.
    #[serde(default)]
    pub rejected_insights: NodeCount,
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
