//! The informer API routes. Order of checks on a report, each before any more work is done:
//! informer name → the source's refused-token budget → authentication → authorization → rate
//! limit → content type → body (limited) → authorization again → validation → store. Nothing
//! the controller holds changes unless the report is accepted.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use sha2::{Digest, Sha256};
use update_status_api::v1alpha1::InformerName;
use update_status_api::wire::{
    Discovery, InsightsResponse, Limits, Rejection, ReportError, ReportResult, parse_report,
};
use update_status_api::{VERSION, v1alpha1};

use super::audit::{Audit, Decision};
use super::errors::ApiError;
use super::metrics::{InformerLabels, UNREGISTERED};
use super::ratelimit::RateLimiter;
use super::state::AppState;
use crate::auth::{AuthError, Identity, bearer::bearer_token};
use crate::informers::paging::{IncomingPage, PageError, PageOutcome, PagingLimits, Poisoned};
use crate::informers::{Denial, Grant};
use crate::server::AuthMark;

/// A report: the informer's complete current set of insights.
pub const REPORTS: &str = "/v1alpha1/informers/{informer}/reports";
/// What the controller holds for an informer, so a restarted producer can reconcile.
pub const INSIGHTS: &str = "/v1alpha1/informers/{informer}/insights";
/// API versions, limits and the token audience.
pub const DISCOVERY: &str = "/v1alpha1/discovery";
/// Liveness: the process serves.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: able to accept and publish (the leader, once initialised).
pub const READYZ: &str = "/readyz";
/// Prometheus metrics, for authorized scrapers.
pub const METRICS: &str = "/metrics";

/// Every route the informer API serves, as (method, path). [`router`] serves these and nothing
/// else, and `tests/openapi_contract.rs` holds `api/openapi.yaml` to this table, so the document
/// and the server cannot drift apart. (GET routes also answer HEAD, as axum does.)
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", REPORTS),
    ("GET", INSIGHTS),
    ("GET", DISCOVERY),
    ("GET", HEALTHZ),
    ("GET", READYZ),
    ("GET", METRICS),
];

/// The router of the informer API, built from [`ROUTES`], with JSON errors for unknown routes
/// and methods.
pub fn router(state: Arc<AppState>) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |r, &(method, path)| {
            r.route(path, endpoint(method, path))
        })
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The health endpoints alone, for the plain-HTTP probe port (`server::probe`): the same
/// handlers as on the HTTPS port, and nothing that carries data.
pub fn probe_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(HEALTHZ, endpoint("GET", HEALTHZ))
        .route(READYZ, endpoint("GET", READYZ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The handler of one entry of [`ROUTES`], for that entry's method only. An entry with no
/// handler here (or a method other than GET and POST) serves nothing: every request to it is
/// answered 405, which the contract test's probe of each documented route reports.
fn endpoint(method: &str, path: &str) -> MethodRouter<Arc<AppState>> {
    let filter = match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        _ => return MethodRouter::new(),
    };
    match path {
        REPORTS => on(filter, report),
        INSIGHTS => on(filter, read_back),
        DISCOVERY => on(filter, discovery),
        HEALTHZ => on(filter, healthz),
        READYZ => on(filter, readyz),
        METRICS => on(filter, metrics),
        _ => MethodRouter::new(),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see GET /v1alpha1/discovery")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "this endpoint does not accept that method",
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        "ok".into_response()
    } else {
        ApiError::unavailable(
            "the controller is not ready to accept reports yet; retry later",
            std::time::Duration::from_secs(1),
        )
        .into_response()
    }
}

async fn discovery(State(state): State<Arc<AppState>>) -> Json<Discovery> {
    Json(Discovery {
        api_versions: vec![VERSION.to_owned()],
        audience: state.audience.clone(),
        limits: Limits {
            max_body_bytes: state.limits.max_body_bytes as u64,
            max_insights_per_report: u32::try_from(state.limits.max_insights_per_report)
                .unwrap_or(u32::MAX),
            max_uid_length: v1alpha1::Uid::MAX_LEN as u32,
            max_summary_length: v1alpha1::ShortText::MAX_LEN as u32,
            max_description_length: v1alpha1::Paragraph::MAX_LEN as u32,
            max_reference_length: v1alpha1::Url::MAX_LEN as u32,
            max_pages_per_report: state.staging.limits().max_pages,
            max_insights_per_informer: u32::try_from(state.limits.max_insights_per_informer)
                .unwrap_or(u32::MAX),
            staged_report_ttl_seconds: u32::try_from(
                state.staging.limits().ttl.as_nanos() / 1_000_000_000,
            )
            .unwrap_or(u32::MAX),
            max_staged_bytes: state.staging.limits().max_staged_bytes as u64,
        },
    })
}

async fn metrics(
    State(state): State<Arc<AppState>>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let conn = Conn::of(&extensions);
    let identity = match &state.scrape {
        None => authenticate(&state, &headers, conn).await?,
        // A token our authenticator refuses may still be a scraper's own (the API server's
        // audience); refused by both, it spends the source's budget once.
        Some(scrape) => {
            authenticate_with(&state, &headers, conn, async |token| {
                match state.authenticator.authenticate(token).await {
                    Err(AuthError::Invalid(_)) => scrape.identify(token).await,
                    verified => verified,
                }
            })
            .await?
        }
    };
    let allowed = state.metrics_readers.contains(&identity.username)
        || match &state.scrape {
            Some(scrape) => scrape.allows(&identity).await.map_err(auth_error)?,
            None => false,
        };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "{} may not read metrics (neither a listed metrics reader nor allowed get on /metrics by RBAC)",
            identity.username
        )));
    }
    within_rate(&state.metrics_rate, &identity.username, "metrics")?;
    let text = state.metrics.encode().map_err(|_| ApiError::internal())?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// What the listener knows about the connection a request came on (both absent when the
/// router is driven without the listener, as in-process tests do).
#[derive(Clone, Copy, Default)]
struct Conn<'a> {
    /// The connection's "has authenticated" flag (`server::auth_mark`).
    mark: Option<&'a AuthMark>,
    /// The peer's IP address, which the refused-token budget is kept by.
    source: Option<IpAddr>,
}

impl<'a> Conn<'a> {
    fn of(extensions: &'a Extensions) -> Self {
        Self {
            mark: extensions.get::<AuthMark>(),
            source: extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip()),
        }
    }
}

/// Authenticates the caller from the bearer token; never logs the token. An accepted token
/// marks the connection as authenticated, which exempts it from the listener's
/// unauthenticated-connection lifetime (`server::auth_mark`).
///
/// A source that has spent its budget of refused tokens ([`super::refusals`]) is answered 429
/// before its token is even parsed; each 401 spends from that budget, an accepted token nothing.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    conn: Conn<'_>,
) -> Result<Arc<Identity>, ApiError> {
    authenticate_with(state, headers, conn, async |token| {
        state.authenticator.authenticate(token).await
    })
    .await
}

/// [`authenticate`], with `verify` judging the token.
async fn authenticate_with(
    state: &AppState,
    headers: &HeaderMap,
    conn: Conn<'_>,
    verify: impl AsyncFnOnce(&str) -> Result<Arc<Identity>, AuthError>,
) -> Result<Arc<Identity>, ApiError> {
    if let Some(source) = conn.source
        && let Err(wait) = state.refusals.admit(source, Instant::now())
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRefusedTokens",
            "too many refused tokens from this address; retry later with a valid token",
        )
        .retry_after(wait));
    }
    let verified = match bearer_token(headers) {
        Ok(token) => verify(token).await,
        Err(e) => Err(e),
    };
    let identity = verified.map_err(|e| {
        let error = auth_error(e);
        if let Some(source) = conn.source
            && error.status == StatusCode::UNAUTHORIZED
        {
            state.refusals.charge(source, Instant::now());
        }
        error
    })?;
    if let Some(mark) = conn.mark {
        mark.authenticated();
    }
    Ok(identity)
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Unavailable { retry_after } => ApiError::unavailable(
            "the token authority is unavailable; retry later",
            retry_after,
        ),
        AuthError::RateLimited { retry_after } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "too many token reviews for an account no informer lists; retry later",
        )
        .retry_after(retry_after),
        AuthError::Missing => ApiError::unauthorized(
            "an Authorization: Bearer <service-account token> header is required",
        ),
        other => ApiError::unauthorized(other.to_string()),
    }
}

/// Takes one request of `identity` from `limiter` (after authorization: a refused caller
/// spends nothing), or the 429 that says when to retry. `what` names the kind of request whose
/// rate it is: reports, read-backs and `/metrics` have buckets of their own.
fn within_rate(limiter: &RateLimiter, identity: &str, what: &str) -> Result<(), ApiError> {
    limiter.check(identity, Instant::now()).map_err(|wait| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!("{what} rate limit exceeded; retry later"),
        )
        .retry_after(wait)
    })
}

/// Checks the informer name, authenticates and authorizes: everything before the body.
async fn admit(
    state: &AppState,
    informer: &str,
    headers: &HeaderMap,
    conn: Conn<'_>,
    audit: &mut Audit,
) -> Result<Arc<Grant>, ApiError> {
    // The name is not echoed back: it is the caller's own input, of any length.
    let name = InformerName::new(informer).map_err(|_| {
        ApiError::not_found(
            "no informer has that name: informer names are lower-case RFC 1123 labels of at most 63 characters",
        )
    })?;
    let identity = authenticate(state, headers, conn).await?;
    audit.identity = Some(Arc::clone(&identity));
    let grant = state
        .registry()
        .authorize(&name, &identity.username, identity.uid.as_deref())
        .map_err(|d| denied(&d, audit))?;
    if let Some(reviewer) = &state.access_reviewer
        && !reviewer
            .allows(&identity, name.as_str())
            .await
            .map_err(auth_error)?
    {
        return Err(ApiError::forbidden(format!(
            "{} may not update updateinformers/insights {name} (SubjectAccessReview)",
            identity.username
        )));
    }
    audit.grant = Some(Arc::clone(&grant));
    Ok(grant)
}

/// The 403 for a caller the registry does not let report for (or read) an informer. The
/// caller is told only [`Denial::public_message`] (a stranger cannot tell an unregistered
/// informer from one that does not list it); why goes to the audit line and the debug log.
fn denied(denial: &Denial, audit: &mut Audit) -> ApiError {
    audit.denial = Some(denial.kind());
    tracing::debug!(%denial, "authorization refused");
    ApiError::forbidden(denial.public_message(audit.username().unwrap_or_default()))
}

/// Authorizes the caller of [`admit`] again, against the registry as it is now: reading a body
/// may take up to the whole-request timeout, in which an administrator may have deleted or
/// disabled the informer or removed the producer, and what was sent must then not be stored.
/// Not authenticated again (the token was valid when presented) nor reviewed again by
/// SubjectAccessReview (an API call per report; RBAC is checked at admission). The grant is the
/// current one, so limits changed meanwhile apply too.
fn still_authorized(
    state: &AppState,
    grant: &Grant,
    audit: &mut Audit,
) -> Result<Arc<Grant>, ApiError> {
    let identity = audit.identity.clone().ok_or_else(ApiError::internal)?;
    state
        .registry()
        .authorize(&grant.informer, &identity.username, identity.uid.as_deref())
        .map_err(|d| denied(&d, audit))
}

/// The informer segment of the path, percent-decoded. One that does not decode (`%ff`) is no
/// informer's name: it becomes the empty name, which [`admit`] answers with a JSON 404, rather
/// than axum's plain-text rejection.
fn informer_of(path: Result<Path<String>, PathRejection>) -> String {
    path.map(|Path(informer)| informer).unwrap_or_default()
}

async fn read_back(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Response {
    let informer = informer_of(path);
    let mut audit = Audit::new("read", &informer);
    let result = async {
        let conn = Conn::of(&extensions);
        let grant = admit(&state, &informer, &headers, conn, &mut audit).await?;
        within_rate(
            &state.read_rate,
            audit.username().unwrap_or_default(),
            "read-back",
        )?;
        let insights = state
            .store
            .lock()
            .map_err(|_| ApiError::internal())?
            .insights(&grant.informer)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        Ok::<_, ApiError>(Json(InsightsResponse {
            informer: grant.informer.to_string(),
            insights,
        }))
    }
    .await;
    finish(&state, audit, result)
}

async fn report(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    // The whole request rather than `HeaderMap` and `Body`: axum's `HeaderMap` extractor
    // copies the headers, token included, on every report.
    request: Request,
) -> Response {
    let informer = informer_of(path);
    let started = Instant::now();
    let mut audit = Audit::new("report", &informer);
    let (parts, body) = request.into_parts();
    let conn = Conn::of(&parts.extensions);
    let result = handle_report(&state, &informer, &parts.headers, conn, body, &mut audit).await;
    state
        .metrics
        .latency
        .observe(started.elapsed().as_secs_f64());
    finish(&state, audit, result)
}

async fn handle_report(
    state: &AppState,
    informer: &str,
    headers: &HeaderMap,
    conn: Conn<'_>,
    body: Body,
    audit: &mut Audit,
) -> Result<Response, ApiError> {
    let grant = admit(state, informer, headers, conn, audit).await?;
    within_rate(&state.rate, audit.username().unwrap_or_default(), "report")?;
    let result = handle_admitted(state, &grant, headers, body, audit).await;
    // The administrator sees why an authorized producer's report was refused; a refusal that is
    // the server's state (5xx), not the report, says nothing about the producer, and neither
    // does a 403 after the body was read (the administrator's own change refused it).
    if let Err(e) = &result
        && e.status.is_client_error()
        && e.status != StatusCode::FORBIDDEN
    {
        state.observed.record_rejections(
            &grant.informer,
            state.clock.now(),
            e.reason,
            [e.message.clone()],
        );
    }
    result
}

/// Everything after authorization and the rate limit: content type, body, authorization again
/// (the registry may have changed while the body arrived), validation, policy, then the store
/// (a whole report) or the staging area (one page of a paged report).
async fn handle_admitted(
    state: &AppState,
    grant: &Grant,
    headers: &HeaderMap,
    body: Body,
    audit: &mut Audit,
) -> Result<Response, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "a report must be sent with Content-Type: application/json (UTF-8)",
        ));
    }
    let bytes = axum::body::to_bytes(body, state.limits.max_body_bytes)
        .await
        .map_err(|e| body_error(&e, state.limits.max_body_bytes))?;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    audit.body_sha256 = Some(digest);
    audit.bytes = bytes.len();
    let grant = &*still_authorized(state, grant, audit)?;
    let max = grant
        .max_insights
        .map_or(state.limits.max_insights_per_report, |m| {
            m.min(state.limits.max_insights_per_report)
        });
    let parsed = parse_report(&bytes, max).map_err(|e| match e {
        ReportError::Malformed(m) => ApiError::bad_request(
            "MalformedReport",
            format!("the body is not a valid report: {}", bounded(m)),
        ),
        ReportError::TooManyInsights { count, max } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "TooManyInsights",
            format!(
                "the {} has {count} insights but informer {} may send at most {max} in one request{}",
                if has_page(&bytes) { "page" } else { "report" },
                grant.informer,
                if max < state.limits.max_insights_per_informer {
                    "; send more in pages of one paged report"
                } else {
                    ""
                }
            ),
        ),
        ReportError::InvalidPage(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "InvalidPage", m)
        }
    })?;
    let mut rejected = parsed.rejected;
    // `parsed.accepted` is what validation let through, in report order: its report indexes are
    // the ones validation did not reject, so a policy rejection names the insight that was sent.
    let refused: HashSet<usize> = rejected.iter().map(|r| r.index).collect();
    let indexes = (0..).filter(|i| !refused.contains(i));
    let page_index = parsed.page.as_ref().map(|p| p.index);
    let mut accepted = Vec::with_capacity(parsed.accepted.len());
    let received = state.clock.now();
    for (index, insight) in indexes.zip(parsed.accepted) {
        match grant.check_at(&insight, received) {
            Ok(()) => accepted.push((index, insight)),
            Err(v) => rejected.push(Rejection {
                index,
                page: page_index,
                uid: Some(insight.uid.to_string()),
                field: v.field(&insight.insight).into(),
                reason: v.to_string(),
            }),
        }
    }
    rejected.sort_by_key(|r| r.index);
    for r in &mut rejected {
        // Parser messages can quote the producer's input, and so could a path through a map;
        // keep the answer small (the uid is cut by `parse_report`, or is a valid one).
        r.reason = bounded(std::mem::take(&mut r.reason));
        r.field = bounded(std::mem::take(&mut r.field));
    }
    let now = state.clock.now();
    let Some(page) = parsed.page else {
        // A whole report is the complete set: nothing staged or committed before may answer
        // for the informer any more.
        state.staging.forget(&grant.informer);
        let accepted = accepted.into_iter().map(|(_, i)| i).collect();
        let result = commit(state, grant, accepted, rejected, None, now)
            .map_err(|_| ApiError::internal())?;
        audit.accepted = result.accepted as usize;
        audit.rejected = result.rejected.len();
        return Ok(Json(result).into_response());
    };
    let informer_max = grant
        .max_insights
        .map_or(state.limits.max_insights_per_informer, |m| {
            m.min(state.limits.max_insights_per_informer)
        });
    let page_rejected = rejected.len();
    let incoming = IncomingPage {
        page,
        digest,
        bytes: bytes.len(),
        accepted,
        rejected,
        max_insights: informer_max,
    };
    let outcome = state
        .staging
        .stage(&grant.informer, incoming, now, |complete| {
            commit(
                state,
                grant,
                complete.accepted,
                complete.rejected,
                Some((complete.report.to_string(), complete.pages)),
                now,
            )
        })
        .map_err(|_| ApiError::internal())?
        .map_err(|e| page_error(&e, state.staging.limits()))?;
    audit.rejected = page_rejected;
    Ok(match outcome {
        PageOutcome::Staged(staged) => {
            audit.accepted = staged.staged_insights as usize;
            (StatusCode::ACCEPTED, Json(staged)).into_response()
        }
        PageOutcome::Committed(result) => {
            audit.accepted = result.accepted as usize;
            Json(result).into_response()
        }
    })
}

/// Whether a body that was refused for its size declared a page (for the message only).
fn has_page(body: &[u8]) -> bool {
    body.windows(7).any(|w| w == b"\"page\"")
}

/// Makes `accepted` the informer's complete set (the store's replace), and counts, records and
/// announces what changed. The result is the report's answer.
fn commit(
    state: &AppState,
    grant: &Grant,
    accepted: Vec<update_status_api::wire::ReportedInsight>,
    rejected: Vec<Rejection>,
    paged: Option<(String, u32)>,
    now: update_status_api::time::Timestamp,
) -> Result<ReportResult, Poisoned> {
    let (outcome, types) = {
        let mut store = state.store.lock().map_err(|_| Poisoned)?;
        store.set_rejected(&grant.informer, rejected.len());
        let outcome = store.replace(&grant.informer, false, accepted, now);
        // The gauge moves only on a change; a repeated report costs no count.
        let types: Option<Vec<_>> = outcome.changed.then(|| {
            store
                .insights(&grant.informer)
                .unwrap_or_default()
                .iter()
                .map(|i| i.insight.insight_type())
                .collect()
        });
        (outcome, types)
    };
    if let Some(types) = types {
        state.metrics.set_insights(grant.informer.as_str(), types);
        state.changed.notify_one();
    }
    if !rejected.is_empty() {
        state
            .metrics
            .rejected
            .get_or_create(&InformerLabels {
                informer: grant.informer.to_string(),
            })
            .inc_by(rejected.len() as u64);
        state.observed.record_rejections(
            &grant.informer,
            now,
            "InsightRejected",
            rejected.iter().map(describe),
        );
    }
    let (report, pages) = paged.unzip();
    Ok(ReportResult {
        informer: grant.informer.to_string(),
        accepted: u32::try_from(outcome.held).unwrap_or(u32::MAX),
        removed: u32::try_from(outcome.removed).unwrap_or(u32::MAX),
        unchanged: !outcome.changed,
        rejected,
        report,
        pages,
    })
}

/// One rejected insight, in a line for the UpdateInformer's status.
fn describe(r: &Rejection) -> String {
    let page = r.page.map(|p| format!("page {p} ")).unwrap_or_default();
    let uid = r
        .uid
        .as_deref()
        .map(|u| format!(" (uid {u})"))
        .unwrap_or_default();
    format!(
        "{page}insight {}{uid} field {}: {}",
        r.index, r.field, r.reason
    )
}

/// The answer to a page the staging area refused.
fn page_error(e: &PageError, limits: &PagingLimits) -> ApiError {
    let message = e.to_string();
    match e {
        PageError::TooManyPages { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "TooManyPages", message)
        }
        PageError::TooManyInsights { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "TooManyInsights", message)
        }
        PageError::CountChanged { .. } | PageError::ContentChanged { .. } => {
            ApiError::new(StatusCode::CONFLICT, "PageConflict", message)
        }
        PageError::StagingFull { .. } => {
            let ttl = u64::try_from(limits.ttl.as_nanos() / 1_000_000_000).unwrap_or(1);
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "StagingFull", message)
                .retry_after(std::time::Duration::from_secs(ttl.max(1)))
        }
    }
}

/// Counts, audits and renders the response.
fn finish<T: IntoResponse>(
    state: &AppState,
    mut audit: Audit,
    result: Result<T, ApiError>,
) -> Response {
    let response = match result {
        Ok(ok) => ok.into_response(),
        Err(e) => {
            audit.decision = Decision::Refused;
            audit.reason = Some(e.reason);
            e.into_response()
        }
    };
    audit.code = response.status().as_u16();
    let label = audit
        .grant
        .as_ref()
        .map_or(UNREGISTERED, |g| g.informer.as_str());
    state.metrics.count_request(label, audit.code);
    audit.emit();
    response
}

/// Whether the request says its body is JSON in UTF-8: `application/json`, with no parameter
/// but an optional `charset=utf-8` (RFC 8259 §8.1: JSON exchanged between systems is UTF-8).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|p| match p.split_once('=') {
            Some((name, value)) => {
                name.trim().eq_ignore_ascii_case("charset")
                    && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            None => p.trim().is_empty(),
        })
}

/// Why the body could not be read: over the size limit (413), past the body deadline of
/// `server::limits::harden` (408), or the client's stream failed (400). Each layer of body
/// wrapping boxes the error again, so the whole source chain is searched.
fn body_error(e: &axum::Error, max_body_bytes: usize) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BodyTooLarge",
                format!("the report body is larger than {max_body_bytes} bytes"),
            );
        }
        if err.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "BodyTimeout",
                "the report body did not arrive in time; send it without pauses",
            );
        }
        cause = err.source();
    }
    ApiError::bad_request(
        "BodyReadFailed",
        "the report body could not be read to its end",
    )
}

/// At most this many characters of a message built from the caller's input.
const MAX_ECHO_CHARS: usize = 512;

/// `message`, cut to [`MAX_ECHO_CHARS`] characters.
fn bounded(message: String) -> String {
    match message.char_indices().nth(MAX_ECHO_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message,
    }
}
