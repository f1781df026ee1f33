//! The informer HTTP API driven in process, through the router wrapped in the same request limits
//! as the real server (`server::limits::harden`): authentication, authorization, limits, input
//! validation, full-state semantics, isolation between informers, rate limiting, probes,
//! discovery and metrics.
//!
//! Checklist items (shared/reference/security-research.md §3): AUTHN-01, AUTHN-02, AUTHN-08,
//! AUTHN-12, AUTHZ-01, AUTHZ-03, AUTHZ-04, AUTHZ-06, AUTHZ-07, DOS-05, DOS-06, DOS-08, DOS-10,
//! INPUT-01..03, INPUT-05..08, REPLAY-01, LOG-03, HEALTH-01, METRICS-01.
//!
//! Every refusal is checked three ways: the status code, the JSON error body (`code`, `reason`,
//! a human `message`), and that nothing the store holds changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::ServiceExt as _;
use update_status_controller::api::time::{GoDuration, Timestamp};
use update_status_controller::api::v1alpha1::{Reporting, UpdateInformer};
use update_status_controller::api::wire::{
    ErrorBody, InsightsResponse, PageStaged, ReportResult, ReportedInsight,
};
use update_status_controller::auth::{
    DEFAULT_AUDIENCE, DEV_ISSUER, JwtAuthenticator, JwtSettings, ServiceAccount, mint,
};
use update_status_controller::http::metrics::Metrics;
use update_status_controller::http::ratelimit::RateLimiter;
use update_status_controller::http::refusals::RefusalLimiter;
use update_status_controller::http::routes::router;
use update_status_controller::http::state::{ApiLimits, AppState};
use update_status_controller::informers::paging::{PagingLimits, Staging};
use update_status_controller::informers::{NOT_ALLOWED, Registry};
use update_status_controller::server::limits::{RequestLimits, harden};
use update_status_controller::store::Store;

const DEV_KEY: &[u8] = include_bytes!("../certs-dev/token-signing.key");
const DEV_PUB: &[u8] = include_bytes!("../certs-dev/token-signing.pub");
const OTHER_P256_KEY: &[u8] = include_bytes!("fixtures/auth/other-p256.key");

/// Every request gets this long at most; nothing here should take a fraction of it.
const BOUND: Duration = Duration::from_secs(10);

const MCO: &str = "machine-config";
const STORAGE: &str = "example-storage-operator";
const PINNED: &str = "pinned-operator";
const RETIRED: &str = "retired-operator";
const NETWORK: &str = "network-observer";
const ROGUE: &str = "rogue-operator";

const PINNED_UID: &str = "2a3c1c1e-8f0b-4f0e-9a7e-0d9c4f0b1a2b";
const OTHER_UID: &str = "00000000-0000-0000-0000-000000000000";
const METRICS_READER: &str = "system:serviceaccount:openshift-monitoring:prometheus-k8s";

/// The server's own limits in these tests: small, so the edges are cheap to reach.
const MAX_BODY: usize = 64 * 1024;
const MAX_INSIGHTS: usize = 50;
/// The most insights one informer may hold in these tests: several pages' worth.
const MAX_PER_INFORMER: usize = 500;

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn t1() -> Timestamp {
    "2026-01-01T00:05:00Z".parse().unwrap()
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

fn producer(namespace: &str, name: &str) -> Value {
    json!({"serviceAccount": {"namespace": namespace, "name": name}})
}

fn registry() -> Registry {
    Registry::new([
        informer(
            MCO,
            json!({"reporting": "Enabled", "producers": [producer("openshift-machine-config-operator", "machine-config-operator")]}),
        ),
        informer(
            STORAGE,
            json!({"reporting": "Enabled", "producers": [producer("example-storage", "storage-operator")],
                   "maxInsights": 3, "allowedScopes": ["WorkerPool"], "allowedInsightTypes": ["Health"]}),
        ),
        informer(
            PINNED,
            json!({"reporting": "Enabled", "producers": [{"serviceAccount": {"namespace": "pinned", "name": "op", "uid": PINNED_UID}}]}),
        ),
        informer(
            RETIRED,
            json!({"reporting": "Disabled", "producers": [producer("retired", "op")]}),
        ),
        // A third party whose spec claims status insights: the CRD refuses it, but the server
        // must not depend on that (an object from before the rule, or from a file offline).
        informer(
            ROGUE,
            json!({"reporting": "Enabled", "producers": [producer("rogue", "op")],
                   "allowedInsightTypes": ["Node", "ClusterVersion", "Health"]}),
        ),
        // A third party without limits of its own: Health only (the default), both scopes.
        informer(
            NETWORK,
            json!({"reporting": "Enabled", "producers": [producer("openshift-network-diagnostics", "network-check-source")]}),
        ),
    ])
}

fn authenticator() -> Arc<JwtAuthenticator> {
    Arc::new(
        JwtAuthenticator::from_public_key_pem(
            DEV_PUB,
            JwtSettings::new(DEV_ISSUER, DEFAULT_AUDIENCE),
        )
        .unwrap(),
    )
}

fn request_limits() -> RequestLimits {
    RequestLimits {
        body_limit: MAX_BODY,
        ..RequestLimits::default()
    }
}

struct Options {
    rate: RateLimiter,
    refusals: RefusalLimiter,
    read_rate: RateLimiter,
    metrics_rate: RateLimiter,
    now: fn() -> Timestamp,
    request_limits: RequestLimits,
    paging: PagingLimits,
    api_limits: ApiLimits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate: RateLimiter::new(1000.0, 1000),
            refusals: RefusalLimiter::default(),
            read_rate: RateLimiter::new(1000.0, 1000),
            metrics_rate: RateLimiter::new(1000.0, 1000),
            now: t0,
            request_limits: request_limits(),
            paging: PagingLimits::default(),
            api_limits: ApiLimits {
                max_body_bytes: MAX_BODY,
                max_insights_per_report: MAX_INSIGHTS,
                max_insights_per_informer: MAX_PER_INFORMER,
            },
        }
    }
}

fn state(options: Options, store: Arc<Mutex<Store>>) -> Arc<AppState> {
    Arc::new(AppState {
        store,
        registry: RwLock::new(Arc::new(registry())),
        authenticator: authenticator(),
        access_reviewer: None,
        audience: DEFAULT_AUDIENCE.to_owned(),
        limits: options.api_limits,
        metrics_readers: vec![METRICS_READER.to_owned()],
        scrape: None,
        metrics: Metrics::new(),
        rate: options.rate,
        refusals: options.refusals,
        read_rate: options.read_rate,
        metrics_rate: options.metrics_rate,
        changed: Arc::new(Notify::new()),
        ready: AtomicBool::new(false),
        clock: update_status_controller::clock::Clock::fixed((options.now)()),
        observed: Default::default(),
        staging: Staging::new(options.paging),
    })
}

/// The API under test: the state and the hardened router, as the server builds them.
struct Api {
    state: Arc<AppState>,
    app: Router,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {}", self.status, self.text()))
    }

    /// Asserts the status and the one error shape, and returns the error.
    fn error(&self, status: StatusCode) -> ErrorBody {
        assert_eq!(self.status, status, "{}", self.text());
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{status}: content type {content_type:?}: {}",
            self.text()
        );
        let value = self.json();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "exactly code, reason, message: {value}");
        let body: ErrorBody = serde_json::from_value(value).unwrap();
        assert_eq!(body.code, status.as_u16());
        assert!(
            !body.reason.is_empty() && body.reason.chars().all(|c| c.is_ascii_alphanumeric()),
            "reason must be CamelCase: {body:?}"
        );
        assert!(
            body.reason.starts_with(|c: char| c.is_ascii_uppercase()),
            "{body:?}"
        );
        assert!(
            body.message.len() >= 10 && body.message.contains(' '),
            "message must be a sentence: {body:?}"
        );
        body
    }

    fn result(&self) -> ReportResult {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        serde_json::from_slice(&self.body).unwrap()
    }
}

impl Api {
    fn new() -> Self {
        Self::with(Options::default())
    }

    fn with(options: Options) -> Self {
        let request_limits = options.request_limits.clone();
        Self::sharing(state(options, Arc::default()), &request_limits)
    }

    fn sharing(state: Arc<AppState>, limits: &RequestLimits) -> Self {
        let app = harden(router(Arc::clone(&state)), limits);
        Self { state, app }
    }

    /// A second API over the same store with another clock (the producer reports again later).
    fn later(&self, now: fn() -> Timestamp) -> Self {
        let options = Options {
            now,
            ..Options::default()
        };
        let request_limits = options.request_limits.clone();
        Self::sharing(
            state(options, Arc::clone(&self.state.store)),
            &request_limits,
        )
    }

    async fn call(&self, req: Request<Body>) -> Reply {
        let response = tokio::time::timeout(BOUND, self.app.clone().oneshot(req))
            .await
            .expect("the router answers in time")
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(BOUND, body.collect())
            .await
            .expect("the response body ends in time")
            .unwrap()
            .to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn post(&self, informer: &str, token: &str, body: impl Into<Body>) -> Reply {
        self.call(
            Request::post(format!("/v1alpha1/informers/{informer}/reports"))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    async fn report(&self, informer: &str, token: &str, insights: Vec<Value>) -> Reply {
        self.post(informer, token, json!({"insights": insights}).to_string())
            .await
    }

    async fn read_back(&self, informer: &str, token: &str) -> InsightsResponse {
        let reply = self
            .call(
                Request::get(format!("/v1alpha1/informers/{informer}/insights"))
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        serde_json::from_slice(&reply.body).unwrap()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = Request::get(path);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.call(req.body(Body::empty()).unwrap()).await
    }

    /// Everything the store holds, to compare before and after a refusal.
    fn dump(&self) -> String {
        format!("{:?}", *self.state.store.lock().unwrap())
    }

    /// Whether the publisher was woken (consumes the wake-up).
    async fn notified(&self) -> bool {
        tokio::time::timeout(Duration::from_millis(200), self.state.changed.notified())
            .await
            .is_ok()
    }

    async fn metrics_text(&self) -> String {
        let reply = self.get("/metrics", Some(&metrics_token())).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.text()
    }
}

// ---- tokens ----

fn sa(namespace: &str, name: &str) -> ServiceAccount {
    ServiceAccount::from_username(&format!("system:serviceaccount:{namespace}:{name}")).unwrap()
}

fn token_with(
    key: &[u8],
    issuer: &str,
    audience: &str,
    sa: &ServiceAccount,
    uid: Option<&str>,
    now: jiff::Timestamp,
) -> String {
    mint(
        key,
        issuer,
        audience,
        sa,
        uid,
        now,
        Duration::from_secs(600),
    )
    .unwrap()
}

fn token(namespace: &str, name: &str, uid: Option<&str>) -> String {
    token_with(
        DEV_KEY,
        DEV_ISSUER,
        DEFAULT_AUDIENCE,
        &sa(namespace, name),
        uid,
        jiff::Timestamp::now(),
    )
}

fn mco_token() -> String {
    token(
        "openshift-machine-config-operator",
        "machine-config-operator",
        None,
    )
}

fn storage_token() -> String {
    token("example-storage", "storage-operator", None)
}

fn network_token() -> String {
    token(
        "openshift-network-diagnostics",
        "network-check-source",
        None,
    )
}

fn metrics_token() -> String {
    token("openshift-monitoring", "prometheus-k8s", None)
}

/// The claims of a valid MCO token, to re-sign or re-head.
fn mco_claims() -> Value {
    let payload = mco_token().split('.').nth(1).unwrap().to_owned();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

// ---- insights ----

fn health(uid: &str, scope: &str, summary: &str) -> Value {
    let scope = if scope == "WorkerPool" {
        json!({"type": "WorkerPool", "pool": "worker"})
    } else {
        json!({"type": scope})
    };
    json!({"uid": uid, "insight": {"type": "Health", "health": {
        "scope": scope,
        "impact": {"level": "Warning", "type": "UpdateSpeed", "summary": summary},
        "remediation": {"reference": "https://docs.example.com/runbooks/slow-update"},
    }}})
}

fn node(uid: &str, name: &str) -> Value {
    json!({"uid": uid, "insight": {"type": "Node", "node": {
        "name": name,
        "resource": {"resource": "nodes", "name": name},
        "poolResource": {"group": "machineconfiguration.openshift.io", "resource": "machineconfigpools", "name": "worker"},
        "scopeType": "WorkerPool",
        "version": "4.16.0",
        "conditions": [{"type": "Updating", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "reason": "Completed", "message": "The node is updated"}],
    }}})
}

fn uids(insights: &InsightsResponse) -> Vec<String> {
    insights
        .insights
        .iter()
        .map(|i| i.uid.to_string())
        .collect()
}

fn hostile_token_texts(token: &str) -> [String; 3] {
    [token.to_owned(), token[..16].to_owned(), "eyJ".to_owned()]
}

// ================================================================================================
// Accepted reports, read-back, idempotence, full state
// ================================================================================================

#[tokio::test]
async fn an_accepted_report_is_stored_read_back_and_counted() {
    let api = Api::new();
    let token = mco_token();
    let insights = vec![
        node("node-a", "worker-a"),
        node("node-b", "worker-b"),
        health("slow-drain", "WorkerPool", "Node worker-a drains slowly"),
    ];
    let result = api.report(MCO, &token, insights.clone()).await.result();
    assert_eq!(
        result,
        ReportResult {
            informer: MCO.into(),
            accepted: 3,
            removed: 0,
            unchanged: false,
            rejected: vec![],
            report: None,
            pages: None,
        }
    );
    assert!(api.notified().await, "a change wakes the publisher");

    let held = api.read_back(MCO, &token).await;
    assert_eq!(held.informer, MCO);
    assert_eq!(uids(&held), ["node-a", "node-b", "slow-drain"]);
    for (stored, sent) in held.insights.iter().zip(&insights) {
        assert_eq!(stored.acquired_at, t0(), "stamped with the server's clock");
        let sent: ReportedInsight = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(stored.uid, sent.uid);
        assert_eq!(stored.insight, sent.insight, "stored exactly as sent");
    }
}

#[tokio::test]
async fn a_repeated_report_changes_nothing_and_keeps_acquired_at() {
    let api = Api::new();
    let token = mco_token();
    let insights = vec![node("node-a", "worker-a"), health("h", "ControlPlane", "s")];
    assert!(
        !api.report(MCO, &token, insights.clone())
            .await
            .result()
            .unchanged
    );
    assert!(api.notified().await);
    let before = api.dump();

    // The same report five minutes later (same store, later clock).
    let later = api.later(t1);
    let result = later.report(MCO, &token, insights.clone()).await.result();
    assert_eq!(
        result,
        ReportResult {
            informer: MCO.into(),
            accepted: 2,
            removed: 0,
            unchanged: true,
            rejected: vec![],
            report: None,
            pages: None,
        }
    );
    assert!(!later.notified().await, "no change, no write");
    let held = later.read_back(MCO, &token).await;
    assert!(held.insights.iter().all(|i| i.acquired_at == t0()));
    assert_eq!(
        before.replace("last_report: Some(2026-01-01T00:00:00Z)", ""),
        api.dump()
            .replace("last_report: Some(2026-01-01T00:05:00Z)", ""),
        "only the time of the last report moved"
    );

    // A changed insight is re-stamped; the unchanged one keeps its time.
    let changed = vec![
        node("node-a", "worker-a"),
        health("h", "ControlPlane", "now slower"),
    ];
    let result = later.report(MCO, &token, changed).await.result();
    assert!(!result.unchanged);
    assert!(later.notified().await);
    let held = later.read_back(MCO, &token).await;
    assert_eq!(held.insights[0].acquired_at, t0());
    assert_eq!(held.insights[1].acquired_at, t1());
}

#[tokio::test]
async fn a_report_is_the_full_state() {
    let api = Api::new();
    let token = mco_token();
    api.report(
        MCO,
        &token,
        vec![
            node("node-a", "a"),
            node("node-b", "b"),
            node("node-c", "c"),
        ],
    )
    .await
    .result();
    let result = api
        .report(MCO, &token, vec![node("node-b", "b")])
        .await
        .result();
    assert_eq!((result.accepted, result.removed), (1, 2));
    assert!(!result.unchanged);
    assert_eq!(uids(&api.read_back(MCO, &token).await), ["node-b"]);

    let result = api.report(MCO, &token, vec![]).await.result();
    assert_eq!((result.accepted, result.removed), (0, 1));
    assert!(api.read_back(MCO, &token).await.insights.is_empty());
}

#[tokio::test]
async fn the_first_report_of_an_informer_is_a_change_even_when_empty() {
    let api = Api::new();
    let result = api.report(MCO, &mco_token(), vec![]).await.result();
    assert!(
        !result.unchanged,
        "the informer now reports: its summary appears in the published object"
    );
    assert!(api.notified().await);
    let status = api.state.store.lock().unwrap().status(t0(), 1 << 20);
    assert_eq!(status.informers.len(), 1);
}

// ================================================================================================
// Authentication (401)
// ================================================================================================

async fn assert_unauthorized(api: &Api, authorization: Option<&str>, case: &str) {
    let before = api.dump();
    let mut req = Request::post(format!("/v1alpha1/informers/{MCO}/reports"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        req = req.header(header::AUTHORIZATION, value);
    }
    let body = json!({"insights": [node("node-a", "a")]}).to_string();
    let reply = api.call(req.body(Body::from(body)).unwrap()).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {}",
        reply.text()
    );
    let error = reply.error(StatusCode::UNAUTHORIZED);
    assert_eq!(error.reason, "Unauthorized", "{case}");
    assert_eq!(
        reply.headers.get(header::WWW_AUTHENTICATE).unwrap(),
        "Bearer",
        "{case}"
    );
    if let Some(value) = authorization {
        let token = value.split_once(' ').map_or(value, |(_, t)| t).trim();
        if token.len() >= 16 {
            for secret in hostile_token_texts(token) {
                assert!(
                    !reply.text().contains(&secret),
                    "{case}: the body quotes the token: {}",
                    reply.text()
                );
            }
        }
    }
    assert_eq!(api.dump(), before, "{case}: nothing stored");

    // The read-back refuses the same way.
    let mut req = Request::get(format!("/v1alpha1/informers/{MCO}/insights"));
    if let Some(value) = authorization {
        req = req.header(header::AUTHORIZATION, value);
    }
    let reply = api.call(req.body(Body::empty()).unwrap()).await;
    reply.error(StatusCode::UNAUTHORIZED);
    assert!(
        reply.headers.contains_key(header::WWW_AUTHENTICATE),
        "{case}"
    );
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let api = Api::new();
    // Something is stored, so "unchanged" is not trivially true.
    api.report(MCO, &mco_token(), vec![node("node-a", "a")])
        .await
        .result();

    let now = jiff::Timestamp::now();
    let mco = sa(
        "openshift-machine-config-operator",
        "machine-config-operator",
    );
    let good = mco_token();
    let mut claims = mco_claims();
    let alg_none = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims),
        good.split('.').nth(2).unwrap()
    );
    claims["exp"] = json!(now.as_second() + 600);
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(DEV_PUB).unwrap(),
    )
    .unwrap();
    let tampered = {
        let mut c = mco_claims();
        c["sub"] = json!("system:serviceaccount:kube-system:admin");
        let parts: Vec<&str> = good.split('.').collect();
        format!("{}.{}.{}", parts[0], b64(&c), parts[2])
    };
    let hour = jiff::SignedDuration::from_hours(1);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("Basic", Some("Basic dXNlcjpwYXNzd29yZA==".into())),
        (
            "Basic carrying a valid token",
            Some(format!("Basic {good}")),
        ),
        ("empty bearer", Some("Bearer ".into())),
        ("bearer alone", Some("Bearer".into())),
        ("two tokens", Some(format!("Bearer {good} {good}"))),
        ("not a JWT", Some("Bearer not-a-jwt".into())),
        ("JWT-shaped garbage", Some("Bearer aaaa.bbbb.cccc".into())),
        (
            "20 KiB token",
            Some(format!("Bearer {}", "a".repeat(20 * 1024))),
        ),
        (
            "signed with another key",
            Some(format!(
                "Bearer {}",
                token_with(
                    OTHER_P256_KEY,
                    DEV_ISSUER,
                    DEFAULT_AUDIENCE,
                    &mco,
                    None,
                    now
                )
            )),
        ),
        (
            "claims changed after signing",
            Some(format!("Bearer {tampered}")),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                token_with(
                    DEV_KEY,
                    DEV_ISSUER,
                    DEFAULT_AUDIENCE,
                    &mco,
                    None,
                    now - hour
                )
            )),
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                token_with(
                    DEV_KEY,
                    DEV_ISSUER,
                    DEFAULT_AUDIENCE,
                    &mco,
                    None,
                    now + hour
                )
            )),
        ),
        (
            "wrong audience (the API server's)",
            Some(format!(
                "Bearer {}",
                token_with(
                    DEV_KEY,
                    DEV_ISSUER,
                    "https://kubernetes.default.svc",
                    &mco,
                    None,
                    now
                )
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                token_with(
                    DEV_KEY,
                    "https://kubernetes.default.svc",
                    DEFAULT_AUDIENCE,
                    &mco,
                    None,
                    now
                )
            )),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        (
            "HS256 signed with the public key",
            Some(format!("Bearer {hs256}")),
        ),
    ];
    for (case, authorization) in &cases {
        assert_unauthorized(&api, authorization.as_deref(), case).await;
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let api = Api::new();
    let before = api.dump();
    let reply = api
        .call(
            Request::post(format!("/v1alpha1/informers/{MCO}/reports"))
                .header(header::AUTHORIZATION, format!("Bearer {}", mco_token()))
                .header(header::AUTHORIZATION, format!("Bearer {}", storage_token()))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"insights": []}"#))
                .unwrap(),
        )
        .await;
    reply.error(StatusCode::UNAUTHORIZED);
    assert_eq!(api.dump(), before);
}

// ================================================================================================
// Authorization (403), before the body
// ================================================================================================

#[tokio::test]
async fn callers_not_listed_for_the_informer_are_403() {
    let api = Api::new();
    api.report(MCO, &mco_token(), vec![node("node-a", "a")])
        .await
        .result();
    api.report(
        STORAGE,
        &storage_token(),
        vec![health("s", "WorkerPool", "s")],
    )
    .await
    .result();
    let cases = [
        ("unregistered informer", "not-registered", mco_token()),
        ("disabled informer", RETIRED, token("retired", "op", None)),
        (
            "service account not listed",
            STORAGE,
            token("example-storage", "another-account", None),
        ),
        (
            "same name, another namespace",
            STORAGE,
            token("other-namespace", "storage-operator", None),
        ),
        (
            "pinned uid, other incarnation",
            PINNED,
            token("pinned", "op", Some(OTHER_UID)),
        ),
        (
            "pinned uid, token without uid",
            PINNED,
            token("pinned", "op", None),
        ),
        ("producer of A posting to B", STORAGE, mco_token()),
        ("producer of B posting to A", MCO, storage_token()),
        ("metrics reader posting a report", MCO, metrics_token()),
    ];
    for (case, informer, token) in cases {
        let before = api.dump();
        let reply = api
            .report(informer, &token, vec![health("x", "WorkerPool", "x")])
            .await;
        let error = reply.error(StatusCode::FORBIDDEN);
        assert_eq!(error.reason, "Forbidden", "{case}");
        let told = if informer == RETIRED {
            // Its own listed producer is told why.
            assert!(error.message.contains("disabled"), "{case}: {error:?}");
            error.message.as_str()
        } else {
            // Everyone else is told who they are, and that they may not.
            let (caller, rest) = error.message.split_once(' ').unwrap();
            assert!(
                caller.starts_with("system:serviceaccount:"),
                "{case}: {error:?}"
            );
            assert_eq!(rest, NOT_ALLOWED, "{case}: one answer for strangers");
            rest
        };
        for other in [MCO, STORAGE, PINNED, RETIRED, NETWORK, ROGUE] {
            assert!(
                !told.contains(other),
                "{case}: a refusal names no informer: {error:?}"
            );
        }
        assert_eq!(api.dump(), before, "{case}: nothing stored");
        let reply = api
            .call(
                Request::get(format!("/v1alpha1/informers/{informer}/insights"))
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        reply.error(StatusCode::FORBIDDEN);
    }

    // The pinned incarnation itself is allowed.
    let pinned = token("pinned", "op", Some(PINNED_UID));
    let result = api
        .report(PINNED, &pinned, vec![health("p", "ControlPlane", "p")])
        .await
        .result();
    assert_eq!(result.accepted, 1);
}

/// Every refusal an unlisted caller can get from the API, for a request to `informer`: the
/// report's and the read-back's, status, headers and body.
async fn refusals_for(
    api: &Api,
    informer: &str,
    token: &str,
) -> Vec<(StatusCode, HeaderMap, Bytes)> {
    let mut answers = Vec::new();
    for reply in [
        api.report(informer, token, vec![health("x", "WorkerPool", "x")])
            .await,
        api.get(
            &format!("/v1alpha1/informers/{informer}/insights"),
            Some(token),
        )
        .await,
    ] {
        answers.push((reply.status, reply.headers, reply.body));
    }
    answers
}

#[tokio::test]
async fn a_caller_not_listed_cannot_tell_which_informers_exist() {
    let api = Api::new();
    // Callers listed for no informer here: a stranger, and another informer's producer.
    for token in [token("default", "default", None), network_token()] {
        let unregistered = refusals_for(&api, "not-registered", &token).await;
        assert_eq!(unregistered[0].0, StatusCode::FORBIDDEN);
        for (case, informer) in [
            ("disabled", RETIRED),
            ("registered, caller not listed", MCO),
            ("registered, uid pinned", PINNED),
            ("reserved built-in name", "alerts"),
        ] {
            assert_eq!(
                refusals_for(&api, informer, &token).await,
                unregistered,
                "{case}: the answer differs from an unregistered name's"
            );
        }
        let message = String::from_utf8_lossy(&unregistered[0].2).into_owned();
        for name in [
            MCO,
            RETIRED,
            PINNED,
            "disabled",
            "not-registered",
            "registered",
        ] {
            assert!(!message.contains(name), "{name} in {message}");
        }
    }
    // A listed producer may still learn that its own informer is disabled.
    let retired = token("retired", "op", None);
    let error = api
        .report(RETIRED, &retired, vec![])
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(error.message.contains("disabled"), "{error:?}");
    // And every bad name gets the same 404, which does not echo it.
    let bad = refusals_for(&api, "Not_Valid", &network_token()).await;
    assert_eq!(bad[0].0, StatusCode::NOT_FOUND);
    assert_eq!(refusals_for(&api, &"x".repeat(64), &mco_token()).await, bad);
}

#[tokio::test]
async fn a_registry_change_applies_from_the_next_request() {
    let api = Api::new();
    let storage = storage_token();
    api.report(STORAGE, &storage, vec![health("s", "WorkerPool", "s")])
        .await
        .result();
    // The administrator switches the informer off, then removes the account from it.
    let mut objects: Vec<UpdateInformer> = registry().iter().map(|(_, o)| o.clone()).collect();
    for o in &mut objects {
        if o.metadata.name.as_deref() == Some(STORAGE) {
            o.spec.reporting = Reporting::Disabled;
        }
    }
    api.state.set_registry(Registry::new(objects.clone()));
    let before = api.dump();
    let error = api
        .report(STORAGE, &storage, vec![])
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(error.message.contains("disabled"), "{error:?}");
    assert_eq!(api.dump(), before, "a refused report removes nothing");
    for o in &mut objects {
        if o.metadata.name.as_deref() == Some(STORAGE) {
            o.spec.reporting = Reporting::Enabled;
            o.spec.producers =
                serde_json::from_value(json!([producer("example-storage", "successor")])).unwrap();
        }
    }
    api.state.set_registry(Registry::new(objects));
    api.report(STORAGE, &storage, vec![])
        .await
        .error(StatusCode::FORBIDDEN);
    let successor = token("example-storage", "successor", None);
    assert_eq!(
        api.report(STORAGE, &successor, vec![])
            .await
            .result()
            .removed,
        1
    );
}

/// A body that says when it is first read (the request passed authorization: the body is read
/// only after it), then sends `content` once released, as a slow producer's body arrives while
/// an administrator changes the UpdateInformer.
struct Gated {
    read: Option<tokio::sync::oneshot::Sender<()>>,
    release: tokio::sync::oneshot::Receiver<()>,
    content: Option<Bytes>,
}

impl hyper::body::Body for Gated {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(read) = self.read.take() {
            let _ = read.send(());
        }
        if self.content.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.release).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(self.content.take().map(|c| Ok(Frame::data(c)))),
        }
    }
}

/// Sends `body` to `informer` as `token`, and changes the registry to `changed` while the body
/// is on its way (after authorization, before the body has arrived): the answer.
async fn report_while_the_registry_changes(
    api: &Api,
    informer: &str,
    token: &str,
    body: String,
    changed: Registry,
) -> Reply {
    let (read, body_read) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel();
    let req = Request::post(format!("/v1alpha1/informers/{informer}/reports"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(Gated {
            read: Some(read),
            release: released,
            content: Some(Bytes::from(body)),
        }))
        .unwrap();
    let reply = tokio::spawn({
        let app = api.app.clone();
        async move { app.oneshot(req).await.unwrap() }
    });
    tokio::time::timeout(BOUND, body_read)
        .await
        .expect("the body is read once the request is authorized")
        .unwrap();
    api.state.set_registry(changed);
    release.send(()).unwrap();
    let response = tokio::time::timeout(BOUND, reply).await.unwrap().unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// The registry, with `change` applied to the UpdateInformer named `name` (or without it, when
/// `change` says so by returning false).
fn registry_with(name: &str, change: impl Fn(&mut UpdateInformer) -> bool) -> Registry {
    Registry::new(registry().iter().filter_map(|(n, o)| {
        let mut o = o.clone();
        (n != name || change(&mut o)).then_some(o)
    }))
}

#[tokio::test]
async fn authorization_is_checked_again_after_the_body_is_read() {
    let removed = || {
        registry_with(STORAGE, |o| {
            o.spec.producers =
                serde_json::from_value(json!([producer("example-storage", "successor")])).unwrap();
            true
        })
    };
    let cases = [
        ("producer removed from spec.producers", removed()),
        (
            "informer disabled",
            registry_with(STORAGE, |o| {
                o.spec.reporting = Reporting::Disabled;
                true
            }),
        ),
        ("informer deleted", registry_with(STORAGE, |_| false)),
    ];
    for (case, changed) in cases {
        let api = Api::new();
        let storage = storage_token();
        api.report(STORAGE, &storage, vec![health("s", "WorkerPool", "s")])
            .await
            .result();
        assert!(api.notified().await);
        let before = api.dump();
        let body = json!({"insights": [health("t", "WorkerPool", "t")]}).to_string();
        let reply = report_while_the_registry_changes(&api, STORAGE, &storage, body, changed).await;
        let error = reply.error(StatusCode::FORBIDDEN);
        assert_eq!(error.reason, "Forbidden", "{case}");
        assert_eq!(api.dump(), before, "{case}: nothing stored");
        assert!(!api.notified().await, "{case}: no publication");
    }

    // A page is not staged either: once the producer is listed again, the report's other page
    // alone does not complete it.
    let api = Api::new();
    let storage = storage_token();
    let first = page_body("r1", 0, 2, &[health("p0", "WorkerPool", "p0")]);
    let reply = report_while_the_registry_changes(&api, STORAGE, &storage, first, removed()).await;
    reply.error(StatusCode::FORBIDDEN);
    api.state.set_registry(registry());
    let second = page_body("r1", 1, 2, &[health("p1", "WorkerPool", "p1")]);
    let staged = api.page(STORAGE, &storage, second).await.staged();
    assert_eq!(staged.staged, vec![1], "the refused page was not staged");
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
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                b"{\"insights\": [",
            )))))
        }
    }
}

fn stalled_report(informer: &str, token: &str) -> Request<Body> {
    Request::post(format!("/v1alpha1/informers/{informer}/reports"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(Stalled(false)))
        .unwrap()
}

#[tokio::test]
async fn authorization_is_decided_before_the_body_is_read() {
    let api = Api::new();
    let before = api.dump();
    let started = std::time::Instant::now();
    for (informer, token) in [
        (STORAGE, mco_token()),
        ("not-registered", mco_token()),
        (RETIRED, token("retired", "op", None)),
    ] {
        let reply = tokio::time::timeout(
            Duration::from_secs(2),
            api.app.clone().oneshot(stalled_report(informer, &token)),
        )
        .await
        .expect("403 without waiting for the body")
        .unwrap();
        assert_eq!(reply.status(), StatusCode::FORBIDDEN);
    }
    // And a 401 likewise, for a request with no token at all.
    let req = Request::post(format!("/v1alpha1/informers/{MCO}/reports"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(Stalled(false)))
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(2), api.app.clone().oneshot(req))
        .await
        .expect("401 without waiting for the body")
        .unwrap();
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(api.dump(), before);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_ends_is_a_timeout_not_a_size_error() {
    let api = Api::new();
    let before = api.dump();
    let started = tokio::time::Instant::now();
    let reply = api.call(stalled_report(MCO, &mco_token())).await;
    let error = reply.error(StatusCode::REQUEST_TIMEOUT);
    assert_ne!(error.reason, "BodyTooLarge", "{error:?}");
    assert_eq!(started.elapsed(), request_limits().body_deadline);
    assert_eq!(api.dump(), before);
}

#[tokio::test(start_paused = true)]
async fn the_whole_request_timeout_answers_in_the_json_shape() {
    // A body deadline longer than the request timeout: the timeout layer drops the handler.
    let limits = RequestLimits {
        request_timeout: Duration::from_secs(5),
        body_deadline: Duration::from_secs(60),
        ..request_limits()
    };
    let api = Api::with(Options {
        request_limits: limits,
        ..Options::default()
    });
    let before = api.dump();
    let reply = api.call(stalled_report(MCO, &mco_token())).await;
    reply.error(StatusCode::REQUEST_TIMEOUT);
    assert_eq!(api.dump(), before);
}

#[tokio::test]
async fn identity_headers_change_nothing() {
    let api = Api::new();
    let low = storage_token();
    let spoof = |req: axum::http::request::Builder| {
        req.header("X-Remote-User", "system:admin")
            .header("X-Remote-Group", "system:masters")
            .header("Impersonate-User", "system:admin")
            .header("Impersonate-Group", "system:masters")
            .header("X-Forwarded-User", "system:admin")
    };
    let body = json!({"insights": [node("node-a", "a")]}).to_string();
    let before = api.dump();
    let reply = api
        .call(
            spoof(Request::post(format!("/v1alpha1/informers/{MCO}/reports")))
                .header(header::AUTHORIZATION, format!("Bearer {low}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    let error = reply.error(StatusCode::FORBIDDEN);
    assert!(
        error
            .message
            .contains("system:serviceaccount:example-storage:storage-operator"),
        "judged as the token's identity: {error:?}"
    );
    assert!(!error.message.contains("system:admin"), "{error:?}");
    assert_eq!(api.dump(), before);

    // Without a token the headers do not stand in for one.
    let reply = api
        .call(
            spoof(Request::post(format!("/v1alpha1/informers/{MCO}/reports")))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    reply.error(StatusCode::UNAUTHORIZED);

    // Nor for the metrics reader.
    let reply = api
        .call(
            spoof(Request::get("/metrics"))
                .header("X-Remote-User", METRICS_READER)
                .header("Impersonate-User", METRICS_READER)
                .header(header::AUTHORIZATION, format!("Bearer {low}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    reply.error(StatusCode::FORBIDDEN);

    // Its own informer still works, with the headers present.
    let reply = api
        .call(
            spoof(Request::post(format!(
                "/v1alpha1/informers/{STORAGE}/reports"
            )))
            .header(header::AUTHORIZATION, format!("Bearer {low}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"insights": [health("s", "WorkerPool", "s")]}).to_string(),
            ))
            .unwrap(),
        )
        .await;
    assert_eq!(reply.result().accepted, 1);
    assert!(
        api.state
            .store
            .lock()
            .unwrap()
            .insights(&MCO.parse().unwrap())
            .is_none()
    );
}

// ================================================================================================
// Paths and methods (404, 405)
// ================================================================================================

#[tokio::test]
async fn invalid_informer_names_are_404() {
    let api = Api::new();
    let token = mco_token();
    let long = "a".repeat(64);
    let names = [
        "MCO",
        "Machine-Config",
        "a_b",
        long.as_str(),
        "..",
        "%2e%2e",
        "-a",
        "a-",
        "machine-config%20",
        "machine%2Dconfig%00",
        "%C3%A9",
        "%ff",
    ];
    for name in names {
        for authorization in [None, Some(token.as_str())] {
            let before = api.dump();
            let mut req = Request::post(format!("/v1alpha1/informers/{name}/reports"))
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(t) = authorization {
                req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let reply = api
                .call(req.body(Body::from(r#"{"insights": []}"#)).unwrap())
                .await;
            let error = reply.error(StatusCode::NOT_FOUND);
            assert_eq!(error.reason, "NotFound", "{name}");
            assert!(
                !error.message.contains(name) || name.len() < 4,
                "{name}: the path is not echoed back: {error:?}"
            );
            assert_eq!(api.dump(), before, "{name}");
            let reply = api
                .get(
                    &format!("/v1alpha1/informers/{name}/insights"),
                    authorization,
                )
                .await;
            reply.error(StatusCode::NOT_FOUND);
        }
    }
    // 63 characters is a valid (if unregistered) name: authorization decides.
    let longest = "a".repeat(63);
    api.report(&longest, &token, vec![])
        .await
        .error(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let api = Api::new();
    let token = mco_token();
    for path in [
        "/",
        "/nope",
        "/v1alpha1",
        "/v1alpha2/informers/machine-config/reports",
        "/v1alpha1/informers/machine-config",
        "/v1alpha1/informers/machine-config/reports/",
        "/v1alpha1/informers//reports",
        "/v1alpha1//informers/machine-config/reports",
        "/v1alpha1/informers/machine-config%2Freports",
        "/v1alpha1/informers/machine-config/../machine-config/reports",
    ] {
        let reply = api.get(path, Some(&token)).await;
        // `/v1alpha1/informers//reports` matches the report route with an empty name, which
        // does not take GET.
        assert!(
            reply.status == StatusCode::NOT_FOUND || reply.status == StatusCode::METHOD_NOT_ALLOWED,
            "GET {path}: {}",
            reply.status
        );
        reply.error(reply.status);
        let reply = api
            .call(
                Request::post(path)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(r#"{"insights": []}"#))
                    .unwrap(),
            )
            .await;
        assert!(
            reply.status == StatusCode::NOT_FOUND || reply.status == StatusCode::METHOD_NOT_ALLOWED,
            "{path}: {}",
            reply.status
        );
        reply.error(reply.status);
    }
    let before = api.dump();
    for (method, path) in [
        (Method::GET, "/v1alpha1/informers/machine-config/reports"),
        (Method::PUT, "/v1alpha1/informers/machine-config/reports"),
        (Method::DELETE, "/v1alpha1/informers/machine-config/reports"),
        (Method::PATCH, "/v1alpha1/informers/machine-config/reports"),
        (Method::POST, "/v1alpha1/informers/machine-config/insights"),
        (
            Method::DELETE,
            "/v1alpha1/informers/machine-config/insights",
        ),
        (Method::POST, "/v1alpha1/discovery"),
        (Method::POST, "/healthz"),
        (Method::DELETE, "/metrics"),
    ] {
        let reply = api
            .call(
                Request::builder()
                    .method(method.clone())
                    .uri(path)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(r#"{"insights": []}"#))
                    .unwrap(),
            )
            .await;
        let error = reply.error(StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(error.reason, "MethodNotAllowed", "{method} {path}");
        // RFC 9110 §15.5.6: a 405 lists the methods the resource does take.
        let allow = reply
            .headers
            .get(header::ALLOW)
            .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
            .to_str()
            .unwrap();
        assert!(!allow.contains(method.as_str()), "{method} {path}: {allow}");
    }
    assert_eq!(api.dump(), before);
}

// ================================================================================================
// Limits and malformed bodies (413, 415, 400, 422)
// ================================================================================================

#[tokio::test]
async fn an_oversized_body_is_413() {
    let api = Api::new();
    let token = mco_token();
    api.report(MCO, &token, vec![node("node-a", "a")])
        .await
        .result();
    let before = api.dump();
    let filler = "x".repeat(MAX_BODY);
    let body = json!({"insights": [health("h", "ControlPlane", &filler)]}).to_string();
    assert!(body.len() > MAX_BODY);

    // Declared with Content-Length: refused before the body is read (and before authentication).
    for authorization in [format!("Bearer {token}"), "Bearer aaaa.bbbb.cccc".into()] {
        let reply = api
            .call(
                Request::post(format!("/v1alpha1/informers/{MCO}/reports"))
                    .header(header::AUTHORIZATION, authorization)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::CONTENT_LENGTH, body.len())
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
        reply.error(StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(api.dump(), before);
    }

    // Streamed without a length: found while reading.
    let reply = api.post(MCO, &token, body.clone()).await;
    let error = reply.error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error.reason, "BodyTooLarge");
    assert!(error.message.contains(&MAX_BODY.to_string()), "{error:?}");
    assert_eq!(api.dump(), before);

    // Exactly at the limit is read (and then judged on its content).
    let at_limit = format!("{{\"insights\": []}}{}", " ".repeat(MAX_BODY - 16));
    assert_eq!(at_limit.len(), MAX_BODY);
    let result = api.post(MCO, &token, at_limit).await.result();
    assert_eq!(result.removed, 1);
}

#[tokio::test]
async fn a_report_that_is_not_json_is_415() {
    let api = Api::new();
    let token = mco_token();
    let body = json!({"insights": [node("node-a", "a")]}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonp"),
        Some("application/json-patch+json"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=utf-16"),
        Some("application/json; charset=iso-8859-1"),
    ] {
        let before = api.dump();
        let mut req = Request::post(format!("/v1alpha1/informers/{MCO}/reports"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let reply = api.call(req.body(Body::from(body.clone())).unwrap()).await;
        let error = reply.error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(error.reason, "UnsupportedMediaType", "{content_type:?}");
        assert_eq!(api.dump(), before, "{content_type:?}");
    }
    for content_type in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
    ] {
        let reply = api
            .call(
                Request::post(format!("/v1alpha1/informers/{MCO}/reports"))
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{content_type}: {}",
            reply.text()
        );
    }
}

#[tokio::test]
async fn malformed_reports_are_400() {
    let api = Api::new();
    let token = mco_token();
    api.report(MCO, &token, vec![node("node-a", "a")])
        .await
        .result();
    let deep = format!(
        "{{\"insights\": [{}{}]}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let deep_object = format!(
        "{{\"insights\": [{}1{}]}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("truncated", r#"{"insights": ["#.into()),
        ("trailing garbage", r#"{"insights": []} x"#.into()),
        (
            "two documents",
            r#"{"insights": []}{"insights": []}"#.into(),
        ),
        (
            "unknown top-level field",
            r#"{"insights": [], "extra": 1}"#.into(),
        ),
        (
            "informer in the body (path decides)",
            r#"{"informer": "example-storage-operator", "insights": []}"#.into(),
        ),
        (
            "duplicate top-level field",
            r#"{"insights": [], "insights": []}"#.into(),
        ),
        ("missing insights", "{}".into()),
        ("insights is not a list", r#"{"insights": {}}"#.into()),
        ("insights is null", r#"{"insights": null}"#.into()),
        ("a list, not an object", "[]".into()),
        ("a string", r#""insights""#.into()),
        ("10k-deep nested array", deep),
        ("10k-deep nested object", deep_object),
        ("comment", "{\"insights\": [] /* x */}".into()),
        ("single quotes", "{'insights': []}".into()),
        ("NaN", r#"{"insights": [NaN]}"#.into()),
    ];
    for (case, body) in cases {
        let before = api.dump();
        let started = std::time::Instant::now();
        let reply = api.post(MCO, &token, body).await;
        let error = reply.error(StatusCode::BAD_REQUEST);
        assert_eq!(error.reason, "MalformedReport", "{case}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{case}: {:?}",
            started.elapsed()
        );
        assert_eq!(api.dump(), before, "{case}");
    }
    // Bytes that are not UTF-8 at all.
    let before = api.dump();
    let reply = api
        .post(MCO, &token, b"{\"insights\": [\"\xff\xfe\"]}".to_vec())
        .await;
    reply.error(StatusCode::BAD_REQUEST);
    assert_eq!(api.dump(), before);
}

#[tokio::test]
async fn too_many_insights_is_422() {
    let api = Api::new();
    let token = mco_token();
    api.report(MCO, &token, vec![node("node-a", "a")])
        .await
        .result();
    let before = api.dump();
    let many: Vec<Value> = (0..=MAX_INSIGHTS)
        .map(|i| node(&format!("node-{i}"), &format!("n{i}")))
        .collect();
    let error = api
        .report(MCO, &token, many.clone())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error.reason, "TooManyInsights");
    assert!(
        error.message.contains(&MAX_INSIGHTS.to_string()),
        "{error:?}"
    );
    assert_eq!(api.dump(), before);
    // At the limit: accepted.
    let result = api
        .report(MCO, &token, many[..MAX_INSIGHTS].to_vec())
        .await
        .result();
    assert_eq!(result.accepted as usize, MAX_INSIGHTS);

    // The informer's own, lower maxInsights (3).
    let storage = storage_token();
    api.report(STORAGE, &storage, vec![health("a", "WorkerPool", "a")])
        .await
        .result();
    let before = api.dump();
    let four: Vec<Value> = (0..4)
        .map(|i| health(&format!("h{i}"), "WorkerPool", "s"))
        .collect();
    let error = api
        .report(STORAGE, &storage, four.clone())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error.reason, "TooManyInsights");
    assert!(error.message.contains("at most 3"), "{error:?}");
    assert_eq!(api.dump(), before);
    // Bad insights count too: the limit is on what is sent.
    let mut with_bad = four[..3].to_vec();
    with_bad.push(json!({"uid": "BAD"}));
    api.report(STORAGE, &storage, with_bad)
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.dump(), before);
    assert_eq!(
        api.report(STORAGE, &storage, four[..3].to_vec())
            .await
            .result()
            .accepted,
        3
    );
}

// ================================================================================================
// Partial rejection
// ================================================================================================

fn assert_rejected(
    result: &ReportResult,
    index: usize,
    uid: Option<&str>,
    field: &str,
    reason: &str,
) {
    let r = result
        .rejected
        .iter()
        .find(|r| r.index == index)
        .unwrap_or_else(|| panic!("insight {index} is not listed as rejected: {result:?}"));
    assert_eq!(r.uid.as_deref(), uid, "{r:?}");
    assert_eq!(r.field, field, "{r:?}");
    assert!(r.reason.contains(reason), "{r:?} should say {reason:?}");
    assert!(r.reason.len() >= 10, "{r:?}");
}

#[tokio::test]
async fn bad_insights_are_listed_and_the_good_ones_kept() {
    let api = Api::new();
    let token = network_token();
    let mut esc = health("escape", "ControlPlane", "x");
    esc["insight"]["health"]["impact"]["summary"] = json!("Clear \u{1b}[2J the screen");
    let mut c1 = health("c1-control", "ControlPlane", "x");
    c1["insight"]["health"]["impact"]["summary"] = json!("abc \u{9b}31m red");
    let mut cr = health("carriage", "ControlPlane", "x");
    cr["insight"]["health"]["impact"]["description"] = json!("line one\rline two");
    let mut js = health("js-link", "ControlPlane", "x");
    js["insight"]["health"]["remediation"]["reference"] = json!("javascript:alert(1)");
    let mut file = health("file-link", "ControlPlane", "x");
    file["insight"]["health"]["remediation"]["reference"] = json!("file:///etc/passwd");
    let mut long_url = health("long-link", "ControlPlane", "x");
    long_url["insight"]["health"]["remediation"]["reference"] =
        json!(format!("https://example.com/{}", "a".repeat(10 * 1024)));
    let mut wrong_member = health("wrong-member", "ControlPlane", "x");
    wrong_member["insight"]["node"] = node("n", "n")["insight"]["node"].clone();
    let mut missing_member = health("missing-member", "ControlPlane", "x");
    missing_member["insight"]
        .as_object_mut()
        .unwrap()
        .remove("health");
    let mut huge_number = health("huge-number", "ControlPlane", "x");
    huge_number["insight"]["health"]["impact"]["level"] = json!(1e308);
    let mut no_pool = health("no-pool", "WorkerPool", "x");
    no_pool["insight"]["health"]["scope"]
        .as_object_mut()
        .unwrap()
        .remove("pool");

    let insights = vec![
        health("good-0", "ControlPlane", "first good one"), // 0
        health("Bad_UID", "ControlPlane", "x"),             // 1
        esc,                                                // 2
        health("good-3", "WorkerPool", "second good one"),  // 3
        js,                                                 // 4
        wrong_member,                                       // 5
        health("good-0", "ControlPlane", "duplicate"),      // 6
        node("node-a", "a"),                                // 7: policy (third party)
        c1,                                                 // 8
        cr,                                                 // 9
        file,                                               // 10
        long_url,                                           // 11
        missing_member,                                     // 12
        huge_number,                                        // 13
        no_pool,                                            // 14
        json!({"uid": "no-insight"}),                       // 15
        json!("a string"),                                  // 16
        health("good-17", "ControlPlane", "third good one"), // 17
    ];
    let reply = api.report(NETWORK, &token, insights).await;
    let result = reply.result();
    assert_eq!(result.accepted, 3, "{result:?}");
    assert!(!result.unchanged);
    assert_eq!(
        result.rejected.iter().map(|r| r.index).collect::<Vec<_>>(),
        [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        "{result:?}"
    );
    assert_rejected(&result, 1, Some("Bad_UID"), "uid", "RFC 1123");
    assert_rejected(
        &result,
        2,
        Some("escape"),
        "insight.health.impact.summary",
        "control characters",
    );
    assert_rejected(
        &result,
        4,
        Some("js-link"),
        "insight.health.remediation.reference",
        "http",
    );
    assert_rejected(&result, 5, Some("wrong-member"), "insight", "node");
    assert_rejected(&result, 6, Some("good-0"), "uid", "more than once");
    assert_rejected(
        &result,
        7,
        Some("node-a"),
        "insight.type",
        "may not send Node",
    );
    assert_rejected(
        &result,
        8,
        Some("c1-control"),
        "insight.health.impact.summary",
        "control characters",
    );
    assert_rejected(
        &result,
        9,
        Some("carriage"),
        "insight.health.impact.description",
        "control characters",
    );
    assert_rejected(
        &result,
        10,
        Some("file-link"),
        "insight.health.remediation.reference",
        "http",
    );
    assert_rejected(
        &result,
        11,
        Some("long-link"),
        "insight.health.remediation.reference",
        "at most 512",
    );
    assert_rejected(
        &result,
        12,
        Some("missing-member"),
        "insight",
        "health is missing",
    );
    assert_rejected(
        &result,
        13,
        Some("huge-number"),
        "insight.health.impact.level",
        "",
    );
    assert_rejected(
        &result,
        14,
        Some("no-pool"),
        "insight.health.scope",
        "pool must be set",
    );
    assert_rejected(&result, 15, Some("no-insight"), "", "insight");
    assert_rejected(&result, 16, None, "", "");

    let held = api.read_back(NETWORK, &token).await;
    assert_eq!(uids(&held), ["good-0", "good-3", "good-17"]);
    let summaries: Vec<Value> = held
        .insights
        .iter()
        .map(|i| serde_json::to_value(&i.insight).unwrap()["health"]["impact"]["summary"].clone())
        .collect();
    assert_eq!(
        summaries,
        [
            json!("first good one"),
            json!("second good one"),
            json!("third good one")
        ],
        "the first of two duplicates is the one kept"
    );

    // Rejections are counted by informer in the metrics.
    let text = api.metrics_text().await;
    assert!(
        text.contains(&format!(
            "update_status_controller_rejected_insights_total{{informer=\"{NETWORK}\"}} 15"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn policy_rejections_name_the_right_insight_and_field() {
    let api = Api::new();
    let token = storage_token();
    // maxInsights 3, WorkerPool only, Health only.
    let insights = vec![
        health("BAD", "WorkerPool", "x"),            // 0: validation
        health("good", "WorkerPool", "kept"),        // 1
        health("cp", "ControlPlane", "wrong scope"), // 2: policy
    ];
    let result = api.report(STORAGE, &token, insights).await.result();
    assert_eq!(result.accepted, 1, "{result:?}");
    assert_eq!(result.rejected.len(), 2, "{result:?}");
    assert_rejected(&result, 0, Some("BAD"), "uid", "RFC 1123");
    assert_rejected(
        &result,
        2,
        Some("cp"),
        "insight.health.scope.type",
        "ControlPlane",
    );

    let insights = vec![
        json!({"uid": "x"}),                  // 0: validation
        node("node-a", "a"),                  // 1: policy (type)
        health("good", "WorkerPool", "kept"), // 2
    ];
    let result = api.report(STORAGE, &token, insights).await.result();
    assert_eq!(result.accepted, 1, "{result:?}");
    assert_rejected(
        &result,
        1,
        Some("node-a"),
        "insight.type",
        "may not send Node",
    );
    assert_eq!(uids(&api.read_back(STORAGE, &token).await), ["good"]);
}

#[tokio::test]
async fn only_the_owners_send_status_insights_whatever_the_spec_claims() {
    let api = Api::new();
    let token = token("rogue", "op", None);
    let insights = vec![node("node-a", "a"), health("h", "ControlPlane", "kept")];
    let result = api.report(ROGUE, &token, insights.clone()).await.result();
    assert_eq!(result.accepted, 1, "{result:?}");
    assert_rejected(
        &result,
        0,
        Some("node-a"),
        "insight.type",
        "may not send Node",
    );
    assert_eq!(uids(&api.read_back(ROGUE, &token).await), ["h"]);
    // The owner of node insights may.
    let result = api.report(MCO, &mco_token(), insights).await.result();
    assert_eq!(result.accepted, 2, "{result:?}");
}

// ================================================================================================
// Isolation between informers
// ================================================================================================

#[tokio::test]
async fn informers_never_see_or_change_each_others_insights() {
    let api = Api::new();
    let (a, b) = (mco_token(), storage_token());
    api.report(
        MCO,
        &a,
        vec![health("x", "WorkerPool", "from machine-config")],
    )
    .await
    .result();
    api.report(STORAGE, &b, vec![health("x", "WorkerPool", "from storage")])
        .await
        .result();
    let summary = |r: &InsightsResponse| {
        assert_eq!(r.insights.len(), 1);
        serde_json::to_value(&r.insights[0].insight).unwrap()["health"]["impact"]["summary"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        summary(&api.read_back(MCO, &a).await),
        "from machine-config"
    );
    assert_eq!(summary(&api.read_back(STORAGE, &b).await), "from storage");

    // A's reports, including one that drops `x`, never touch B.
    let b_held = || {
        format!(
            "{:?}",
            api.state
                .store
                .lock()
                .unwrap()
                .insights(&STORAGE.parse().unwrap())
        )
    };
    let b_before = b_held();
    api.report(MCO, &a, vec![health("x", "WorkerPool", "changed by A")])
        .await
        .result();
    let result = api.report(MCO, &a, vec![]).await.result();
    assert_eq!(result.removed, 1);
    assert_eq!(b_before, b_held());
    assert_eq!(summary(&api.read_back(STORAGE, &b).await), "from storage");
    assert!(api.read_back(MCO, &a).await.insights.is_empty());

    // Neither may read the other's.
    api.get(
        "/v1alpha1/informers/example-storage-operator/insights",
        Some(&a),
    )
    .await
    .error(StatusCode::FORBIDDEN);
    api.get("/v1alpha1/informers/machine-config/insights", Some(&b))
        .await
        .error(StatusCode::FORBIDDEN);
}

// ================================================================================================
// Rate limiting (429)
// ================================================================================================

#[tokio::test]
async fn an_identity_over_its_burst_is_429_and_others_are_not() {
    let api = Api::with(Options {
        rate: RateLimiter::new(0.01, 2),
        ..Options::default()
    });
    let (a, b) = (mco_token(), storage_token());
    api.report(MCO, &a, vec![node("node-a", "a")])
        .await
        .result();
    api.report(MCO, &a, vec![node("node-a", "a"), node("node-b", "b")])
        .await
        .result();
    let before = api.dump();
    let reply = api.report(MCO, &a, vec![]).await;
    let error = reply.error(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error.reason, "TooManyRequests");
    let retry: u64 = reply
        .headers
        .get(header::RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&retry), "{retry}");
    assert_eq!(api.dump(), before, "the refused report removed nothing");

    // Another identity is unaffected.
    assert_eq!(
        api.report(STORAGE, &b, vec![health("s", "WorkerPool", "s")])
            .await
            .result()
            .accepted,
        1
    );
    // The limited one stays limited; reading back is not a report and is still served.
    api.report(MCO, &a, vec![])
        .await
        .error(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(api.read_back(MCO, &a).await.insights.len(), 2);
}

/// Asserts a 429 with a `Retry-After` of at least a second.
fn assert_too_many(reply: &Reply, case: &str) {
    let error = reply.error(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error.reason, "TooManyRequests", "{case}");
    let retry: u64 = reply
        .headers
        .get(header::RETRY_AFTER)
        .unwrap_or_else(|| panic!("{case}: Retry-After"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{case}: {retry}");
}

#[tokio::test]
async fn read_backs_and_metrics_over_their_rate_are_429_per_identity() {
    let api = Api::with(Options {
        read_rate: RateLimiter::new(0.01, 2),
        metrics_rate: RateLimiter::new(0.01, 2),
        ..Options::default()
    });
    let (mco, storage) = (mco_token(), storage_token());
    let read = |token: String, informer: &'static str| {
        let api = &api;
        async move {
            api.get(
                &format!("/v1alpha1/informers/{informer}/insights"),
                Some(&token),
            )
            .await
        }
    };
    // Over the burst: 429, again and again.
    for _ in 0..2 {
        assert_eq!(read(mco.clone(), MCO).await.status, StatusCode::OK);
    }
    for _ in 0..3 {
        assert_too_many(&read(mco.clone(), MCO).await, "read-back over the burst");
    }
    // Per identity: another producer still reads; authorization comes first, so the limited
    // caller asking for an informer it may not read is told 403, not 429.
    assert_eq!(read(storage.clone(), STORAGE).await.status, StatusCode::OK);
    read(mco.clone(), STORAGE)
        .await
        .error(StatusCode::FORBIDDEN);
    // Buckets of their own: reports are not limited by reading.
    api.report(MCO, &mco, vec![node("node-a", "a")])
        .await
        .result();

    let metrics = metrics_token();
    for _ in 0..2 {
        assert_eq!(
            api.get("/metrics", Some(&metrics)).await.status,
            StatusCode::OK
        );
    }
    for _ in 0..3 {
        assert_too_many(
            &api.get("/metrics", Some(&metrics)).await,
            "metrics over the burst",
        );
    }
    // A caller refused /metrics spends nothing and is told 403, whatever the readers' rate.
    api.get("/metrics", Some(&mco))
        .await
        .error(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refused_callers_do_not_spend_a_producers_rate() {
    let api = Api::with(Options {
        rate: RateLimiter::new(0.01, 2),
        ..Options::default()
    });
    // Someone else's refused attempts at MCO's informer...
    for _ in 0..5 {
        api.report(MCO, &storage_token(), vec![])
            .await
            .error(StatusCode::FORBIDDEN);
        api.report(MCO, "aaaa.bbbb.cccc", vec![])
            .await
            .error(StatusCode::UNAUTHORIZED);
    }
    // ...leave MCO its whole burst.
    let a = mco_token();
    api.report(MCO, &a, vec![]).await.result();
    api.report(MCO, &a, vec![]).await.result();
}

// ================================================================================================
// Probes, discovery, metrics
// ================================================================================================

#[tokio::test]
async fn probes_are_open_and_say_nothing() {
    let api = Api::new();
    let reply = api.get("/healthz", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "ok");

    let reply = api.get("/readyz", None).await;
    let error = reply.error(StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.headers.contains_key(header::RETRY_AFTER), "{error:?}");
    api.state.ready.store(true, Ordering::SeqCst);
    let reply = api.get("/readyz", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "ok");

    // A bad token on a probe is ignored, not refused.
    let reply = api.get("/healthz", Some("aaaa.bbbb.cccc")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn discovery_announces_the_audience_and_limits() {
    let api = Api::new();
    let reply = api.get("/v1alpha1/discovery", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let d = reply.json();
    assert_eq!(d["apiVersions"], json!(["v1alpha1"]));
    assert_eq!(d["audience"], DEFAULT_AUDIENCE);
    assert_eq!(d["limits"]["maxBodyBytes"], MAX_BODY);
    assert_eq!(d["limits"]["maxInsightsPerReport"], MAX_INSIGHTS);
    assert_eq!(d["limits"]["maxUidLength"], 63);
    assert_eq!(d["limits"]["maxSummaryLength"], 256);
    assert_eq!(d["limits"]["maxReferenceLength"], 512);
    assert!(d["limits"]["maxDescriptionLength"].as_u64().unwrap() > 256);
    let paging = PagingLimits::default();
    assert_eq!(d["limits"]["maxPagesPerReport"], paging.max_pages);
    assert_eq!(d["limits"]["maxInsightsPerInformer"], MAX_PER_INFORMER);
    assert_eq!(d["limits"]["stagedReportTtlSeconds"], 120);
    assert_eq!(d["limits"]["maxStagedBytes"], paging.max_staged_bytes);
}

#[tokio::test]
async fn metrics_are_for_listed_readers_with_bounded_labels() {
    let api = Api::new();
    let reply = api.get("/metrics", None).await;
    reply.error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.headers.get(header::WWW_AUTHENTICATE).unwrap(),
        "Bearer"
    );
    api.get("/metrics", Some("aaaa.bbbb.cccc"))
        .await
        .error(StatusCode::UNAUTHORIZED);
    let error = api
        .get("/metrics", Some(&mco_token()))
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(error.reason, "Forbidden");

    let token = mco_token();
    api.report(MCO, &token, vec![node("node-a", "a"), node("node-b", "b")])
        .await
        .result();
    // Requests naming informers that do not exist, valid names and not.
    for name in [
        "not-registered",
        "attacker-chosen-label-1",
        "attacker-chosen-label-2",
    ] {
        api.report(name, &token, vec![])
            .await
            .error(StatusCode::FORBIDDEN);
        api.report(name, "aaaa.bbbb.cccc", vec![])
            .await
            .error(StatusCode::UNAUTHORIZED);
    }
    api.report("Evil_Label", &token, vec![])
        .await
        .error(StatusCode::NOT_FOUND);

    let reply = api.get("/metrics", Some(&metrics_token())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(
        reply
            .headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let text = reply.text();
    assert!(
        text.contains(
            r#"update_status_controller_requests_total{informer="machine-config",code="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"update_status_controller_requests_total{informer="unregistered",code="403"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"update_status_controller_insights{informer="machine-config",type="Node"} 2"#
        ),
        "{text}"
    );
    for name in ["not-registered", "attacker-chosen", "Evil_Label"] {
        assert!(!text.contains(name), "{name} became a label value: {text}");
    }
    for secret in hostile_token_texts(&token) {
        assert!(!text.contains(&secret));
    }
    // Every informer label value is a registered informer or `unregistered`.
    let registered = [
        MCO,
        STORAGE,
        PINNED,
        RETIRED,
        NETWORK,
        ROGUE,
        "unregistered",
    ];
    for value in text.split("informer=\"").skip(1) {
        let label = value.split('"').next().unwrap();
        assert!(registered.contains(&label), "unbounded label {label:?}");
    }
}

#[tokio::test]
async fn error_bodies_are_generic() {
    let api = Api::new();
    let token = mco_token();
    // Input that gets quoted by the parser is not echoed back whole.
    let probe = "x".repeat(10 * 1024);
    let reply = api
        .post(MCO, &token, format!("{{\"insights\": [], \"{probe}\": 1}}"))
        .await;
    let error = reply.error(StatusCode::BAD_REQUEST);
    assert!(error.message.len() < 1024, "{} bytes", error.message.len());
    assert!(
        error.message.contains("unknown field"),
        "still useful: {error:?}"
    );
    let mut long_level = health("h", "ControlPlane", "s");
    long_level["insight"]["health"]["impact"]["level"] = json!(probe);
    let result = api.report(MCO, &token, vec![long_level]).await.result();
    assert_eq!(result.rejected.len(), 1);
    assert!(
        result.rejected[0].reason.len() < 1024,
        "{:?}",
        result.rejected[0]
    );
    for reply in [
        api.get("/v1alpha1/informers/%3Cscript%3E/insights", Some(&token))
            .await,
        api.get("/%3Cscript%3E", Some(&token)).await,
    ] {
        let error = reply.error(reply.status);
        assert!(!error.message.contains("script"), "{error:?}");
        assert!(!error.message.contains("src/"), "{error:?}");
        assert!(!error.message.contains("panicked"), "{error:?}");
    }
}

#[tokio::test]
async fn a_huge_uid_or_type_in_a_refused_insight_is_not_echoed_whole() {
    const LARGE: usize = 512 * 1024;
    let api = Api::with(Options {
        request_limits: RequestLimits {
            body_limit: LARGE,
            ..RequestLimits::default()
        },
        api_limits: ApiLimits {
            max_body_bytes: LARGE,
            max_insights_per_report: MAX_INSIGHTS,
            max_insights_per_informer: MAX_PER_INFORMER,
        },
        ..Options::default()
    });
    // 100 KB each, of a two-byte character, so a cut that is not on a character boundary would
    // not even be a string.
    let huge = "é".repeat(50_000);
    let mut bad_uid = health("h", "ControlPlane", "s");
    bad_uid["uid"] = json!(huge);
    // An unknown type, which the parser quotes in its reason.
    let mut bad_type = health("k", "ControlPlane", "s");
    bad_type["insight"]["type"] = json!(huge);
    let reply = api
        .report(
            MCO,
            &mco_token(),
            vec![bad_uid, bad_type, health("fine", "ControlPlane", "s")],
        )
        .await;
    let result = reply.result();
    assert_eq!(result.accepted, 1);
    assert_eq!(result.rejected.len(), 2, "{result:?}");
    let uid = result.rejected[0].uid.as_deref().unwrap();
    assert!(
        uid.chars().count() <= update_status_controller::api::v1alpha1::Uid::MAX_LEN
            && huge.starts_with(uid),
        "the uid is cut to a uid's length: {} characters",
        uid.chars().count()
    );
    for r in &result.rejected {
        assert!(r.reason.len() < 1024 && r.field.len() < 1024, "{r:?}");
    }
    assert!(
        reply.body.len() < 4 * 1024,
        "the answer to 200 KB of input is {} bytes",
        reply.body.len()
    );
}

// ---- paged reports ----

fn page_body(report: &str, index: u32, count: u32, insights: &[Value]) -> String {
    json!({"page": {"report": report, "index": index, "count": count}, "insights": insights})
        .to_string()
}

fn nodes(prefix: &str, range: std::ops::Range<usize>) -> Vec<Value> {
    range
        .map(|i| node(&format!("{prefix}-{i}"), &format!("worker-{i}")))
        .collect()
}

impl Api {
    async fn page(&self, informer: &str, token: &str, body: String) -> Reply {
        self.post(informer, token, body).await
    }
}

impl Reply {
    fn staged(&self) -> PageStaged {
        assert_eq!(self.status, StatusCode::ACCEPTED, "{}", self.text());
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A Node insight of about the size the machine-config informer sends (~1 KB: a node's
/// conditions with their messages), so pages are as full as a real producer's.
fn big_node(uid: &str, name: &str, version: &str) -> Value {
    let mut n = node(uid, name);
    n["insight"]["node"]["version"] = json!(version);
    n["insight"]["node"]["message"] = json!(format!(
        "Node {name} is updated to {version} and is ready to run workloads again"
    ));
    n["insight"]["node"]["conditions"] = json!([
        {"type": "Updating", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z",
         "reason": "Completed", "message": format!("Node {name} finished its update to {version}")},
        {"type": "Degraded", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z",
         "reason": "AsExpected", "message": "The node is not degraded"},
        {"type": "Available", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z",
         "reason": "AsExpected", "message": "The node is available and schedulable"},
    ]);
    n
}

/// Splits `insights` into page bodies of report `id`, each within `max_bytes` and `max_count`
/// (greedily, as the `report` subcommand does).
fn pages_within(id: &str, insights: &[Value], max_bytes: usize, max_count: usize) -> Vec<String> {
    let mut groups: Vec<Vec<Value>> = vec![Vec::new()];
    let mut size = 0;
    for i in insights {
        let len = i.to_string().len() + 1;
        let last = groups.last().unwrap();
        if !last.is_empty() && (last.len() == max_count || size + len + 200 > max_bytes) {
            groups.push(Vec::new());
            size = 0;
        }
        size += len;
        groups.last_mut().unwrap().push(i.clone());
    }
    let count = groups.len() as u32;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| page_body(id, i as u32, count, g))
        .collect()
}

fn production() -> Options {
    Options {
        api_limits: ApiLimits {
            max_body_bytes: 1024 * 1024,
            max_insights_per_report: 1000,
            max_insights_per_informer: 20_000,
        },
        request_limits: RequestLimits::default(),
        ..Options::default()
    }
}

/// The machine-config informer delivers 10,000 Node insights within the production limits
/// (1 MiB bodies, 1,000 insights a request): one request cannot carry them, pages can, and a
/// reader polling the store the whole time only ever sees a complete set, the old one or the
/// new one, never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_node_insights_arrive_in_pages_and_commit_at_once() {
    const NODES: usize = 10_000;
    let api = Api::with(production());
    let token = mco_token();
    let limits = api.state.limits.clone();
    let v1: Vec<Value> = (0..NODES)
        .map(|i| big_node(&format!("node-{i}"), &format!("worker-{i}"), "4.16.0"))
        .collect();

    // One request cannot hold them: over the body limit, and over the count limit.
    let whole = json!({"insights": v1}).to_string();
    assert!(whole.len() > limits.max_body_bytes, "{} bytes", whole.len());
    api.post(MCO, &token, whole)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    let first_thousand_and_one = json!({"insights": &v1[..1001]}).to_string();
    assert!(first_thousand_and_one.len() <= limits.max_body_bytes);
    let e = api
        .post(MCO, &token, first_thousand_and_one)
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(e.message.contains("in pages"), "{e:?}");

    // Pages can.
    let started = std::time::Instant::now();
    let pages = pages_within(
        "v1",
        &v1,
        limits.max_body_bytes,
        limits.max_insights_per_report,
    );
    assert!(pages.len() >= 10, "{} pages", pages.len());
    for p in &pages {
        assert!(p.len() <= limits.max_body_bytes);
    }
    let last = pages.len() - 1;
    for (i, p) in pages.iter().enumerate() {
        let reply = api.page(MCO, &token, p.clone()).await;
        if i < last {
            assert_eq!(reply.staged().staged.len(), i + 1);
            assert!(api.state.store.lock().unwrap().insights(&mco()).is_none());
        } else {
            let r = reply.result();
            assert_eq!(
                (r.accepted, r.pages, r.rejected.len()),
                (NODES as u32, Some(pages.len() as u32), 0)
            );
        }
    }
    eprintln!(
        "10,000 node insights in {} pages delivered and committed in {:?}",
        pages.len(),
        started.elapsed()
    );
    assert_eq!(api.read_back(MCO, &token).await.insights.len(), NODES);

    // A second full set, every node on a new version, while a reader polls the store.
    let v2: Vec<Value> = (0..NODES)
        .map(|i| big_node(&format!("node-{i}"), &format!("worker-{i}"), "4.17.0"))
        .collect();
    let pages = pages_within(
        "v2",
        &v2,
        limits.max_body_bytes,
        limits.max_insights_per_report,
    );
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&api.state.store);
        let done = Arc::clone(&done);
        tokio::task::spawn_blocking(move || {
            let mut seen = std::collections::BTreeSet::new();
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let store = store.lock().unwrap();
                let held = store.insights(&mco()).unwrap();
                let versions: std::collections::BTreeSet<String> = held
                    .iter()
                    .map(|i| {
                        serde_json::to_value(&i.insight).unwrap()["node"]["version"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                    .collect();
                assert_eq!(held.len(), NODES, "a reader saw a partial set");
                assert_eq!(versions.len(), 1, "a reader saw a mix: {versions:?}");
                seen.extend(versions);
                reads += 1;
                drop(store);
                std::thread::yield_now();
            }
            (seen, reads)
        })
    };
    for p in &pages {
        let reply = api.page(MCO, &token, p.clone()).await;
        assert!(reply.status.is_success(), "{}", reply.text());
    }
    done.store(true, Ordering::Relaxed);
    let (seen, reads) = reader.await.unwrap();
    assert!(
        seen.contains("4.17.0"),
        "the reader saw the new set: {seen:?} in {reads} reads"
    );
    let held = api.read_back(MCO, &token).await;
    assert_eq!(held.insights.len(), NODES);
    assert_eq!(api.state.staging.staged_bytes(), 0);
}

fn mco() -> update_status_controller::api::v1alpha1::InformerName {
    update_status_controller::api::v1alpha1::InformerName::new(MCO).unwrap()
}

#[tokio::test]
async fn pages_in_any_order_and_retries_change_nothing_until_the_last_arrives() {
    let api = Api::new();
    let token = mco_token();
    api.report(MCO, &token, nodes("old", 0..3)).await.result();
    let _ = api.notified().await;
    let before = api.dump();
    let p = |i: u32| {
        page_body(
            "r1",
            i,
            3,
            &nodes("n", (i as usize * 40)..(i as usize * 40 + 40)),
        )
    };

    let first = api.page(MCO, &token, p(2)).await.staged();
    assert_eq!(
        (first.staged.clone(), first.staged_insights, first.count),
        (vec![2], 40, 3)
    );
    let s = api.page(MCO, &token, p(0)).await.staged();
    assert_eq!(s.staged, vec![0, 2]);
    // A retry of a staged page is answered the same and changes nothing.
    let again = api.page(MCO, &token, p(0)).await.staged();
    assert_eq!(again, s);
    assert_eq!(api.dump(), before, "nothing is held before the last page");
    assert!(!api.notified().await, "and the publisher was not woken");
    assert_eq!(api.read_back(MCO, &token).await.insights.len(), 3);

    let done = api.page(MCO, &token, p(1)).await.result();
    assert_eq!(
        (done.accepted, done.removed, done.unchanged),
        (120, 3, false)
    );
    assert_eq!(done.report.as_deref(), Some("r1"));
    assert!(api.notified().await);
    let held = uids(&api.read_back(MCO, &token).await);
    assert_eq!(held.len(), 120);
    assert_eq!(held[0], "n-0", "page order, not arrival order");
    assert_eq!(held[119], "n-119");

    // The final answer was lost and the producer retries any page: the same result, no change.
    let after = api.dump();
    let retry = api.page(MCO, &token, p(1)).await.result();
    assert_eq!(retry.accepted, 120);
    assert!(retry.unchanged);
    let retry = api.page(MCO, &token, p(0)).await.result();
    assert!(retry.unchanged);
    assert_eq!(api.dump(), after);
    assert!(!api.notified().await);
}

#[tokio::test]
async fn a_page_that_changes_a_staged_report_is_a_conflict() {
    let api = Api::new();
    let token = mco_token();
    api.page(MCO, &token, page_body("r1", 0, 2, &nodes("a", 0..2)))
        .await
        .staged();
    let before = api.dump();
    let e = api
        .page(MCO, &token, page_body("r1", 0, 2, &nodes("b", 0..2)))
        .await
        .error(StatusCode::CONFLICT);
    assert_eq!(e.reason, "PageConflict");
    let e = api
        .page(MCO, &token, page_body("r1", 1, 3, &nodes("a", 2..4)))
        .await
        .error(StatusCode::CONFLICT);
    assert!(e.message.contains("2 pages"), "{e:?}");
    assert_eq!(api.dump(), before);
    // The report is still completed by its right last page.
    let r = api
        .page(MCO, &token, page_body("r1", 1, 2, &nodes("a", 2..4)))
        .await
        .result();
    assert_eq!(r.accepted, 4);
}

#[tokio::test]
async fn a_new_report_id_discards_the_older_staged_pages() {
    let api = Api::new();
    let token = mco_token();
    api.page(MCO, &token, page_body("r1", 0, 2, &nodes("a", 0..2)))
        .await
        .staged();
    let s = api
        .page(MCO, &token, page_body("r2", 0, 2, &nodes("b", 0..2)))
        .await
        .staged();
    assert_eq!((s.report.as_str(), s.staged.clone()), ("r2", vec![0]));
    // r1's second page no longer completes r1: it starts r1 over (and discards r2).
    let s = api
        .page(MCO, &token, page_body("r1", 1, 2, &nodes("a", 2..4)))
        .await
        .staged();
    assert_eq!((s.report.as_str(), s.staged.clone()), ("r1", vec![1]));
    assert!(api.state.store.lock().unwrap().insights(&mco()).is_none());
    // A whole report discards staged pages too.
    api.report(MCO, &token, nodes("w", 0..1)).await.result();
    let s = api
        .page(MCO, &token, page_body("r1", 0, 2, &nodes("a", 0..2)))
        .await
        .staged();
    assert_eq!(s.staged, vec![0], "page 1 of r1 was discarded");
}

#[tokio::test]
async fn staged_pages_expire() {
    // With no time to live, a staged page is gone by the next request.
    let api = Api::with(Options {
        paging: PagingLimits {
            ttl: update_status_controller::api::time::GoDuration::from_secs(0),
            ..PagingLimits::default()
        },
        ..Options::default()
    });
    let token = mco_token();
    let s = api
        .page(MCO, &token, page_body("r1", 0, 2, &nodes("a", 0..2)))
        .await
        .staged();
    assert_eq!(s.expires_at, t0());
    let s = api
        .page(MCO, &token, page_body("r1", 1, 2, &nodes("a", 2..4)))
        .await
        .staged();
    assert_eq!(s.staged, vec![1], "page 0 expired");
    assert!(api.state.store.lock().unwrap().insights(&mco()).is_none());
    assert_eq!(
        api.state.staging.staged_bytes(),
        page_body("r1", 1, 2, &nodes("a", 2..4)).len()
    );
}

/// Each cap, attacked from just over it: the page is refused whole, with its reason, and
/// nothing staged or held changes.
#[tokio::test]
async fn pages_over_the_caps_are_refused_and_change_nothing() {
    let staged_cap = 3 * 8 * 1024;
    let api = Api::with(Options {
        paging: PagingLimits {
            max_pages: 4,
            max_staged_bytes: staged_cap,
            ..PagingLimits::default()
        },
        ..Options::default()
    });
    let token = mco_token();
    api.report(MCO, &token, nodes("old", 0..2)).await.result();
    let unchanged = |api: &Api, before: &str, bytes: usize| {
        assert_eq!(api.dump(), before);
        assert_eq!(api.state.staging.staged_bytes(), bytes);
    };
    let before = api.dump();

    // More pages than allowed.
    let e = api
        .page(MCO, &token, page_body("r1", 0, 5, &nodes("a", 0..1)))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e.reason, "TooManyPages");
    // An index past the count.
    let e = api
        .page(MCO, &token, page_body("r1", 4, 4, &nodes("a", 0..1)))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e.reason, "InvalidPage");
    // More insights in one page than one request may carry.
    let e = api
        .page(
            MCO,
            &token,
            page_body("r1", 0, 4, &nodes("a", 0..MAX_INSIGHTS + 1)),
        )
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e.reason, "TooManyInsights");
    // A page over the body limit.
    let padded = format!("{}{}", page_body("r1", 0, 4, &[]), " ".repeat(MAX_BODY));
    api.page(MCO, &token, padded)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    unchanged(&api, &before, 0);

    // More insights over all pages than the informer may hold (500 here): 4 pages of 50
    // are fine, the next informer's worth is not.
    let api = Api::with(Options {
        paging: PagingLimits {
            max_pages: 20,
            ..PagingLimits::default()
        },
        ..Options::default()
    });
    let per_page = MAX_INSIGHTS;
    let pages = MAX_PER_INFORMER / per_page + 1;
    let mut staged = 0;
    for i in 0..pages - 1 {
        let body = page_body(
            "big",
            i as u32,
            pages as u32,
            &nodes("n", i * per_page..(i + 1) * per_page),
        );
        staged += body.len();
        api.page(MCO, &token, body).await.staged();
    }
    let before = api.dump();
    let last = pages - 1;
    let e = api
        .page(
            MCO,
            &token,
            page_body(
                "big",
                last as u32,
                pages as u32,
                &nodes("n", last * per_page..last * per_page + 1),
            ),
        )
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e.reason, "TooManyInsights");
    assert!(e.message.contains("at most 500"), "{e:?}");
    unchanged(&api, &before, staged);

    // The storage informer's own maxInsights (3) bounds its paged reports too.
    let storage = storage_token();
    let h = |uid: &str| health(uid, "WorkerPool", uid);
    api.page(STORAGE, &storage, page_body("s", 0, 2, &[h("a"), h("b")]))
        .await
        .staged();
    let e = api
        .page(STORAGE, &storage, page_body("s", 1, 2, &[h("c"), h("d")]))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(e.message.contains("at most 3"), "{e:?}");

    // The staging area's byte cap, over all informers: 3 pages of ~8 KiB fit, the 4th not.
    let api = Api::with(Options {
        paging: PagingLimits {
            max_pages: 8,
            max_staged_bytes: staged_cap,
            ..PagingLimits::default()
        },
        ..Options::default()
    });
    let sized = |report: &str, i: u32| {
        let body = page_body(report, i, 8, &nodes(report, 0..1));
        let pad = 8 * 1024 - body.len();
        format!("{}{}", body, " ".repeat(pad))
    };
    for i in 0..3 {
        api.page(MCO, &token, sized("r1", i)).await.staged();
    }
    let before = api.dump();
    let reply = api.page(MCO, &token, sized("r1", 3)).await;
    let e = reply.error(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(e.reason, "StagingFull");
    assert_eq!(
        reply.headers.get(header::RETRY_AFTER).unwrap(),
        "120",
        "retry when staged pages have expired"
    );
    unchanged(&api, &before, staged_cap);
    // Another informer is refused as well: the cap is over all of them.
    let storage_reply = api
        .page(
            STORAGE,
            &storage,
            format!("{}{}", page_body("s", 0, 2, &[h("a")]), " ".repeat(100)),
        )
        .await;
    assert_eq!(
        storage_reply.error(StatusCode::TOO_MANY_REQUESTS).reason,
        "StagingFull"
    );
}

#[tokio::test]
async fn rejections_across_pages_are_reported_at_commit_and_kept_for_the_administrator() {
    let api = Api::new();
    let token = mco_token();
    let mut bad = node("bad", "Bad Name");
    bad["uid"] = json!("bad");
    let first = api
        .page(MCO, &token, page_body("r1", 0, 2, &[node("a", "a"), bad]))
        .await
        .staged();
    assert_eq!(first.rejected.len(), 1);
    assert_eq!(
        (first.rejected[0].page, first.rejected[0].index),
        (Some(0), 1)
    );
    // A uid repeated on a later page is refused there.
    let r = api
        .page(
            MCO,
            &token,
            page_body("r1", 1, 2, &[node("a", "a"), node("b", "b")]),
        )
        .await
        .result();
    assert_eq!(r.accepted, 2);
    let at: Vec<(Option<u32>, usize, &str)> = r
        .rejected
        .iter()
        .map(|x| (x.page, x.index, x.field.as_str()))
        .collect();
    assert_eq!(at, [(Some(0), 1, "insight.node.name"), (Some(1), 0, "uid")]);
    let recent = api.state.observed.recent_rejections(&mco());
    assert_eq!(recent.len(), 2);
    assert!(
        recent
            .iter()
            .all(|x| x.reason.as_str() == "InsightRejected")
    );
    assert!(
        recent[0]
            .message
            .contains("page 0 insight 1 (uid bad) field insight.node.name"),
        "{recent:?}"
    );

    // A whole report refused after authorization is kept too, newest first.
    api.post(MCO, &token, "{")
        .await
        .error(StatusCode::BAD_REQUEST);
    let recent = api.state.observed.recent_rejections(&mco());
    assert_eq!(recent[0].reason.as_str(), "MalformedReport");
    assert_eq!(recent.len(), 3);
    // A caller refused before authorization writes nothing into the informer's status.
    api.post(MCO, &storage_token(), "{")
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(api.state.observed.recent_rejections(&mco()).len(), 3);
}

/// Finding 9: a Health insight that says it starts in the future would sort above every other
/// insight of its level for as long as that future lasts; it is refused alone, the rest kept.
#[tokio::test]
async fn a_health_insight_starting_in_the_future_is_refused_alone() {
    let api = Api::new();
    let token = network_token();
    let at = |offset_secs: i64| {
        let mut h = health(&format!("starts-{offset_secs}"), "ControlPlane", "x");
        let start = t0().plus(GoDuration::from_secs(offset_secs));
        h["insight"]["health"]["startedAt"] = json!(start.to_rfc3339_seconds());
        h
    };
    // Now, a clock skew of four minutes ahead, and a day ahead.
    let reply = api
        .report(NETWORK, &token, vec![at(0), at(240), at(86_400)])
        .await;
    let result = reply.result();
    assert_eq!(result.accepted, 2, "{result:?}");
    assert_rejected(
        &result,
        2,
        Some("starts-86400"),
        "insight.health.startedAt",
        "starts in the future",
    );
}
