//! `status`: render an UpgradeStatus as `oc adm upgrade status` prints it, from the object alone.

use update_status_api::time::Timestamp;

use super::{CommandError, parse_now};
use crate::cli::{DetailsArg, StatusArgs};
use crate::clock::wall_now;
use crate::publish::dir::{FILE_NAME, read};
use crate::render::{Details, render};

/// Whether `args` name a file (or a cluster directory) rather than the cluster.
pub fn reads_a_file(args: &StatusArgs) -> bool {
    args.file.is_some() || args.cluster_dir.is_some()
}

/// The text `oc adm upgrade status` would print for `UpgradeStatus/cluster` as the cluster
/// holds it (kubeconfig as kubectl finds it, or `--kubeconfig`), as of now.
pub async fn run_cluster(args: &StatusArgs) -> Result<Rendered, CommandError> {
    // "Now" is when the command was run, as `oc` takes it, not after the reads: reading
    // 10,000 node objects takes seconds, and durations printed to the second would drift.
    let now: Timestamp = parse_now(args.now.as_deref())?.unwrap_or_else(wall_now);
    let fail = |e: &dyn std::fmt::Display| CommandError::Cluster(e.to_string());
    let client = cluster_client(args).await?;
    let status = crate::publish::apply::read_published(client.clone())
        .await
        .map_err(|e| fail(&e))?
        .ok_or(CommandError::NotPublished)?;
    let nodes = crate::publish::apply::read_nodes(client.clone())
        .await
        .map_err(|e| fail(&e))?;
    let warning = super::freshness::warning(client, &args.controller_namespace).await;
    Ok(Rendered {
        text: render(&status, nodes.values(), now, &details(args.details))?,
        warning,
    })
}

/// What `status` prints of the cluster: the render (stdout, as `oc` prints it) and, when the
/// controller does not keep the object current, a warning saying so (stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The text `oc adm upgrade status` would print.
    pub text: String,
    /// Why the text may be out of date, if it may.
    pub warning: Option<String>,
}

/// A client of the cluster `args` name (`--kubeconfig`, else as kubectl finds one).
pub(super) async fn cluster_client(args: &StatusArgs) -> Result<kube::Client, CommandError> {
    let fail = |e: &dyn std::fmt::Display| CommandError::Cluster(e.to_string());
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| fail(&e))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| fail(&e))?
        }
        None => kube::Config::infer().await.map_err(|e| fail(&e))?,
    };
    kube::Client::try_from(config).map_err(|e| fail(&e))
}

/// The text `oc adm upgrade status` would print for the object in the file `args` names.
pub fn run(args: &StatusArgs) -> Result<String, CommandError> {
    let path = match (&args.file, &args.cluster_dir) {
        (Some(f), _) => f.clone(),
        (None, Some(dir)) => dir.join(FILE_NAME),
        (None, None) => return Err(CommandError::Cluster("no --file or --cluster-dir".into())),
    };
    let published = read(&path)?;
    let status = published
        .upgrade_status
        .status
        .ok_or_else(|| CommandError::NoStatus(path.clone()))?;
    // A recorded object is rendered as of the moment it describes, unless told otherwise.
    let now: Timestamp = parse_now(args.now.as_deref())?
        .or(status.observed_at)
        .unwrap_or_else(wall_now);
    Ok(render(
        &status,
        published.nodes.values(),
        now,
        &details(args.details),
    )?)
}

pub(super) fn details(d: DetailsArg) -> Details {
    match d {
        DetailsArg::None => Details::none(),
        DetailsArg::All => Details::all(),
        DetailsArg::Nodes => Details {
            nodes: true,
            ..Details::none()
        },
        DetailsArg::Health => Details {
            health: true,
            ..Details::none()
        },
        DetailsArg::Operators => Details {
            operators: true,
            ..Details::none()
        },
    }
}
