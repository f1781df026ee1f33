//! Kubernetes mode: the built-in informers read watches of the cluster, the UpdateInformers come
//! from their watch, and the UpgradeStatus is server-side applied to the API server.
//!
//! Order on start: watches begin; the store resumes from the object already published; once
//! every watch has listed, the built-in informers run once over the whole cluster, the
//! controller becomes ready, and only then does the publisher start — so neither a restart nor
//! a slow first list ever publishes a cluster with objects missing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use update_status_api::v1alpha1::InformerName;
use update_status_api::wire::ReportedInsight;

use super::{CountedSink, ServeError, apply_outputs, compute, new_state, serve_https};
use crate::auth::Authenticator;
use crate::builtin::{self, Selection};
use crate::cli::{KubeArgs, ServeArgs};
use crate::clock::{Clock, wall_now};
use crate::cluster::kube::{ClusterCache, Touched, spawn_watches};
use crate::http::state::AppState;
use crate::informers::Registry;
use crate::publish::apply::{ApplySink, read_published};
use crate::publish::{self, PublishStats};

/// A kube client from `--kubeconfig`, or as kubectl would find one (in-cluster first).
pub async fn client(args: &KubeArgs) -> Result<kube::Client, ServeError> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                ServeError::Config(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| {
                    ServeError::Config(format!("kubeconfig {} is unusable: {e}", path.display()))
                })?
        }
        None => kube::Config::infer().await.map_err(|e| {
            ServeError::Config(format!(
                "no Kubernetes configuration (not in a pod, no KUBECONFIG, no ~/.kube/config; \
                 or run offline with --dev / --cluster-dir): {e}"
            ))
        })?,
    };
    kube::Client::try_from(config)
        .map_err(|e| ServeError::Config(format!("cannot build the Kubernetes client: {e}")))
}

/// How producers are authenticated in a cluster: TokenReview with our audience.
pub fn authenticator(
    _args: &ServeArgs,
    _client: kube::Client,
) -> Result<Arc<dyn Authenticator>, ServeError> {
    Err(ServeError::Config(
        "Kubernetes mode: TokenReview authentication is being wired in (issue 5); run offline with --dev or --cluster-dir".into(),
    ))
}

/// The serving certificate and key, which Kubernetes mode requires (no development default).
fn serving_files(args: &ServeArgs) -> Result<(PathBuf, PathBuf), ServeError> {
    match (&args.tls.tls_cert_file, &args.tls.tls_key_file) {
        (Some(c), Some(k)) => Ok((c.clone(), k.clone())),
        _ => Err(ServeError::Config(
            "--tls-cert-file and --tls-key-file are required in Kubernetes mode".into(),
        )),
    }
}

/// Runs the controller against the API server behind `client` until `shutdown`, authenticating
/// producers with `authenticator`.
pub async fn run_with(
    args: &ServeArgs,
    client: kube::Client,
    authenticator: Arc<dyn Authenticator>,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (cert, key) = serving_files(args)?;
    let cache = ClusterCache::new();
    let mut watches = spawn_watches(&client, &cache, &shutdown);
    let clock = Clock::wall();
    let state = new_state(args, Registry::default(), authenticator, clock);
    match read_published(client.clone()).await {
        Ok(Some(published)) => {
            if let Ok(mut store) = state.store.lock() {
                store.resume(&published);
            }
            tracing::info!("resuming from the published UpgradeStatus");
        }
        Ok(None) => tracing::info!("no UpgradeStatus published yet"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the published UpgradeStatus; starting empty")
        }
    }

    let (ready_tx, ready_rx) = watch::channel(false);
    let publisher = tokio::spawn({
        let state = state.clone();
        let sink = Arc::new(CountedSink {
            inner: ApplySink::new(client.clone()),
            metrics: state.metrics.clone(),
        });
        let interval = args.publish.publish_interval;
        let budget = args.publish.budget_bytes;
        let started = clock.now();
        let shutdown = shutdown.clone();
        async move {
            let mut ready = ready_rx;
            tokio::select! {
                () = shutdown.cancelled() => return,
                r = ready.wait_for(|r| *r) => if r.is_err() { return },
            }
            let changed = state.changed.clone();
            publish::run(
                sink,
                move || compute(&state, started, budget),
                changed,
                interval,
                Arc::new(PublishStats::default()),
                shutdown,
            )
            .await;
        }
    });
    let builtins = tokio::spawn(builtin_loop(
        cache.clone(),
        state.clone(),
        ready_tx,
        shutdown.clone(),
    ));
    let served = serve_https(args, &state, &cert, &key, listener, shutdown.clone()).await;
    shutdown.cancel();
    let _ = tokio::join!(publisher, builtins);
    while watches.join_next().await.is_some() {}
    served
}

impl From<Touched> for Selection {
    fn from(t: Touched) -> Self {
        Selection {
            cluster_version: t.cluster_version,
            machine_config: t.machine_config,
            alerts: t.alerts,
        }
    }
}

/// Re-runs the built-in informers a change touches, once per burst of watch events, and keeps
/// the registry in step with the UpdateInformers; the first pass, over everything, happens when
/// every watch has listed, and makes the controller ready.
async fn builtin_loop(
    cache: Arc<ClusterCache>,
    state: Arc<AppState>,
    ready: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let mut previous: HashMap<InformerName, Vec<ReportedInsight>> = HashMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = cache.changed.notified() => {}
        }
        if !cache.synced() {
            continue;
        }
        let first = !state.ready.load(Ordering::Relaxed);
        let mut touched = cache.take_touched();
        if first {
            touched = Touched {
                informers: true,
                ..Touched::ALL_BUILTIN
            };
        }
        if touched.informers {
            state.set_registry(Registry::new(cache.update_informers()));
            state.changed.notify_one();
        }
        if touched.cluster_version || touched.machine_config || touched.alerts {
            let snapshot = cache.snapshot(touched);
            let now = state.clock.now();
            let outputs = builtin::assess_selected(&snapshot, now, wall_now(), touched.into());
            if apply_outputs(&state, outputs, &mut previous, now) {
                state.changed.notify_one();
            }
        }
        if first {
            state.ready.store(true, Ordering::Relaxed);
            let _ = ready.send(true);
            tracing::info!("every watch has listed; the built-in informers ran; ready");
        }
    }
}
