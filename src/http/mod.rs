//! The informer HTTP API (`/v1alpha1/...`, `/healthz`, `/readyz`, `/metrics`): handlers, errors,
//! metrics and rate limiting. Transport (TLS, timeouts, connections) is in `server`.

pub mod metrics;
pub mod ratelimit;
