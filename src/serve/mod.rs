//! `serve`: the controller. Offline (`--dev`, or `--cluster-dir` with explicit keys) a directory
//! stands in for the API server: the built-in informers read it, UpdateInformers are read from
//! it, and the UpgradeStatus is written into it. The Kubernetes-backed mode plugs the same
//! pieces (authenticator, registry, sink) into the same loop.

pub mod alerts_poller;
pub mod cluster_tls;
pub mod kube;
pub mod offline;
pub mod source_health;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    Condition, ConditionStatus, InformerName, InformerState, UpgradeStatusStatus,
};
use update_status_api::wire::ReportedInsight;

use crate::auth::cache::CachingAuthenticator;
use crate::auth::{DEV_ISSUER, JwtAuthenticator, JwtConfigError, JwtSettings};
use crate::builtin;
use crate::cli::{ServeArgs, TlsProfileArg};
use crate::clock::{Clock, wall_now};
use crate::cluster::{ClusterSource, DirectorySource, SourceError, mock_now};
use crate::http::metrics::Metrics;
use crate::http::ratelimit::{
    METRICS_BURST, METRICS_RATE, READ_BACK_BURST, READ_BACK_RATE, RateLimiter,
};
use crate::http::refusals::RefusalLimiter;
use crate::http::routes::{probe_router, router};
use crate::http::state::{ApiLimits, AppState};
use crate::informers::Registry;
use crate::informers::paging::{PagingLimits, Staging};
use crate::publish::dir::DirSink;
use crate::publish::{self, PublishStats};
use crate::server::{
    self, ListenerConfig, ReloadConfig, ReloadingCert, RequestLimits, TlsConfigHandle, TlsProfile,
};
use crate::store::Store;
use source_health::SourceHealth;

/// How long a verified producer token is trusted without verifying it again.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);

/// The service account Prometheus scrapes with in OpenShift; it may read `/metrics`.
pub const DEFAULT_METRICS_READER: &str =
    "system:serviceaccount:openshift-monitoring:prometheus-k8s";

/// Why the controller could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A missing or contradictory setting.
    #[error("{0}")]
    Config(String),
    /// The serving certificate could not be loaded.
    #[error(transparent)]
    Cert(#[from] server::CertError),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] server::TlsError),
    /// The token key could not be loaded.
    #[error(transparent)]
    Jwt(#[from] JwtConfigError),
    /// The cluster directory could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The UpdateInformers could not be read.
    #[error(transparent)]
    Offline(#[from] offline::OfflineError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The listener failed.
    #[error(transparent)]
    Listener(#[from] server::ServeError),
}

/// Settings with every default applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The offline cluster.
    pub cluster_dir: PathBuf,
    /// Serving certificate and key.
    pub cert: PathBuf,
    /// Serving key.
    pub key: PathBuf,
    /// Token verification key.
    pub token_key: PathBuf,
    /// Token issuer.
    pub issuer: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// Run the clock from the recorded cluster's moment (dev mode).
    pub recorded_clock: bool,
}

/// Applies the defaults of `--dev` and checks that offline mode has what it needs.
pub fn settings(args: &ServeArgs) -> Result<Settings, ServeError> {
    let dev = args.dev;
    if args.tls.tls_profile == TlsProfileArg::Cluster {
        return Err(cluster_profile_offline());
    }
    let need =
        |value: &Option<PathBuf>, dev_default: &str, flag: &str| -> Result<PathBuf, ServeError> {
            match (value, dev) {
                (Some(v), _) => Ok(v.clone()),
                (None, true) => Ok(PathBuf::from(dev_default)),
                (None, false) => Err(ServeError::Config(format!(
                    "{flag} is required (or run with --dev)"
                ))),
            }
        };
    let cluster_dir = match (&args.cluster_dir, dev) {
        (Some(d), _) => d.clone(),
        (None, true) => PathBuf::from("samples/cluster"),
        (None, false) => {
            return Err(ServeError::Config(
                "offline mode needs --cluster-dir DIR (or --dev)".into(),
            ));
        }
    };
    if !cluster_dir.is_dir() {
        return Err(ServeError::Config(format!(
            "the cluster directory {} does not exist (run from the repository root, or pass --cluster-dir)",
            cluster_dir.display()
        )));
    }
    Ok(Settings {
        cert: need(
            &args.tls.tls_cert_file,
            "certs-dev/tls.crt",
            "--tls-cert-file",
        )?,
        key: need(
            &args.tls.tls_key_file,
            "certs-dev/tls.key",
            "--tls-key-file",
        )?,
        token_key: need(
            &args.auth.token_key_file,
            "certs-dev/token-signing.pub",
            "--token-key-file",
        )?,
        issuer: match (&args.auth.token_issuer, dev) {
            (Some(i), _) => i.clone(),
            (None, true) => DEV_ISSUER.to_owned(),
            (None, false) => {
                return Err(ServeError::Config(
                    "--token-issuer is required (or run with --dev)".into(),
                ));
            }
        },
        listen: args.listen.unwrap_or(if dev {
            SocketAddr::from(([127, 0, 0, 1], 8443))
        } else {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 8443))
        }),
        cluster_dir,
        recorded_clock: dev,
    })
}

/// Runs the controller until SIGTERM/SIGINT (a second signal exits at once).
pub async fn run(args: &ServeArgs) -> Result<(), ServeError> {
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    if is_offline(args) {
        let listener = bind(settings(args)?.listen).await?;
        let probe = bind(probe_address(args)).await?;
        return run_with_probe(args, listener, Some(probe), shutdown).await;
    }
    let listen = args
        .listen
        .unwrap_or(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 8443)));
    let client = kube::client(&args.kube).await?;
    let authenticator = kube::authenticator(args, client.clone()).await?;
    let listener = bind(listen).await?;
    let probe = bind(probe_address(args)).await?;
    kube::run_with_probe(args, client, authenticator, listener, Some(probe), shutdown).await
}

/// The plain-HTTP probe port's address: `--probe-listen`, else `[::]:8081` in Kubernetes mode
/// (the Deployment's probes) and 127.0.0.1 on a port the system picks offline, so that
/// `serve --dev` needs no flag and never fails on a port in use.
pub fn probe_address(args: &ServeArgs) -> SocketAddr {
    args.probe_listen.unwrap_or(if is_offline(args) {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 8081))
    })
}

/// `--tls-profile=cluster` has no cluster to follow offline.
fn cluster_profile_offline() -> ServeError {
    ServeError::Config(
        "--tls-profile=cluster follows the cluster's APIServer object and needs Kubernetes mode; \
         offline (--dev, --cluster-dir) use intermediate or modern"
            .into(),
    )
}

/// Whether `serve` runs without a cluster (`--dev` or `--cluster-dir`).
pub fn is_offline(args: &ServeArgs) -> bool {
    args.dev || args.cluster_dir.is_some()
}

/// Binds the listen address. `[::]` is dual-stack (Linux maps IPv4 clients into it unless
/// `net.ipv6.bindv6only` is set), so single-stack IPv6 and IPv4 clusters alike reach the
/// default; on a node with IPv6 switched off it falls back to `0.0.0.0` on the same port, and
/// says so.
pub async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    let bound = tokio::net::TcpListener::bind(listen).await;
    let bound = match bound {
        Err(e) if listen.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && ipv6_unavailable(&e) => {
            let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, listen.port()));
            tracing::warn!(%listen, fallback = %v4, error = %e, "IPv6 is unavailable; listening on IPv4 only");
            tokio::net::TcpListener::bind(v4).await
        }
        other => other,
    };
    bound.map_err(|source| ServeError::Bind {
        addr: listen,
        source,
    })
}

/// Whether binding failed because the system has no IPv6 (the family is not supported, or no
/// IPv6 address can be assigned), rather than for a reason IPv4 would share.
fn ipv6_unavailable(e: &std::io::Error) -> bool {
    const EAFNOSUPPORT: i32 = 97;
    const EADDRNOTAVAIL: i32 = 99;
    e.kind() == std::io::ErrorKind::AddrNotAvailable
        || matches!(e.raw_os_error(), Some(EAFNOSUPPORT | EADDRNOTAVAIL))
}

/// Runs the controller offline on an already bound listener until `shutdown` (tests bind
/// 127.0.0.1:0), with no probe port.
pub async fn run_with(
    args: &ServeArgs,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    run_with_probe(args, listener, None, shutdown).await
}

/// [`run_with`], also serving `/healthz` and `/readyz` over plain HTTP on `probe`.
pub async fn run_with_probe(
    args: &ServeArgs,
    listener: tokio::net::TcpListener,
    probe: Option<tokio::net::TcpListener>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let settings = settings(args)?;
    let dir = settings.cluster_dir.clone();
    let initial = DirectorySource::new(&dir).load()?;
    let clock = if settings.recorded_clock {
        Clock::starting_at(mock_now(&initial))
    } else {
        Clock::wall()
    };
    let registry = Registry::new(offline::update_informers(&dir)?);
    let authenticator = JwtAuthenticator::from_public_key_file(
        &settings.token_key,
        JwtSettings::new(&settings.issuer, &args.auth.audience),
    )?;
    let state = new_state(
        args,
        registry,
        Arc::new(
            CachingAuthenticator::new(authenticator, TOKEN_CACHE_TTL)
                .map_err(|e| ServeError::Config(e.to_string()))?,
        ),
        clock,
    );
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, cluster_dir = %dir.display(), "offline mode: the cluster, the UpdateInformers and the UpgradeStatus are files");
    }

    // Offline, this process is the only publisher: it leads by construction.
    state.metrics.set_leading(true);
    let interval = args.publish.publish_interval;
    let budget = Arc::new(publish::Budget::new(
        args.publish.budget_bytes,
        &state.metrics,
    ));
    let publisher = tokio::spawn(publish::run(
        Arc::new(CountedSink {
            inner: DirSink::new(&dir),
            metrics: state.metrics.clone(),
            degraded: None,
        }),
        {
            let state = state.clone();
            let started = clock.now();
            let health = SourceHealth::new();
            let budget = Arc::clone(&budget);
            move || compute(&state, &health, started, &budget)
        },
        publish::nodes::NodeObjects::new(),
        state.changed.clone(),
        interval,
        budget,
        Arc::new(PublishStats::default()),
        shutdown.clone(),
    ));
    let builtins = tokio::spawn(builtin_loop(dir, state.clone(), shutdown.clone()));
    let served = serve_https(
        args,
        &state,
        &settings.cert,
        &settings.key,
        Listeners {
            https: listener,
            probe,
        },
        None,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = tokio::join!(publisher, builtins);
    served
}

/// The handlers' shared state, from the command line's limits.
fn new_state(
    args: &ServeArgs,
    registry: Registry,
    authenticator: Arc<dyn crate::auth::Authenticator>,
    clock: Clock,
) -> Arc<AppState> {
    let limits = &args.limits;
    let state = Arc::new(AppState {
        store: Arc::new(Mutex::new(Store::new())),
        registry: RwLock::new(Arc::new(registry)),
        authenticator,
        access_reviewer: None,
        audience: args.auth.audience.clone(),
        limits: ApiLimits {
            max_body_bytes: usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX),
            max_insights_per_report: limits.max_insights_per_report as usize,
            max_insights_per_informer: limits.max_insights_per_informer as usize,
        },
        metrics_readers: vec![DEFAULT_METRICS_READER.to_owned()],
        scrape: None,
        metrics: Metrics::new(),
        rate: RateLimiter::new(limits.rate_limit, limits.rate_burst),
        read_rate: RateLimiter::new(READ_BACK_RATE, READ_BACK_BURST),
        metrics_rate: RateLimiter::new(METRICS_RATE, METRICS_BURST),
        refusals: RefusalLimiter::new(limits.refused_token_rate_limit, limits.refused_token_burst),
        changed: Arc::new(Notify::new()),
        ready: AtomicBool::new(false),
        clock,
        observed: Default::default(),
        staging: Staging::new(PagingLimits {
            max_pages: limits.max_report_pages,
            ttl: GoDuration::from_nanos(
                i64::try_from(limits.staged_report_ttl.as_nanos()).unwrap_or(i64::MAX),
            ),
            max_staged_bytes: usize::try_from(limits.max_staged_bytes).unwrap_or(usize::MAX),
        }),
    });
    state
        .authenticator
        .set_priority_subjects(state.priority_subjects(&state.registry()));
    state
}

/// The sockets `serve` answers on.
struct Listeners {
    /// The informer API, `/metrics` and the health endpoints, over TLS.
    https: tokio::net::TcpListener,
    /// The health endpoints alone, over plain HTTP, for the kubelet (`server::probe`).
    probe: Option<tokio::net::TcpListener>,
}

/// Serves the informer API over HTTPS on `listeners.https` (and the health endpoints on
/// `listeners.probe`) until `shutdown`, reloading the serving certificate when its files
/// change. `cluster` is the API server, in Kubernetes mode: with `--tls-profile=cluster` the
/// served profile follows its APIServer object.
async fn serve_https(
    args: &ServeArgs,
    state: &Arc<AppState>,
    cert: &Path,
    key: &Path,
    listeners: Listeners,
    cluster: Option<&::kube::Client>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let Listeners {
        https: listener,
        probe,
    } = listeners;
    let limits = &args.limits;
    let cert = ReloadingCert::load(cert, key)?;
    let http2 = args.tls.http2;
    let build = {
        let cert = cert.clone();
        move |policy: &server::TlsPolicy| {
            server::server_config(policy, http2, cert.clone()).map(Arc::new)
        }
    };
    let fixed = |p: TlsProfile| (p.name().to_owned(), p.policy(), None);
    let (profile, policy, follow) = match (args.tls.tls_profile, cluster) {
        (TlsProfileArg::Intermediate, _) => fixed(TlsProfile::Intermediate),
        (TlsProfileArg::Modern, _) => fixed(TlsProfile::Modern),
        (TlsProfileArg::Cluster, Some(client)) => {
            let resolved = cluster_tls::initial(client).await;
            cluster_tls::log_notes(&resolved);
            let name = format!("cluster: {}", resolved.name);
            (name, resolved.policy, Some(client.clone()))
        }
        (TlsProfileArg::Cluster, None) => return Err(cluster_profile_offline()),
    };
    let tls = TlsConfigHandle::new(build(&policy)?);
    let follower = follow.map(|client| {
        tokio::spawn(cluster_tls::follow(
            client,
            tls.clone(),
            policy,
            build,
            shutdown.clone(),
        ))
    });
    let reloader = cert.spawn_reloader(ReloadConfig::default(), shutdown.clone());
    let app = server::harden(
        router(state.clone()),
        &RequestLimits {
            request_timeout: limits.request_timeout,
            body_limit: usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX),
            body_deadline: limits.request_timeout,
        },
    );
    let listener_config = ListenerConfig {
        handshake_timeout: limits.handshake_timeout,
        header_read_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
        max_connections: limits.max_connections,
        max_connections_per_source: limits.max_connections_per_source,
        unauthenticated_lifetime: limits.unauthenticated_connection_lifetime,
        shutdown_grace: limits.shutdown_grace,
        http2: args.tls.http2,
        ..ListenerConfig::default()
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, %profile, "serving the informer API over HTTPS");
    }
    // The probes on a thread of their own, failing only when this runtime stops beating
    // (`server::probe`): under attack this runtime is busy, and probes must not wait behind it.
    let heartbeat = server::Heartbeat::new();
    let beating = heartbeat.spawn_beating(shutdown.clone());
    let probes = probe
        .map(|probe| {
            server::spawn_probe_thread(
                probe,
                probe_router(state.clone()),
                heartbeat,
                server::PROBE_STALL_LIMIT,
                shutdown.clone(),
            )
        })
        .transpose()?;

    let served = server::serve_with_metrics(
        listener,
        tls,
        listener_config,
        app,
        state.metrics.connections.clone(),
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    if let Some(probes) = probes
        && let Ok(Err(e)) = probes.await
    {
        tracing::warn!(error = %e, "the probe listener failed");
    }
    let _ = reloader.await;
    let _ = beating.await;
    if let Some(follower) = follower {
        let _ = follower.await;
    }
    Ok(served?)
}

/// The status to publish: the store's, built within the budget in force, with each registered
/// informer's state, the controller's own `Available` condition, and `Degraded` (a data source
/// failing, or the object published smaller than configured because the API server refused it
/// as too large).
fn compute(
    state: &AppState,
    health: &SourceHealth,
    started: Timestamp,
    budget: &publish::Budget,
) -> publish::Publication {
    let now = state.clock.now();
    let registry = state.registry();
    let Ok(mut store) = state.store.lock() else {
        return publish::Publication::default();
    };
    // Revocation: a deleted UpdateInformer's insights go with it, in this publication.
    let revoked = store.retain_remote(|name| registry.get(name.as_str()).is_some());
    if revoked > 0 {
        tracing::info!(
            revoked,
            "removed the insights of informers no longer registered"
        );
    }
    let mut states = Vec::new();
    for (name, informer) in registry.iter() {
        let Ok(name) = InformerName::new(name.as_str()) else {
            continue;
        };
        if !informer.spec.is_enabled() {
            if !store.is_builtin(&name) {
                store.remove_informer(&name);
            }
            store.set_state(&name, InformerState::Disabled);
            states.push((name, InformerState::Disabled));
            continue;
        }
        let interval = informer.spec.report_interval();
        let remote_report = if store.is_builtin(&name) {
            None
        } else {
            store.last_report(&name)
        };
        let next = match remote_report {
            None if store.is_builtin(&name) => InformerState::Reporting,
            None => InformerState::NeverReported,
            Some(t) if now.since(t).as_nanos() > 3 * interval.as_nanos() => InformerState::Stale,
            Some(_) => InformerState::Reporting,
        };
        store.set_state(&name, next);
        states.push((name, next));
    }
    state
        .metrics
        .set_informer_states(states.iter().map(|(n, s)| (n.as_str(), *s)));
    let publish::Publication { mut status, nodes } = store.publication(
        now,
        budget.effective().saturating_sub(CONDITIONS_RESERVE_BYTES),
    );
    drop(store);
    state.observed.set_omitted(
        status
            .informers
            .iter()
            .map(|i| {
                let left_out = i.omitted.iter().map(|o| o.count.get()).sum::<i32>();
                (i.name.clone(), usize::try_from(left_out).unwrap_or(0))
            })
            .collect(),
    );
    let informers = status.informers.len();
    let omitted: i64 = status
        .informers
        .iter()
        .flat_map(|i| i.omitted.iter())
        .map(|o| i64::from(o.count.get()))
        .sum();
    state.metrics.omitted_insights.set(omitted);
    // Within the lowered budget nothing was left out: the configured one would build the same
    // object, which fits. Back to it (and to `Degraded=False`).
    if omitted == 0 && budget.restore() {
        tracing::info!(
            budget_bytes = budget.configured(),
            "everything fits again: back to the configured size budget"
        );
    }
    let available = Condition::new(
        "Available",
        ConditionStatus::True,
        started,
        "AsExpected",
        &format!("Publishing the insights of {informers} informers"),
    )
    .ok();
    let sources = health.degraded_condition(started);
    let degraded = match budget.lowered(now) {
        Some(lowered) => too_large_condition(&lowered, budget.configured(), omitted, sources, now),
        None => sources,
    };
    let conditions = available.into_iter().chain(degraded).collect();
    status.conditions =
        update_status_api::constraints::BoundedVec::new(conditions).unwrap_or_default();
    publish::Publication { status, nodes }
}

/// Room the store leaves in the budget for the conditions added after it built the status: an
/// `Available` and a `Degraded` condition, whose message is cut at [`MAX_DEGRADED_MESSAGE`]
/// characters, as stored with their managedFields entries.
const CONDITIONS_RESERVE_BYTES: usize = 4096;

/// The longest `StatusTooLarge` message, in characters.
const MAX_DEGRADED_MESSAGE: usize = 2048;

/// `Degraded=True`, reason `StatusTooLarge`: the API server refused the object as too large, so
/// it is published within a lowered budget and leaves out more than configured. A failing data
/// source (`sources`, when it says `True`) is named too; the condition holds since the earlier
/// of the two.
fn too_large_condition(
    lowered: &publish::Lowered,
    configured: usize,
    omitted: i64,
    sources: Option<Condition>,
    now: Timestamp,
) -> Option<Condition> {
    let since = lowered.since.unwrap_or(now);
    let mut message = format!(
        "The API server refused the UpgradeStatus as too large ({} bytes as stored: {}); it is \
         published within a budget of {} bytes instead of the configured {}, and {omitted} \
         insights are left out (counted per informer in status.informers[].omitted)",
        lowered.refused_bytes, lowered.reason, lowered.effective, configured
    );
    let mut since_all = since;
    if let Some(s) = sources.filter(|c| c.status == ConditionStatus::True) {
        message.push_str(&format!("; also: {}", s.message.as_str()));
        if s.last_transition_time < since_all {
            since_all = s.last_transition_time;
        }
    }
    let message: String = message.chars().take(MAX_DEGRADED_MESSAGE).collect();
    Condition::new(
        "Degraded",
        ConditionStatus::True,
        since_all,
        "StatusTooLarge",
        &message,
    )
    .ok()
}

/// Whether a remote producer of `name` is registered, enabled and reporting, in which case the
/// built-in informer of the same name steps aside.
fn remote_is_reporting(state: &AppState, name: &InformerName, now: Timestamp) -> bool {
    let registry = state.registry();
    let Some(informer) = registry.get(name.as_str()).filter(|i| i.spec.is_enabled()) else {
        return false;
    };
    let interval = informer.spec.report_interval();
    let Ok(store) = state.store.lock() else {
        return false;
    };
    !store.is_builtin(name)
        && store
            .last_report(name)
            .is_some_and(|t| now.since(t).as_nanos() <= 3 * interval.as_nanos())
}

/// Re-reads the cluster directory whenever a file in it changes and re-runs the built-in
/// informers; marks the controller ready after the first pass.
async fn builtin_loop(dir: PathBuf, state: Arc<AppState>, shutdown: CancellationToken) {
    let mut last = None;
    let mut previous: HashMap<InformerName, Vec<ReportedInsight>> = HashMap::new();
    loop {
        let fingerprint = offline::fingerprint(&dir);
        if last.as_ref() != Some(&fingerprint) {
            last = Some(fingerprint);
            evaluate(&dir, &state, &mut previous);
            state.ready.store(true, Ordering::Relaxed);
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

fn evaluate(
    dir: &Path,
    state: &AppState,
    previous: &mut HashMap<InformerName, Vec<ReportedInsight>>,
) {
    match offline::update_informers(dir) {
        Ok(list) => state.set_registry(Registry::new(list)),
        Err(e) => tracing::warn!(error = %e, "keeping the previous UpdateInformers"),
    }
    let cluster = match DirectorySource::new(dir).load() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the cluster directory; keeping the last good state");
            return;
        }
    };
    let now = state.clock.now();
    let outputs = builtin::assess(&cluster, now, wall_now());
    if apply_outputs(state, outputs, previous, now) {
        state.changed.notify_one();
    }
}

/// Stores what the built-in informers assessed (each stepping aside while a remote informer of
/// its name reports), keeping condition transition times; returns whether the store changed.
fn apply_outputs(
    state: &AppState,
    outputs: Vec<builtin::InformerOutput>,
    previous: &mut HashMap<InformerName, Vec<ReportedInsight>>,
    now: Timestamp,
) -> bool {
    let mut changed = false;
    for mut output in outputs {
        if remote_is_reporting(state, &output.informer, now) {
            tracing::debug!(informer = %output.informer, "a remote producer is reporting; the built-in informer steps aside");
            continue;
        }
        if let Some(prev) = previous.get(&output.informer) {
            builtin::keep_transition_times(prev, &mut output.insights);
        }
        previous.insert(output.informer.clone(), output.insights.clone());
        let types: Vec<_> = output
            .insights
            .iter()
            .map(|i| i.insight.insight_type())
            .collect();
        let replaced = match state.store.lock() {
            Ok(mut store) => store.replace(&output.informer, true, output.insights, now),
            Err(_) => continue,
        };
        if replaced.changed {
            state.metrics.set_insights(output.informer.as_str(), types);
            changed = true;
        }
    }
    changed
}

/// A sink that counts its writes in the `publications` metric and, in a cluster, turns changes
/// of the written `Degraded` condition into Events.
struct CountedSink<S> {
    inner: S,
    metrics: Metrics,
    degraded: Option<crate::events::DegradedEvents>,
}

impl<S: publish::Sink> publish::Sink for CountedSink<S> {
    fn write<'a>(
        &'a self,
        status: &'a UpgradeStatusStatus,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), publish::PublishError>> + Send + 'a>,
    > {
        Box::pin(async move {
            let result = self.inner.write(status).await;
            self.metrics.count_publication(result.is_ok());
            if let (Ok(()), Some(degraded)) = (&result, &self.degraded) {
                degraded.published(&status.conditions);
            }
            result
        })
    }

    fn write_nodes<'a>(
        &'a self,
        changes: &'a [publish::nodes::NodeChange],
    ) -> publish::SinkFuture<'a, Vec<(String, publish::PublishError)>> {
        Box::pin(async move {
            let failures = self.inner.write_nodes(changes).await;
            self.metrics
                .count_node_writes(changes.len() - failures.len(), failures.len());
            failures
        })
    }
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        shutdown.cancel();
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_default_listener_is_dual_stack_and_only_missing_ipv6_falls_back() {
        let listener = bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)))
            .await
            .unwrap();
        assert!(listener.local_addr().unwrap().is_ipv6());
        for (errno, fallback) in [(97, true), (99, true), (98, false), (13, false)] {
            let e = std::io::Error::from_raw_os_error(errno);
            assert_eq!(ipv6_unavailable(&e), fallback, "errno {errno}: {e}");
        }
        // A port in use is an error for [::] too, not a silent move to IPv4.
        let port = listener.local_addr().unwrap().port();
        assert!(matches!(
            bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))).await,
            Err(ServeError::Bind { .. })
        ));
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_status_too_large_says_how_large_and_names_a_failing_source_too() {
        let lowered = publish::Lowered {
            effective: 1_526_148,
            refused_bytes: 1_907_689,
            reason: "etcdserver: request is too large".into(),
            refusals: 3,
            since: Some(at("2026-01-01T00:05:00Z")),
        };
        let now = at("2026-01-01T00:10:00Z");
        let c = too_large_condition(&lowered, 3_000_000, 4017, None, now).unwrap();
        assert_eq!(c.status, ConditionStatus::True);
        assert_eq!(c.reason.as_str(), "StatusTooLarge");
        assert_eq!(c.last_transition_time, at("2026-01-01T00:05:00Z"));
        let m = c.message.as_str();
        for part in [
            "1907689 bytes as stored: etcdserver: request is too large",
            "within a budget of 1526148 bytes instead of the configured 3000000",
            "4017 insights are left out",
        ] {
            assert!(m.contains(part), "{m}");
        }
        // A source failing since earlier: named, and the condition holds since then.
        let sources = Condition::new(
            "Degraded",
            ConditionStatus::True,
            at("2026-01-01T00:01:00Z"),
            "AlertsUnavailable",
            "alerts: connection refused",
        )
        .ok();
        let c = too_large_condition(&lowered, 3_000_000, 4017, sources, now).unwrap();
        assert_eq!(c.reason.as_str(), "StatusTooLarge");
        assert!(
            c.message
                .as_str()
                .ends_with("; also: alerts: connection refused")
        );
        assert_eq!(c.last_transition_time, at("2026-01-01T00:01:00Z"));
        // Healthy sources add nothing.
        let healthy = Condition::new(
            "Degraded",
            ConditionStatus::False,
            at("2026-01-01T00:00:00Z"),
            "AsExpected",
            "Every data source of the built-in informers answers",
        )
        .ok();
        let c = too_large_condition(&lowered, 3_000_000, 4017, healthy, now).unwrap();
        assert!(!c.message.as_str().contains("also"));
        assert_eq!(c.last_transition_time, at("2026-01-01T00:05:00Z"));
    }
}
