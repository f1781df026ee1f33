//! A Thanos Querier on 127.0.0.1 for the alerts informer: not an API server, so nothing real to
//! start in its place here.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// A Thanos Querier on 127.0.0.1 (the controller's own HTTPS server with the development
/// certificate for `localhost`): `/api/v1/alerts` answers the sample cluster's alerts to the
/// expected bearer token, 401 to any other, and 500 while failing.
pub struct FakeThanos {
    pub url: String,
    failing: Arc<std::sync::atomic::AtomicBool>,
    /// (requests with the expected token, requests without it)
    pub seen: Arc<std::sync::Mutex<(usize, usize)>>,
    pub shutdown: CancellationToken,
}

pub const THANOS_TOKEN: &str = "thanos-reader-token";

impl FakeThanos {
    pub async fn start() -> Self {
        use axum::http::{HeaderMap, StatusCode};
        use std::sync::atomic::{AtomicBool, Ordering};
        use update_status_controller::server;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let alerts = std::fs::read_to_string(root.join("samples/cluster/alerts.json")).unwrap();
        let failing = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(std::sync::Mutex::new((0, 0)));
        let app = axum::Router::new().route(
            "/api/v1/alerts",
            axum::routing::get({
                let (failing, seen) = (failing.clone(), seen.clone());
                move |headers: HeaderMap| async move {
                    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
                        == Some(&format!("Bearer {THANOS_TOKEN}"));
                    let mut s = seen.lock().unwrap();
                    if authorized {
                        s.0 += 1
                    } else {
                        s.1 += 1
                    }
                    match (authorized, failing.load(Ordering::SeqCst)) {
                        (false, _) => (StatusCode::UNAUTHORIZED, String::new()),
                        (true, true) => (StatusCode::INTERNAL_SERVER_ERROR, "querier down".into()),
                        (true, false) => (StatusCode::OK, alerts.clone()),
                    }
                }
            }),
        );
        let cert = server::ReloadingCert::load(
            root.join("certs-dev/tls.crt"),
            root.join("certs-dev/tls.key"),
        )
        .unwrap();
        let tls =
            server::server_config(&server::TlsProfile::Intermediate.policy(), false, cert).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}/api/v1/alerts",
            listener.local_addr().unwrap().port()
        );
        let shutdown = CancellationToken::new();
        tokio::spawn(server::serve(
            listener,
            Arc::new(tls),
            server::ListenerConfig::default(),
            app,
            shutdown.clone(),
        ));
        Self {
            url,
            failing,
            seen,
            shutdown,
        }
    }

    pub fn fail(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }
}
