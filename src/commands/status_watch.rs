//! `status --watch`: renders `UpgradeStatus/cluster` and its NodeProgressInsights again on every
//! change, from watches of both (never polling), clearing the screen first as `watch(1)` does.
//!
//! Both kinds are mirrored in reflector stores; a burst of events (the initial list of thousands
//! of node objects, or a publish touching many of them) becomes one render once the events stop
//! for [`SETTLE`]. A watch that fails is retried with backoff and says so on stderr, and the
//! screen keeps the last render meanwhile. Every render, and a look every [`FRESHNESS_CHECK`],
//! reads the controller's Lease: when nobody keeps the object current, the screen says so at
//! its top ([`super::freshness`]).

use std::io::Write;
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use kube::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use update_status_api::v1alpha1::{NodeProgressInsight, UPGRADE_STATUS_NAME, UpgradeStatus};

use super::CommandError;
use super::status::{cluster_client, details};
use crate::cli::StatusArgs;
use crate::clock::wall_now;
use crate::render::render;

/// How long the watches must be quiet before rendering what they hold.
pub const SETTLE: Duration = Duration::from_millis(200);

/// Moves the cursor home and clears the screen (ANSI), as `watch(1)` does between renders.
pub const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

/// Watches and renders into `out` until `stop` completes (Ctrl-C in the binary) or both
/// watches end.
pub async fn watch(
    args: &StatusArgs,
    out: &mut impl Write,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), CommandError> {
    let client = cluster_client(args).await?;
    let lease_client = client.clone();
    let (singleton, singleton_writer) = reflector::store::<UpgradeStatus>();
    let (nodes, nodes_writer) = reflector::store::<NodeProgressInsight>();
    let only_cluster =
        watcher::Config::default().fields(&format!("metadata.name={UPGRADE_STATUS_NAME}"));
    let singleton_events = watcher(Api::<UpgradeStatus>::all(client.clone()), only_cluster)
        .default_backoff()
        .reflect(singleton_writer)
        .map_ok(|_| ())
        .boxed();
    let node_events = watcher(
        Api::<NodeProgressInsight>::all(client),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(nodes_writer)
    .map_ok(|_| ())
    .boxed();
    let mut events = futures::stream::select(singleton_events, node_events);
    let details = details(args.details);
    let mut freshness = tokio::time::interval(FRESHNESS_CHECK);
    let mut warning = None;
    tokio::pin!(stop);
    loop {
        // One event, then every event that follows within SETTLE; or, when nothing changes, a
        // look at the controller's Lease (a stopped controller causes no event at all).
        let changed = tokio::select! {
            () = &mut stop => return Ok(()),
            event = events.next() => match event {
                None => return Ok(()),
                Some(event) => {
                    report_failure(event);
                    while let Ok(Some(event)) = tokio::time::timeout(SETTLE, events.next()).await {
                        report_failure(event);
                    }
                    true
                }
            },
            _ = freshness.tick() => false,
        };
        let now_warning =
            super::freshness::warning(lease_client.clone(), &args.controller_namespace).await;
        if !changed && now_warning == warning {
            continue;
        }
        warning = now_warning;
        if listed(&singleton) && listed(&nodes) {
            let screen = screen(&singleton, &nodes, &details)?;
            let warning = warning
                .as_deref()
                .map(|w| format!("{w}\n\n"))
                .unwrap_or_default();
            out.write_all(format!("{CLEAR_SCREEN}{warning}{screen}").as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| CommandError::Cluster(format!("writing the render: {e}")))?;
        }
    }
}

/// How often the controller's Lease is looked at while nothing else changes.
pub const FRESHNESS_CHECK: Duration = Duration::from_secs(10);

/// Whether `store` holds a complete initial list (a render before it would show a partial
/// cluster).
fn listed<K>(store: &Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store
        .wait_until_ready()
        .now_or_never()
        .is_some_and(|r| r.is_ok())
}

/// Says on stderr that a watch failed; it is retried with backoff.
fn report_failure(event: Result<(), watcher::Error>) {
    if let Err(e) = event {
        eprintln!("warning: watching the UpgradeStatus failed, retrying: {e}");
    }
}

/// What the stores hold, rendered as of now; a line saying so when nothing is published.
fn screen(
    singleton: &Store<UpgradeStatus>,
    nodes: &Store<NodeProgressInsight>,
    details: &crate::render::Details,
) -> Result<String, CommandError> {
    let Some(status) = singleton
        .get(&ObjectRef::new(UPGRADE_STATUS_NAME))
        .and_then(|o| o.status.clone())
    else {
        return Ok(format!("{}\n", CommandError::NotPublished));
    };
    // In name order, as `status` reads them (a paged list).
    let mut nodes = nodes.state();
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let statuses = nodes.iter().filter_map(|n| n.status.as_ref());
    Ok(render(&status, statuses, wall_now(), details)?)
}
