//! One bounded request to the API server on behalf of authentication and authorization
//! (TokenReview, SubjectAccessReview, service-account issuer discovery).
//!
//! Every call has a deadline, a cap on the response size, and a typed failure that says whether
//! and when to retry, so a slow or broken API server turns into `503 Retry-After` at the route and
//! never into an accept or an unbounded wait.
//!
//! Requests go through [`kube::Client::send`] rather than `Api::create` or `Client::request`:
//! `Client::request` logs the whole response text at `warn` when it does not decode, and a
//! TokenReview response echoes `spec.token`; `send` also keeps the response headers, which carry
//! the API server's `Retry-After`. Nothing here logs, and no error carries a request or response
//! body.

use std::time::Duration;

use http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Limited};
use hyper::body::Bytes;
use kube::client::Body;

/// The largest response read, in bytes. TokenReview and SubjectAccessReview answers are a few
/// hundred bytes and a JWKS a few KiB; the cap keeps a misbehaving endpoint from costing memory.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How long callers are told to wait when the API server gives no `Retry-After` of its own (a
/// timeout, a refused connection, an error without the header): about one API server restart step.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The longest `Retry-After` passed on from the API server: a producer told to wait an hour
/// would stop reporting for an hour over one overloaded moment.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Why a call to the API server produced no usable answer. Carries the path asked and what went
/// wrong, never a body (a TokenReview body holds a token).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No complete answer within the deadline.
    #[error("{path}: no answer from the API server within {} ms", after.as_millis())]
    Timeout {
        /// The path asked.
        path: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The request did not reach the API server, or the connection failed (refused, reset, TLS).
    #[error("{path}: cannot reach the API server: {reason}")]
    Transport {
        /// The path asked.
        path: &'static str,
        /// The client's description of the failure.
        reason: String,
    },
    /// The API server answered with a status other than 2xx.
    #[error("{path}: the API server answered HTTP {status}")]
    Status {
        /// The path asked.
        path: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The API server's `Retry-After`, in whole seconds, when it sent one (429, 503).
        retry_after: Option<Duration>,
    },
    /// The response body could not be read, or was larger than [`MAX_RESPONSE_BYTES`].
    #[error("{path}: reading the API server's answer: {reason}")]
    Body {
        /// The path asked.
        path: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The request could not be built (a bug: paths and headers here are constants).
    #[error("{path}: building the request")]
    Build {
        /// The path asked.
        path: &'static str,
    },
}

impl CallError {
    /// How long the caller should wait before retrying: the API server's own `Retry-After` when it
    /// gave one (capped at [`MAX_RETRY_AFTER`]), else [`DEFAULT_RETRY_AFTER`].
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::Status {
                retry_after: Some(after),
                ..
            } => *after,
            _ => DEFAULT_RETRY_AFTER,
        }
    }
}

/// Sends one request with a JSON body (or none) and returns the body of a 2xx answer.
///
/// The deadline covers sending, waiting and reading the whole body. Dropping the returned future
/// abandons the request.
pub(crate) async fn call(
    client: &kube::Client,
    method: Method,
    path: &'static str,
    json_body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Bytes, CallError> {
    call_accepting(client, method, path, "application/json", json_body, timeout).await
}

/// [`call`] for an answer of another media type: the API server answers `/openid/v1/jwks` with
/// 406 to `Accept: application/json` alone (it serves `application/jwk-set+json`).
pub(crate) async fn call_accepting(
    client: &kube::Client,
    method: Method,
    path: &'static str,
    accept: &'static str,
    json_body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Bytes, CallError> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header(ACCEPT, accept);
    let request = match json_body {
        Some(body) => builder
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(body)),
        None => builder.body(Body::empty()),
    }
    .map_err(|_| CallError::Build { path })?;
    let exchange = async {
        let response = client
            .send(request)
            .await
            .map_err(|e| CallError::Transport {
                path,
                reason: e.to_string(),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(CallError::Status {
                path,
                status: status.as_u16(),
                retry_after: retry_after(response.headers()),
            });
        }
        let collected = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| CallError::Body {
                path,
                reason: if e.is::<http_body_util::LengthLimitError>() {
                    "larger than 1 MiB"
                } else {
                    "the connection failed while reading"
                },
            })?;
        Ok(collected.to_bytes())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| CallError::Timeout {
            path,
            after: timeout,
        })?
}

/// The `Retry-After` of a response in delta-seconds form, between 1 s and [`MAX_RETRY_AFTER`].
/// The HTTP-date form is not used by the API server and is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).clamp(Duration::from_secs(1), MAX_RETRY_AFTER))
}

/// A table-driven stand-in for the API server, for the unit tests of the modules that call it:
/// a [`kube::Client`] over a `tower::service_fn` that records every request and answers from a
/// handler.
#[cfg(test)]
pub(crate) mod mock {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use http::{Request, Response};
    use http_body_util::BodyExt;
    use kube::client::Body;
    use serde_json::Value;

    /// What the stand-in does with a request.
    pub(crate) enum Reply {
        /// Answers with this status and JSON body.
        Json(u16, Value),
        /// Answers with this status, an empty body and, when given, a `Retry-After` header.
        Status(u16, Option<&'static str>),
        /// Fails the way a refused connection does.
        ConnectionError,
        /// Never answers.
        Stall,
        /// Waits, then answers.
        Slow(Duration, Box<Reply>),
    }

    /// One request as the stand-in received it.
    #[derive(Clone, Debug)]
    pub(crate) struct Recorded {
        pub(crate) method: String,
        pub(crate) path: String,
        /// The `Accept` header, empty when absent.
        pub(crate) accept: String,
        pub(crate) body: Vec<u8>,
    }

    impl Recorded {
        /// The body as JSON (`null` when empty).
        pub(crate) fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap_or(Value::Null)
        }
    }

    type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

    /// The stand-in's record of requests, shared with the test.
    #[derive(Clone)]
    pub(crate) struct MockApi {
        calls: Arc<Mutex<Vec<Recorded>>>,
    }

    impl MockApi {
        /// A client whose every request `handler` answers, and the record of those requests.
        /// Must be called inside a Tokio runtime (the client spawns its buffer worker).
        pub(crate) fn new(
            handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
        ) -> (kube::Client, MockApi) {
            let calls = Arc::new(Mutex::new(Vec::new()));
            let handler: Arc<Handler> = Arc::new(handler);
            let record = Arc::clone(&calls);
            let service = tower::service_fn(move |request: Request<Body>| {
                let handler = Arc::clone(&handler);
                let record = Arc::clone(&record);
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|c| c.to_bytes().to_vec())
                        .unwrap_or_default();
                    let recorded = Recorded {
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_owned(),
                        accept: parts
                            .headers
                            .get(http::header::ACCEPT)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned(),
                        body,
                    };
                    record.lock().unwrap().push(recorded.clone());
                    answer(handler(&recorded)).await
                }
            });
            (kube::Client::new(service, "default"), MockApi { calls })
        }

        /// How many requests went to `path`.
        pub(crate) fn count(&self, path: &str) -> usize {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.path == path)
                .count()
        }

        /// Every request so far.
        pub(crate) fn calls(&self) -> Vec<Recorded> {
            self.calls.lock().unwrap().clone()
        }
    }

    async fn answer(
        mut reply: Reply,
    ) -> Result<Response<Body>, Box<dyn std::error::Error + Send + Sync>> {
        loop {
            match reply {
                Reply::Json(status, value) => {
                    return Ok(Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Body::from(value.to_string().into_bytes()))?);
                }
                Reply::Status(status, after) => {
                    let mut builder = Response::builder().status(status);
                    if let Some(after) = after {
                        builder = builder.header("retry-after", after);
                    }
                    return Ok(builder.body(Body::empty())?);
                }
                Reply::ConnectionError => {
                    return Err(Box::new(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "connection refused",
                    )));
                }
                Reply::Stall => match std::future::pending::<Infallible>().await {},
                Reply::Slow(delay, then) => {
                    tokio::time::sleep(delay).await;
                    reply = *then;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use serde_json::json;

    use super::mock::{MockApi, Reply};
    use super::*;

    const PATH: &str = "/apis/example/v1/things";

    #[tokio::test]
    async fn returns_the_body_of_a_success() {
        let (client, api) = MockApi::new(|_| Reply::Json(201, json!({"ok": true})));
        let body = call(
            &client,
            Method::POST,
            PATH,
            Some(b"{}".to_vec()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            json!({"ok": true})
        );
        let calls = api.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].method.as_str(), calls[0].path.as_str()),
            ("POST", PATH)
        );
        assert_eq!(calls[0].body, b"{}");
    }

    #[tokio::test]
    async fn classifies_failures_with_retry_hints() {
        let cases: Vec<(Reply, CallError)> = vec![
            (
                Reply::Status(429, Some("7")),
                CallError::Status {
                    path: PATH,
                    status: 429,
                    retry_after: Some(Duration::from_secs(7)),
                },
            ),
            (
                Reply::Status(503, Some("3600")),
                CallError::Status {
                    path: PATH,
                    status: 503,
                    retry_after: Some(MAX_RETRY_AFTER),
                },
            ),
            (
                Reply::Status(500, None),
                CallError::Status {
                    path: PATH,
                    status: 500,
                    retry_after: None,
                },
            ),
            (
                Reply::Status(403, Some("soon")),
                CallError::Status {
                    path: PATH,
                    status: 403,
                    retry_after: None,
                },
            ),
        ];
        for (reply, want) in cases {
            let reply = std::sync::Mutex::new(Some(reply));
            let (client, _) =
                MockApi::new(move |_| reply.lock().unwrap().take().unwrap_or(Reply::Stall));
            let got = call(&client, Method::GET, PATH, None, Duration::from_secs(5)).await;
            assert_eq!(got, Err(want));
        }
        assert_eq!(
            CallError::Status {
                path: PATH,
                status: 429,
                retry_after: Some(Duration::from_secs(7))
            }
            .retry_after(),
            Duration::from_secs(7)
        );

        let (client, _) = MockApi::new(|_| Reply::ConnectionError);
        let got = call(&client, Method::GET, PATH, None, Duration::from_secs(5)).await;
        assert!(
            matches!(got, Err(CallError::Transport { path: PATH, .. })),
            "{got:?}"
        );
        assert_eq!(
            got.err().map(|e| e.retry_after()),
            Some(DEFAULT_RETRY_AFTER)
        );

        let (client, _) = MockApi::new(|_| Reply::Stall);
        let after = Duration::from_millis(50);
        let got = call(&client, Method::GET, PATH, None, after).await;
        assert_eq!(got, Err(CallError::Timeout { path: PATH, after }));
    }

    #[tokio::test]
    async fn refuses_an_oversized_answer() {
        let big = "x".repeat(MAX_RESPONSE_BYTES + 1);
        let (client, _) = MockApi::new(move |_| Reply::Json(200, json!(big)));
        let got = call(&client, Method::GET, PATH, None, Duration::from_secs(5)).await;
        assert_eq!(
            got,
            Err(CallError::Body {
                path: PATH,
                reason: "larger than 1 MiB"
            })
        );
    }

    #[test]
    fn reads_retry_after_seconds_only() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_static(v));
            retry_after(&h)
        };
        assert_eq!(with("0"), Some(Duration::from_secs(1)));
        assert_eq!(with(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(with("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(with("-1"), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
