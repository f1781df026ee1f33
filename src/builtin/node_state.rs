//! Whether a node is unavailable and why: a port of `oc`'s copy of the MCO's
//! `layered_node_state.go` (`pkg/cli/admin/upgrade/status/mco`). The messages are oc's, which name
//! the node.

use k8s_openapi::api::core::v1::Node;
use update_status_api::time::{GoDuration, Timestamp};

use crate::cluster::openshift::{MachineConfigPool, annotation_opt};

/// Node annotation keys written by the machine-config daemon and controller.
pub mod keys {
    /// The MachineConfig the node runs.
    pub const CURRENT_CONFIG: &str = "machineconfiguration.openshift.io/currentConfig";
    /// The MachineConfig the node should run.
    pub const DESIRED_CONFIG: &str = "machineconfiguration.openshift.io/desiredConfig";
    /// The OS image the node runs (layered pools).
    pub const CURRENT_IMAGE: &str = "machineconfiguration.openshift.io/currentImage";
    /// The OS image the node should run (layered pools).
    pub const DESIRED_IMAGE: &str = "machineconfiguration.openshift.io/desiredImage";
    /// The daemon's state: Working, Done, Degraded, Rebooting, Unreconcilable.
    pub const STATE: &str = "machineconfiguration.openshift.io/state";
    /// Why the daemon is degraded, for people.
    pub const REASON: &str = "machineconfiguration.openshift.io/reason";
    /// The drain or uncordon the daemon asks for.
    pub const DESIRED_DRAIN: &str = "machineconfiguration.openshift.io/desiredDrain";
    /// The drain or uncordon the controller last performed.
    pub const LAST_APPLIED_DRAIN: &str = "machineconfiguration.openshift.io/lastAppliedDrain";
    /// The release version a rendered MachineConfig carries.
    pub const RELEASE_IMAGE_VERSION: &str =
        "machineconfiguration.openshift.io/release-image-version";
    /// The label that makes a pool layered.
    pub const LAYERING_ENABLED: &str = "machineconfiguration.openshift.io/layering-enabled";
    /// The pool's OS image, for layered pools.
    pub const NEWEST_IMAGE_EQUIVALENT_CONFIG: &str =
        "machineconfiguration.openshift.io/newestImageEquivalentConfig";
}

/// Machine-config daemon states.
pub mod states {
    /// Applying an update.
    pub const WORKING: &str = "Working";
    /// Done applying.
    pub const DONE: &str = "Done";
    /// Failed for a reason other than a bad MachineConfig.
    pub const DEGRADED: &str = "Degraded";
    /// Rebooting.
    pub const REBOOTING: &str = "Rebooting";
    /// The MachineConfig cannot be applied.
    pub const UNRECONCILABLE: &str = "Unreconcilable";
}

const MCD_WORK_IN_PROGRESS: &str = "Machine Config Daemon is processing the node";
const NODE_UNSCHEDULABLE: &str = "Node is marked unschedulable";
const NODE_NOT_READY: &str = "Not ready";
const NODE_DISK_PRESSURE: &str = "Disk pressure";
const NODE_NETWORK_UNAVAILABLE: &str = "Network unavailable";

/// One reason the node is unavailable.
#[derive(Clone, Debug, PartialEq)]
struct BadCondition {
    reason: String,
    message: String,
    /// `None` stands for Go's zero time.
    last_transition_time: Option<Timestamp>,
}

/// A node and the reasons it is unavailable, collected by [`LayeredNodeState::is_unavailable`].
#[derive(Clone, Debug)]
pub struct LayeredNodeState<'a> {
    node: &'a Node,
    unavailable: Vec<BadCondition>,
}

impl<'a> LayeredNodeState<'a> {
    /// Starts assessing `node`.
    pub fn new(node: &'a Node) -> Self {
        Self {
            node,
            unavailable: Vec::new(),
        }
    }

    fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        annotation_opt(&self.node.metadata, key)
    }

    fn has_annotations(&self) -> bool {
        self.node.metadata.annotations.is_some()
    }

    /// `IsUnavailable`: the node is not ready or the daemon is working on it, and its desired
    /// image is what the pool expects. Records the reasons as it goes.
    pub fn is_unavailable(&mut self, pool: &MachineConfigPool) -> bool {
        self.is_node_unavailable() && self.is_desired_image_equal_to_pool(pool)
    }

    fn is_node_unavailable(&mut self) -> bool {
        if !self.check_node_ready() {
            return true;
        }
        if self.is_node_done() {
            return false;
        }
        if self.is_mcd_state(states::DEGRADED) || self.is_mcd_state(states::UNRECONCILABLE) {
            return false;
        }
        self.unavailable.push(BadCondition {
            reason: MCD_WORK_IN_PROGRESS.into(),
            message: String::new(),
            last_transition_time: None,
        });
        true
    }

    /// `checkNodeReady`: appends one bad condition per offending node condition, in order, then
    /// one for `spec.unschedulable`; ready when nothing was appended.
    fn check_node_ready(&mut self) -> bool {
        let before = self.unavailable.len();
        let conditions = self
            .node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or(&[]);
        for c in conditions {
            let reason = match (c.type_.as_str(), c.status.as_str()) {
                ("Ready", s) if s != "True" => NODE_NOT_READY,
                ("DiskPressure", s) if s != "False" => NODE_DISK_PRESSURE,
                ("NetworkUnavailable", s) if s != "False" => NODE_NETWORK_UNAVAILABLE,
                _ => continue,
            };
            self.unavailable.push(BadCondition {
                reason: reason.into(),
                message: c.message.clone().unwrap_or_default(),
                last_transition_time: c.last_transition_time.as_ref().map(|t| Timestamp(t.0)),
            });
        }
        let unschedulable = self
            .node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if unschedulable {
            self.unavailable.push(BadCondition {
                reason: NODE_UNSCHEDULABLE.into(),
                message: String::new(),
                last_transition_time: None,
            });
        }
        self.unavailable.len() == before
    }

    fn is_mcd_state(&self, state: &str) -> bool {
        matches!(self.annotation(keys::STATE), Some(s) if !s.is_empty() && s == state)
    }

    /// `isNodeDone`: current == desired config, images done, daemon Done.
    fn is_node_done(&self) -> bool {
        if !self.has_annotations() {
            return false;
        }
        let config_done = match (
            self.annotation(keys::CURRENT_CONFIG),
            self.annotation(keys::DESIRED_CONFIG),
        ) {
            (Some(c), Some(d)) => !c.is_empty() && !d.is_empty() && c == d,
            _ => false,
        };
        config_done && self.is_node_image_done() && self.is_mcd_state(states::DONE)
    }

    /// `isNodeImageDone`: no image annotations at all, or both set and equal.
    fn is_node_image_done(&self) -> bool {
        let desired = self.annotation(keys::DESIRED_IMAGE);
        let current = self.annotation(keys::CURRENT_IMAGE);
        if desired.is_none() && current.is_none() {
            return true;
        }
        let (d, c) = (desired.unwrap_or(""), current.unwrap_or(""));
        !d.is_empty() && !c.is_empty() && d == c
    }

    /// `isDesiredImageEqualToPool`: a layered pool with an OS image needs that image on the node;
    /// any other pool needs no desired image annotation.
    fn is_desired_image_equal_to_pool(&mut self, pool: &MachineConfigPool) -> bool {
        let layered = pool
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(keys::LAYERING_ENABLED));
        let os_image =
            annotation_opt(&pool.metadata, keys::NEWEST_IMAGE_EQUIVALENT_CONFIG).unwrap_or("");
        let value = self.annotation(keys::DESIRED_IMAGE);
        if layered && !os_image.is_empty() {
            if value.unwrap_or("") == os_image {
                return true;
            }
            self.unavailable.push(BadCondition {
                reason: format!(
                    "Node has an unexpected annotation {}={os_image}",
                    keys::NEWEST_IMAGE_EQUIVALENT_CONFIG
                ),
                message: String::new(),
                last_transition_time: None,
            });
            return false;
        }
        value.is_none_or(str::is_empty)
    }

    /// `GetUnavailableSince`: the earliest known transition time of the reasons.
    pub fn unavailable_since(&self) -> Option<Timestamp> {
        self.unavailable
            .iter()
            .filter_map(|c| c.last_transition_time)
            .min()
    }

    /// `GetUnavailableReason`: the reasons joined with " | " (the MESSAGE column).
    pub fn unavailable_reason(&self) -> String {
        self.unavailable
            .iter()
            .map(|c| c.reason.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// `GetUnavailableMessage`: as the reasons, with the node conditions spelled out with the
    /// node's name (the health insight's summary).
    pub fn unavailable_message(&self) -> String {
        let name = self.name();
        self.unavailable
            .iter()
            .map(|c| match c.reason.as_str() {
                NODE_NOT_READY => format!("Node {name} is not ready"),
                NODE_DISK_PRESSURE => format!("Node {name} has disk pressure"),
                NODE_NETWORK_UNAVAILABLE => format!("Node {name} has unavailable network"),
                other => other.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// `GetUnavailableDescription`: the node conditions with their messages (the health
    /// insight's description).
    pub fn unavailable_description(&self) -> String {
        let describe = |cond: &str, want: &str, c: &BadCondition| {
            format!(
                "Node has a {cond}!={want} condition with Reason {} and message {}",
                go_quote(&c.reason),
                go_quote(&c.message)
            )
        };
        self.unavailable
            .iter()
            .map(|c| match c.reason.as_str() {
                NODE_NOT_READY => describe("Ready", "True", c),
                NODE_DISK_PRESSURE => describe("DiskPressure", "False", c),
                NODE_NETWORK_UNAVAILABLE => describe("NetworkUnavailable", "False", c),
                other => other.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// `SeriouslyUnavailable`: a reason an administrator must look at, not one that is part of an
    /// update or too fresh to matter. `oc` reads the real clock here even for mock data, hence
    /// `wall_now` rather than the assessment's "now".
    pub fn seriously_unavailable(&self, wall_now: Timestamp) -> bool {
        let zero = crate::cluster::go_zero_time();
        self.unavailable.iter().any(|c| {
            let age = wall_now.since(c.last_transition_time.unwrap_or(zero));
            match c.reason.as_str() {
                NODE_UNSCHEDULABLE | MCD_WORK_IN_PROGRESS => false,
                NODE_NOT_READY => age >= GoDuration::from_mins(5),
                NODE_DISK_PRESSURE | NODE_NETWORK_UNAVAILABLE => age >= GoDuration::from_mins(1),
                _ => true,
            }
        })
    }
}

/// Go's `%q` for the text machine-config and kubelet write: a double-quoted string with `"` and
/// `\` escaped and control characters written as escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::collections::BTreeMap;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn node(
        annotations: &[(&str, &str)],
        conditions: &[(&str, &str, &str)],
        unschedulable: bool,
    ) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some("node-a".into());
        if !annotations.is_empty() {
            n.metadata.annotations = Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        n.spec = Some(NodeSpec {
            unschedulable: Some(unschedulable),
            ..Default::default()
        });
        n.status = Some(NodeStatus {
            conditions: Some(
                conditions
                    .iter()
                    .map(|(t, s, ltt)| NodeCondition {
                        type_: t.to_string(),
                        status: s.to_string(),
                        message: Some(format!("{t} says \"{s}\"")),
                        last_transition_time: Some(Time(ltt.parse().unwrap())),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        });
        n
    }

    const DONE: &[(&str, &str)] = &[
        (keys::CURRENT_CONFIG, "rendered-a"),
        (keys::DESIRED_CONFIG, "rendered-a"),
        (keys::STATE, "Done"),
    ];
    const READY: &[(&str, &str, &str)] = &[
        ("Ready", "True", "2024-01-01T00:00:00Z"),
        ("DiskPressure", "False", "2024-01-01T00:00:00Z"),
    ];

    fn pool() -> MachineConfigPool {
        MachineConfigPool::default()
    }

    #[test]
    fn ready_and_done_is_available() {
        let n = node(DONE, READY, false);
        let mut l = LayeredNodeState::new(&n);
        assert!(!l.is_unavailable(&pool()));
        assert_eq!(l.unavailable_reason(), "");
        assert!(l.unavailable_since().is_none());
    }

    #[test]
    fn not_ready_lists_every_bad_condition_in_order() {
        let n = node(
            DONE,
            &[
                ("DiskPressure", "True", "2024-01-01T00:10:00Z"),
                ("Ready", "False", "2024-01-01T00:05:00Z"),
            ],
            true,
        );
        let mut l = LayeredNodeState::new(&n);
        assert!(l.is_unavailable(&pool()));
        assert_eq!(
            l.unavailable_reason(),
            "Disk pressure | Not ready | Node is marked unschedulable"
        );
        assert_eq!(
            l.unavailable_message(),
            "Node node-a has disk pressure | Node node-a is not ready | Node is marked unschedulable"
        );
        assert_eq!(
            l.unavailable_description(),
            "Node has a DiskPressure!=False condition with Reason \"Disk pressure\" and message \"DiskPressure says \\\"True\\\"\" | Node has a Ready!=True condition with Reason \"Not ready\" and message \"Ready says \\\"False\\\"\" | Node is marked unschedulable"
        );
        assert_eq!(l.unavailable_since(), Some(ts("2024-01-01T00:05:00Z")));
    }

    #[test]
    fn daemon_at_work_is_unavailable_but_degraded_daemon_is_not() {
        let working = node(
            &[
                (keys::CURRENT_CONFIG, "a"),
                (keys::DESIRED_CONFIG, "b"),
                (keys::STATE, "Working"),
            ],
            READY,
            false,
        );
        let mut l = LayeredNodeState::new(&working);
        assert!(l.is_unavailable(&pool()));
        assert_eq!(l.unavailable_reason(), MCD_WORK_IN_PROGRESS);

        let degraded = node(
            &[
                (keys::CURRENT_CONFIG, "a"),
                (keys::DESIRED_CONFIG, "b"),
                (keys::STATE, "Degraded"),
            ],
            READY,
            false,
        );
        assert!(!LayeredNodeState::new(&degraded).is_unavailable(&pool()));

        let no_annotations = node(&[], READY, false);
        let mut l = LayeredNodeState::new(&no_annotations);
        assert!(l.is_unavailable(&pool()));
        assert_eq!(l.unavailable_reason(), MCD_WORK_IN_PROGRESS);
    }

    #[test]
    fn image_annotations_and_layered_pools() {
        let mut with_image: Vec<(&str, &str)> = DONE.to_vec();
        with_image.push((keys::DESIRED_IMAGE, "img"));
        // Not ready, but a non-layered pool with a desired image is never "unavailable".
        let n = node(
            &with_image,
            &[("Ready", "False", "2024-01-01T00:00:00Z")],
            false,
        );
        assert!(!LayeredNodeState::new(&n).is_unavailable(&pool()));

        let mut layered = pool();
        layered.metadata.labels =
            Some(BTreeMap::from([(keys::LAYERING_ENABLED.into(), "".into())]));
        layered.metadata.annotations = Some(BTreeMap::from([(
            keys::NEWEST_IMAGE_EQUIVALENT_CONFIG.into(),
            "other".into(),
        )]));
        let mut l = LayeredNodeState::new(&n);
        assert!(!l.is_unavailable(&layered));
        assert_eq!(
            l.unavailable_reason(),
            "Not ready | Node has an unexpected annotation machineconfiguration.openshift.io/newestImageEquivalentConfig=other"
        );
        layered.metadata.annotations = Some(BTreeMap::from([(
            keys::NEWEST_IMAGE_EQUIVALENT_CONFIG.into(),
            "img".into(),
        )]));
        assert!(LayeredNodeState::new(&n).is_unavailable(&layered));
    }

    #[test]
    fn seriousness_uses_the_wall_clock_and_grace_periods() {
        let not_ready = node(DONE, &[("Ready", "False", "2024-01-01T00:00:00Z")], false);
        let mut l = LayeredNodeState::new(&not_ready);
        assert!(l.is_unavailable(&pool()));
        assert!(!l.seriously_unavailable(ts("2024-01-01T00:04:59Z")));
        assert!(l.seriously_unavailable(ts("2024-01-01T00:05:00Z")));

        let pressure = node(
            DONE,
            &[("DiskPressure", "True", "2024-01-01T00:00:00Z")],
            false,
        );
        let mut l = LayeredNodeState::new(&pressure);
        assert!(l.is_unavailable(&pool()));
        assert!(!l.seriously_unavailable(ts("2024-01-01T00:00:59Z")));
        assert!(l.seriously_unavailable(ts("2024-01-01T00:01:00Z")));

        let cordoned = node(DONE, READY, true);
        let mut l = LayeredNodeState::new(&cordoned);
        assert!(l.is_unavailable(&pool()));
        assert!(!l.seriously_unavailable(ts("2030-01-01T00:00:00Z")));
    }

    #[test]
    fn go_quote_escapes_like_percent_q() {
        assert_eq!(go_quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
        assert_eq!(go_quote("ünï"), "\"ünï\"");
    }
}
