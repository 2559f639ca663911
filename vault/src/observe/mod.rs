//! Watching the vault without the watching becoming a leak: a request id and a span per RPC
//! (`request_id`), Prometheus metrics on their own listener (`metrics`), OpenTelemetry traces
//! sent to a collector (`traces`).
//!
//! Nothing here ever sees a request body: labels are method names, status codes, verdict names
//! and numeric tenant ids; values are counts, sizes and durations.

pub mod methods;
pub mod metrics;
pub mod request_id;
pub mod traces;
