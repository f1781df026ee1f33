//! Fault injection: latency, failing requests, and an unreachable server.
//!
//! Faults are checked before authentication and routing, as a failing or overloaded API server (or
//! a load balancer in front of it) fails requests whatever they are. Each injected error has the
//! `Status` body and reason the real server uses for that code (429 carries `Retry-After`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// One failure rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The HTTP code to answer with (500, 429, 503, 504, …).
    pub code: u16,
    /// How many more matching requests fail; `None` for all of them until cleared.
    pub remaining: Option<u32>,
    /// Only requests whose path starts with this.
    pub path_prefix: Option<String>,
    /// Only requests of this Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`) or, for non-resource paths, lower-case HTTP method.
    pub verb: Option<String>,
}

impl Fault {
    /// Fails the next `n` requests with `code`.
    pub fn next(n: u32, code: u16) -> Self {
        Self {
            code,
            remaining: Some(n),
            path_prefix: None,
            verb: None,
        }
    }

    /// Fails every request with `code` until cleared.
    pub fn always(code: u16) -> Self {
        Self {
            code,
            remaining: None,
            path_prefix: None,
            verb: None,
        }
    }

    /// Only requests under this path.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_owned());
        self
    }

    /// Only requests of this verb.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_owned());
        self
    }
}

/// The fault state of a server.
#[derive(Debug)]
pub(crate) struct Faults {
    pub(crate) latency: Duration,
    /// Extra latency for paths starting with a prefix.
    path_latency: Vec<(String, Duration)>,
    rules: Vec<Fault>,
    pub(crate) unreachable: bool,
    /// Cancelled to drop every open connection; replaced by a fresh token after each use.
    pub(crate) connections: CancellationToken,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            path_latency: Vec::new(),
            rules: Vec::new(),
            unreachable: false,
            connections: CancellationToken::new(),
        }
    }
}

impl Faults {
    pub(crate) fn add(&mut self, fault: Fault) {
        self.rules.push(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.latency = Duration::ZERO;
        self.path_latency.clear();
    }

    /// Sets (or, with zero, removes) the extra latency of paths starting with `prefix`.
    pub(crate) fn set_path_latency(&mut self, prefix: &str, latency: Duration) {
        self.path_latency.retain(|(p, _)| p != prefix);
        if !latency.is_zero() {
            self.path_latency.push((prefix.to_owned(), latency));
        }
    }

    /// How long a request to `path` is delayed: the global latency plus the first matching
    /// path rule's.
    pub(crate) fn latency_for(&self, path: &str) -> Duration {
        let extra = self
            .path_latency
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map_or(Duration::ZERO, |(_, latency)| *latency);
        self.latency + extra
    }

    /// The code a request must fail with, consuming one use of the first matching rule.
    pub(crate) fn check(&mut self, verb: &str, path: &str) -> Option<u16> {
        let index = self.rules.iter().position(|f| {
            f.remaining != Some(0)
                && f.path_prefix.as_ref().is_none_or(|p| path.starts_with(p))
                && f.verb.as_ref().is_none_or(|v| v == verb)
        })?;
        let rule = &mut self.rules[index];
        let code = rule.code;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.rules.remove(index);
            }
        }
        Some(code)
    }
}
