//! `report`: a producer client. It re-reads the token file for every call (the kubelet rotates
//! projected tokens), trusts only the given CA bundle, and says plainly what the server answered.

use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::cli::ReportArgs;

/// Why a report could not be delivered (as opposed to refused by the server).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The server URL is not `https://host[:port]`.
    #[error("--server {0:?} must be an https URL such as https://127.0.0.1:8443")]
    BadUrl(String),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The CA bundle holds no usable certificate.
    #[error("{}: no PEM certificate found", .0.display())]
    BadCa(PathBuf),
    /// The token file is empty.
    #[error("{}: the token file is empty", .0.display())]
    EmptyToken(PathBuf),
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// TLS failed (wrong CA, wrong name, old protocol).
    #[error("TLS with {addr} failed: {source}")]
    Tls {
        addr: String,
        source: std::io::Error,
    },
    /// HTTP failed.
    #[error("HTTP exchange with {addr} failed: {message}")]
    Http { addr: String, message: String },
    /// The report needed paging and the server's limits could not be read.
    #[error("the report is over one request's limits and GET /v1alpha1/discovery failed: {0}")]
    Discovery(String),
    /// The report needed paging and cannot be paged.
    #[error(transparent)]
    Paging(#[from] super::pages::PagingError),
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// The `Retry-After` header in seconds (429 and 503 carry it): when to try again.
    pub retry_after: Option<u64>,
}

impl Answer {
    /// Whether the report was accepted (possibly with some insights rejected).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends the report file: in one request, or, when the server refuses it as over one request's
/// limits (413, or 422 `TooManyInsights`), as the pages of one paged report within the limits
/// discovery announces. The answer is the last page's (or the first refusal).
pub async fn run(args: &ReportArgs) -> Result<Answer, ReportError> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|source| ReportError::Read {
            path: path.clone(),
            source,
        })
    };
    let body = read(&args.file)?;
    let token = String::from_utf8_lossy(&read(&args.token_file)?)
        .trim()
        .to_owned();
    if token.is_empty() {
        return Err(ReportError::EmptyToken(args.token_file.clone()));
    }
    let ca = read(&args.ca_file)?;
    let path = format!("/v1alpha1/informers/{}/reports", args.informer);
    let answer = post(
        &args.server,
        &path,
        &token,
        &ca,
        &args.ca_file,
        body.clone(),
    )
    .await?;
    if !over_one_request(&answer) {
        return Ok(answer);
    }
    let discovery = get(
        &args.server,
        "/v1alpha1/discovery",
        &token,
        &ca,
        &args.ca_file,
    )
    .await?;
    let discovery: update_status_api::wire::Discovery = serde_json::from_str(&discovery.body)
        .map_err(|e| ReportError::Discovery(format!("HTTP {}: {e}", discovery.status)))?;
    let pages = super::pages::split(&body, &discovery)?;
    let mut last = answer;
    for page in pages {
        last = post_retrying(&args.server, &path, &token, &ca, &args.ca_file, page).await?;
        if !last.accepted() {
            break;
        }
    }
    Ok(last)
}

/// Whether the server refused a report for being more than one request may carry.
fn over_one_request(answer: &Answer) -> bool {
    let reason = serde_json::from_str::<update_status_api::wire::ErrorBody>(&answer.body)
        .map(|e| e.reason)
        .unwrap_or_default();
    answer.status == 413 || (answer.status == 422 && reason == "TooManyInsights")
}

/// How often one page is sent again after a 429 before giving up.
const PAGE_RETRIES: usize = 5;

/// POSTs one page, waiting out `429`s (the rate limit counts pages) as `Retry-After` says.
async fn post_retrying(
    server: &str,
    path: &str,
    token: &str,
    ca: &[u8],
    ca_path: &std::path::Path,
    page: Vec<u8>,
) -> Result<Answer, ReportError> {
    let mut answer = post(server, path, token, ca, ca_path, page.clone()).await?;
    for _ in 0..PAGE_RETRIES {
        match answer.retry_after {
            Some(secs) if answer.status == 429 => {
                tokio::time::sleep(std::time::Duration::from_secs(secs.clamp(1, 60))).await;
                answer = post(server, path, token, ca, ca_path, page.clone()).await?;
            }
            _ => break,
        }
    }
    Ok(answer)
}

/// POSTs `body` as JSON to `server` + `path` over TLS trusting only `ca_pem`.
pub async fn post(
    server: &str,
    path: &str,
    token: &str,
    ca_pem: &[u8],
    ca_path: &std::path::Path,
    body: Vec<u8>,
) -> Result<Answer, ReportError> {
    exchange(
        server,
        hyper::Method::POST,
        path,
        token,
        ca_pem,
        ca_path,
        body,
        MAX_ANSWER_BYTES,
    )
    .await
}

/// GETs `server` + `path` (for example the read-back of an informer's insights).
pub async fn get(
    server: &str,
    path: &str,
    token: &str,
    ca_pem: &[u8],
    ca_path: &std::path::Path,
) -> Result<Answer, ReportError> {
    get_limited(server, path, token, ca_pem, ca_path, MAX_ANSWER_BYTES).await
}

/// Like [`get`], refusing an answer longer than `max_answer_bytes` (for servers that are not
/// this controller, such as the Thanos Querier the alerts informer reads).
pub async fn get_limited(
    server: &str,
    path: &str,
    token: &str,
    ca_pem: &[u8],
    ca_path: &std::path::Path,
    max_answer_bytes: usize,
) -> Result<Answer, ReportError> {
    exchange(
        server,
        hyper::Method::GET,
        path,
        token,
        ca_pem,
        ca_path,
        Vec::new(),
        max_answer_bytes,
    )
    .await
}

/// The answer size limit of the controller's own API calls: its answers are small.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

#[allow(clippy::too_many_arguments)] // one private function behind the public ones
async fn exchange(
    server: &str,
    method: hyper::Method,
    path: &str,
    token: &str,
    ca_pem: &[u8],
    ca_path: &std::path::Path,
    body: Vec<u8>,
    max_answer_bytes: usize,
) -> Result<Answer, ReportError> {
    let uri: hyper::Uri = server
        .parse()
        .map_err(|_| ReportError::BadUrl(server.to_owned()))?;
    if uri.scheme_str() != Some("https") {
        return Err(ReportError::BadUrl(server.to_owned()));
    }
    let host = uri
        .host()
        .ok_or_else(|| ReportError::BadUrl(server.to_owned()))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let addr = format!("{host}:{port}");

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem).flatten() {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(ReportError::BadCa(ca_path.to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ReportError::Tls {
            addr: addr.clone(),
            source: std::io::Error::other(e),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name =
        ServerName::try_from(host.clone()).map_err(|_| ReportError::BadUrl(server.to_owned()))?;
    let tcp = TcpStream::connect(&addr)
        .await
        .map_err(|source| ReportError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .map_err(|source| ReportError::Tls {
            addr: addr.clone(),
            source,
        })?;
    let http = |e: hyper::Error| ReportError::Http {
        addr: addr.clone(),
        message: e.to_string(),
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(http)?;
    tokio::spawn(conn);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.as_str())
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ReportError::Http {
            addr: addr.clone(),
            message: e.to_string(),
        })?;
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let bytes = http_body_util::Limited::new(response.into_body(), max_answer_bytes)
        .collect()
        .await
        .map_err(|e| ReportError::Http {
            addr: addr.clone(),
            message: format!("reading the answer (at most {max_answer_bytes} bytes): {e}"),
        })?
        .to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        retry_after,
    })
}
