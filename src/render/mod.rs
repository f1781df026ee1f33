//! Renders an `UpgradeStatus` exactly as `oc adm upgrade status` prints the same cluster.
//!
//! The renderer sees only the object: `docs/object-contract.md` says where each number and string
//! `oc` prints is stored. The layout follows `oc`'s `Run`: the control plane, its nodes, the worker
//! pools and their nodes, then the health insights; or "The cluster is not updating."

pub(crate) mod control_plane;
mod duration;
mod gather;
mod health;
mod nodes;
mod pools;
mod sort;
mod tabwriter;
mod text;

#[cfg(test)]
mod fixture_tests;

use update_status_api::constraints::is_forbidden_in_text;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    InsightType, NodeInsight, NodeProgressInsightStatus, UpgradeStatusStatus,
};

use control_plane::ControlPlaneView;
use pools::PoolView;

/// Why an object could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// There is no ClusterVersion insight, so nothing says whether or how the cluster updates.
    #[error(
        "the UpgradeStatus has no ClusterVersion insight under status.controlPlane, so it does not say \
         whether the cluster is updating (has the cluster-version informer reported yet?)"
    )]
    NoClusterVersion,
    /// `--details` named no known section.
    #[error(
        "invalid value for --details: {0:?} (must be one of none, all, nodes, health, operators)"
    )]
    InvalidDetails(String),
}

/// Which sections to show in full, as `oc`'s `--details` selects them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// Every node row, instead of the first ten and the bad ones.
    pub nodes: bool,
    /// One block per health insight, with description and links, instead of the table.
    pub health: bool,
    /// The table of updating ClusterOperators.
    pub operators: bool,
}

impl Details {
    /// `--details=none`, the default: the summary view.
    pub fn none() -> Self {
        Self::default()
    }

    /// `--details=all`: every section in full.
    pub fn all() -> Self {
        Self {
            nodes: true,
            health: true,
            operators: true,
        }
    }

    /// Parses a `--details` value: `none`, `all`, `nodes`, `health` or `operators`.
    pub fn parse(s: &str) -> Result<Self, RenderError> {
        let none = Self::none();
        match s {
            "none" => Ok(none),
            "all" => Ok(Self::all()),
            "nodes" => Ok(Self {
                nodes: true,
                ..none
            }),
            "health" => Ok(Self {
                health: true,
                ..none
            }),
            "operators" => Ok(Self {
                operators: true,
                ..none
            }),
            other => Err(RenderError::InvalidDetails(other.to_owned())),
        }
    }
}

/// Renders `status` and the node insights `nodes` (the NodeProgressInsights' statuses) as of
/// `now` as `oc adm upgrade status --details=…` prints it, byte for byte.
pub fn render<'a>(
    status: &UpgradeStatusStatus,
    nodes: impl IntoIterator<Item = &'a NodeProgressInsightStatus>,
    now: Timestamp,
    details: &Details,
) -> Result<String, RenderError> {
    let cv = gather::cluster_version(status).ok_or(RenderError::NoClusterVersion)?;
    let control_plane = ControlPlaneView::new(cv, gather::cluster_operators(status), now);
    let nodes: Vec<&NodeInsight> = nodes.into_iter().map(|n| &n.node).collect();
    let (control_plane_pool, worker_pools) = gather::pools(status, &nodes);

    let mut out = String::new();
    if !control_plane.is_updating() && !worker_pools.iter().any(PoolView::is_outdated) {
        out.push_str("The cluster is not updating.\n");
    } else {
        control_plane.write(&mut out, details.operators);
        control_plane_pool.write_nodes(&mut out, details.nodes);
        if worker_pools.iter().any(PoolView::has_nodes) {
            out.push_str("\n= Worker Upgrade =\n");
            pools::write_pools(&mut out, &worker_pools);
            for pool in &worker_pools {
                pool.write_nodes(&mut out, details.nodes);
            }
        }
        out.push('\n');
        health::write(
            &mut out,
            &gather::health_insights(status),
            now,
            control_plane.updating_for(),
            details.health,
        );
    }
    out.push_str(&omitted_note(status));
    Ok(printable(out))
}

/// `text` with every character no text field may hold (C0/C1 controls, bidi controls,
/// zero-width and tag characters; see `is_forbidden_in_text`) replaced by U+FFFD, line feeds
/// and tabs kept. The API refuses them already; this is the last line of defence before a
/// terminal, should an object ever carry one (an older schema, a hand-edited file).
fn printable(text: String) -> String {
    let bad = |c: char| c != '\n' && c != '\t' && is_forbidden_in_text(c);
    if !text.chars().any(bad) {
        return text;
    }
    text.chars()
        .map(|c| if bad(c) { '\u{fffd}' } else { c })
        .collect()
}

/// The note that insights were left out of the object for size, one line per insight type, after a
/// blank line; empty when nothing was left out.
fn omitted_note(status: &UpgradeStatusStatus) -> String {
    let mut note = String::new();
    for type_ in InsightType::ALL {
        let count: i64 = status
            .informers
            .iter()
            .flat_map(|i| i.omitted.iter())
            .filter(|o| o.type_ == type_)
            .map(|o| i64::from(o.count.get()))
            .sum();
        if count > 0 {
            if note.is_empty() {
                note.push('\n');
            }
            note.push_str(&format!(
                "Note: {count} {} insights were left out of this UpgradeStatus to keep it within its size budget.\n",
                type_.as_str()
            ));
        }
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_parse_like_oc() {
        assert_eq!(Details::parse("none").unwrap(), Details::none());
        assert_eq!(Details::parse("all").unwrap(), Details::all());
        assert_eq!(
            Details::parse("nodes").unwrap(),
            Details {
                nodes: true,
                health: false,
                operators: false
            }
        );
        assert!(Details::parse("health").unwrap().health);
        assert!(Details::parse("operators").unwrap().operators);
        let err = Details::parse("everything").unwrap_err();
        assert!(
            err.to_string().contains("must be one of none, all"),
            "{err}"
        );
    }

    #[test]
    fn object_without_cluster_version_is_an_error() {
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let err = render(&UpgradeStatusStatus::default(), [], now, &Details::none()).unwrap_err();
        assert!(matches!(err, RenderError::NoClusterVersion));
        assert!(err.to_string().contains("no ClusterVersion insight"));
    }
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn invisible_and_control_characters_never_reach_the_terminal() {
        let attack = "pool \u{202e}gnp.exe\u{202c} \u{2066}x\u{2069} a\u{200b}b \u{1b}[2J tag\u{e0041}\n\tok";
        let shown = printable(attack.to_owned());
        assert_eq!(
            shown,
            "pool \u{fffd}gnp.exe\u{fffd} \u{fffd}x\u{fffd} a\u{fffd}b \u{fffd}[2J tag\u{fffd}\n\tok"
        );
        let plain = "Node a is degraded ✓ é\n".to_owned();
        assert_eq!(printable(plain.clone()), plain);
    }
}
