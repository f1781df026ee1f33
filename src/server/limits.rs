//! Per-request limits, applied as tower layers on the router (the listener bounds connections,
//! these bound requests): total time, body size, and total body transfer time.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};

use crate::http::audit::{Audit, Decision};
use crate::http::errors::ApiError;

/// Request-level limits; the defaults follow the design (1 MiB bodies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// A request whose response is not ready after this long is answered 408 and its handler
    /// dropped. Default 30 s.
    pub request_timeout: Duration,
    /// Largest accepted request body in bytes; larger is answered 413, before the body is read
    /// when `Content-Length` says so. Default 1 MiB.
    pub body_limit: usize,
    /// Time allowed for the whole request body to arrive, however it trickles (slow-body
    /// attacks reset per-chunk idle timers, not this). Default 10 s.
    pub body_deadline: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            request_timeout: Duration::from_secs(30),
            body_limit: 1024 * 1024,
            body_deadline: Duration::from_secs(10),
        }
    }
}

/// Wraps `router` in the request limits. Call it after all routes are added.
///
/// Order, outermost first: [`json_refusals`] (which gives the refusals the other layers make
/// on their own the API's JSON error shape and an audit line), the whole-request timeout (408),
/// the body deadline, axum's extractor limit ([`DefaultBodyLimit`], 2 MiB by default, set to the
/// same size) and the body size limit (413), innermost so that the handler's body is the
/// size-limited one. A body that misses its deadline fails to read, which axum's body
/// extractors answer with 400.
///
/// The layers wrap the router as one service, not each route (`Router::layer`): per-route
/// layers are boxed inside every route and cloned, box by box, on every request, which was a
/// quarter of the allocations a report cost.
pub fn harden(router: Router, limits: &RequestLimits) -> Router {
    let stack = ServiceBuilder::new()
        .layer(from_fn_with_state(limits.clone(), json_refusals))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(RequestBodyDeadlineLayer::new(limits.body_deadline))
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(RequestBodyLimitLayer::new(limits.body_limit))
        .service(router);
    Router::new().fallback_service(stack)
}

/// The limit layers answer on their own when a declared `Content-Length` is over the limit
/// (413, before any handler runs) and when the whole request times out (408, the handler is
/// dropped): tower-http's answers are plain text and empty, and nobody audits them. This turns
/// them into the one JSON error shape of the API (`http::errors`) and writes the audit line the
/// handler would have written. Answers already in JSON (the handlers' own) pass untouched.
async fn json_refusals(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    // A reference-counted copy: the path is read only when a refusal needs it.
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let error = match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BodyTooLarge",
            format!(
                "the request body is larger than {} bytes",
                limits.body_limit
            ),
        ),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!(
                "the request was not handled within {} s; retry",
                limits.request_timeout.as_secs()
            ),
        ),
        _ => return response,
    };
    let (action, informer) = match uri
        .path()
        .strip_prefix("/v1alpha1/informers/")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((informer, "reports")) => ("report", informer),
        Some((informer, "insights")) => ("read", informer),
        _ => ("request", "-"),
    };
    let mut audit = Audit::new(action, informer);
    audit.decision = Decision::Refused;
    audit.reason = Some(error.reason);
    audit.code = error.status.as_u16();
    audit.emit();
    error.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::http::Request;
    use axum::routing::post;
    use hyper::body::Frame;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::ServiceExt;

    fn app(limits: &RequestLimits) -> Router {
        let router = Router::new()
            .route(
                "/echo",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "late"
                }),
            );
        harden(router, limits)
    }

    /// A body that sends one byte, then nothing ever again (a stalled trickle).
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

    #[tokio::test]
    async fn oversized_body_is_413() {
        let limits = RequestLimits {
            body_limit: 16,
            ..RequestLimits::default()
        };
        // Without Content-Length: found while reading.
        let req = Request::post("/echo")
            .body(Body::from(vec![b'x'; 17]))
            .unwrap();
        let res = app(&limits).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // With Content-Length: refused before reading.
        let req = Request::post("/echo")
            .header("content-length", "17")
            .body(Body::from(vec![b'x'; 17]))
            .unwrap();
        let res = app(&limits).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let req = Request::post("/echo")
            .body(Body::from(vec![b'x'; 16]))
            .unwrap();
        let res = app(&limits).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_handler_is_408() {
        let res = app(&RequestLimits::default())
            .oneshot(Request::post("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn stalled_body_fails_at_the_deadline() {
        let limits = RequestLimits::default();
        let start = tokio::time::Instant::now();
        let req = Request::post("/echo")
            .body(Body::new(Stalled(false)))
            .unwrap();
        let res = app(&limits).oneshot(req).await.unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
        assert_ne!(res.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(start.elapsed(), limits.body_deadline);
    }
}
