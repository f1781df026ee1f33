//! The audit trail of the informer API (DESIGN §5 "Audit"; checklist AUDIT-01, AUDIT-03, LOG-01,
//! REPLAY-01): exactly one structured line (tracing target `audit`) per report or read-back,
//! accepted or refused, with the identity, informer, decision, status code, counts and the
//! SHA-256 of the exact body when it was read; and no token, nor any recognisable part of one,
//! anywhere in the log at TRACE.
//!
//! Each test captures everything logged on its thread (a current-thread runtime and a
//! `set_default` subscriber writing JSON lines into a buffer) and drives the router wrapped in
//! `server::limits::harden`, as the server does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/dev_token.rs"]
mod dev_token;

use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use dev_token::dev_token as token;
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tower::ServiceExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use update_status_controller::api::time::Timestamp;
use update_status_controller::api::v1alpha1::UpdateInformer;
use update_status_controller::auth::{DEFAULT_AUDIENCE, DEV_ISSUER, JwtAuthenticator, JwtSettings};
use update_status_controller::http::metrics::Metrics;
use update_status_controller::http::ratelimit::RateLimiter;
use update_status_controller::http::refusals::RefusalLimiter;
use update_status_controller::http::routes::router;
use update_status_controller::http::state::{ApiLimits, AppState};
use update_status_controller::informers::Registry;
use update_status_controller::server::limits::{RequestLimits, harden};

const DEV_PUB: &[u8] = include_bytes!("../certs-dev/token-signing.pub");

const MCO: &str = "machine-config";
const MCO_USER: &str =
    "system:serviceaccount:openshift-machine-config-operator:machine-config-operator";
const STORAGE: &str = "example-storage-operator";
const MAX_BODY: usize = 16 * 1024;

/// Everything written, shared between the subscriber and the test.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Every line so far, parsed.
    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The `fields` of the audit lines so far.
    fn audit(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["target"] == "audit")
            .map(|l| {
                assert_eq!(l["level"], "INFO", "{l}");
                l["fields"].clone()
            })
            .collect()
    }
}

/// Starts capturing everything logged on this thread, at TRACE.
fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new("trace"))
        .with_writer(capture.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::trace!(target: "capture", "capturing at TRACE");
    (capture, guard)
}

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn informer(name: &str, spec: Value) -> UpdateInformer {
    serde_json::from_value(json!({
        "apiVersion": "update.openshift.io/v1alpha1",
        "kind": "UpdateInformer",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

fn limits() -> RequestLimits {
    RequestLimits {
        body_limit: MAX_BODY,
        ..RequestLimits::default()
    }
}

fn app(burst: u32) -> Router {
    let registry = Registry::new([
        informer(
            MCO,
            json!({"reporting": "Enabled", "producers": [{"serviceAccount":
                {"namespace": "openshift-machine-config-operator", "name": "machine-config-operator"}}]}),
        ),
        informer(
            STORAGE,
            json!({"reporting": "Enabled", "maxInsights": 2, "producers": [{"serviceAccount":
                {"namespace": "example-storage", "name": "storage-operator"}}]}),
        ),
    ]);
    let state = Arc::new(AppState {
        store: Arc::default(),
        registry: RwLock::new(Arc::new(registry)),
        authenticator: Arc::new(
            JwtAuthenticator::from_public_key_pem(
                DEV_PUB,
                JwtSettings::new(DEV_ISSUER, DEFAULT_AUDIENCE),
            )
            .unwrap(),
        ),
        access_reviewer: None,
        audience: DEFAULT_AUDIENCE.to_owned(),
        limits: ApiLimits {
            max_body_bytes: MAX_BODY,
            max_insights_per_report: 10,
            max_insights_per_informer: 20_000,
        },
        metrics_readers: vec![],
        scrape: None,
        metrics: Metrics::new(),
        rate: RateLimiter::new(0.001, burst),
        refusals: RefusalLimiter::default(),
        read_rate: RateLimiter::new(1000.0, 1000),
        metrics_rate: RateLimiter::new(1000.0, 1000),
        changed: Arc::new(Notify::new()),
        ready: AtomicBool::new(true),
        clock: update_status_controller::clock::Clock::fixed(t0()),
        observed: Default::default(),
        staging: Default::default(),
    });
    harden(router(state), &limits())
}

fn mco_token() -> String {
    token(
        "openshift-machine-config-operator",
        "machine-config-operator",
    )
}

fn health(uid: &str) -> Value {
    json!({"uid": uid, "insight": {"type": "Health", "health": {
        "scope": {"type": "ControlPlane"},
        "impact": {"level": "Warning", "type": "UpdateSpeed", "summary": "slow"},
        "remediation": {},
    }}})
}

fn sha256(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn send(app: &Router, req: Request<Body>) -> StatusCode {
    let response = tokio::time::timeout(Duration::from_secs(30), app.clone().oneshot(req))
        .await
        .expect("answered in time")
        .unwrap();
    let status = response.status();
    tokio::time::timeout(Duration::from_secs(5), response.into_body().collect())
        .await
        .expect("body in time")
        .unwrap();
    status
}

fn post(informer: &str, token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post(format!("/v1alpha1/informers/{informer}/reports"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    req.body(body.into()).unwrap()
}

/// Sends `req` and returns the one audit line it caused (asserting there is exactly one).
async fn audited(app: &Router, capture: &Capture, req: Request<Body>) -> (StatusCode, Value) {
    let before = capture.audit().len();
    let status = send(app, req).await;
    let lines = capture.audit();
    assert_eq!(
        lines.len(),
        before + 1,
        "{status}: exactly one audit line per request: {:#?}",
        &lines[before..]
    );
    (status, lines[before].clone())
}

/// Asserts the fields every audit line has, and their values.
fn assert_line(line: &Value, expected: Value) {
    for key in [
        "message",
        "action",
        "identity",
        "informer",
        "decision",
        "reason",
        "denial",
        "code",
        "accepted",
        "rejected",
        "body_sha256",
        "bytes",
    ] {
        assert!(line.get(key).is_some(), "{key} missing: {line}");
    }
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&line[key], value, "{key} in {line}");
    }
}

/// No token, no 16-character prefix of one, no JWT header prefix, anywhere in the capture.
fn assert_no_secrets(capture: &Capture, tokens: &[&str]) {
    let text = capture.text();
    assert!(
        text.contains("capturing at TRACE"),
        "the capture sees TRACE events"
    );
    assert!(!text.contains("eyJ"), "a JWT header prefix was logged");
    assert!(
        !text.contains("Bearer"),
        "an Authorization value was logged"
    );
    for token in tokens {
        assert!(token.starts_with("eyJ"));
        assert!(!text.contains(&token[..16]), "a token prefix was logged");
        for part in token.split('.') {
            assert!(!text.contains(part), "a token segment was logged");
        }
    }
}

#[tokio::test]
async fn accepted_reports_are_audited_with_counts_and_the_body_hash() {
    let (capture, _guard) = capture();
    let app = app(100);
    let token = mco_token();

    let body = json!({"insights": [health("a"), health("b")]}).to_string();
    let (status, line) = audited(&app, &capture, post(MCO, Some(&token), body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_line(
        &line,
        json!({"message": "informer request", "action": "report", "identity": MCO_USER,
               "informer": MCO, "decision": "accepted", "reason": "-", "code": 200,
               "accepted": 2, "rejected": 0, "body_sha256": sha256(body.as_bytes()),
               "bytes": body.len()}),
    );

    // The same report again: its own line, the same hash (REPLAY-01).
    let (status, again) = audited(&app, &capture, post(MCO, Some(&token), body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, line);

    // Partly rejected: both counts. The hash is of the exact bytes, whitespace included.
    let body = format!(
        "{{ \"insights\" : [ {}, {{\"uid\": \"BAD_UID\"}}, {{\"uid\": \"x\"}} ] }}\n",
        health("a")
    );
    let (status, line) = audited(&app, &capture, post(MCO, Some(&token), body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_line(
        &line,
        json!({"identity": MCO_USER, "decision": "accepted", "code": 200, "accepted": 1,
               "rejected": 2, "body_sha256": sha256(body.as_bytes()), "bytes": body.len()}),
    );

    // A read-back is audited too, with no body.
    let req = Request::get(format!("/v1alpha1/informers/{MCO}/insights"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, line) = audited(&app, &capture, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_line(
        &line,
        json!({"action": "read", "identity": MCO_USER, "informer": MCO,
               "decision": "accepted", "code": 200, "body_sha256": "-"}),
    );

    assert_no_secrets(&capture, &[&token]);
}

#[tokio::test]
async fn refused_requests_are_audited_once_each() {
    let (capture, _guard) = capture();
    let app = app(100);
    let mco = mco_token();
    let storage = token("example-storage", "storage-operator");
    let stranger = token("default", "default");
    let good = json!({"insights": [health("a")]}).to_string();

    // Refused before the body: no hash.
    let cases: Vec<(&str, Request<Body>, Value)> = vec![
        (
            "no token",
            post(MCO, None, good.clone()),
            json!({"identity": "-", "informer": MCO, "code": 401, "reason": "Unauthorized"}),
        ),
        (
            "garbage token",
            post(MCO, Some("aaaa.bbbb.cccc"), good.clone()),
            json!({"identity": "-", "code": 401, "reason": "Unauthorized"}),
        ),
        (
            "not a producer",
            post(MCO, Some(&stranger), good.clone()),
            json!({"identity": "system:serviceaccount:default:default", "informer": MCO,
                   "code": 403, "reason": "Forbidden", "denial": "NotAProducer"}),
        ),
        (
            "another informer's producer",
            post(MCO, Some(&storage), good.clone()),
            json!({"identity": "system:serviceaccount:example-storage:storage-operator",
                   "code": 403, "reason": "Forbidden"}),
        ),
        (
            "unregistered informer",
            post("not-registered", Some(&mco), good.clone()),
            json!({"identity": MCO_USER, "informer": "not-registered", "code": 403,
                   "denial": "Unregistered"}),
        ),
        (
            "invalid informer name",
            post("Not_Valid", Some(&mco), good.clone()),
            json!({"identity": "-", "informer": "Not_Valid", "code": 404, "reason": "NotFound",
                   "denial": "-"}),
        ),
        (
            "wrong content type",
            Request::post(format!("/v1alpha1/informers/{MCO}/reports"))
                .header(header::AUTHORIZATION, format!("Bearer {mco}"))
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(good.clone()))
                .unwrap(),
            json!({"identity": MCO_USER, "code": 415, "reason": "UnsupportedMediaType"}),
        ),
        (
            "oversized, declared",
            Request::post(format!("/v1alpha1/informers/{MCO}/reports"))
                .header(header::AUTHORIZATION, format!("Bearer {mco}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, MAX_BODY + 1)
                .body(Body::from(vec![b' '; MAX_BODY + 1]))
                .unwrap(),
            json!({"action": "report", "identity": "-", "informer": MCO, "code": 413,
                   "reason": "BodyTooLarge"}),
        ),
        (
            "oversized, streamed",
            post(MCO, Some(&mco), vec![b' '; MAX_BODY + 1]),
            json!({"identity": MCO_USER, "code": 413, "reason": "BodyTooLarge"}),
        ),
    ];
    for (case, req, expected) in cases {
        let (status, line) = audited(&app, &capture, req).await;
        assert_eq!(u64::from(status.as_u16()), expected["code"], "{case}");
        assert_line(&line, expected);
        assert_line(
            &line,
            json!({"decision": "refused", "body_sha256": "-", "bytes": 0, "accepted": 0,
                   "rejected": 0}),
        );
    }

    // Refused after the body was read: the hash of what was sent.
    let too_many = json!({"insights": [health("a"), health("b"), health("c")]}).to_string();
    for (case, informer, token, body, code, reason) in [
        (
            "malformed",
            MCO,
            &mco,
            "{\"insights\": [".to_owned(),
            400,
            "MalformedReport",
        ),
        (
            "unknown field",
            MCO,
            &mco,
            "{\"insights\": [], \"x\": 1}".to_owned(),
            400,
            "MalformedReport",
        ),
        (
            "over maxInsights",
            STORAGE,
            &storage,
            too_many,
            422,
            "TooManyInsights",
        ),
    ] {
        let (status, line) =
            audited(&app, &capture, post(informer, Some(token), body.clone())).await;
        assert_eq!(status.as_u16(), code, "{case}");
        assert_line(
            &line,
            json!({"decision": "refused", "code": code, "reason": reason, "informer": informer,
                   "body_sha256": sha256(body.as_bytes()), "bytes": body.len(),
                   "accepted": 0, "rejected": 0}),
        );
    }

    assert_no_secrets(&capture, &[&mco, &storage, &stranger]);
}

#[tokio::test]
async fn rate_limited_reports_are_audited() {
    let (capture, _guard) = capture();
    let app = app(1);
    let token = mco_token();
    let body = json!({"insights": []}).to_string();
    let (status, _) = audited(&app, &capture, post(MCO, Some(&token), body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let (status, line) = audited(&app, &capture, post(MCO, Some(&token), body)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_line(
        &line,
        json!({"identity": MCO_USER, "informer": MCO, "decision": "refused", "code": 429,
               "reason": "TooManyRequests", "body_sha256": "-"}),
    );
    assert_no_secrets(&capture, &[&token]);
}

/// A body that sends one chunk, then never another and never ends.
struct Stalled(bool);

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.0 {
            Poll::Pending
        } else {
            self.0 = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{")))))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_arrives_is_audited_once() {
    let (capture, _guard) = capture();
    let app = app(100);
    let token = mco_token();
    let (status, line) = audited(
        &app,
        &capture,
        post(MCO, Some(&token), Body::new(Stalled(false))),
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_line(
        &line,
        json!({"identity": MCO_USER, "decision": "refused", "code": 408, "body_sha256": "-"}),
    );
    assert_no_secrets(&capture, &[&token]);
}

#[tokio::test]
async fn the_informer_named_in_the_path_is_logged_printable_and_short() {
    let (capture, _guard) = capture();
    let app = app(100);
    let token = mco_token();
    let hostile = format!("%1b%5b2J%0d%0a%e2%80%aeevil%e2%80%8b{}", "a".repeat(500));
    let (status, line) = audited(&app, &capture, post(&hostile, Some(&token), "{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let informer = line["informer"].as_str().unwrap();
    assert!(informer.chars().count() <= 80, "{informer}");
    assert!(
        informer.chars().all(|c| c.is_ascii_graphic()),
        "control, bidi and invisible characters reach the log: {informer:?}"
    );
    assert!(informer.contains("evil"), "{informer}");
    let text = capture.text();
    for bad in ['\u{1b}', '\r', '\u{202e}', '\u{200b}'] {
        assert!(!text.contains(bad), "{bad:?} in the log");
    }
    assert_no_secrets(&capture, &[&token]);
}
