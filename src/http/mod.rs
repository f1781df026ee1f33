//! The informer HTTP API (`/v1alpha1/...`, `/healthz`, `/readyz`, `/metrics`): handlers, errors,
//! metrics, rate limiting and the per-source budget of refused tokens. Transport (TLS, timeouts, connections) is in `server`.

pub mod audit;
pub mod errors;
pub mod metrics;
pub mod ratelimit;
pub mod refusals;
pub mod routes;
pub mod state;
