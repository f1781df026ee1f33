//! `serve --dev` end to end over real TLS on 127.0.0.1: a report from the listed service account
//! is accepted, read back, and appears in the published UpgradeStatus (and in
//! `status --cluster-dir`) within 2 s; an identical second report causes no new write; a refused
//! report changes nothing; SIGTERM-style shutdown finishes cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/dev_serve.rs"]
mod dev_serve;

#[path = "support/dev_token.rs"]
mod dev_token;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use dev_serve::dev_serve_args;
use dev_token::dev_token as token;
use tokio_util::sync::CancellationToken;
use update_status_controller::cli::{Cli, Command, ServeArgs};
use update_status_controller::commands::report::post;
use update_status_controller::publish::dir::{FILE_NAME, read};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.file_name().unwrap() != FILE_NAME {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

fn serve_args(dir: &Path) -> ServeArgs {
    dev_serve_args(dir, &["--publish-interval", "200ms"])
}

const REPORT: &str = r#"{"insights": [{"uid": "slow-detach", "insight": {"type": "Health", "health": {
  "startedAt": "2026-06-01T11:50:00Z",
  "scope": {"type": "WorkerPool", "pool": "worker", "resources": [{"resource": "persistentvolumes", "name": "pvc-0a1b2c"}]},
  "impact": {"level": "Warning", "type": "ApplicationAvailability", "summary": "Volume pvc-0a1b2c detaches slowly"},
  "remediation": {"reference": "https://example.com/runbooks/slow-detach"}}}}]}"#;

async fn wait_for(deadline: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if check() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn published(dir: &Path) -> Option<update_status_api::v1alpha1::UpgradeStatus> {
    read(&dir.join(FILE_NAME)).ok().map(|p| p.upgrade_status)
}

/// Whether the published object holds the built-in cluster-version informer's insights.
fn assessed(dir: &Path) -> bool {
    published(dir)
        .and_then(|o| o.status)
        .and_then(|s| s.control_plane)
        .is_some_and(|cp| {
            cp.informers
                .iter()
                .flat_map(|i| i.insights.iter())
                .any(|x| x.uid.as_str() == "cv-version")
        })
}

fn holds_uid(dir: &Path, uid: &str) -> bool {
    published(dir).and_then(|o| o.status).is_some_and(|s| {
        s.worker_pools
            .iter()
            .flat_map(|p| p.informers.iter())
            .flat_map(|i| i.insights.iter())
            .any(|x| x.uid.as_str() == uid)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_published_within_two_seconds_and_a_repeat_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("cluster");
    copy_dir(Path::new(&format!("{ROOT}/samples/cluster")), &dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let args = serve_args(&dir);
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { update_status_controller::serve::run_with(&args, listener, shutdown).await }
    });
    // The built-in informers publish the sample cluster first (a first publication may come
    // before they have assessed it: wait for the ClusterVersion insight).
    assert!(
        wait_for(Duration::from_secs(10), || assessed(&dir))
            .await
            .is_some(),
        "the sample cluster was not published"
    );

    let url = format!("https://localhost:{port}");
    let ca_path = PathBuf::from(format!("{ROOT}/certs-dev/ca.crt"));
    let ca = std::fs::read(&ca_path).unwrap();
    let producer = token("example-storage", "storage-operator");
    let path = "/v1alpha1/informers/example-storage-operator/reports";

    let sent = Instant::now();
    let answer = post(
        &url,
        path,
        &producer,
        &ca,
        &ca_path,
        REPORT.as_bytes().to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let visible = wait_for(Duration::from_secs(2), || holds_uid(&dir, "slow-detach")).await;
    assert!(
        visible.is_some(),
        "the report did not reach the UpgradeStatus within 2 s"
    );
    eprintln!(
        "report visible in the published object after {:?}",
        sent.elapsed()
    );

    // status --cluster-dir renders it.
    let rendered = envtest::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_update-status-controller")).args([
            "status",
            "--cluster-dir",
            dir.to_str().unwrap(),
        ]),
        None,
    )
    .unwrap();
    assert!(rendered.contains("Volume pvc-0a1b2c detaches slowly"));

    // Read-back returns what the producer holds.
    let read_back = read_back(&url, &producer, &ca, &ca_path).await;
    assert!(read_back.contains("slow-detach"), "{read_back}");

    // An identical report changes nothing and causes no write.
    let before = std::fs::metadata(dir.join(FILE_NAME))
        .unwrap()
        .modified()
        .unwrap();
    let again = post(
        &url,
        path,
        &producer,
        &ca,
        &ca_path,
        REPORT.as_bytes().to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(again.status, 200);
    assert!(again.body.contains("\"unchanged\":true"), "{}", again.body);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = std::fs::metadata(dir.join(FILE_NAME))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "a repeated report caused a new write");

    // A producer that is not listed is refused, and nothing changes.
    let stranger = token("default", "intruder");
    let refused = post(
        &url,
        path,
        &stranger,
        &ca,
        &ca_path,
        b"{\"insights\": []}".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(holds_uid(&dir, "slow-detach"));

    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

async fn read_back(url: &str, token: &str, ca: &[u8], ca_path: &Path) -> String {
    update_status_controller::commands::report::get(
        url,
        "/v1alpha1/informers/example-storage-operator/insights",
        token,
        ca,
        ca_path,
    )
    .await
    .unwrap()
    .body
}

/// The `report` subcommand sends a report the server refuses as over one request's limits again
/// in pages, which commit as one set; running it again with the same file is a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_subcommand_pages_a_report_over_one_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("cluster");
    copy_dir(Path::new(&format!("{ROOT}/samples/cluster")), &dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let mut args = serve_args(&dir);
    args.limits.max_insights_per_report = 5;
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { update_status_controller::serve::run_with(&args, listener, shutdown).await }
    });
    assert!(
        wait_for(Duration::from_secs(10), || published(&dir).is_some())
            .await
            .is_some(),
        "nothing was published"
    );
    let insights: Vec<serde_json::Value> = (0..12)
        .map(|i| serde_json::json!({"uid": format!("risk-{i}"), "insight": {"type": "Health", "health": {
            "scope": {"type": "WorkerPool", "pool": "worker"},
            "impact": {"level": "Warning", "type": "UpdateSpeed", "summary": format!("risk {i}")},
            "remediation": {"reference": "https://example.com/runbook"}
        }}}))
        .collect();
    let file = tmp.path().join("report.json");
    std::fs::write(&file, serde_json::json!({"insights": insights}).to_string()).unwrap();
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, token("example-storage", "storage-operator")).unwrap();
    let cli = Cli::try_parse_from([
        "update-status-controller",
        "report",
        "--server",
        &format!("https://localhost:{port}"),
        "--informer",
        "example-storage-operator",
        "--file",
        file.to_str().unwrap(),
        "--token-file",
        token_file.to_str().unwrap(),
        "--ca-file",
        &format!("{ROOT}/certs-dev/ca.crt"),
    ])
    .unwrap();
    let Command::Report(report_args) = cli.command else {
        unreachable!()
    };
    let answer = update_status_controller::commands::report::run(&report_args)
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let result: update_status_api::wire::ReportResult = serde_json::from_str(&answer.body).unwrap();
    assert_eq!((result.accepted, result.pages), (12, Some(3)));
    assert!(!result.unchanged);
    assert!(
        wait_for(Duration::from_secs(10), || holds_uid(&dir, "risk-11"))
            .await
            .is_some(),
        "the paged report was not published"
    );
    // The same file again: the server answers the committed result, nothing changes.
    let again = update_status_controller::commands::report::run(&report_args)
        .await
        .unwrap();
    let again: update_status_api::wire::ReportResult = serde_json::from_str(&again.body).unwrap();
    assert!(again.unchanged, "{again:?}");
    assert_eq!(again.accepted, 12);

    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
