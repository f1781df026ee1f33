//! One watch task per kind, each keeping its slot of the [`ClusterCache`] current.
//!
//! kube-runtime's watcher does the list-then-watch protocol: it relists after a `410 Gone`, and
//! with `default_backoff` it retries a failed list or watch with exponential backoff, so a lost
//! API server delays updates but never ends a watch. Each event here only updates a map and
//! marks what it touches; the evaluation happens elsewhere, once for a burst of events.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::cache::{ClusterCache, Slot, Touched, lock};
use super::kinds::{self, ConvertError};

/// Starts every watch; they run until `shutdown`.
pub fn spawn_watches(
    client: &kube::Client,
    cache: &Arc<ClusterCache>,
    shutdown: &CancellationToken,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    let all = |ar: ApiResource| Api::<DynamicObject>::all_with(client.clone(), &ar);
    let config = watcher::Config::default;
    let mut objects = |kind: &'static str,
                       api: Api<DynamicObject>,
                       config: watcher::Config,
                       apply: fn(&ClusterCache, Event<DynamicObject>)| {
        let stream = watcher::watcher(api, config).default_backoff().boxed();
        set.spawn(run(
            kind,
            stream,
            apply,
            Arc::clone(cache),
            shutdown.clone(),
        ));
    };
    // Singletons are watched by name: the controller's RBAC names them (`resourceNames`), and
    // the API server authorizes a list or watch against those only with this field selector.
    objects(
        "ClusterVersion",
        all(kinds::cluster_versions()),
        config().fields(&format!(
            "metadata.name={}",
            super::cache::CLUSTER_VERSION_NAME
        )),
        |cache, event| {
            apply(
                cache,
                &cache.cluster_versions,
                event,
                kinds::to_cluster_version,
                Touched::ALL_BUILTIN,
            )
        },
    );
    objects(
        "ClusterOperator",
        all(kinds::cluster_operators()),
        config(),
        |cache, event| {
            apply(
                cache,
                &cache.cluster_operators,
                event,
                kinds::to_cluster_operator,
                Touched::CLUSTER_VERSION,
            )
        },
    );
    objects(
        "MachineConfigPool",
        all(kinds::machine_config_pools()),
        config(),
        |cache, event| {
            apply(
                cache,
                &cache.pools,
                event,
                kinds::to_machine_config_pool,
                Touched::MACHINE_CONFIG,
            )
        },
    );
    objects("Node", all(kinds::nodes()), config(), |cache, event| {
        apply(
            cache,
            &cache.nodes,
            event,
            kinds::to_node,
            Touched::MACHINE_CONFIG,
        )
    });
    objects(
        "Deployment",
        Api::<DynamicObject>::namespaced_with(
            client.clone(),
            kinds::MCO_NAMESPACE,
            &kinds::deployments(),
        ),
        config().fields(&format!("metadata.name={}", kinds::MCO_DEPLOYMENT)),
        |cache, event| {
            apply(
                cache,
                &cache.mco_deployment,
                event,
                kinds::to_deployment,
                Touched::CLUSTER_VERSION,
            )
        },
    );
    objects(
        "UpdateInformer",
        all(kinds::update_informers()),
        config(),
        |cache, event| {
            apply(
                cache,
                &cache.update_informers,
                event,
                kinds::to_update_informer,
                Touched::INFORMERS,
            )
        },
    );
    // Metadata only: `Api<PartialObjectMeta<_>>` asks for PartialObjectMetadata.
    let machine_configs = watcher::watcher(
        Api::<PartialObjectMeta<DynamicObject>>::all_with(
            client.clone(),
            &kinds::machine_configs(),
        ),
        config(),
    )
    .default_backoff()
    .boxed();
    set.spawn(run(
        "MachineConfig",
        machine_configs,
        |cache: &ClusterCache, event: Event<PartialObjectMeta<DynamicObject>>| {
            apply(
                cache,
                &cache.machine_configs,
                event,
                |m| Ok(kinds::to_machine_config(m.metadata)),
                Touched::MACHINE_CONFIG,
            )
        },
        Arc::clone(cache),
        shutdown.clone(),
    ));
    set
}

async fn run<O>(
    kind: &'static str,
    mut stream: impl Stream<Item = Result<Event<O>, watcher::Error>> + Unpin,
    apply: impl Fn(&ClusterCache, Event<O>),
    cache: Arc<ClusterCache>,
    shutdown: CancellationToken,
) {
    loop {
        let item = tokio::select! {
            () = shutdown.cancelled() => return,
            item = stream.next() => item,
        };
        match item {
            None => {
                tracing::warn!(kind, "watch ended");
                return;
            }
            Some(Err(e)) => {
                tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
            }
            Some(Ok(event)) => apply(&cache, event),
        }
    }
}

/// Applies one event to `slot`, converting the object; an object that does not convert is
/// dropped (and forgotten if it was held) with a warning naming it.
fn apply<O: Resource, T: Clone>(
    cache: &ClusterCache,
    slot: &Slot<T>,
    event: Event<O>,
    convert: impl Fn(O) -> Result<T, ConvertError>,
    touches: Touched,
) {
    let name = |o: &O| o.meta().name.clone().unwrap_or_default();
    let mut w = lock(slot);
    let touched = match event {
        Event::Init => {
            w.begin_list();
            false
        }
        Event::InitApply(obj) => {
            let n = name(&obj);
            match convert(obj) {
                Ok(t) => w.listed(n, t),
                Err(e) => tracing::warn!(error = %e, "ignoring an object that does not parse"),
            }
            false
        }
        Event::InitDone => {
            w.end_list();
            true
        }
        Event::Apply(obj) => {
            let n = name(&obj);
            match convert(obj) {
                Ok(t) => w.applied(n, t),
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring an object that does not parse");
                    w.deleted(&n);
                }
            }
            true
        }
        Event::Delete(obj) => {
            w.deleted(&name(&obj));
            true
        }
    };
    drop(w);
    if touched {
        cache.touch(touches);
    }
}
