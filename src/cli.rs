//! The command line: one binary, clap subcommands, every flag also settable from the environment
//! (`USC_<FLAG>`), so the Deployment can configure it either way.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// update-status-controller: the server-side `oc adm upgrade status`.
#[derive(Parser, Debug)]
#[command(name = "update-status-controller", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The file names under which the binary is a kubectl or oc plugin, with the command users type:
/// `kubectl update-status` and `oc update-status` run `kubectl-update_status` (or
/// `oc-update_status`) from `PATH`.
pub const PLUGINS: &[(&str, &str)] = &[
    ("kubectl-update_status", "kubectl update-status"),
    ("oc-update_status", "oc update-status"),
];

/// The command a user typed when the binary was started as a kubectl or oc plugin, judged by
/// the file name it was run under (`argv[0]`; any directory and a `.exe` suffix ignored).
pub fn plugin_invocation(argv0: &std::ffi::OsStr) -> Option<&'static str> {
    let name = std::path::Path::new(argv0).file_name()?.to_str()?;
    let name = name.strip_suffix(".exe").unwrap_or(name);
    PLUGINS
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, command)| *command)
}

/// `kubectl update-status` / `oc update-status`: the binary installed as a plugin renders the
/// live UpgradeStatus as `oc adm upgrade status` does, with the same `--details` flag, and
/// nothing else (no subcommand to type). The cluster is the one kubectl would use
/// (`KUBECONFIG`, `--kubeconfig`).
#[derive(Parser, Debug)]
#[command(
    name = "kubectl update-status",
    version,
    about = "Show the cluster update's status as `oc adm upgrade status` does, from the UpgradeStatus the update-status-controller publishes",
    long_about = None
)]
pub struct PluginCli {
    /// What to render.
    #[command(flatten)]
    pub status: StatusArgs,
}

impl PluginCli {
    /// Parses the plugin's arguments, its help and errors naming `command` (what the user
    /// typed); exits on `--help`, `--version` or a bad argument, as clap's `parse` does.
    pub fn parse_as(command: &'static str, args: Vec<std::ffi::OsString>) -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let mut cli = Self::command().bin_name(command);
        cli.try_get_matches_from_mut(args)
            .and_then(|matches| Self::from_arg_matches(&matches))
            .map_err(|e| e.format(&mut cli))
            .unwrap_or_else(|e| e.exit())
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller: the HTTPS informer endpoint, the built-in informers and the publisher.
    Serve(Box<ServeArgs>),
    /// Compute the UpgradeStatus from a directory of objects (or an `oc` mock `<case>-cv.yaml`)
    /// once and print it as YAML.
    Snapshot(SnapshotArgs),
    /// Render an UpgradeStatus as `oc adm upgrade status` does.
    Status(StatusArgs),
    /// Push a report file to the informer endpoint, as a producer would.
    Report(ReportArgs),
    /// Mint a development producer token with the development key (offline mode only).
    Token(TokenArgs),
    /// Print the CustomResourceDefinitions of UpgradeStatus and UpdateInformer.
    Crds,
}

/// `serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Run with no cluster: development TLS and token keys from `certs-dev/`, the cluster state,
    /// the UpdateInformers and the published UpgradeStatus all in `--cluster-dir`.
    #[arg(long, env = "USC_DEV")]
    pub dev: bool,
    /// The directory of Kubernetes objects standing in for the API server (offline mode).
    /// In dev mode it defaults to the sample cluster shipped in `samples/cluster`.
    #[arg(long, env = "USC_CLUSTER_DIR")]
    pub cluster_dir: Option<PathBuf>,
    /// The address the HTTPS informer endpoint listens on (default 127.0.0.1:8443 in dev mode,
    /// otherwise [::]:8443, dual-stack, falling back to 0.0.0.0:8443 where IPv6 is off).
    #[arg(long, env = "USC_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The address of the plain-HTTP probe port, which serves only /healthz and /readyz for the
    /// kubelet, outside the HTTPS port's connection caps (default [::]:8081, dual-stack; offline,
    /// 127.0.0.1 on a port the system picks, logged at start).
    #[arg(long, env = "USC_PROBE_LISTEN")]
    pub probe_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub publish: PublishArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Kubernetes mode (`serve` without `--dev` or `--cluster-dir`).
#[derive(Args, Debug, Clone)]
pub struct KubeArgs {
    /// A kubeconfig file; without it, the in-cluster service account (or `KUBECONFIG`, or
    /// `~/.kube/config`), as kubectl finds it.
    #[arg(long, env = "USC_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The controller's own namespace, where its Lease lives (default: the pod's namespace).
    #[arg(long, env = "USC_NAMESPACE")]
    pub namespace: Option<String>,
    /// How long a TokenReview's answer about a producer token is reused (never past the
    /// token's expiry).
    #[arg(long, env = "USC_TOKEN_CACHE_TTL", default_value = "10s", value_parser = parse_duration)]
    pub token_cache_ttl: std::time::Duration,
    /// This pod's name, part of its Lease holder identity (the Deployment passes it from the
    /// downward API; default: the host name).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// How long a leader's claim on the Lease lasts without renewal.
    #[arg(long, env = "USC_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: std::time::Duration,
    /// How long the leader keeps leading without a successful renewal (shorter than the lease).
    #[arg(long, env = "USC_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub lease_renew_deadline: std::time::Duration,
    /// How often the leader renews, and a candidate tries to acquire.
    #[arg(long, env = "USC_LEASE_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub lease_retry_period: std::time::Duration,
    /// Also require a SubjectAccessReview allowing the producer `update` on
    /// `updateinformers/insights` with the informer's name (RBAC on top of `spec.producers`).
    #[arg(long, env = "USC_SUBJECT_ACCESS_REVIEW")]
    pub subject_access_review: bool,
    /// At most this many TokenReviews in flight; reports beyond get 503 with Retry-After.
    #[arg(long, env = "USC_MAX_OUTSTANDING_TOKEN_REVIEWS", default_value_t = 32)]
    pub max_outstanding_token_reviews: usize,
    /// The Thanos Querier alerts API the `alerts` informer reads (as `oc adm upgrade status`
    /// does); empty turns the alerts informer off.
    #[arg(
        long,
        env = "USC_ALERTS_URL",
        default_value = "https://thanos-querier.openshift-monitoring.svc:9091/api/v1/alerts"
    )]
    pub alerts_url: String,
    /// The CA bundle that signs the querier's certificate (the service CA).
    #[arg(
        long,
        env = "USC_ALERTS_CA_FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt"
    )]
    pub alerts_ca_file: PathBuf,
    /// The bearer token sent to the querier, re-read for every request (the kubelet rotates it).
    #[arg(
        long,
        env = "USC_ALERTS_TOKEN_FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )]
    pub alerts_token_file: PathBuf,
    /// How often the alerts are read.
    #[arg(long, env = "USC_ALERTS_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub alerts_interval: std::time::Duration,
}

/// The TLS profile of the informer endpoint.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsProfileArg {
    /// TLS 1.2 and 1.3, ECDHE key exchange with AEAD ciphers only.
    #[default]
    Intermediate,
    /// TLS 1.3 only.
    Modern,
    /// Follow the cluster: the `tlsSecurityProfile` of `apiserver.config.openshift.io/cluster`,
    /// re-read when it changes (Kubernetes mode only).
    Cluster,
}

/// Serving certificate and protocol settings.
#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
    /// PEM certificate chain of the informer endpoint (reloaded when it changes).
    #[arg(long, env = "USC_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the informer endpoint (reloaded when it changes).
    #[arg(long, env = "USC_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// The TLS profile.
    #[arg(long, env = "USC_TLS_PROFILE", value_enum, default_value_t)]
    pub tls_profile: TlsProfileArg,
    /// Offer HTTP/2 (ALPN h2) besides HTTP/1.1. Off by default: reports are small and HTTP/1.1
    /// keeps the attack surface smaller.
    #[arg(long, env = "USC_HTTP2")]
    pub http2: bool,
}

/// How producer tokens are checked.
#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    /// The audience producer tokens must carry.
    #[arg(
        long,
        env = "USC_AUDIENCE",
        default_value = "update-status-controller.openshift.io"
    )]
    pub audience: String,
    /// Offline mode: the PEM public key producer tokens are verified against.
    #[arg(long, env = "USC_TOKEN_KEY_FILE")]
    pub token_key_file: Option<PathBuf>,
    /// Offline mode: the issuer producer tokens must carry.
    #[arg(long, env = "USC_TOKEN_ISSUER")]
    pub token_issuer: Option<String>,
}

/// Limits that keep one producer or one slow client from holding the server.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Largest report body in bytes.
    #[arg(long, env = "USC_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,
    /// Most insights in one request: a whole report, or one page of a paged report (an
    /// UpdateInformer may set a lower limit).
    #[arg(long, env = "USC_MAX_INSIGHTS_PER_REPORT", default_value_t = 1000)]
    pub max_insights_per_report: u32,
    /// Most insights one informer may hold: a whole report, or all pages of a paged report
    /// together (an UpdateInformer may set a lower limit).
    #[arg(long, env = "USC_MAX_INSIGHTS_PER_INFORMER", default_value_t = 20_000)]
    pub max_insights_per_informer: u32,
    /// Most pages one paged report may have.
    #[arg(long, env = "USC_MAX_REPORT_PAGES", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_report_pages: u32,
    /// How long a paged report may take from its first page to its last; after that its staged
    /// pages are discarded.
    #[arg(long, env = "USC_STAGED_REPORT_TTL", default_value = "2m", value_parser = parse_duration)]
    pub staged_report_ttl: std::time::Duration,
    /// Most bytes of unfinished paged reports held in memory, over all informers; a page past it
    /// is refused (429, StagingFull).
    #[arg(long, env = "USC_MAX_STAGED_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_staged_bytes: u64,
    /// How long a client may take to complete the TLS handshake.
    #[arg(long, env = "USC_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: std::time::Duration,
    /// How long a client may take to send the request headers.
    #[arg(long, env = "USC_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: std::time::Duration,
    /// How long a whole request, body included, may take.
    #[arg(long, env = "USC_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: std::time::Duration,
    /// How long an idle keep-alive connection stays open.
    #[arg(long, env = "USC_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// Most concurrent connections; further ones are closed at once.
    #[arg(long, env = "USC_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Most concurrent connections from one client IP address; further ones are closed at
    /// once, so one client cannot take every connection.
    #[arg(
        long,
        env = "USC_MAX_CONNECTIONS_PER_SOURCE",
        default_value_t = 64,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_connections_per_source: usize,
    /// How long a connection may stay open without any request on it presenting an accepted
    /// token; then it is closed, even if it keeps sending requests that need none (/healthz).
    #[arg(long, env = "USC_UNAUTHENTICATED_CONNECTION_LIFETIME", default_value = "30s", value_parser = parse_duration)]
    pub unauthenticated_connection_lifetime: std::time::Duration,
    /// Reports per second one identity may send on average.
    #[arg(long, env = "USC_RATE_LIMIT", default_value_t = 10.0)]
    pub rate_limit: f64,
    /// How many reports one identity may send in a burst.
    #[arg(long, env = "USC_RATE_BURST", default_value_t = 20)]
    pub rate_burst: u32,
    /// Refused tokens (401) per second one client IP address may present on average; past its
    /// burst, it is answered 429 with Retry-After before its token is checked. Accepted tokens
    /// spend nothing.
    #[arg(long, env = "USC_REFUSED_TOKEN_RATE_LIMIT", default_value_t = crate::http::refusals::DEFAULT_RATE)]
    pub refused_token_rate_limit: f64,
    /// How many refused tokens one client IP address may present in a burst.
    #[arg(long, env = "USC_REFUSED_TOKEN_BURST", default_value_t = crate::http::refusals::DEFAULT_BURST)]
    pub refused_token_burst: u32,
    /// On SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, env = "USC_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: std::time::Duration,
}

/// How the UpgradeStatus is published.
#[derive(Args, Debug, Clone)]
pub struct PublishArgs {
    /// At most one write of the UpgradeStatus per interval; changes in between are coalesced.
    #[arg(long, env = "USC_PUBLISH_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub publish_interval: std::time::Duration,
    /// The largest UpgradeStatus, in bytes as etcd stores it: the JSON plus the managedFields
    /// server-side apply adds (about 0.75 byte per byte of JSON); beyond it the least informative
    /// insights are left out (and counted). The default, 256 KiB, holds a cluster of any size:
    /// node insights are published in their own NodeProgressInsights. When the API server still
    /// refuses a write as too large, the controller lowers the budget, publishes, and says so in
    /// the `Degraded` condition.
    #[arg(long, env = "USC_BUDGET_BYTES", default_value_t = crate::store::DEFAULT_BUDGET_BYTES)]
    pub budget_bytes: usize,
}

/// `snapshot`.
#[derive(Args, Debug, Clone)]
pub struct SnapshotArgs {
    /// A directory of Kubernetes objects, or an `oc` mock `<case>-cv.yaml` (its sibling `-co`,
    /// `-mcp`, `-mc`, `-node`, `-alerts.json` and `-mco-deployment.yaml` files are read too).
    pub path: PathBuf,
    /// The moment to evaluate at (RFC 3339). Default: as `oc` does for mock data, the latest
    /// condition transition of the ClusterVersion and ClusterOperators plus 368975ns.
    #[arg(long, env = "USC_NOW")]
    pub now: Option<String>,
    /// The largest UpgradeStatus, in bytes as etcd would store it (JSON plus managedFields), as
    /// `serve` counts it.
    #[arg(long, env = "USC_BUDGET_BYTES", default_value_t = crate::store::DEFAULT_BUDGET_BYTES)]
    pub budget_bytes: usize,
    /// How to print the object.
    #[arg(long, short, env = "USC_OUTPUT", value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// How an object is printed.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// YAML, as `oc get -o yaml` prints.
    #[default]
    Yaml,
    /// JSON, as `oc get -o json` prints (faster to read back for very large clusters).
    Json,
}

/// Which detailed sections `status` prints.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetailsArg {
    /// The summary only.
    #[default]
    None,
    /// Every detailed section.
    All,
    /// Every node.
    Nodes,
    /// Every health insight in full.
    Health,
    /// The updating cluster operators.
    Operators,
}

/// `status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Render the UpgradeStatus in this YAML or JSON file.
    #[arg(long, env = "USC_STATUS_FILE", conflicts_with = "cluster_dir")]
    pub file: Option<PathBuf>,
    /// Render the UpgradeStatus held in this offline cluster directory (see `serve --dev`).
    #[arg(long, env = "USC_CLUSTER_DIR")]
    pub cluster_dir: Option<PathBuf>,
    /// Which detailed sections to print.
    #[arg(long, env = "USC_DETAILS", value_enum, default_value_t)]
    pub details: DetailsArg,
    /// Render as of this moment (RFC 3339). Default: the object's `status.observedAt` for a file,
    /// the wall clock otherwise.
    #[arg(long, env = "USC_NOW")]
    pub now: Option<String>,
    /// A kubeconfig, to read the object from that cluster (without `--file` or
    /// `--cluster-dir`); default: as kubectl finds one.
    #[arg(long, env = "USC_KUBECONFIG", conflicts_with_all = ["file", "cluster_dir"])]
    pub kubeconfig: Option<PathBuf>,
    /// Keep watching the cluster's UpgradeStatus and its node objects, and render again on every
    /// change (clearing the screen, as `watch` does) until interrupted.
    #[arg(long, short = 'w', conflicts_with_all = ["file", "cluster_dir", "now"])]
    pub watch: bool,
    /// The controller's namespace, whose Lease tells whether the object read from the cluster is
    /// kept current (a warning on stderr when it is not).
    #[arg(long, env = "USC_CONTROLLER_NAMESPACE", default_value = crate::commands::freshness::DEFAULT_CONTROLLER_NAMESPACE)]
    pub controller_namespace: String,
}

/// `report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The controller's base URL, such as https://127.0.0.1:8443.
    #[arg(long, env = "USC_SERVER")]
    pub server: String,
    /// The informer to report for (the name of its UpdateInformer).
    #[arg(long, env = "USC_INFORMER")]
    pub informer: String,
    /// The report: JSON `{"insights": [...]}`.
    #[arg(long, env = "USC_REPORT_FILE")]
    pub file: PathBuf,
    /// The token file; read again for every call, because the kubelet rotates projected tokens.
    #[arg(long, env = "USC_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// The PEM CA bundle that signs the controller's serving certificate.
    #[arg(long, env = "USC_CA_FILE")]
    pub ca_file: PathBuf,
}

/// `token`.
#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    /// The service account the token is for, as `<namespace>/<name>`.
    #[arg(long, env = "USC_SERVICE_ACCOUNT")]
    pub service_account: String,
    /// The audience.
    #[arg(
        long,
        env = "USC_AUDIENCE",
        default_value = "update-status-controller.openshift.io"
    )]
    pub audience: String,
    /// How long the token is valid (Go duration: 10m, 1h).
    #[arg(long, env = "USC_EXPIRES", default_value = "1h", value_parser = parse_duration)]
    pub expires: std::time::Duration,
    /// The PEM private key that signs it.
    #[arg(
        long,
        env = "USC_TOKEN_SIGNING_KEY_FILE",
        default_value = "certs-dev/token-signing.key"
    )]
    pub key_file: PathBuf,
    /// The service account's UID, to test UID pinning.
    #[arg(long, env = "USC_SERVICE_ACCOUNT_UID")]
    pub uid: Option<String>,
}

/// Parses a Go-style duration (`90s`, `10m`, `1h30m`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: update_status_api::time::GoDuration = s.parse().map_err(|e| format!("{e}"))?;
    u64::try_from(d.as_nanos())
        .map(std::time::Duration::from_nanos)
        .map_err(|_| format!("{s} is negative"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse_as_go_writes_them() {
        assert_eq!(
            parse_duration("1m30s"),
            Ok(std::time::Duration::from_secs(90))
        );
        assert!(parse_duration("ten").is_err());
    }
}
