//! The cluster source: where the built-in informers get the objects they assess. A [`ClusterSource`]
//! yields one consistent [`ClusterState`]; today from files ([`DirectorySource`], [`OcMockSource`]),
//! later from the Kubernetes API behind the same trait.

pub mod decode;
mod directory;
mod error;
pub mod kube;
mod mock;
pub mod openshift;
pub mod thanos;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use update_status_api::time::{GoDuration, Timestamp};

pub use directory::DirectorySource;
pub use error::SourceError;
pub use mock::OcMockSource;
pub use openshift::{
    AlertData, ClusterOperator, ClusterVersion, MachineConfig, MachineConfigPool, OperatorCondition,
};

/// Everything the built-in informers read, as one snapshot. Lists keep the order the source gave
/// (the API server lists by name), because `oc` reports in list order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterState {
    /// The ClusterVersion (normally named `version`).
    pub cv: ClusterVersion,
    /// Every ClusterOperator, platform or not.
    pub cos: Vec<ClusterOperator>,
    /// Every MachineConfigPool.
    pub mcps: Vec<MachineConfigPool>,
    /// The MachineConfigs (at least those the nodes' current and desired annotations name).
    pub mcs: Vec<MachineConfig>,
    /// Every Node.
    pub nodes: Vec<Node>,
    /// The alerts, when they could be fetched; `None` means "no alerts informer".
    pub alerts: Option<AlertData>,
    /// The `openshift-machine-config-operator/machine-config-operator` Deployment, when present;
    /// its image tells whether the MCO itself is still updating.
    pub mco_deployment: Option<Deployment>,
}

/// Something that can produce a [`ClusterState`]: files now, the Kubernetes API later.
pub trait ClusterSource {
    /// Reads a complete, consistent snapshot, or says which input is wrong and why.
    fn load(&self) -> Result<ClusterState, SourceError>;
}

/// The extra nanoseconds `oc` adds to the mocked "now" to exercise rounding.
pub const MOCK_NOW_OFFSET: GoDuration = GoDuration::from_nanos(368_975);

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), which `oc` uses for "unknown" times.
pub fn go_zero_time() -> Timestamp {
    Timestamp::from_nanos(GO_ZERO_UNIX_NANOS).unwrap_or(Timestamp(jiff::Timestamp::MIN))
}

/// 0001-01-01T00:00:00Z in nanoseconds since the Unix epoch.
const GO_ZERO_UNIX_NANOS: i128 = -62_135_596_800 * 1_000_000_000;

/// "Now" as `oc adm upgrade status --mock-clusterversion` computes it: the latest
/// `lastTransitionTime` over the ClusterVersion's conditions and every ClusterOperator's conditions
/// (platform or not), plus 368 975 ns. Without any condition time it is Go's zero time, as in `oc`.
pub fn mock_now(state: &ClusterState) -> Timestamp {
    state
        .cv
        .status
        .conditions
        .iter()
        .chain(state.cos.iter().flat_map(|co| co.status.conditions.iter()))
        .filter_map(|c| c.last_transition_time)
        .max()
        .map_or_else(go_zero_time, |latest| latest.plus(MOCK_NOW_OFFSET))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(t: &str) -> OperatorCondition {
        OperatorCondition {
            type_: "Available".into(),
            status: "True".into(),
            last_transition_time: Some(t.parse().unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn mock_now_is_latest_condition_plus_offset() {
        let mut state = ClusterState::default();
        state.cv.status.conditions = vec![cond("2024-02-07T16:31:03Z")];
        let mut co = ClusterOperator::default();
        co.status.conditions = vec![cond("2024-02-07T16:31:09Z"), cond("2024-02-07T16:00:00Z")];
        state.cos.push(co);
        assert_eq!(
            mock_now(&state).to_string(),
            "2024-02-07T16:31:09.000368975Z"
        );
    }

    #[test]
    fn mock_now_without_conditions_is_go_zero_time() {
        assert_eq!(
            mock_now(&ClusterState::default()).to_string(),
            "0001-01-01T00:00:00Z"
        );
    }
}
