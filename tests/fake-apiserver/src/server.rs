//! The listener, the connections, and the dispatch of one request.
//!
//! Order of a request, as seen from a client: injected latency, injected faults, authentication
//! (401 without a known bearer token), body limit (413), routing (404 `Status` for unknown paths),
//! authorization (403 for a non-admin user without a rule), then the verb. Every request is logged
//! with the code it got, and counted as outstanding on its path from arrival to answer.
//!
//! "Unreachable" keeps the listening socket (so the port cannot be taken by anyone else and a
//! client can reconnect to the same URL later) but drops open connections and resets every new one
//! right after accepting it: to a client that is a connection failure, like an API server that
//! went away, and nothing on this machine waits on a half-open socket.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::requests::{InFlight, RecordedRequest};
use crate::rest::{self, Call, Params, Target};
use crate::reviews::{self, Attributes, UserInfo};
use crate::state::{Shared, admin_user, lock, read};
use crate::status::{ApiError, json_response};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` is cancelled.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _)) = accepted else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (unreachable, connection) = {
            let faults = lock(&shared.faults);
            (faults.unreachable, faults.connections.clone())
        };
        if unreachable {
            let _ = tcp.set_zero_linger();
            drop(tcp);
            continue;
        }
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let serve = async {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(dispatch(shared, req).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            };
            // Dropping the connection future closes the socket: that is how "unreachable",
            // `shutdown()` and `Drop` cut open connections, watches included.
            tokio::select! {
                () = serve => {}
                () = connection.cancelled() => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The user behind the request's bearer token, if any.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<UserInfo> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    if token == shared.admin_token {
        return Some(admin_user());
    }
    lock(&shared.tokens)
        .authenticate(token, &shared.config.api_audiences)
        .ok()
        .map(|(user, _)| user)
}

fn is_admin(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == "system:masters")
}

/// Serves one request and logs it.
async fn dispatch(shared: Arc<Shared>, req: Request<Incoming>) -> Response {
    let time = SystemTime::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let params = Params::parse(query.as_deref());
    let target = rest::parse_path(&read(&shared.registry), &path);
    let verb = rest::verb(&parts.method, target.as_ref(), &params);
    let mut user_name = None;
    // Outstanding until the answer is ready, or until the client goes and this future drops.
    let (_outstanding, in_flight) = InFlight::enter(&shared.in_flight, &path);

    let response = async {
        let latency = lock(&shared.faults).latency_for(&path);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(code) = lock(&shared.faults).check(&verb, &path) {
            return ApiError::injected(code).into_response();
        }
        let Some(user) = authenticate(&shared, &parts.headers) else {
            return ApiError::unauthorized().into_response();
        };
        user_name = Some(user.username.clone());
        let limit = shared.config.max_body_bytes;
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return ApiError::too_large(limit).into_response(),
        };
        route(
            &shared,
            &parts.method,
            &parts.headers,
            &path,
            &params,
            target,
            &verb,
            &user,
            bytes,
        )
        .unwrap_or_else(ApiError::into_response)
    }
    .await;

    lock(&shared.log).push(RecordedRequest {
        time,
        method: parts.method.to_string(),
        path,
        query,
        verb,
        content_type: header_str(&parts.headers, header::CONTENT_TYPE),
        user_agent: header_str(&parts.headers, header::USER_AGENT),
        user: user_name,
        status: response.status().as_u16(),
        in_flight,
    });
    response
}

#[allow(clippy::too_many_arguments)]
fn route(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    params: &Params,
    target: Option<Target>,
    verb: &str,
    user: &UserInfo,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ok = |v: &Value| Ok(json_response(StatusCode::OK, v));
    match (method, path) {
        (&Method::GET, "/version") => return ok(&version()),
        (&Method::GET, "/healthz" | "/readyz" | "/livez") => return Ok(rest::text_response("ok")),
        (&Method::GET, "/.well-known/openid-configuration") => {
            return ok(&shared.issuer.discovery(&shared.url));
        }
        (&Method::GET, "/openid/v1/jwks") => {
            // kube-apiserver serves only `application/jwk-set+json`: a request accepting only
            // `application/json` gets 406 (a fake that answered 200 once hid exactly that).
            let accept = header_str(headers, header::ACCEPT).unwrap_or_default();
            if !accept.is_empty()
                && !["application/jwk-set+json", "*/*", "application/*"]
                    .iter()
                    .any(|t| accept.contains(t))
            {
                return Ok(json_response(
                    StatusCode::NOT_ACCEPTABLE,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": "only application/jwk-set+json is served", "code": 406}),
                ));
            }
            let mut response = json_response(StatusCode::OK, &shared.issuer.jwks());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/jwk-set+json"),
            );
            return Ok(response);
        }
        (&Method::GET, "/api") => {
            return ok(&json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    { "clientCIDR": "0.0.0.0/0", "serverAddress": shared.url.trim_start_matches("https://") }
                ],
            }));
        }
        (&Method::GET, "/apis") => return ok(&group_list(shared)),
        (&Method::POST, "/apis/authentication.k8s.io/v1/tokenreviews") => {
            authorize_review(shared, user, "authentication.k8s.io", "tokenreviews")?;
            let review = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid TokenReview: {e}")))?;
            let answer =
                reviews::token_review(&lock(&shared.tokens), &shared.config.api_audiences, review);
            return Ok(json_response(StatusCode::CREATED, &to_value(&answer)?));
        }
        (&Method::POST, "/apis/authorization.k8s.io/v1/subjectaccessreviews") => {
            authorize_review(shared, user, "authorization.k8s.io", "subjectaccessreviews")?;
            let review = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid SubjectAccessReview: {e}")))?;
            let answer = reviews::subject_access_review(&lock(&shared.rules), review);
            return Ok(json_response(StatusCode::CREATED, &to_value(&answer)?));
        }
        _ => {}
    }
    let Some(target) = target else {
        if method == Method::GET
            && let Some(list) = resource_list(shared, path)
        {
            return ok(&list);
        }
        return Err(ApiError::unknown_path());
    };
    if !is_admin(user) {
        let attrs = Attributes {
            user: &user.username,
            groups: &user.groups,
            verb,
            group: &target.def.group,
            resource: &target.def.plural,
            subresource: if target.status { "status" } else { "" },
            name: target.name.as_deref().unwrap_or_default(),
            namespace: target.namespace.as_deref().unwrap_or_default(),
        };
        if !reviews::allowed(&lock(&shared.rules), &attrs) {
            return Err(ApiError::forbidden(
                &user.username,
                verb,
                &target.def,
                target.name.as_deref(),
                target.namespace.as_deref(),
            ));
        }
    }
    rest::handle(
        Call {
            shared,
            method,
            headers,
            params,
            target,
            body,
            output: rest::Output::Full,
        },
        verb,
    )
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(&e.to_string()))
}

fn authorize_review(
    shared: &Shared,
    user: &UserInfo,
    group: &str,
    resource: &str,
) -> Result<(), ApiError> {
    if is_admin(user) {
        return Ok(());
    }
    let attrs = Attributes {
        user: &user.username,
        groups: &user.groups,
        verb: "create",
        group,
        resource,
        ..Default::default()
    };
    if reviews::allowed(&lock(&shared.rules), &attrs) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            &user.username,
            "create",
            &crate::registry::ResourceDef::new(group, "v1", resource, ""),
            None,
            None,
        ))
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group_list(shared: &Shared) -> Value {
    let registry = read(&shared.registry);
    let mut groups: Vec<(String, String)> = registry
        .all()
        .iter()
        .filter(|d| !d.group.is_empty())
        .map(|d| (d.group.clone(), d.version.clone()))
        .collect();
    groups.sort();
    groups.dedup();
    let groups: Vec<Value> = groups
        .iter()
        .map(|(g, v)| {
            let gv = json!({ "groupVersion": format!("{g}/{v}"), "version": v });
            json!({ "name": g, "versions": [gv.clone()], "preferredVersion": gv })
        })
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/api/v1` and `/apis/GROUP/VERSION`: the resources of a group version.
fn resource_list(shared: &Shared, path: &str) -> Option<Value> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version) = match segs.as_slice() {
        ["api", "v1"] => ("", "v1"),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let registry = read(&shared.registry);
    let mut resources = Vec::new();
    for d in registry
        .all()
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        resources.push(json!({
            "name": d.plural, "singularName": d.kind.to_ascii_lowercase(), "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        }));
        if d.has_status {
            resources.push(json!({
                "name": format!("{}/status", d.plural), "singularName": "", "namespaced": d.namespaced,
                "kind": d.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}
