//! A tower layer around every gRPC call: takes the caller's `x-request-id` (or makes one),
//! passes it on to the handlers (which write it into audit entries), returns it in the
//! response metadata, opens the call's span (joined to the caller's trace when traces are
//! exported), and logs and counts the call when it completes.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::metrics::Metrics;

/// The metadata key of the request id.
pub const HEADER: &str = "x-request-id";

/// The caller's id if it is 1–64 characters of `[A-Za-z0-9._:-]`; otherwise a fresh one
/// (128 random bits, hex).
pub fn accept_or_generate(given: Option<&HeaderValue>) -> String {
    match given.and_then(|v| v.to_str().ok()) {
        Some(id)
            if (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => hex::encode(rand::random::<[u8; 16]>()),
    }
}

/// The layer (add with `Server::builder().layer(..)`).
#[derive(Clone)]
pub struct RequestIdLayer {
    metrics: Arc<Metrics>,
}

impl RequestIdLayer {
    /// Counts calls into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// The service the layer wraps around each call.
#[derive(Clone)]
pub struct RequestIdService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// The gRPC status of a response whose status travels in its headers (every error of a unary
/// call, "trailers-only"); a unary success carries it in trailers and counts as 0 (OK).
fn grpc_status<B>(response: &Response<B>) -> i32 {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl<S, B, RB> Service<Request<B>> for RequestIdService<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = accept_or_generate(request.headers().get(HEADER));
        let value = HeaderValue::from_str(&id).ok();
        if let Some(v) = &value {
            request.headers_mut().insert(HEADER, v.clone());
        }
        // A served method's name, or `unknown`: an invented path grows neither metrics nor logs.
        let method = super::methods::label(request.uri().path());
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            request_id = %id,
            tenant = Empty,
            principal = Empty,
            status = Empty,
            latency_ms = Empty,
            otel.name = Empty,
            otel.kind = Empty,
            otel.status_code = Empty,
        );
        let exporting = super::traces::exporting();
        if exporting {
            span.record("otel.name", method.trim_start_matches('/'));
            span.record("otel.kind", "server");
            if let Some(parent) = super::traces::caller_context(request.headers()) {
                // A span that is not exported has no parent to set: nothing to report.
                let _ = span.set_parent(parent);
            }
        }
        // The clone that was made ready is the one to call (tower's contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = Arc::clone(&self.metrics);
        let start = Instant::now();
        Box::pin(
            async move {
                let mut response = inner.call(request).await?;
                if let Some(v) = value {
                    response.headers_mut().insert(HEADER, v);
                }
                let code = grpc_status(&response);
                let elapsed = start.elapsed();
                metrics.request_done(method, code, elapsed);
                // Successful calls at `debug` (a line per call would cost more than the call);
                // failures at `info`.
                let latency_ms = elapsed.as_secs_f64() * 1e3;
                if code == 0 {
                    tracing::debug!(status = code, latency_ms, "rpc done");
                } else {
                    tracing::info!(status = code, latency_ms, "rpc done");
                }
                // After the log line, which has them already.
                if exporting {
                    let span = tracing::Span::current();
                    span.record("status", code);
                    span.record("latency_ms", latency_ms);
                    if code != 0 {
                        span.record("otel.status_code", "ERROR");
                    }
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The request id of a call's metadata (set by [`RequestIdLayer`] before any handler runs).
pub fn of(headers: &http::HeaderMap) -> String {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_ids_are_kept_and_bad_ones_replaced() {
        let keep = HeaderValue::from_static("req-42.a:b_c");
        assert_eq!(accept_or_generate(Some(&keep)), "req-42.a:b_c");
        for bad in ["", "has space", "ä", &"x".repeat(65)] {
            let v = HeaderValue::from_str(bad).ok();
            let id = accept_or_generate(v.as_ref());
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32);
        }
        assert_eq!(accept_or_generate(None).len(), 32);
    }
}
