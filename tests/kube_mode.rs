//! Kubernetes mode against the fake API server: the real kube client, watches, server-side apply.
//!
//! The cluster is the repository's mid-update sample (`samples/cluster`), created object by
//! object in the fake server; the controller must publish the same UpgradeStatus as offline
//! mode does from the same files, and follow changes.

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
        // Alerts are off unless a test serves a Thanos of its own (see `FakeThanos`).
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
    /// With the offline token authenticator (these tests are not about authentication).
    async fn start(server: &FakeApiServer) -> Self {
        Self::start_with_args_offline_auth(server, serve_args()).await
    }

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

    /// Whether `/readyz` answers 200 (this instance leads and has assessed the cluster).
    async fn ready(&self) -> bool {
        let root = env!("CARGO_MANIFEST_DIR");
        let ca_path = Path::new(root).join("certs-dev/ca.crt");
        let ca = std::fs::read(&ca_path).unwrap();
        update_status_controller::commands::report::get(&self.url, "/readyz", "-", &ca, &ca_path)
            .await
            .unwrap()
            .status
            == 200
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

/// What `snapshot` makes of the same sample files, as JSON.
fn offline_snapshot() -> Value {
    let root = env!("CARGO_MANIFEST_DIR");
    let cli = Cli::parse_from([
        "update-status-controller",
        "snapshot",
        &format!("{root}/samples/cluster"),
        "-o",
        "json",
    ]);
    let Command::Snapshot(args) = cli.command else {
        unreachable!()
    };
    serde_json::from_str(&update_status_controller::commands::snapshot::run(&args).unwrap())
        .unwrap()
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

fn node_insights(status: &Value) -> Vec<Value> {
    informer_groups(status)
        .flat_map(|i| i["insights"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["insight"]["type"] == "Node")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_mid_update_is_published_and_a_node_change_follows_within_2s() {
    let server = cluster().await;
    let controller = Controller::start(&server).await;
    let status = published(&server, |s| !node_insights(s).is_empty()).await;
    // The same cluster read from files gives the same insights.
    let offline = offline_snapshot();
    let uids = |s: &Value| {
        let mut u: Vec<String> = node_insights(s)
            .iter()
            .map(|i| i["uid"].as_str().unwrap().to_owned())
            .collect();
        u.sort();
        u
    };
    assert_eq!(uids(&status), uids(&offline["status"]));
    assert_eq!(
        status["controlPlane"]["targetVersion"],
        offline["status"]["controlPlane"]["targetVersion"]
    );
    let nodes = server.objects("nodes");
    assert!(!nodes.is_empty());
    let before = node_insights(&status);
    assert!(!before.is_empty());

    // Change one node: the machine-config daemon starts working on it.
    let mut node = nodes
        .into_iter()
        .find(|n| n["metadata"]["annotations"]["machineconfiguration.openshift.io/state"] == "Done")
        .expect("a node that is done");
    let name = node["metadata"]["name"].as_str().unwrap().to_owned();
    let annotations = node["metadata"]["annotations"].as_object_mut().unwrap();
    let desired = annotations["machineconfiguration.openshift.io/desiredConfig"].clone();
    annotations.insert(
        "machineconfiguration.openshift.io/state".into(),
        "Working".into(),
    );
    annotations.insert(
        "machineconfiguration.openshift.io/desiredConfig".into(),
        format!("{}-next", desired.as_str().unwrap_or("rendered")).into(),
    );
    let changed_at = Instant::now();
    server.put_object(node).unwrap();
    let insight_of = |s: &Value| {
        node_insights(s)
            .into_iter()
            .find(|i| i["insight"]["node"]["name"] == name.as_str())
    };
    let old = insight_of(&status).expect("the node had an insight");
    let after = published(&server, |s| insight_of(s).is_some_and(|i| i != old)).await;
    let took = changed_at.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_ne!(insight_of(&after), Some(old));
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_published_object() {
    let server = cluster().await;
    let controller = Controller::start(&server).await;
    let first = published(&server, |s| !node_insights(s).is_empty()).await;
    controller.stop().await;
    let applies = |server: &FakeApiServer| {
        server.count(|r| r.method == "PATCH" && r.path.ends_with("/upgradestatuses/cluster/status"))
    };
    let before = applies(&server);
    let controller = Controller::start(&server).await;
    // The restarted controller never writes less than it found.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let now = server
            .get_object(UPGRADE_STATUSES, None, "cluster")
            .unwrap();
        assert!(
            node_insights(&now["status"]).len() >= node_insights(&first).len(),
            "a restart published fewer node insights"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing changed in the cluster, so at most a bookkeeping write happened.
    assert!(
        applies(&server) - before <= 2,
        "{} writes",
        applies(&server) - before
    );
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_update_informer_gets_a_status() {
    let server = cluster().await;
    let controller = Controller::start(&server).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let informer = server
            .get_object(
                "updateinformers.update.openshift.io",
                None,
                "example-storage-operator",
            )
            .expect("the sample UpdateInformer");
        if informer["status"]["conditions"].is_array() {
            break informer["status"].clone();
        }
        assert!(Instant::now() < deadline, "no status written within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reporting = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Reporting")
        .unwrap();
    assert_eq!(reporting["status"], "False");
    assert_eq!(reporting["reason"], "NeverReported");
    // Written with the controller's field manager, and not rewritten while nothing changes.
    let writes = || {
        server.count(|r| {
            r.method == "PATCH"
                && r.path
                    .ends_with("/updateinformers/example-storage-operator/status")
        })
    };
    let before = writes();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(writes(), before);
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_are_authenticated_by_token_review_with_our_audience() {
    let server = cluster().await;
    let controller = Controller::start_with_token_review(&server).await;
    published(&server, |s| !node_insights(s).is_empty()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_controllers_exactly_one_publishes_and_the_other_takes_over() {
    let server = cluster().await;
    let a = Controller::start(&server).await;
    let b = Controller::start(&server).await;
    published(&server, |s| !node_insights(s).is_empty()).await;
    // Exactly one is ready (leads), sampled for a second.
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut leader_is_a = None;
    while Instant::now() < deadline {
        let (ra, rb) = (a.ready().await, b.ready().await);
        assert!(ra != rb, "ready: a={ra} b={rb}");
        assert!(leader_is_a.is_none_or(|l| l == ra), "the leader changed");
        leader_is_a = Some(ra);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (leader, follower) = if leader_is_a == Some(true) {
        (a, b)
    } else {
        (b, a)
    };
    let writes = || {
        server.count(|r| r.method == "PATCH" && r.path.ends_with("/upgradestatuses/cluster/status"))
    };
    // The leader stops (and releases the Lease): the other leads within the lease duration.
    leader.stop().await;
    let stopped = Instant::now();
    while !follower.ready().await {
        assert!(
            stopped.elapsed() < Duration::from_secs(3),
            "no takeover within 3 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = stopped.elapsed();
    println!("takeover after a graceful stop: {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // And it publishes: a node change reaches the object.
    let before = writes();
    let mut node = server.objects("nodes").remove(0);
    node["metadata"]["labels"]["example.com/touched"] = "yes".into();
    node["metadata"]["annotations"]["machineconfiguration.openshift.io/state"] = "Degraded".into();
    server.put_object(node).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while writes() == before {
        assert!(Instant::now() < deadline, "the new leader did not publish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    follower.stop().await;
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
            "impact": {"level": "Warning", "type": "Update Speed", "summary": summary},
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
    published(&server, |s| !node_insights(s).is_empty()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_taken_while_the_api_server_is_unreachable_are_published_when_it_is_back() {
    let server = cluster().await;
    let controller = Controller::start(&server).await;
    published(&server, |s| !node_insights(s).is_empty()).await;
    let token = dev_token();
    server.set_unreachable(true);
    let answer = controller
        .report_body(
            &token,
            report_saying("reported while the API server was away"),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.set_unreachable(false);
    let status = published(&server, |s| {
        health_summaries(s).contains(&"reported while the API server was away".to_owned())
    })
    .await;
    assert!(!node_insights(&status).is_empty(), "nothing else was lost");
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_the_object_from_the_cluster_like_oc() {
    let server = cluster().await;
    let controller = Controller::start(&server).await;
    published(&server, |s| !node_insights(s).is_empty()).await;
    controller.stop().await;
    let object = server
        .get_object(UPGRADE_STATUSES, None, "cluster")
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&object).unwrap()).unwrap();
    let now = "2026-06-01T12:00:00Z";
    let args = |source: &[&str]| {
        let mut argv = vec!["update-status-controller", "status", "--now", now];
        argv.extend_from_slice(source);
        let Command::Status(args) = Cli::parse_from(argv).command else {
            unreachable!()
        };
        args
    };
    let kubeconfig = server.kubeconfig_path().to_str().unwrap().to_owned();
    let from_cluster = update_status_controller::commands::status::run_cluster(&args(&[
        "--kubeconfig",
        &kubeconfig,
    ]))
    .await
    .unwrap();
    let from_file = update_status_controller::commands::status::run(&args(&[
        "--file",
        file.path().to_str().unwrap(),
    ]))
    .unwrap();
    assert!(
        from_cluster.starts_with("= Control Plane ="),
        "{from_cluster}"
    );
    assert_eq!(from_cluster, from_file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_subject_access_review_a_listed_producer_also_needs_rbac() {
    let server = cluster().await;
    let mut args = serve_args();
    args.kube.subject_access_review = true;
    let producer = "system:serviceaccount:example-storage:storage-operator";
    let token = server
        .mint_service_account_token(
            "example-storage",
            "storage-operator",
            "uid-1",
            vec![update_status_controller::auth::DEFAULT_AUDIENCE.to_owned()],
            Duration::from_secs(3600),
        )
        .unwrap();
    let reviews = || server.count(|r| r.path.ends_with("/subjectaccessreviews"));

    // Listed in the UpdateInformer, but RBAC does not allow it: 403.
    let controller = Controller::start_with_token_review_and_args(&server, args.clone()).await;
    published(&server, |s| !node_insights(s).is_empty()).await;
    let answer = controller.report(&token).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(
        answer.body.contains("SubjectAccessReview"),
        "{}",
        answer.body
    );
    assert_eq!(reviews(), 1);
    controller.stop().await;

    // Allowed for this informer's name: 200.
    server.allow(
        fake_apiserver::AccessRule::new(
            producer,
            "update",
            "update.openshift.io",
            "updateinformers",
        )
        .subresource("insights")
        .name("example-storage-operator"),
    );
    let controller = Controller::start_with_token_review_and_args(&server, args).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !controller.ready().await {
        assert!(Instant::now() < deadline, "not ready within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answer = controller.report(&token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(reviews(), 2);
    controller.stop().await;
}

/// A Thanos Querier on 127.0.0.1 (the controller's own HTTPS server with the development
/// certificate for `localhost`): `/api/v1/alerts` answers the sample cluster's alerts to the
/// expected bearer token, 401 to any other, and 500 while failing.
struct FakeThanos {
    url: String,
    failing: Arc<std::sync::atomic::AtomicBool>,
    /// (requests with the expected token, requests without it)
    seen: Arc<std::sync::Mutex<(usize, usize)>>,
    shutdown: CancellationToken,
}

const THANOS_TOKEN: &str = "thanos-reader-token";

impl FakeThanos {
    async fn start() -> Self {
        use axum::http::{HeaderMap, StatusCode};
        use std::sync::atomic::{AtomicBool, Ordering};
        use update_status_controller::server;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let alerts = std::fs::read_to_string(root.join("samples/cluster/alerts.json")).unwrap();
        let failing = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(std::sync::Mutex::new((0, 0)));
        let app = axum::Router::new().route(
            "/api/v1/alerts",
            axum::routing::get({
                let (failing, seen) = (failing.clone(), seen.clone());
                move |headers: HeaderMap| async move {
                    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
                        == Some(&format!("Bearer {THANOS_TOKEN}"));
                    let mut s = seen.lock().unwrap();
                    if authorized {
                        s.0 += 1
                    } else {
                        s.1 += 1
                    }
                    match (authorized, failing.load(Ordering::SeqCst)) {
                        (false, _) => (StatusCode::UNAUTHORIZED, String::new()),
                        (true, true) => (StatusCode::INTERNAL_SERVER_ERROR, "querier down".into()),
                        (true, false) => (StatusCode::OK, alerts.clone()),
                    }
                }
            }),
        );
        let cert = server::ReloadingCert::load(
            root.join("certs-dev/tls.crt"),
            root.join("certs-dev/tls.key"),
        )
        .unwrap();
        let tls =
            server::server_config(&server::TlsProfile::Intermediate.policy(), false, cert).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}/api/v1/alerts",
            listener.local_addr().unwrap().port()
        );
        let shutdown = CancellationToken::new();
        tokio::spawn(server::serve(
            listener,
            Arc::new(tls),
            server::ListenerConfig::default(),
            app,
            shutdown.clone(),
        ));
        Self {
            url,
            failing,
            seen,
            shutdown,
        }
    }

    fn fail(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }
}

fn informer_insights(status: &Value, informer: &str) -> Vec<Value> {
    informer_groups(status)
        .filter(|i| i["name"] == informer)
        .flat_map(|i| i["insights"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_come_from_thanos_and_a_failing_thanos_degrades_without_losing_the_rest() {
    let server = cluster().await;
    let thanos = FakeThanos::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{THANOS_TOKEN}\n")).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut args = serve_args();
    args.kube.alerts_url = thanos.url.clone();
    args.kube.alerts_ca_file = Path::new(root).join("certs-dev/ca.crt");
    args.kube.alerts_token_file = token_file.clone();
    args.kube.alerts_interval = Duration::from_millis(100);
    let controller = Controller::start_with_args_offline_auth(&server, args).await;

    // The same alerts as offline mode reads from alerts.json, and Degraded=False.
    let status = published(&server, |s| {
        !informer_insights(s, "alerts").is_empty() && condition(s, "Degraded")["status"] == "False"
    })
    .await;
    let uids = |insights: Vec<Value>| {
        let mut u: Vec<String> = insights
            .iter()
            .map(|i| i["uid"].as_str().unwrap().to_owned())
            .collect();
        u.sort();
        u
    };
    let offline = offline_snapshot();
    assert_eq!(
        uids(informer_insights(&status, "alerts")),
        uids(informer_insights(&offline["status"], "alerts"))
    );
    let cluster_version_insights = informer_insights(&status, "cluster-version").len();
    assert!(cluster_version_insights > 0);

    // Thanos fails: Degraded=True names it; the alerts last read and everything else stay.
    thanos.fail(true);
    let degraded = published(&server, |s| condition(s, "Degraded")["status"] == "True").await;
    let c = condition(&degraded, "Degraded");
    assert_eq!(c["reason"], "AlertsUnavailable");
    assert!(c["message"].as_str().unwrap().contains("HTTP 500"), "{c}");
    assert_eq!(
        uids(informer_insights(&degraded, "alerts")),
        uids(informer_insights(&status, "alerts"))
    );
    assert_eq!(
        informer_insights(&degraded, "cluster-version").len(),
        cluster_version_insights
    );

    // A rotated token is read from the file on the next request; Thanos recovers.
    std::fs::write(&token_file, "rotated-but-wrong").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        thanos.seen.lock().unwrap().1 > 0,
        "the token file is re-read"
    );
    std::fs::write(&token_file, THANOS_TOKEN).unwrap();
    thanos.fail(false);
    published(&server, |s| condition(s, "Degraded")["status"] == "False").await;
    assert!(thanos.seen.lock().unwrap().0 >= 3);
    thanos.shutdown.cancel();
    controller.stop().await;
}
