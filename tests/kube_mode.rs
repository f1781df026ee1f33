//! Kubernetes mode against the in-process fake API server, for what only the fake can show: it
//! records every request, so these tests count exactly how many TokenReviews and status writes
//! the controller sends (a real kube-apiserver does not expose per-client request counts on
//! demand), and it can be made unreachable mid-request. Everything else the controller does to
//! the API server is proven on a real one: `tests/real_api_*.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use fake_apiserver::{FakeApiServer, FakeConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use update_status_controller::auth::{JwtAuthenticator, JwtSettings};
use update_status_controller::cli::{Cli, Command, ServeArgs};
use update_status_controller::serve::kube::run_with;

const UPGRADE_STATUSES: &str = "upgradestatuses.update.openshift.io";

/// Every object of the sample cluster, as JSON (list files flattened).
fn sample_objects() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/cluster");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") || name.starts_with("upgradestatus") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            match doc["items"].as_array() {
                Some(items) if doc["kind"].as_str().unwrap_or("").ends_with("List") => {
                    out.extend(items.iter().cloned())
                }
                _ => out.push(doc),
            }
        }
    }
    out
}

/// Server-set fields the fake must assign itself.
fn fresh(mut object: Value) -> Value {
    if let Some(meta) = object["metadata"].as_object_mut() {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
        ] {
            meta.remove(k);
        }
    }
    object
}

async fn cluster() -> FakeApiServer {
    let server = FakeApiServer::start(FakeConfig::default()).await.unwrap();
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for entry in std::fs::read_dir(crds).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        server.register_crd_yaml(&text).unwrap();
    }
    server
        .put_object(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "openshift-machine-config-operator"}}))
        .unwrap();
    for object in sample_objects() {
        server.put_object(fresh(object)).unwrap();
    }
    server
}

async fn kube_client(server: &FakeApiServer) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(server.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn serve_args() -> ServeArgs {
    serve_args_with_interval("200ms")
}

fn serve_args_with_interval(interval: &str) -> ServeArgs {
    let root = env!("CARGO_MANIFEST_DIR");
    let cli = Cli::parse_from([
        "update-status-controller",
        "serve",
        "--tls-cert-file",
        &format!("{root}/certs-dev/tls.crt"),
        "--tls-key-file",
        &format!("{root}/certs-dev/tls.key"),
        "--publish-interval",
        interval,
        "--rate-limit",
        "1000",
        "--rate-burst",
        "1000",
        "--lease-duration",
        "2s",
        "--lease-renew-deadline",
        "1500ms",
        "--lease-retry-period",
        "300ms",
        // Alerts are off: these tests are about the API server.
        "--alerts-url",
        "",
    ]);
    match cli.command {
        Command::Serve(args) => *args,
        _ => unreachable!(),
    }
}

/// A running controller against `server`.
struct Controller {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    url: String,
}

impl Controller {
    /// With the cluster's authentication: OIDC pre-check and TokenReview.
    async fn start_with_token_review(server: &FakeApiServer) -> Self {
        Self::start_with_token_review_and_args(server, serve_args()).await
    }

    async fn start_with_token_review_and_args(server: &FakeApiServer, args: ServeArgs) -> Self {
        let client = kube_client(server).await;
        let authenticator = update_status_controller::serve::kube::authenticator(&args, client)
            .await
            .unwrap();
        Self::start_with_args(server, authenticator, args).await
    }

    /// With the offline token authenticator and the given arguments.
    async fn start_with_args_offline_auth(server: &FakeApiServer, args: ServeArgs) -> Self {
        let root = env!("CARGO_MANIFEST_DIR");
        let authenticator = JwtAuthenticator::from_public_key_file(
            Path::new(&format!("{root}/certs-dev/token-signing.pub")),
            JwtSettings::new(
                update_status_controller::auth::DEV_ISSUER,
                update_status_controller::auth::DEFAULT_AUDIENCE,
            ),
        )
        .unwrap();
        Self::start_with_args(server, Arc::new(authenticator), args).await
    }

    async fn start_with_args(
        server: &FakeApiServer,
        authenticator: Arc<dyn update_status_controller::auth::Authenticator>,
        args: ServeArgs,
    ) -> Self {
        let client = kube_client(server).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                run_with(&args, client, authenticator, listener, shutdown)
                    .await
                    .unwrap();
            }
        });
        Self {
            shutdown,
            task,
            url,
        }
    }

    /// Sends a one-insight report as the informer `example-storage-operator`.
    async fn report(&self, token: &str) -> update_status_controller::commands::report::Answer {
        let root = env!("CARGO_MANIFEST_DIR");
        let body = std::fs::read(Path::new(root).join("api/examples/report.json")).unwrap();
        self.report_body(token, body).await
    }

    /// Sends `body` as a report of `example-storage-operator`.
    async fn report_body(
        &self,
        token: &str,
        body: Vec<u8>,
    ) -> update_status_controller::commands::report::Answer {
        let root = env!("CARGO_MANIFEST_DIR");
        let ca_path = Path::new(root).join("certs-dev/ca.crt");
        let ca = std::fs::read(&ca_path).unwrap();
        update_status_controller::commands::report::post(
            &self.url,
            "/v1alpha1/informers/example-storage-operator/reports",
            token,
            &ca,
            &ca_path,
            body,
        )
        .await
        .unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Waits until the published status satisfies `ok`, and returns it.
async fn published(server: &FakeApiServer, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(obj) = server.get_object(UPGRADE_STATUSES, None, "cluster")
            && ok(&obj["status"])
        {
            return obj["status"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "not published as expected within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every informer group of the object: the control plane's, then each worker pool's.
fn informer_groups(status: &Value) -> impl Iterator<Item = &Value> {
    status["controlPlane"]["informers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            status["workerPools"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|p| p["informers"].as_array().into_iter().flatten()),
        )
}

/// Whether the built-in informers' assessment is published: the ClusterVersion insight is in
/// the singleton (node insights have their own objects).
fn assessed(status: &Value) -> bool {
    informer_groups(status)
        .flat_map(|i| i["insights"].as_array().cloned().unwrap_or_default())
        .any(|i| i["insight"]["type"] == "ClusterVersion")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_are_authenticated_by_token_review_with_our_audience() {
    let server = cluster().await;
    let controller = Controller::start_with_token_review(&server).await;
    published(&server, assessed).await;
    let ours = update_status_controller::auth::DEFAULT_AUDIENCE.to_owned();
    let hour = Duration::from_secs(3600);
    let token = |ns: &str, name: &str, audience: &str| {
        server
            .mint_service_account_token(ns, name, "uid-1", vec![audience.to_owned()], hour)
            .unwrap()
    };
    let listed = token("example-storage", "storage-operator", &ours);
    let reviews = || server.count(|r| r.path.ends_with("/tokenreviews"));

    let answer = controller.report(&listed).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // The default in-pod token (the API server's audience) is refused: by the local pre-check,
    // without a TokenReview.
    let before = reviews();
    let default = token(
        "example-storage",
        "storage-operator",
        "https://kubernetes.default.svc",
    );
    let answer = controller.report(&default).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(reviews(), before);

    // A service account the UpdateInformer does not list.
    let other = token("example-storage", "someone-else", &ours);
    let answer = controller.report(&other).await;
    assert_eq!(answer.status, 403, "{}", answer.body);

    // 100 reports with one token within the cache TTL: one TokenReview.
    let fresh = token("example-storage", "storage-operator", &ours);
    let before = reviews();
    for _ in 0..100 {
        assert_eq!(controller.report(&fresh).await.status, 200);
    }
    assert_eq!(reviews() - before, 1);

    // The API server unreachable: a token not yet reviewed gets 503 with Retry-After, never 200.
    server.set_unreachable(true);
    let unseen = token("example-storage", "storage-operator", &ours);
    let answer = controller.report(&unseen).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    let retry = answer.retry_after.expect("503 carries Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    server.set_unreachable(false);
    controller.stop().await;
}

/// A development token of the sample UpdateInformer's producer (offline authenticator).
fn dev_token() -> String {
    let cli = Cli::parse_from([
        "update-status-controller",
        "token",
        "--service-account",
        "example-storage/storage-operator",
    ]);
    let Command::Token(args) = cli.command else {
        unreachable!()
    };
    // Cargo runs integration tests from the package root, where `certs-dev/` is.
    update_status_controller::commands::token::run(&args).unwrap()
}

/// A report whose one Health insight says `summary`.
fn report_saying(summary: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"insights": [{"uid": "storm", "insight": {"type": "Health", "health": {
            "startedAt": "2026-06-01T11:50:00Z",
            "scope": {"type": "WorkerPool", "pool": "worker"},
            "impact": {"level": "Warning", "type": "UpdateSpeed", "summary": summary},
            "remediation": {"reference": "https://example.com/runbook"}
        }}}]}),
    )
    .unwrap()
}

fn health_summaries(status: &Value) -> Vec<String> {
    status["workerPools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["informers"].as_array().cloned().unwrap_or_default())
        .flat_map(|i| i["insights"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| {
            i["insight"]["health"]["impact"]["summary"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_changing_reports_over_ten_seconds_cause_at_most_twelve_writes() {
    let server = cluster().await;
    let controller =
        Controller::start_with_args_offline_auth(&server, serve_args_with_interval("1s")).await;
    published(&server, assessed).await;
    let token = dev_token();
    let writes = || {
        server.count(|r| r.method == "PATCH" && r.path.ends_with("/upgradestatuses/cluster/status"))
    };
    let before = writes();
    let started = Instant::now();
    // Ten producers' worth of connections, 100 reports each, spread over 10 s; the content
    // changes every time. The last one sent is "change 999".
    let controller = Arc::new(controller);
    let mut senders = tokio::task::JoinSet::new();
    for lane in 0..10_u32 {
        let (controller, token) = (Arc::clone(&controller), token.clone());
        senders.spawn(async move {
            for k in 0..100_u32 {
                let i = k * 10 + lane;
                if i == 999 {
                    continue;
                }
                let due = Duration::from_millis(10 * u64::from(i));
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                let answer = controller
                    .report_body(&token, report_saying(&format!("change {i}")))
                    .await;
                assert_eq!(answer.status, 200, "{}", answer.body);
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let answer = controller
        .report_body(&token, report_saying("change 999"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let elapsed = started.elapsed();
    let n = writes() - before;
    println!("1000 changing reports over {elapsed:?}: {n} writes");
    // One write per 1 s interval at most, plus the first and a final one.
    let bound = 2 + elapsed.as_secs() as usize;
    assert!(n <= bound.max(12), "{n} writes in {elapsed:?}");
    // The last state is what ends up published.
    let controller = Arc::try_unwrap(controller).ok().unwrap();
    published(&server, |s| {
        let h = health_summaries(s);
        h.contains(&"change 999".to_owned()) && !h.contains(&"change 998".to_owned())
    })
    .await;
    controller.stop().await;
}
