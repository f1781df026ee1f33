//! One row of a node table, read back from a Node insight as the contract encodes `oc`'s node state.

use update_status_api::time::GoDuration;
use update_status_api::v1alpha1::{ConditionStatus, NodeInsight, find_condition};

use super::duration::short_duration;
use super::text::ellipsize_names;

/// The PHASE column; the order is `oc`'s sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Draining,
    Updating,
    Rebooting,
    Paused,
    Pending,
    Updated,
    /// A reason the contract does not define (`oc`'s API mode prints "TODO" too).
    Todo,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Draining => "Draining",
            Phase::Updating => "Updating",
            Phase::Rebooting => "Rebooting",
            Phase::Paused => "Paused",
            Phase::Pending => "Pending",
            Phase::Updated => "Updated",
            Phase::Todo => "TODO",
        }
    }
}

/// The ASSESSMENT column; the order is `oc`'s sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Assessment {
    Degraded,
    Unavailable,
    Progressing,
    Excluded,
    Outdated,
    Completed,
    Todo,
}

impl Assessment {
    fn as_str(self) -> &'static str {
        match self {
            Assessment::Degraded => "Degraded",
            Assessment::Unavailable => "Unavailable",
            Assessment::Progressing => "Progressing",
            Assessment::Excluded => "Excluded",
            Assessment::Outdated => "Outdated",
            Assessment::Completed => "Completed",
            Assessment::Todo => "TODO",
        }
    }
}

/// A node as `oc` displays it, with the flags its omitted-rows line counts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeRow {
    pub(crate) name: String,
    pub(crate) assessment: Assessment,
    pub(crate) phase: Phase,
    /// The current version; empty when unknown (the table shows `?`).
    pub(crate) version: String,
    pub(crate) estimate: String,
    /// The MESSAGE column, with the node's name already replaced by `<node>`.
    pub(crate) message: String,
    pub(crate) is_unavailable: bool,
    pub(crate) is_degraded: bool,
    pub(crate) is_updating: bool,
    pub(crate) is_updated: bool,
}

impl NodeRow {
    /// Derives the row from the insight's conditions as the contract's Node section describes.
    pub(crate) fn from_insight(node: &NodeInsight) -> Self {
        let condition = |type_: &str| find_condition(&node.conditions, type_);
        let status_reason =
            |type_: &str| condition(type_).map(|c| (c.status, c.reason.as_str().to_owned()));

        let updating = status_reason("Updating");
        let (mut assessment, phase) = match &updating {
            Some((ConditionStatus::True, reason)) => (
                Assessment::Progressing,
                match reason.as_str() {
                    "Draining" => Phase::Draining,
                    "Updating" => Phase::Updating,
                    "Rebooting" => Phase::Rebooting,
                    _ => Phase::Todo,
                },
            ),
            Some((ConditionStatus::False, reason)) => match reason.as_str() {
                "Completed" | "Finishing" => (Assessment::Completed, Phase::Updated),
                "Paused" => (Assessment::Excluded, Phase::Paused),
                "Pending" => (Assessment::Outdated, Phase::Pending),
                _ => (Assessment::Todo, Phase::Todo),
            },
            _ => (Assessment::Todo, Phase::Todo),
        };

        let available = status_reason("Available");
        let is_unavailable = matches!(available, Some((ConditionStatus::False, _)));
        if let Some((ConditionStatus::False, reason)) = &available
            && reason == "Unavailable"
        {
            assessment = Assessment::Unavailable;
        }
        let is_degraded = matches!(status_reason("Degraded"), Some((ConditionStatus::True, _)));
        if is_degraded {
            assessment = Assessment::Degraded;
        }

        let is_updated = matches!(&updating, Some((ConditionStatus::False, r)) if r == "Completed");
        let is_updating = match &available {
            Some((ConditionStatus::False, reason)) => reason == "Updating",
            _ => match &updating {
                Some((ConditionStatus::True, _)) => true,
                Some((ConditionStatus::False, reason)) => reason == "Finishing",
                _ => false,
            },
        };

        let estimate = match node.estimated_to_complete_seconds {
            None => "?".to_owned(),
            Some(d) if d.get() == 0 => "-".to_owned(),
            Some(d) => format!("+{}", short_duration(GoDuration::from_secs(d.get()))),
        };
        let name = node.name.as_str();
        Self {
            name: name.to_owned(),
            assessment,
            phase,
            version: node
                .version
                .as_ref()
                .map_or_else(String::new, |v| v.as_str().to_owned()),
            estimate,
            message: node
                .message
                .as_ref()
                .map_or_else(String::new, |m| ellipsize_names(m.as_str(), name)),
            is_unavailable,
            is_degraded,
            is_updating,
            is_updated,
        }
    }

    /// `oc`'s node order: assessment, then phase, then name.
    pub(crate) fn less(&self, other: &Self) -> bool {
        (self.assessment, self.phase, self.name.as_str())
            < (other.assessment, other.phase, other.name.as_str())
    }

    /// Whether `oc` shows this row even past the first ten: degraded, or unavailable and not updating.
    pub(crate) fn is_bad(&self) -> bool {
        self.is_degraded || (self.is_unavailable && !self.is_updating)
    }

    /// The row as tab-separated cells, as `oc` writes it into its tabwriter.
    pub(crate) fn table_line(&self) -> String {
        let version = if self.version.is_empty() {
            "?"
        } else {
            self.version.as_str()
        };
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            self.name,
            self.assessment.as_str(),
            self.phase.as_str(),
            version,
            self.estimate,
            self.message
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use update_status_api::time::{GoDuration, Timestamp};
    use update_status_api::v1alpha1::{Condition, Conditions, ResourceRef, ScopeType};

    /// A node insight with the given conditions `(type, status, reason)`.
    pub(crate) fn node(
        name: &str,
        pool: &str,
        version: Option<&str>,
        estimate: Option<GoDuration>,
        message: Option<&str>,
        conditions: &[(&str, ConditionStatus, &str)],
    ) -> NodeInsight {
        let t: Timestamp = "2024-02-27T15:00:00Z".parse().unwrap();
        NodeInsight {
            name: name.parse().unwrap(),
            resource: ResourceRef {
                group: None,
                resource: "nodes".parse().unwrap(),
                name: name.parse().unwrap(),
                namespace: None,
            },
            pool_resource: ResourceRef {
                group: Some("machineconfiguration.openshift.io".parse().unwrap()),
                resource: "machineconfigpools".parse().unwrap(),
                name: pool.parse().unwrap(),
                namespace: None,
            },
            scope_type: if pool == "master" {
                ScopeType::ControlPlane
            } else {
                ScopeType::WorkerPool
            },
            version: version.map(|v| v.parse().unwrap()),
            estimated_to_complete_seconds: estimate.map(|d| {
                update_status_api::v1alpha1::Seconds::new(d.as_nanos() / GoDuration::SECOND)
                    .unwrap()
            }),
            message: message.map(|m| m.parse().unwrap()),
            conditions: Conditions::new(
                conditions
                    .iter()
                    .map(|(type_, status, reason)| {
                        Condition::new(type_, *status, t, reason, "").unwrap()
                    })
                    .collect(),
            )
            .unwrap(),
        }
    }

    use ConditionStatus::{False, True};

    #[test]
    fn pending_node_is_outdated_with_unknown_estimate() {
        let row = NodeRow::from_insight(&node(
            "ip-10-0-30-217.us-east-2.compute.internal",
            "master",
            Some("4.14.0"),
            None,
            None,
            &[
                ("Updating", False, "Pending"),
                ("Available", True, "AsExpected"),
                ("Degraded", False, "AsExpected"),
            ],
        ));
        assert_eq!(
            row.table_line(),
            "ip-10-0-30-217.us-east-2.compute.internal\tOutdated\tPending\t4.14.0\t?\t\n"
        );
        assert!(!row.is_updated && !row.is_updating && !row.is_bad());
    }

    #[test]
    fn degraded_wins_and_message_hides_the_name() {
        let name = "build0-gstfj-ci-tests-worker-b-4h7pn";
        let row = NodeRow::from_insight(&node(
            name,
            "worker",
            Some("4.16.0-ec.2"),
            None,
            Some(&format!("failed to drain node: {name} after 1 hour")),
            &[
                ("Updating", True, "Draining"),
                ("Available", False, "Updating"),
                ("Degraded", True, "Degraded"),
            ],
        ));
        assert_eq!(row.assessment, Assessment::Degraded);
        assert_eq!(row.phase, Phase::Draining);
        assert_eq!(row.message, "failed to drain node: <node> after 1 hour");
        assert!(row.is_degraded && row.is_unavailable && row.is_updating && row.is_bad());
    }

    #[test]
    fn unavailable_updated_node_and_unknown_version() {
        let row = NodeRow::from_insight(&node(
            "worker-c-jq5rk",
            "worker",
            Some("4.16.0-ec.3"),
            Some(GoDuration::from_nanos(0)),
            Some("Node is marked unschedulable"),
            &[
                ("Updating", False, "Completed"),
                ("Available", False, "Unavailable"),
                ("Degraded", False, "AsExpected"),
            ],
        ));
        assert_eq!(
            row.table_line(),
            "worker-c-jq5rk\tUnavailable\tUpdated\t4.16.0-ec.3\t-\tNode is marked unschedulable\n"
        );
        assert!(row.is_updated && row.is_unavailable && !row.is_updating && row.is_bad());

        let unknown = NodeRow::from_insight(&node(
            "worker-d-ddnxd",
            "worker",
            None,
            None,
            None,
            &[
                ("Updating", False, "Pending"),
                ("Available", False, "Unavailable"),
            ],
        ));
        assert!(
            unknown
                .table_line()
                .contains("\tUnavailable\tPending\t?\t?\t")
        );
    }

    #[test]
    fn finishing_node_is_updated_but_still_updating() {
        let row = NodeRow::from_insight(&node(
            "n1",
            "worker",
            Some("4.15.0"),
            Some(GoDuration::from_mins(5)),
            None,
            &[
                ("Updating", False, "Finishing"),
                ("Available", True, "AsExpected"),
            ],
        ));
        assert_eq!(
            (row.assessment, row.phase),
            (Assessment::Completed, Phase::Updated)
        );
        assert!(row.is_updating && !row.is_updated);
        assert_eq!(row.estimate, "+5m");
    }

    #[test]
    fn sorts_by_assessment_then_phase_then_name() {
        let make = |name: &str, c: &[(&str, ConditionStatus, &str)]| {
            NodeRow::from_insight(&node(name, "worker", None, None, None, c))
        };
        let done = make("a", &[("Updating", False, "Completed")]);
        let draining = make("z", &[("Updating", True, "Draining")]);
        let updating = make("b", &[("Updating", True, "Updating")]);
        assert!(draining.less(&updating));
        assert!(updating.less(&done));
        assert!(!done.less(&draining));
    }
}
