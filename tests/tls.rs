#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The HTTPS transport over real TLS on 127.0.0.1: profiles, ALPN, the transport timeouts,
//! the connection cap, certificate reload with the kubelet's Secret volume layout, and
//! graceful shutdown. Certificates are made at test time with rcgen; nothing is read from the
//! repository. Every wait is bounded.

#[path = "support/raw_http.rs"]
mod raw_http;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Once};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Path as UrlPath};
use axum::routing::get;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

use raw_http::{Reply, read_reply};
use update_status_controller::server::{
    ListenerConfig, ReloadConfig, ReloadingCert, ServeError, TlsProfile, serve, server_config,
};

const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
const HTTP1: &[&[u8]] = &[b"http/1.1"];
const H2_AND_HTTP1: &[&[u8]] = &[b"h2", b"http/1.1"];
/// Upper bound for any single network step in these tests.
const STEP: Duration = Duration::from_secs(5);

fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

// ---------------------------------------------------------------------------------------------
// Test PKI: one CA (as the OpenShift service CA), leaves for `localhost` signed by it.

struct Pki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

struct Leaf {
    /// Leaf then CA, as the service CA writes `tls.crt`.
    chain_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test service CA");
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        Pki { ca }
    }

    fn leaf(&self) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &self.ca)
            .unwrap();
        Leaf {
            chain_pem: format!("{}{}", cert.pem(), self.ca.pem()),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn client(
        &self,
        versions: &[&'static SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> TlsConnector {
        let mut cfg = self.client_config(versions, alpn);
        // A resumed session would report the certificate of the first handshake.
        cfg.resumption = rustls::client::Resumption::disabled();
        TlsConnector::from(Arc::new(cfg))
    }

    fn client_config(
        &self,
        versions: &[&'static SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let mut cfg =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }
}

/// Writes a pair as plain files in a fresh directory.
fn plain_files(dir: &Path, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&c, &leaf.chain_pem).unwrap();
    std::fs::write(&k, &leaf.key_pem).unwrap();
    (c, k)
}

// ---------------------------------------------------------------------------------------------
// Server under test.

fn app() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/sleep/{ms}",
            get(|UrlPath(ms): UrlPath<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "slept"
            }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
}

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), ServeError>>,
}

impl Server {
    async fn start(cfg: ListenerConfig, profile: TlsProfile, certs: Arc<ReloadingCert>) -> Server {
        Self::start_on("127.0.0.1:0", cfg, profile, certs).await
    }

    /// [`Server::start`] on `addr` rather than 127.0.0.1.
    async fn start_on(
        addr: &str,
        cfg: ListenerConfig,
        profile: TlsProfile,
        certs: Arc<ReloadingCert>,
    ) -> Server {
        init();
        let tls = server_config(&profile.policy(), cfg.http2, certs).unwrap();
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(serve(listener, Arc::new(tls), cfg, app(), shutdown.clone()));
        Server {
            addr,
            shutdown,
            handle,
        }
    }

    /// A server with a fresh plain-file certificate; returns the PKI to build clients with.
    async fn simple(cfg: ListenerConfig, profile: TlsProfile) -> (Server, Pki, tempfile::TempDir) {
        let pki = Pki::new();
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = plain_files(dir.path(), &pki.leaf());
        let certs = ReloadingCert::load(c, k).unwrap();
        (Server::start(cfg, profile, certs).await, pki, dir)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        timeout(Duration::from_secs(25), self.handle)
            .await
            .expect("serve did not return")
            .unwrap()
            .unwrap();
    }
}

async fn connect(addr: SocketAddr, tls: &TlsConnector) -> io::Result<TlsStream<TcpStream>> {
    let tcp = timeout(STEP, TcpStream::connect(addr)).await??;
    let name = ServerName::try_from("localhost").unwrap();
    timeout(STEP, tls.connect(name, tcp)).await?
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 client: enough to control every byte and to see when the server closes.

async fn send_get<S: AsyncWrite + Unpin>(s: &mut S, path: &str) -> io::Result<()> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    s.flush().await
}

async fn get_on<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, path: &str) -> io::Result<Reply> {
    timeout(STEP, async {
        send_get(s, path).await?;
        read_reply(s).await
    })
    .await?
}

/// Reads until the peer closes (EOF or error); returns the bytes read. Bounded by `limit`.
async fn read_until_closed<S: AsyncRead + Unpin>(s: &mut S, limit: Duration) -> Vec<u8> {
    let mut all = Vec::new();
    let mut chunk = [0u8; 1024];
    timeout(limit, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server did not close the connection");
    all
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// TLS-01, DOS-12: serving, ALPN, no plaintext.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http1_over_tls_and_negotiates_http1_by_default() {
    let (server, pki, _dir) =
        Server::simple(ListenerConfig::default(), TlsProfile::default()).await;

    // A client offering h2 first still gets http/1.1: h2 is off by default.
    let mut conn = connect(server.addr, &pki.client(BOTH, H2_AND_HTTP1))
        .await
        .unwrap();
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let reply = get_on(&mut conn, "/hello").await.unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello"));

    // The handler sees the client's address as ConnectInfo.
    let local = conn.get_ref().0.local_addr().unwrap();
    let reply = get_on(&mut conn, "/peer").await.unwrap();
    assert_eq!(reply.body, local.to_string());

    // A client that offers only h2 cannot agree on a protocol: refused at the handshake.
    let refused = connect(server.addr, &pki.client(BOTH, &[b"h2"])).await;
    assert!(refused.is_err(), "h2-only client was served");

    // The certificate is for `localhost`: a client expecting another name refuses it.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let other = ServerName::try_from("other.example").unwrap();
    let refused = timeout(STEP, pki.client(BOTH, HTTP1).connect(other, tcp))
        .await
        .unwrap();
    let err = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("not valid for name"),
        "wrong-name client: {err}"
    );

    // Plain HTTP on the TLS port gets no HTTP response.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut tcp, STEP).await;
    assert!(!answer.starts_with(b"HTTP/"), "plaintext HTTP was answered");
    assert!(!String::from_utf8_lossy(&answer).contains("hello"));

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_is_offered_and_served_only_when_switched_on() {
    let cfg = ListenerConfig {
        http2: true,
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;

    let conn = connect(server.addr, &pki.client(BOTH, H2_AND_HTTP1))
        .await
        .unwrap();
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, driver) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(conn),
    )
    .await
    .unwrap();
    tokio::spawn(driver);
    let req = axum::http::Request::get("https://localhost/hello")
        .body(http_body_util::Empty::<axum::body::Bytes>::new())
        .unwrap();
    let res = timeout(STEP, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), axum::http::Version::HTTP_2);

    // Clients that only speak HTTP/1.1 are still served HTTP/1.1.
    let mut conn = connect(server.addr, &pki.client(BOTH, HTTP1))
        .await
        .unwrap();
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(get_on(&mut conn, "/hello").await.unwrap().status, 200);

    server.stop().await;
}

#[tokio::test]
async fn h2_in_the_tls_config_without_http2_is_a_config_error() {
    init();
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = plain_files(dir.path(), &pki.leaf());
    let tls = server_config(
        &TlsProfile::Intermediate.policy(),
        true,
        ReloadingCert::load(c, k).unwrap(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = serve(
        listener,
        Arc::new(tls),
        ListenerConfig::default(),
        app(),
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(result, Err(ServeError::InvalidConfig(_))));
}

/// TLS-07: sessions resume (rustls defaults), but the server's tickets never allow 0-RTT early
/// data, so requests cannot be replayed; early data offered anyway is not accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_without_early_data() {
    let (server, pki, _dir) =
        Server::simple(ListenerConfig::default(), TlsProfile::default()).await;
    let mut cfg = pki.client_config(TLS13, HTTP1);
    cfg.enable_early_data = true;
    let client = TlsConnector::from(Arc::new(cfg));

    // The first connection receives the session tickets (sent after the handshake).
    let mut first = connect(server.addr, &client).await.unwrap();
    assert_eq!(get_on(&mut first, "/hello").await.unwrap().status, 200);
    assert_eq!(
        first.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Full)
    );

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut early_data_allowed = None;
    let mut second = timeout(
        STEP,
        client.connect_with(name, tcp, |conn| {
            early_data_allowed = Some(conn.early_data().is_some());
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        second.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed),
        "the session was not resumed, so this test proves nothing about its ticket"
    );
    assert_eq!(early_data_allowed, Some(false), "the ticket allowed 0-RTT");
    assert!(!second.get_ref().1.is_early_data_accepted());
    assert_eq!(get_on(&mut second, "/hello").await.unwrap().status, 200);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// TLS-01..03: protocol versions per profile.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_refuses_tls12_and_accepts_tls13() {
    let (server, pki, _dir) = Server::simple(ListenerConfig::default(), TlsProfile::Modern).await;

    let err = connect(server.addr, &pki.client(TLS12, HTTP1)).await;
    assert!(err.is_err(), "TLS 1.2 client was accepted by Modern");

    let mut conn = connect(server.addr, &pki.client(TLS13, HTTP1))
        .await
        .unwrap();
    assert_eq!(
        conn.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(get_on(&mut conn, "/hello").await.unwrap().status, 200);

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intermediate_accepts_tls12_with_ecdhe_aead_and_tls13() {
    let (server, pki, _dir) =
        Server::simple(ListenerConfig::default(), TlsProfile::Intermediate).await;

    let mut conn = connect(server.addr, &pki.client(TLS12, HTTP1))
        .await
        .unwrap();
    let (_, session) = conn.get_ref();
    assert_eq!(session.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    let suite = format!("{:?}", session.negotiated_cipher_suite().unwrap().suite());
    assert!(suite.starts_with("TLS_ECDHE_"), "{suite}");
    assert!(
        suite.contains("_GCM_") || suite.contains("CHACHA20"),
        "{suite}"
    );
    assert_eq!(get_on(&mut conn, "/hello").await.unwrap().status, 200);

    let mut conn = connect(server.addr, &pki.client(TLS13, HTTP1))
        .await
        .unwrap();
    assert_eq!(
        conn.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(get_on(&mut conn, "/hello").await.unwrap().status, 200);

    server.stop().await;
}

/// Runs `openssl s_client` against the server with extra flags; Some(handshake succeeded), or
/// None if openssl is not installed.
async fn openssl_handshake(addr: SocketAddr, flags: &[&str]) -> Option<(bool, String)> {
    let connect = addr.to_string();
    let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut child = match Command::new("openssl")
            .args(["s_client", "-connect", &connect, "-servername", "localhost"])
            .args(&flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => panic!("cannot run openssl: {e}"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("openssl s_client did not finish");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // s_client prints "Cipher is (NONE)" / "no peer certificate" when the handshake failed.
        let ok = out.status.success() && text.contains("Server certificate");
        Some((ok, text))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls11_and_tls10_are_refused_openssl() {
    let (server, _pki, _dir) =
        Server::simple(ListenerConfig::default(), TlsProfile::Intermediate).await;

    // Control: the same harness completes a TLS 1.2 handshake, so a failure below is the server's.
    let Some((ok, text)) = openssl_handshake(server.addr, &["-tls1_2"]).await else {
        println!("SKIPPED: openssl is not on PATH");
        server.stop().await;
        return;
    };
    assert!(ok, "openssl could not do TLS 1.2 at all:\n{text}");

    // SECLEVEL=0 lets OpenSSL 3 offer TLS 1.0/1.1 at all; the refusal must come from the server.
    for flag in ["-tls1_1", "-tls1"] {
        let (ok, text) = openssl_handshake(server.addr, &[flag, "-cipher", "DEFAULT:@SECLEVEL=0"])
            .await
            .unwrap();
        assert!(!ok, "{flag} handshake succeeded:\n{text}");
        let alert = text
            .lines()
            .find(|l| l.contains("alert"))
            .unwrap_or_default();
        println!("openssl {flag}: {alert}");
        assert!(!alert.is_empty(), "the server sent no TLS alert:\n{text}");
        assert!(
            !text.contains("no protocols available"),
            "the client never tried {flag}; the test proves nothing:\n{text}"
        );
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// DOS-01, DOS-02: slowloris and stalled handshakes.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_at_the_header_timeout_while_others_are_served() {
    let cfg = ListenerConfig {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(20),
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;
    let client = pki.client(BOTH, HTTP1);

    let slow = connect(server.addr, &client).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(slow);
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        read_until_closed(&mut rd, Duration::from_secs(10)).await;
        start.elapsed()
    });
    // One byte every 100 ms of a header block that would take ~15 s to send.
    let request = format!(
        "GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(120)
    );
    let writer = tokio::spawn(async move {
        for byte in request.bytes() {
            if wr.write_all(&[byte]).await.is_err() || wr.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // Meanwhile a normal client is served promptly.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let t = Instant::now();
    let mut normal = connect(server.addr, &client).await.unwrap();
    assert_eq!(get_on(&mut normal, "/hello").await.unwrap().status, 200);
    let normal_took = t.elapsed();

    let cut_after = reader.await.unwrap();
    writer.abort();
    println!(
        "slowloris cut after {} (header timeout 1s); normal request took {}",
        secs(cut_after),
        secs(normal_took)
    );
    assert!(cut_after >= Duration::from_millis(900), "{cut_after:?}");
    assert!(cut_after < Duration::from_millis(2500), "{cut_after:?}");
    assert!(normal_took < Duration::from_secs(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_are_dropped_at_the_handshake_timeout() {
    let cfg = ListenerConfig {
        handshake_timeout: Duration::from_secs(1),
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;

    // One client sends nothing; another sends a TLS record header promising 512 bytes, then stops.
    let start = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        async {
            read_until_closed(&mut silent, Duration::from_secs(5)).await;
            start.elapsed()
        },
        async {
            read_until_closed(&mut half, Duration::from_secs(5)).await;
            start.elapsed()
        }
    );
    println!(
        "silent client dropped after {}, half ClientHello after {} (handshake timeout 1s)",
        secs(a),
        secs(b)
    );
    for t in [a, b] {
        assert!(
            t >= Duration::from_millis(900) && t < Duration::from_millis(2500),
            "{t:?}"
        );
    }
    // The server still serves.
    let mut ok = connect(server.addr, &pki.client(BOTH, HTTP1))
        .await
        .unwrap();
    assert_eq!(get_on(&mut ok, "/hello").await.unwrap().status, 200);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// DOS-04: idle keep-alive.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_is_closed_but_a_long_request_is_not_cut() {
    let cfg = ListenerConfig {
        idle_timeout: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(5),
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;
    let client = pki.client(BOTH, HTTP1);

    let idle = async {
        let mut conn = connect(server.addr, &client).await.unwrap();
        assert_eq!(get_on(&mut conn, "/hello").await.unwrap().status, 200);
        // Activity resets the idle timer: a second request after 600 ms still works.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(get_on(&mut conn, "/hello").await.unwrap().status, 200);
        let t = Instant::now();
        read_until_closed(&mut conn, Duration::from_secs(5)).await;
        t.elapsed()
    };
    let busy = async {
        let mut conn = connect(server.addr, &client).await.unwrap();
        let t = Instant::now();
        let reply = get_on(&mut conn, "/sleep/2500").await.unwrap();
        let took = t.elapsed();
        assert_eq!((reply.status, reply.body.as_str()), (200, "slept"));
        // And once it is idle, it is closed too.
        let t = Instant::now();
        read_until_closed(&mut conn, Duration::from_secs(5)).await;
        (took, t.elapsed())
    };
    let (idle_closed, (busy_took, busy_closed)) = tokio::join!(idle, busy);
    println!(
        "idle connection closed {} after its last response; a 2.5s request completed in {} and \
         its connection closed {} later (idle timeout 1s)",
        secs(idle_closed),
        secs(busy_took),
        secs(busy_closed)
    );
    for t in [idle_closed, busy_closed] {
        assert!(
            t >= Duration::from_millis(900) && t < Duration::from_millis(2500),
            "{t:?}"
        );
    }
    assert!(busy_took >= Duration::from_millis(2500));
    server.stop().await;
}

/// hyper also runs its header read timer while a keep-alive connection waits for the next
/// request, so an idle HTTP/1.1 connection is closed at min(header_read_timeout, idle_timeout).
/// This pins that behaviour, which `ListenerConfig::header_read_timeout` documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_timeout_also_bounds_idle_http1_connections() {
    let cfg = ListenerConfig {
        idle_timeout: Duration::from_secs(20),
        header_read_timeout: Duration::from_secs(1),
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;
    let client = pki.client(BOTH, HTTP1);
    let after_request = async {
        let mut conn = connect(server.addr, &client).await.unwrap();
        assert_eq!(get_on(&mut conn, "/hello").await.unwrap().status, 200);
        let t = Instant::now();
        read_until_closed(&mut conn, Duration::from_secs(5)).await;
        t.elapsed()
    };
    // A client that completes the handshake and then never sends a request.
    let after_handshake = async {
        let mut conn = connect(server.addr, &client).await.unwrap();
        let t = Instant::now();
        read_until_closed(&mut conn, Duration::from_secs(5)).await;
        t.elapsed()
    };
    let (after_request, after_handshake) = tokio::join!(after_request, after_handshake);
    println!(
        "idle HTTP/1.1 connection closed {} after its response, silent one {} after its \
         handshake (header timeout 1s, idle timeout 20s)",
        secs(after_request),
        secs(after_handshake)
    );
    for t in [after_request, after_handshake] {
        assert!(
            t >= Duration::from_millis(900) && t < Duration::from_millis(2500),
            "{t:?}"
        );
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// DOS-11: connection cap.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_and_existing_ones_served() {
    let cfg = ListenerConfig {
        max_connections: 2,
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;
    let client = pki.client(BOTH, HTTP1);

    let mut first = connect(server.addr, &client).await.unwrap();
    let mut second = connect(server.addr, &client).await.unwrap();
    assert_eq!(get_on(&mut first, "/hello").await.unwrap().status, 200);
    assert_eq!(get_on(&mut second, "/hello").await.unwrap().status, 200);

    let t = Instant::now();
    let third = connect(server.addr, &client).await;
    let refused_in = t.elapsed();
    assert!(third.is_err(), "the third connection was served");
    println!(
        "third connection refused in {} with: {}",
        secs(refused_in),
        third.err().map(|e| e.to_string()).unwrap_or_default()
    );
    assert!(refused_in < Duration::from_secs(1));

    // The first two are unaffected.
    assert_eq!(get_on(&mut first, "/hello").await.unwrap().status, 200);
    assert_eq!(get_on(&mut second, "/hello").await.unwrap().status, 200);

    // Closing one frees its slot.
    drop(first);
    let deadline = Instant::now() + STEP;
    let mut again = loop {
        if let Ok(conn) = connect(server.addr, &client).await {
            break conn;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(get_on(&mut again, "/hello").await.unwrap().status, 200);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// D1: the HTTP/1 head buffer (`ListenerConfig::http1_max_buf_size`, 16 KiB).

/// Every open connection may hold a full head buffer before it authenticates: with hyper's
/// default (about 400 KiB) 1,024 connections pinned about 400 MiB. A head with the largest token
/// the server accepts (8 KiB) is served; one over 16 KiB is refused before it is buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_over_the_http1_buffer_are_refused() {
    let (server, pki, _dir) =
        Server::simple(ListenerConfig::default(), TlsProfile::default()).await;
    let client = pki.client(BOTH, HTTP1);

    let mut conn = connect(server.addr, &client).await.unwrap();
    let token = "a".repeat(8 * 1024);
    let head =
        format!("GET /hello HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let reply = timeout(STEP, read_reply(&mut conn)).await.unwrap().unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello"));

    let mut conn = connect(server.addr, &client).await.unwrap();
    let head = format!(
        "GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(20 * 1024)
    );
    // The server may close before it has read everything: a failed write is a refusal too.
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.flush().await;
    let answer = String::from_utf8_lossy(&read_until_closed(&mut conn, STEP).await).into_owned();
    println!(
        "a 20 KiB request head got: {:?}",
        answer
            .lines()
            .next()
            .unwrap_or("(closed without an answer)")
    );
    assert!(!answer.contains("hello"), "a 20 KiB head was served");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// TLS-05: certificate reload with the kubelet's Secret volume layout.

/// A Secret volume as the kubelet lays it out: `..<timestamp>/` holding the files, `..data`
/// pointing at it, and `tls.crt` / `tls.key` pointing through `..data`.
struct SecretVolume {
    dir: tempfile::TempDir,
    version: u32,
}

impl SecretVolume {
    fn new(leaf: &Leaf) -> Self {
        let mut vol = SecretVolume {
            dir: tempfile::tempdir().unwrap(),
            version: 0,
        };
        vol.publish(&leaf.chain_pem, &leaf.key_pem);
        for name in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), vol.dir.path().join(name))
                .unwrap();
        }
        vol
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }

    /// Writes a new timestamped directory and atomically renames a new `..data` over the old
    /// one, then removes the old directory, as the kubelet's AtomicWriter does.
    fn publish(&mut self, cert: &str, key: &str) {
        let root = self.dir.path();
        let old = std::fs::read_link(root.join("..data")).ok();
        self.version += 1;
        let name = format!(
            "..2026_01_01_{:02}_00_00.{}",
            self.version,
            1000 + self.version
        );
        std::fs::create_dir(root.join(&name)).unwrap();
        std::fs::write(root.join(&name).join("tls.crt"), cert).unwrap();
        std::fs::write(root.join(&name).join("tls.key"), key).unwrap();
        std::os::unix::fs::symlink(&name, root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(root.join(old)).unwrap();
        }
    }
}

fn leaf_of(conn: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    conn.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_swap_via_data_symlink_is_picked_up_and_corrupt_ones_ignored() {
    init();
    let pki = Pki::new();
    let first = pki.leaf();
    let mut vol = SecretVolume::new(&first);
    let certs = ReloadingCert::load(vol.cert(), vol.key()).unwrap();
    let stop_reload = CancellationToken::new();
    // Poll only hourly: a reload within seconds proves the directory watch caught the swap.
    let reloader = certs.spawn_reloader(
        ReloadConfig {
            debounce: Duration::from_millis(200),
            poll_interval: Duration::from_secs(3600),
            ..ReloadConfig::default()
        },
        stop_reload.clone(),
    );
    let server = Server::start(
        ListenerConfig::default(),
        TlsProfile::default(),
        certs.clone(),
    )
    .await;
    let client = pki.client(BOTH, HTTP1);
    // Let the watch settle before changing anything.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut open = connect(server.addr, &client).await.unwrap();
    assert_eq!(get_on(&mut open, "/hello").await.unwrap().status, 200);
    assert_eq!(leaf_of(&open), first.der);

    // Rotate.
    let second = pki.leaf();
    let mut generations = certs.subscribe();
    let t = Instant::now();
    vol.publish(&second.chain_pem, &second.key_pem);
    timeout(STEP, generations.wait_for(|g| *g == 1))
        .await
        .expect("the swap was not noticed")
        .unwrap();
    let reloaded_in = t.elapsed();
    let fresh = connect(server.addr, &client).await.unwrap();
    assert_eq!(leaf_of(&fresh), second.der);

    // The connection opened before the swap keeps working, on its original certificate.
    assert_eq!(get_on(&mut open, "/hello").await.unwrap().status, 200);
    assert_eq!(leaf_of(&open), first.der);

    // A corrupt certificate is refused and the current one kept.
    let failures = certs.failures();
    let t = Instant::now();
    vol.publish(
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        &second.key_pem,
    );
    let deadline = Instant::now() + STEP;
    while certs.failures() == failures {
        assert!(
            Instant::now() < deadline,
            "the corrupt certificate was never examined"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_in = t.elapsed();
    let still = connect(server.addr, &client).await.unwrap();
    assert_eq!(leaf_of(&still), second.der);
    assert_eq!(certs.generation(), 1);

    // A key that does not match the certificate is refused too.
    let third = pki.leaf();
    vol.publish(&third.chain_pem, &first.key_pem);
    let deadline = Instant::now() + STEP;
    while certs.failures() < failures + 2 {
        assert!(
            Instant::now() < deadline,
            "the mismatched pair was never examined"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let still = connect(server.addr, &client).await.unwrap();
    assert_eq!(leaf_of(&still), second.der);

    println!(
        "swap picked up by the directory watch in {}; corrupt cert refused in {}",
        secs(reloaded_in),
        secs(refused_in)
    );
    stop_reload.cancel();
    timeout(STEP, reloader).await.unwrap().unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_alone_picks_up_a_swap() {
    init();
    let pki = Pki::new();
    let mut vol = SecretVolume::new(&pki.leaf());
    let certs = ReloadingCert::load(vol.cert(), vol.key()).unwrap();
    let stop_reload = CancellationToken::new();
    let reloader = certs.spawn_reloader(
        ReloadConfig {
            poll_interval: Duration::from_millis(500),
            watch: false,
            ..ReloadConfig::default()
        },
        stop_reload.clone(),
    );
    let second = pki.leaf();
    let mut generations = certs.subscribe();
    let t = Instant::now();
    vol.publish(&second.chain_pem, &second.key_pem);
    timeout(STEP, generations.wait_for(|g| *g == 1))
        .await
        .expect("polling did not notice the swap")
        .unwrap();
    println!(
        "swap picked up by polling (every 0.5s) in {}",
        secs(t.elapsed())
    );
    assert_eq!(certs.current().cert[0], second.der);
    stop_reload.cancel();
    timeout(STEP, reloader).await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    let cfg = ListenerConfig {
        shutdown_grace: Duration::from_secs(5),
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;
    let client = pki.client(BOTH, HTTP1);

    let mut busy = connect(server.addr, &client).await.unwrap();
    send_get(&mut busy, "/sleep/1500").await.unwrap();
    let mut idle = connect(server.addr, &client).await.unwrap();
    assert_eq!(get_on(&mut idle, "/hello").await.unwrap().status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let t = Instant::now();
    server.shutdown.cancel();

    // New connections are refused once the accept loop has seen the cancel.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if TcpStream::connect(server.addr).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An idle keep-alive connection is closed right away.
    read_until_closed(&mut idle, Duration::from_secs(1)).await;
    let idle_closed = t.elapsed();

    // The in-flight request completes, and the server asks the client to close.
    let reply = timeout(STEP, read_reply(&mut busy)).await.unwrap().unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "slept"));
    assert!(
        reply.headers.contains("connection: close"),
        "{}",
        reply.headers
    );

    let result = timeout(STEP, server.handle).await.unwrap().unwrap();
    let returned = t.elapsed();
    assert!(result.is_ok());
    println!(
        "after cancel: idle connection closed in {}, serve returned in {} (request had ~1.3s left, grace 5s)",
        secs(idle_closed),
        secs(returned)
    );
    assert!(returned >= Duration::from_millis(1100) && returned < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drops_requests_still_running_after_the_grace_period() {
    let cfg = ListenerConfig {
        shutdown_grace: Duration::from_secs(1),
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;
    let mut busy = connect(server.addr, &pki.client(BOTH, HTTP1))
        .await
        .unwrap();
    send_get(&mut busy, "/sleep/20000").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let t = Instant::now();
    server.shutdown.cancel();
    let result = timeout(STEP, server.handle).await.unwrap().unwrap();
    let returned = t.elapsed();
    assert!(result.is_ok());
    let answer = read_until_closed(&mut busy, Duration::from_secs(2)).await;
    assert!(
        answer.is_empty(),
        "a response arrived after the grace period"
    );
    println!("serve returned {} after cancel (grace 1s)", secs(returned));
    assert!(returned >= Duration::from_millis(900) && returned < Duration::from_millis(2500));
}

// ---------------------------------------------------------------------------------------------
// Supply chain: ring is the only crypto provider compiled in.

/// With both ring and aws-lc-rs compiled in, rustls' `*Config::builder()` panics at run time and
/// the server's cipher policy would depend on feature unification. A dependency that turns on
/// aws-lc-rs (tokio-rustls' defaults do) shows up in the lock file; this fails CI then.
#[test]
fn aws_lc_rs_is_not_in_the_dependency_graph() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    for name in ["aws-lc-rs", "aws-lc-sys", "aws-lc-fips-sys"] {
        assert!(
            !lock.contains(&format!("name = \"{name}\"")),
            "{name} is in Cargo.lock: find who pulls it with `cargo tree -i {name}`"
        );
    }
    assert!(lock.contains("name = \"ring\""));
}

/// D5: with HTTP/2 off (the default) an HTTP/2 client that skips ALPN and sends the connection
/// preface anyway ("prior knowledge") is not spoken to in HTTP/2: no SETTINGS frame comes back,
/// so no stream or reset flood can follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_preface_is_not_answered_in_h2_unless_http2_is_on() {
    let (server, pki, _dir) =
        Server::simple(ListenerConfig::default(), TlsProfile::default()).await;
    let mut conn = connect(server.addr, &pki.client(BOTH, HTTP1))
        .await
        .unwrap();
    // The client preface, then an empty SETTINGS frame (length 0, type 4, flags 0, stream 0).
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    conn.flush().await.unwrap();
    let answer = read_until_closed(&mut conn, STEP).await;
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 4") || answer.starts_with(b"HTTP/1.1 5"),
        "answered {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(64)])
    );
    // Still serving.
    let mut other = connect(server.addr, &pki.client(BOTH, HTTP1))
        .await
        .unwrap();
    assert_eq!(get_on(&mut other, "/hello").await.unwrap().status, 200);
    server.stop().await;
}

/// D5 (CVE-2023-44487, "rapid reset"): with HTTP/2 on, one connection opening streams and
/// cancelling each at once, as fast as it can, is told to go away long before it has cost the
/// server its 20,000 streams, and a second connection is served all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_over_h2_is_cut_off_and_others_are_served() {
    const FLOOD: usize = 20_000;
    let cfg = ListenerConfig {
        http2: true,
        ..ListenerConfig::default()
    };
    let (server, pki, _dir) = Server::simple(cfg, TlsProfile::default()).await;
    let tls = connect(server.addr, &pki.client(BOTH, H2_AND_HTTP1))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (client, connection) = timeout(STEP, h2::client::handshake(tls))
        .await
        .unwrap()
        .unwrap();
    let ended = tokio::spawn(connection);

    let flood = async {
        let mut client = client;
        for sent in 0..FLOOD {
            client = match timeout(STEP, client.ready()).await {
                Ok(Ok(client)) => client,
                _ => return sent,
            };
            let request = axum::http::Request::get("https://localhost/sleep/2000")
                .body(())
                .unwrap();
            match client.send_request(request, true) {
                // Dropping the response at once resets the stream (RST_STREAM CANCEL).
                Ok((response, _)) => drop(response),
                Err(_) => return sent,
            }
            if sent % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        FLOOD
    };
    let watch = async {
        // Meanwhile another client asks for a page every 50 ms, each answered within STEP.
        let mut served = 0;
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let mut other = connect(server.addr, &pki.client(BOTH, HTTP1))
                .await
                .unwrap();
            assert_eq!(get_on(&mut other, "/hello").await.unwrap().status, 200);
            served += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        served
    };
    let (sent, served) = tokio::join!(flood, watch);
    let end = timeout(STEP, ended).await.unwrap().unwrap();
    println!(
        "rapid reset: {sent} streams before the connection ended ({end:?}); {served} other requests served"
    );
    assert!(sent < FLOOD, "the server took all {FLOOD} reset streams");
    // The server ends the connection (GOAWAY ENHANCE_YOUR_CALM, then closes; the client may
    // see only the close, as a broken pipe, while still writing resets).
    let end = end.expect_err("the flooding connection ended cleanly");
    assert!(
        end.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) || end.is_io(),
        "{end:?}"
    );
    assert!(served > 0);
    server.stop().await;
}

/// Dual-stack (issue 17): the controller's default `[::]` listener serves a client on `::1` and
/// one on 127.0.0.1, and sees the IPv4 client as `127.0.0.1`, not `::ffff:127.0.0.1`, so its
/// per-source cap and refused-token budget are those of the address it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_listener_serves_ipv6_and_ipv4_clients_each_as_itself() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = plain_files(dir.path(), &pki.leaf());
    let certs = ReloadingCert::load(c, k).unwrap();
    let server = Server::start_on(
        "[::]:0",
        ListenerConfig::default(),
        TlsProfile::default(),
        certs,
    )
    .await;
    assert!(server.addr.is_ipv6());
    let port = server.addr.port();
    for (client, seen) in [("[::1]", "[::1]:"), ("127.0.0.1", "127.0.0.1:")] {
        let addr: SocketAddr = format!("{client}:{port}").parse().unwrap();
        let mut conn = connect(addr, &pki.client(BOTH, HTTP1)).await.unwrap();
        let reply = get_on(&mut conn, "/peer").await.unwrap();
        assert_eq!(reply.status, 200);
        assert!(
            reply.body.starts_with(seen),
            "{client} seen as {}",
            reply.body
        );
    }
    server.stop().await;
}
