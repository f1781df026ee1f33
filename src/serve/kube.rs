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

use kube::runtime::events::Reporter;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use update_status_api::v1alpha1::{Condition, Generation, InformerName, UpdateInformerStatus};
use update_status_api::wire::ReportedInsight;

use super::alerts_poller::AlertsPoller;
use super::source_health::SourceHealth;
use super::{CountedSink, Listeners, ServeError, apply_outputs, compute, new_state, serve_https};
use crate::auth::scrape::ScrapeAccess;
use crate::auth::token_review::DEFAULT_REVIEW_TIMEOUT;
use crate::auth::{
    AccessReviewSettings, AccessReviewer, Authenticator, CachingAuthenticator, OidcPrecheck,
    PrecheckSettings, PrecheckedAuthenticator, TokenReviewAuthenticator, TokenReviewSettings,
};
use crate::builtin::{self, Selection};
use crate::cli::{KubeArgs, ServeArgs};
use crate::clock::{Clock, wall_now};
use crate::cluster::kube::{ClusterCache, Touched, spawn_watches};
use crate::cluster::thanos::ThanosSource;
use crate::events::transitions::informer_happenings;
use crate::events::{DegradedEvents, Events, Regarding};
use crate::http::state::AppState;
use crate::informers::Registry;
use crate::informers::status::{Observation, informer_status};
use crate::publish::apply::{ApplySink, apply_informer_status, read_nodes, read_published};
use crate::publish::lease::{LeaderElector, LeaseConfig};
use crate::publish::nodes::NodeObjects;
use crate::publish::scrub::remove_foreign_informers;
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

/// How producers are authenticated in a cluster: a local check of the token against the
/// service-account issuer's keys, then (cached, single-flight, capped) a TokenReview that must
/// confirm our audience.
pub async fn authenticator(
    args: &ServeArgs,
    client: kube::Client,
) -> Result<Arc<dyn Authenticator>, ServeError> {
    let audience = args.auth.audience.clone();
    let config = |e: &dyn std::fmt::Display| ServeError::Config(format!("authentication: {e}"));
    let precheck = OidcPrecheck::new(client.clone(), PrecheckSettings::new(audience.clone()))
        .map_err(|e| config(&e))?;
    match precheck.refresh().await {
        Ok(keys) => tracing::info!(
            keys,
            "service-account issuer keys loaded for the token pre-check"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "no service-account issuer keys yet; TokenReview decides alone until they load")
        }
    }
    let mut settings = TokenReviewSettings::new(audience.clone());
    settings.max_outstanding = args.kube.max_outstanding_token_reviews;
    let review = TokenReviewAuthenticator::new(client, settings).map_err(|e| config(&e))?;
    let cached = CachingAuthenticator::new(review, args.kube.token_cache_ttl)
        .map_err(|e| config(&e))?
        .with_audiences(&[audience]);
    Ok(Arc::new(PrecheckedAuthenticator::new(
        Arc::new(precheck),
        cached,
    )))
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
/// producers with `authenticator`; no probe port (tests).
pub async fn run_with(
    args: &ServeArgs,
    client: kube::Client,
    authenticator: Arc<dyn Authenticator>,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    run_with_probe(args, client, authenticator, listener, None, shutdown).await
}

/// [`run_with`], also serving `/healthz` and `/readyz` over plain HTTP on `probe` (the
/// Deployment's probes).
pub async fn run_with_probe(
    args: &ServeArgs,
    client: kube::Client,
    authenticator: Arc<dyn Authenticator>,
    listener: tokio::net::TcpListener,
    probe: Option<tokio::net::TcpListener>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (cert, key) = serving_files(args)?;
    let cache = ClusterCache::new();
    let mut watches = spawn_watches(&client, &cache, &shutdown);
    let clock = Clock::wall();
    let mut state = new_state(args, Registry::default(), authenticator, clock);
    let reviewer = if args.kube.subject_access_review {
        let reviewer = AccessReviewer::new(client.clone(), AccessReviewSettings::default())
            .map_err(|e| ServeError::Config(format!("subject access review: {e}")))?;
        Some(Arc::new(reviewer))
    } else {
        None
    };
    // The platform Prometheus scrapes with its own token, as it does every component.
    let scrape = ScrapeAccess::new(client.clone(), DEFAULT_REVIEW_TIMEOUT)
        .map_err(|e| ServeError::Config(format!("scrape access: {e}")))?;
    if let Some(s) = Arc::get_mut(&mut state) {
        s.access_reviewer = reviewer;
        s.scrape = Some(Arc::new(scrape));
    }
    // Read-backs and the registry work before this instance leads; start from what is published
    // (the registry is not known yet: the first publication drops what it does not list).
    let _ = resume(&client, &state, Leading::No).await;

    let elector = LeaderElector::new(client.clone(), lease_config(args, &client))
        .map_err(|e| ServeError::Config(format!("leader election: {e}")))?;
    let leader = elector.subscribe();
    tracing::info!(identity = elector.identity(), "joining the leader election");
    let (events, events_task) = Events::start(
        client.clone(),
        Reporter {
            controller: crate::events::CONTROLLER.to_owned(),
            instance: Some(elector.identity().to_owned()),
        },
        state.metrics.clone(),
        shutdown.clone(),
    );
    let election = tokio::spawn(elector.run(shutdown.clone()));

    let health = Arc::new(SourceHealth::new());
    let alerts = alerts_poller(args, &cache, &state, &health)?
        .map(|poller| tokio::spawn(poller.run(shutdown.clone())));
    let (ready_tx, ready_rx) = watch::channel(false);
    let publisher = tokio::spawn(lead(
        client.clone(),
        state.clone(),
        Publication {
            publish: args.publish.clone(),
            started: clock.now(),
            health: Arc::clone(&health),
            events: events.clone(),
        },
        ready_rx,
        leader,
        shutdown.clone(),
    ));
    let builtins = tokio::spawn(builtin_loop(
        cache.clone(),
        state.clone(),
        ready_tx,
        shutdown.clone(),
    ));
    let statuses = tokio::spawn(informer_status_loop(
        client.clone(),
        state.clone(),
        Arc::clone(&health),
        events,
        args.publish.publish_interval,
        shutdown.clone(),
    ));
    let served = serve_https(
        args,
        &state,
        &cert,
        &key,
        Listeners {
            https: listener,
            probe,
        },
        Some(&client),
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = tokio::join!(publisher, builtins, statuses, election, events_task);
    if let Some(alerts) = alerts {
        let _ = alerts.await;
    }
    while watches.join_next().await.is_some() {}
    served
}

/// What the publisher of each leadership term needs.
#[derive(Clone)]
struct Publication {
    publish: crate::cli::PublishArgs,
    /// When this controller started: the conditions' earliest transition time.
    started: update_status_api::time::Timestamp,
    /// The data sources' state, for the `Degraded` condition.
    health: Arc<SourceHealth>,
    /// Where changes of the `Degraded` condition are reported as Events.
    events: Events,
}

/// The alerts poller, unless `--alerts-url` is empty.
fn alerts_poller(
    args: &ServeArgs,
    cache: &Arc<ClusterCache>,
    state: &Arc<AppState>,
    health: &Arc<SourceHealth>,
) -> Result<Option<AlertsPoller>, ServeError> {
    let kube = &args.kube;
    if kube.alerts_url.trim().is_empty() {
        tracing::info!("--alerts-url is empty: the alerts informer is off");
        return Ok(None);
    }
    let source = ThanosSource::new(
        &kube.alerts_url,
        &kube.alerts_token_file,
        &kube.alerts_ca_file,
    )
    .map_err(|e| ServeError::Config(e.to_string()))?;
    Ok(Some(AlertsPoller {
        source,
        interval: kube.alerts_interval,
        cache: Arc::clone(cache),
        health: Arc::clone(health),
        changed: state.changed.clone(),
        metrics: state.metrics.clone(),
        clock: state.clock,
    }))
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
    let mut assessed = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = cache.changed.notified() => {}
        }
        if !cache.synced() {
            continue;
        }
        let first = !assessed;
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
            assessed = true;
            let _ = ready.send(true);
            tracing::info!("every watch has listed and the built-in informers ran");
        }
    }
}

/// Keeps each UpdateInformer's status current (at most one write per informer per interval, and
/// none when nothing changed). The status last seen on the watched object is the comparison
/// base, so a status edited by hand is put right, and a restart does not rewrite what is current.
/// A write the API server refuses (a binding removed, say) makes the UpgradeStatus `Degraded`
/// until a write succeeds again, so the failure is visible where readers look, not only in a log.
async fn informer_status_loop(
    client: kube::Client,
    state: Arc<AppState>,
    health: Arc<SourceHealth>,
    events: Events,
    interval: std::time::Duration,
    shutdown: CancellationToken,
) {
    // What this process last wrote, per informer: the baseline of its Events until the watch
    // shows the write (so a slow watch cannot make one transition two Events).
    let mut written: HashMap<String, UpdateInformerStatus> = HashMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if !state.ready.load(Ordering::Relaxed) {
            // Another leader may write meanwhile: its status is the baseline when this one
            // leads again.
            written.clear();
            continue;
        }
        let now = state.clock.now();
        let registry = state.registry();
        written.retain(|name, _| registry.get(name).is_some());
        let wanted: Vec<_> = {
            let Ok(store) = state.store.lock() else {
                continue;
            };
            registry
                .iter()
                .filter_map(|(name, informer)| {
                    let key = InformerName::new(name.as_str()).ok()?;
                    let previous = informer.status.as_ref();
                    let seen = Observation {
                        summary: store.report_summary(&key),
                        generation: informer
                            .metadata
                            .generation
                            .and_then(|g| Generation::new(g).ok()),
                        omitted: state.observed.omitted(&key),
                        recent_rejections: state.observed.recent_rejections(&key),
                    };
                    let next = informer_status(&seen, previous, now);
                    needs_write(previous, &next).then(|| {
                        let baseline = written.get(name).or(previous);
                        let happenings = informer_happenings(baseline, &next);
                        (
                            name.clone(),
                            next,
                            Regarding::informer(informer),
                            happenings,
                        )
                    })
                })
                .collect()
        };
        for (name, status, regarding, happenings) in wanted {
            let changed = match apply_informer_status(client.clone(), &name, &status).await {
                Ok(()) => {
                    events.emit(&regarding, happenings);
                    written.insert(name.clone(), status);
                    health.succeeded(INFORMER_STATUS_SOURCE, now)
                }
                Err(e) => {
                    tracing::warn!(informer = %name, error = %e, "cannot write the UpdateInformer status; will retry");
                    health.failed(
                        INFORMER_STATUS_SOURCE,
                        now,
                        format!("cannot write the status of UpdateInformer {name}: {e}"),
                    )
                }
            };
            if changed {
                state.changed.notify_one();
            }
        }
    }
}

/// The name [`SourceHealth`] knows UpdateInformer status writes by.
pub const INFORMER_STATUS_SOURCE: &str = "UpdateInformer status";

/// How stale an UpdateInformer's `lastReportTime` may get before it is rewritten on its own.
const LAST_REPORT_REFRESH: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether the status must be written: anything but `lastReportTime` changed, or that time is
/// more than [`LAST_REPORT_REFRESH`] behind. A producer reporting every few seconds would
/// otherwise cost one API write per informer per publish interval, for a timestamp.
fn needs_write(
    previous: Option<&update_status_api::v1alpha1::UpdateInformerStatus>,
    next: &update_status_api::v1alpha1::UpdateInformerStatus,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    let stale = match (previous.last_report_time, next.last_report_time) {
        (Some(p), Some(n)) => {
            u128::try_from(n.since(p).as_nanos()).unwrap_or(0) > LAST_REPORT_REFRESH.as_nanos()
        }
        (p, n) => p != n,
    };
    let mut without_time = previous.clone();
    without_time.last_report_time = next.last_report_time;
    stale || &without_time != next
}

/// The Lease settings from the command line; the namespace defaults to the client's (in a pod,
/// the pod's own), the holder identity to the pod name plus a random suffix.
fn lease_config(args: &ServeArgs, client: &kube::Client) -> LeaseConfig {
    let namespace = args
        .kube
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let pod = args.kube.pod_name.clone().unwrap_or_else(|| {
        std::env::var("HOSTNAME").unwrap_or_else(|_| "update-status-controller".to_owned())
    });
    let mut config = LeaseConfig::new(namespace, &pod);
    config.lease_duration = args.kube.lease_duration;
    config.renew_deadline = args.kube.lease_renew_deadline;
    config.retry_period = args.kube.lease_retry_period;
    config
}

/// Publishes while this instance leads and has assessed the cluster; ready (for `/readyz`, so
/// the Service sends producers here) exactly then. Each term starts from the object as the
/// previous leader left it.
async fn lead(
    client: kube::Client,
    state: Arc<AppState>,
    publication: Publication,
    mut assessed: watch::Receiver<bool>,
    mut leader: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    // Lowered when the API server refuses a write as too large; a new term keeps what was learnt.
    let budget = Arc::new(publish::Budget::new(
        publication.publish.budget_bytes,
        &state.metrics,
    ));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            gone = async { assessed.wait_for(|a| *a).await.is_err() } => if gone { return },
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            gone = async { leader.wait_for(|l| *l).await.is_err() } => if gone { return },
        }
        let (nodes, published) = resume(&client, &state, Leading::Yes).await;
        state.ready.store(true, Ordering::Relaxed);
        state.metrics.set_leading(true);
        tracing::info!("leading: publishing the UpgradeStatus");
        let term = shutdown.child_token();
        let Publication {
            publish,
            started,
            health,
            events,
        } = publication.clone();
        let sink = Arc::new(CountedSink {
            inner: ApplySink::new(client.clone()),
            metrics: state.metrics.clone(),
            degraded: Some(DegradedEvents::new(events, &published)),
        });
        let changed = state.changed.clone();
        let compute_state = state.clone();
        let compute_budget = Arc::clone(&budget);
        let run = publish::run(
            sink,
            move || compute(&compute_state, &health, started, &compute_budget),
            nodes,
            changed,
            publish.publish_interval,
            Arc::clone(&budget),
            Arc::new(PublishStats::default()),
            term.clone(),
        );
        tokio::pin!(run);
        tokio::select! {
            () = &mut run => {}
            elector_gone = async { leader.wait_for(|l| !*l).await.is_err() } => {
                term.cancel();
                run.await;
                if elector_gone {
                    state.ready.store(false, Ordering::Relaxed);
                    state.metrics.set_leading(false);
                    return;
                }
            }
        }
        state.ready.store(false, Ordering::Relaxed);
        state.metrics.set_leading(false);
        tracing::info!("no longer leading: not publishing, not ready");
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Whether [`resume`] runs for the leader, which knows the registry and may write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leading {
    Yes,
    No,
}

/// Adds what the published objects show to the store (what the store holds already wins), and
/// answers the node objects found, which the publisher then leaves alone unless they change.
/// Should the node objects not be readable, the publisher starts from none: it rewrites them
/// all once, which costs requests but loses nothing. The leader adopts only built-in informers
/// and registered, enabled ones, and removes the others from the published object (see
/// [`remove_foreign_informers`]); before leading, nothing is written. Also answers the
/// conditions the published object shows (the baseline of the `Degraded` Events).
async fn resume(
    client: &kube::Client,
    state: &AppState,
    leading: Leading,
) -> (NodeObjects, Vec<Condition>) {
    let nodes = match read_nodes(client.clone()).await {
        Ok(nodes) => nodes,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the published NodeProgressInsights; rewriting them all");
            NodeObjects::new()
        }
    };
    let mut conditions = Vec::new();
    match read_published(client.clone()).await {
        Ok(Some(published)) => {
            conditions = published.conditions.to_vec();
            let registry = state.registry();
            let adopt = |name: &InformerName| {
                leading == Leading::No
                    || crate::builtin::is_builtin_name(name.as_str())
                    || registry
                        .get(name.as_str())
                        .is_some_and(|i| i.spec.is_enabled())
            };
            match remove_foreign_informers(client.clone(), &published, adopt).await {
                Ok(0) => {}
                Ok(removed) => tracing::warn!(
                    removed,
                    "removed informers the controller does not recognise from the published UpgradeStatus"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot remove unrecognised informers from the published UpgradeStatus")
                }
            }
            if let Ok(mut store) = state.store.lock() {
                store.resume(&published, &nodes, adopt);
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the published UpgradeStatus; keeping what is held")
        }
    }
    (nodes, conditions)
}
