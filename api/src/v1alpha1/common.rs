//! Types shared by both kinds and by every insight: conditions, references, constrained strings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::constraints::{
    BoundedVec, CONDITION_TYPE_PATTERN, DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN,
    MULTI_LINE_PATTERN, REASON_PATTERN, REF_NAME_PATTERN, SEMVER_PATTERN, SINGLE_LINE_PATTERN,
    URL_PATTERN, constrained_string,
};
use crate::time::Timestamp;

constrained_string!(
    /// The producer-chosen identity of one insight within its informer (an RFC 1123 label), so the
    /// same fact reported again replaces the old one instead of piling up.
    Uid, min = 1, max = 63, pattern = DNS_LABEL_PATTERN,
    what = "must be a lower-case RFC 1123 label (a-z, 0-9 and '-', starting and ending alphanumeric)"
);

constrained_string!(
    /// The name of an informer: the name of its UpdateInformer object, or a built-in name.
    InformerName, min = 1, max = 63, pattern = DNS_LABEL_PATTERN,
    what = "must be a lower-case RFC 1123 label (a-z, 0-9 and '-', starting and ending alphanumeric)"
);

constrained_string!(
    /// The name of a Kubernetes object this API refers to by name: a pool, operator or node.
    ObjectName, min = 1, max = 253, pattern = DNS_SUBDOMAIN_PATTERN,
    what = "must be a lower-case RFC 1123 subdomain"
);

constrained_string!(
    /// An API group (empty for the core group).
    ApiGroup, min = 0, max = 253, pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$",
    what = "must be empty or a lower-case RFC 1123 subdomain"
);

constrained_string!(
    /// A plural, lower-case resource name such as `nodes` or `clusteroperators`.
    ResourceName, min = 1, max = 63, pattern = DNS_LABEL_PATTERN,
    what = "must be a plural lower-case resource name such as nodes"
);

constrained_string!(
    /// The name in a [`ResourceRef`]. Lenient, because health insights may name things that are
    /// not Kubernetes objects (an alert's name is CamelCase), yet never a path or control text.
    RefName, min = 1, max = 253, pattern = REF_NAME_PATTERN,
    what = "must not contain '/' or control characters"
);

constrained_string!(
    /// An OpenShift release version; anchored, unlike the #2012 draft whose pattern matched anything.
    Version, min = 5, max = 64, pattern = SEMVER_PATTERN,
    what = "must be a semantic version such as 4.15.0 or 4.15.0-ec.2"
);

constrained_string!(
    /// One-line text shown in a table cell (summaries, short node messages).
    ShortText, min = 1, max = 256, pattern = SINGLE_LINE_PATTERN,
    what = "must be one line without control characters"
);

constrained_string!(
    /// A paragraph: line feeds allowed, other control characters refused (this text ends up in
    /// terminals).
    Paragraph, min = 0, max = 4096, pattern = MULTI_LINE_PATTERN,
    what = "must not contain control characters other than line feeds"
);

constrained_string!(
    /// A link to documentation or a runbook.
    Url, min = 1, max = 512, pattern = URL_PATTERN,
    what = "must be an absolute http or https URL"
);

constrained_string!(
    /// The type of a condition, as in `metav1.Condition`.
    ConditionType, min = 1, max = 316, pattern = CONDITION_TYPE_PATTERN,
    what = "must be a condition type such as Updating or example.com/Ready"
);

constrained_string!(
    /// A machine-readable CamelCase reason. It may be empty when the source (for example a
    /// ClusterOperator's Progressing condition) gave none, so the renderer can say so.
    Reason, min = 0, max = 1024, pattern = REASON_PATTERN,
    what = "must be CamelCase: a letter followed by letters, digits, '_', ',' or ':'"
);

constrained_string!(
    /// A condition's human-readable message; line feeds allowed.
    ConditionMessage, min = 0, max = 32768, pattern = MULTI_LINE_PATTERN,
    what = "must not contain control characters other than line feeds"
);

/// The status of a condition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// A condition, shaped like `metav1.Condition` so that generic Kubernetes tooling understands it,
/// with two departures: `lastTransitionTime` keeps sub-second precision, and `reason` may be empty.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The aspect this condition describes, such as `Updating`.
    #[serde(rename = "type")]
    pub type_: ConditionType,
    /// Whether the aspect holds.
    pub status: ConditionStatus,
    /// When `status` last changed.
    pub last_transition_time: Timestamp,
    /// Why, in one CamelCase word.
    pub reason: Reason,
    /// Why, for people.
    pub message: ConditionMessage,
    /// The `metadata.generation` this condition was computed from, when that matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}

/// At most this many conditions on one object or insight.
pub const MAX_CONDITIONS: usize = 8;

/// A list of conditions keyed by `type`.
pub type Conditions = BoundedVec<Condition, MAX_CONDITIONS>;

impl Condition {
    /// A condition with the given type, status, time, reason and message, or an error naming the
    /// offending field when one of the strings breaks its limits.
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        last_transition_time: Timestamp,
        reason: &str,
        message: &str,
    ) -> Result<Self, crate::constraints::ConstraintError> {
        Ok(Self {
            type_: ConditionType::new(type_)?,
            status,
            last_transition_time,
            reason: Reason::new(reason)?,
            message: ConditionMessage::new(message)?,
            observed_generation: None,
        })
    }
}

/// Finds the condition of type `type_` in a list.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_.as_str() == type_)
}

/// A reference to an object, or to something a health insight is about.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// The API group; absent or empty for the core group (so a Node reference needs no
    /// `group: ''`, the draft defect that rejected every real node insight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<ApiGroup>,
    /// The plural resource, such as `nodes`.
    pub resource: ResourceName,
    /// The object's name.
    pub name: RefName,
    /// The namespace, for namespaced objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<ObjectName>,
}

/// How many resources one health insight may name.
pub const MAX_SCOPE_RESOURCES: usize = 128;
