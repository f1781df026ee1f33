//! The per-source budget of refused tokens (SECURITY.md, D3): a flood of forged tokens from one
//! address, *over* the budget, against `serve --dev` run in this process on 127.0.0.1.
//!
//! The attacker (127.0.0.2) presents forged tokens as fast as one keep-alive connection allows:
//! past its burst it is answered 429 with `Retry-After`, before its token is looked at (a valid
//! token from that address is refused too, while the budget is spent). Meanwhile the listed
//! producer, from 127.0.0.1, is answered 200, and a caller from 127.0.0.3 whose tokens are
//! accepted (then refused 403: it is listed nowhere) spends no budget at all. Linux routes all of
//! 127.0.0.0/8 to lo, so each client binds its own source address.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/dev_serve.rs"]
mod dev_serve;

#[path = "support/dev_client.rs"]
mod dev_client;
#[path = "support/dev_token.rs"]
mod dev_token;

#[path = "support/raw_http.rs"]
mod raw_http;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;
use update_status_controller::cli::ServeArgs;
use update_status_controller::publish::dir::FILE_NAME;

use dev_client::{dev_connector, open_from};
use dev_serve::dev_serve_args;
use dev_token::{dev_token as token, token_signed_by};
use raw_http::{Reply, read_reply};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Upper bound for any single network step.
const STEP: Duration = Duration::from_secs(5);
const REPORTS: &str = "/v1alpha1/informers/example-storage-operator/reports";
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const BYSTANDER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// The budget under test (`--refused-token-rate-limit`, `--refused-token-burst`): lower than
/// the defaults, so that a spent budget stays spent for half a second, far longer than one
/// request takes however slow the machine.
const RATE: f64 = 2.0;
const BURST: u32 = 10;
/// Forged tokens the attacker sends: many times the burst, more than the rate refills while
/// they are sent.
const FLOOD: usize = 200;

fn serve_args(dir: &Path) -> ServeArgs {
    dev_serve_args(
        dir,
        &[
            "--refused-token-rate-limit",
            &RATE.to_string(),
            "--refused-token-burst",
            &BURST.to_string(),
        ],
    )
}

/// The listed producer's token, signed by a key the server does not trust.
fn forged() -> String {
    let key = std::fs::read(format!("{ROOT}/tests/fixtures/auth/other-p256.key")).unwrap();
    token_signed_by(
        &key,
        "system:serviceaccount:example-storage:storage-operator",
    )
}

/// A TLS connection to `addr` from the source address `source`.
async fn open(source: Ipv4Addr, addr: SocketAddr) -> io::Result<TlsStream<TcpStream>> {
    open_from(source, addr, &dev_connector()).await
}

/// One keep-alive report on `s` with `token`.
async fn report<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, token: &str) -> io::Result<Reply> {
    let body = r#"{"insights": []}"#;
    timeout(STEP, async {
        let head = format!(
            "POST {REPORTS} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        s.flush().await?;
        read_reply(s).await
    })
    .await?
}

/// One report on a fresh connection from `source`.
async fn report_from(source: Ipv4Addr, addr: SocketAddr, token: &str) -> Reply {
    let mut conn = open(source, addr).await.unwrap();
    report(&mut conn, token).await.unwrap()
}

fn retry_after(reply: &Reply) -> Option<u64> {
    reply
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("retry-after:"))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_over_its_refused_token_budget_gets_429_and_a_listed_producer_elsewhere_200() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(format!("{ROOT}/samples/cluster")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().unwrap() != FILE_NAME {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let args = serve_args(&dir);
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { update_status_controller::serve::run_with(&args, listener, shutdown).await }
    });
    let producer = token("example-storage", "storage-operator");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut conn) = open(Ipv4Addr::LOCALHOST, addr).await
            && report(&mut conn, &producer)
                .await
                .is_ok_and(|r| r.status == 200)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not serve in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The flood, on one keep-alive connection from the attacker's address.
    let forged = forged();
    let mut conn = open(ATTACKER, addr).await.unwrap();
    let started = Instant::now();
    let (mut refused, mut limited, mut other) = (0_usize, 0_usize, Vec::new());
    for i in 0..FLOOD {
        let reply = report(&mut conn, &forged).await.unwrap();
        match reply.status {
            401 => refused += 1,
            429 => {
                limited += 1;
                let wait = retry_after(&reply);
                assert!(
                    wait.is_some_and(|s| s >= 1),
                    "429 without Retry-After: {reply:?}"
                );
                assert!(
                    reply.body.contains("TooManyRefusedTokens"),
                    "{}",
                    reply.body
                );
            }
            _ => other.push(reply.status),
        }
        // Halfway through, the listed producer reports from another address.
        if i == FLOOD / 2 {
            let during = report_from(Ipv4Addr::LOCALHOST, addr, &producer).await;
            assert_eq!(
                during.status, 200,
                "producer during the flood: {}",
                during.body
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // A valid token from the attacker's address is refused too while its budget is spent (right
    // after a 401 spent its last token): the 429 comes before the token is verified.
    while report(&mut conn, &forged).await.unwrap().status != 401 {}
    let valid_from_attacker = report(&mut conn, &producer).await.unwrap();
    let after = report_from(Ipv4Addr::LOCALHOST, addr, &producer).await;

    // Accepted tokens spend nothing: a caller whose tokens are valid but listed nowhere gets
    // its 403 every time, well past the refused-token burst.
    let stranger = token("default", "default");
    let mut conn = open(BYSTANDER, addr).await.unwrap();
    let mut bystander = Vec::new();
    for _ in 0..(3 * BURST as usize) {
        bystander.push(report(&mut conn, &stranger).await.unwrap().status);
    }

    shutdown.cancel();
    let _ = timeout(Duration::from_secs(30), server).await;

    println!(
        "refused-token flood: {FLOOD} forged tokens from {ATTACKER} in {elapsed:.2} s: \
         {refused} × 401, {limited} × 429, other {other:?}"
    );
    assert!(
        other.is_empty(),
        "only 401 and 429 for forged tokens: {other:?}"
    );
    let allowed = f64::from(BURST) + RATE * elapsed + 1.0;
    assert!(
        (refused as f64) <= allowed,
        "{refused} tokens refused 401 in {elapsed:.2} s, above the budget of {allowed:.0}"
    );
    assert!(
        limited > 0,
        "no 429 for {FLOOD} forged tokens in {elapsed:.2} s"
    );
    assert_eq!(
        valid_from_attacker.status, 429,
        "a valid token from a source over its budget: {}",
        valid_from_attacker.body
    );
    assert_eq!(
        after.status, 200,
        "producer after the flood: {}",
        after.body
    );
    assert!(
        bystander.iter().all(|s| *s == 403),
        "accepted tokens spend no refused-token budget: {bystander:?}"
    );
}
