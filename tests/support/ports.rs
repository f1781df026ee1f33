//! Ports for servers a test starts as their own process, which must be told a port up front.

/// A port on 127.0.0.1 nobody listens on now (bound, then released for the server to bind a
/// moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}
