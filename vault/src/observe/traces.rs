//! OpenTelemetry traces over OTLP/gRPC (`--otlp-endpoint`, off by default): the span of every
//! RPC (`request_id`) and its children for store calls (`store::traced`) and key work, sent in
//! batches to a collector.
//!
//! Why a module of its own: the exporter must not depend on the serving runtime. The SDK's
//! batch processor exports from a thread of its own, but the gRPC exporter needs a Tokio
//! reactor; here it gets a one-thread runtime of its own, which also outlives the serving
//! runtime's shutdown, so the last spans of a stopping vault still leave.
//!
//! What a span may carry is what a log line may carry: method names, request ids, tenant ids,
//! principal ids, status codes, counts and durations — never an identifier, a token or a key.
//! A caller's `traceparent` header joins the vault's spans to the caller's trace; its
//! `tracestate` (free text a caller chooses) is dropped.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    KeyValue,
    trace::{SpanContext, TraceContextExt, TraceState, TracerProvider as _},
};
use opentelemetry_otlp::WithTonicConfig;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SdkTracerProvider, SpanData, SpanExporter},
};
use tracing_subscriber::{Layer, registry::LookupSpan};

/// Where the spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// The collector's OTLP/gRPC address (`https://…`, or `http://…` on loopback only).
    pub endpoint: String,
    /// CA (PEM) that signed the collector's certificate, for an `https` endpoint.
    pub ca: Option<PathBuf>,
    /// This node's name (the resource's `service.instance.id`).
    pub node: String,
}

/// How long one export may take before it is given up (the spans of that batch are dropped).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Set once traces are exported: the store and key work open their spans only then.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports traces.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// An OTLP endpoint `--otlp-endpoint` accepts: `https://host:port`, or `http://` when the host
/// is a loopback address (the collector beside the vault). Spans carry no identifier, but
/// they do carry who called what and when: not in the clear across a network.
pub fn check_endpoint(url: &str) -> Result<String, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("'{url}' is not a URL (expected https://collector:4317)"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("'{url}' names no host (expected https://collector:4317)"))?;
    match uri.scheme_str() {
        Some("https") => Ok(url.to_owned()),
        Some("http") if is_loopback(host) => Ok(url.to_owned()),
        Some("http") => Err(format!(
            "'{url}' sends traces in plaintext to another host; use https:// (and --otlp-ca), or a collector on loopback"
        )),
        _ => Err(format!(
            "'{url}' must start with https:// (or http:// on loopback)"
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The running exporter: shut it down after the server has stopped, so the last spans leave.
pub struct Traces {
    provider: SdkTracerProvider,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traces").finish_non_exhaustive()
    }
}

impl Traces {
    /// Starts the exporter and returns it with the tracing layer that feeds it. Nothing is
    /// sent until the first batch of spans; a collector that cannot be reached costs the
    /// spans, never a request.
    pub fn start<S>(
        settings: &TraceSettings,
    ) -> Result<(Self, impl Layer<S> + Send + Sync + 'static), String>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("valv-otlp")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the trace exporter's runtime: {e}"))?;
        let channel = {
            // The channel's connection task lives on the exporter's runtime.
            let _on = runtime.enter();
            channel(settings)?
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_channel(channel)
            .build()
            .map_err(|e| format!("--otlp-endpoint: {e}"))?;
        let exporter = OnOwnRuntime {
            inner: Arc::new(exporter),
            runtime: runtime.handle().clone(),
        };
        let resource = Resource::builder()
            .with_service_name("valv")
            .with_attributes([
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                KeyValue::new("service.instance.id", settings.node.clone()),
            ])
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("valv"))
            .with_threads(false)
            .with_location(false)
            // Only spans: log events stay in the log (they would double it inside every span).
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span() && meta.target().starts_with("valv")
            }));
        EXPORTING.store(true, Ordering::Relaxed);
        Ok((
            Self {
                provider,
                runtime: Some(runtime),
            },
            layer,
        ))
    }

    /// Sends what is still queued (waiting at most a few seconds for the collector), then stops.
    pub fn shutdown(mut self) {
        EXPORTING.store(false, Ordering::Relaxed);
        if let Err(e) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!(error = %e, "the last traces could not be sent");
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

fn channel(settings: &TraceSettings) -> Result<tonic::transport::Channel, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(settings.endpoint.clone())
        .map_err(|e| format!("--otlp-endpoint: {e}"))?
        .timeout(EXPORT_TIMEOUT)
        .connect_timeout(EXPORT_TIMEOUT);
    let endpoint = if settings.endpoint.starts_with("https:") {
        let ca = settings.ca.as_ref().ok_or(
            "an https:// --otlp-endpoint needs --otlp-ca: the CA (PEM) that signed the collector's certificate (a public CA's bundle, e.g. /etc/ssl/certs/ca-certificates.crt, works too)",
        )?;
        let pem = std::fs::read(ca).map_err(|e| format!("--otlp-ca {}: {e}", ca.display()))?;
        endpoint
            .tls_config(
                tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
            )
            .map_err(|e| format!("--otlp-ca {}: {e}", ca.display()))?
    } else {
        endpoint
    };
    Ok(endpoint.connect_lazy())
}

/// The OTLP exporter, run on the exporter's own runtime (the batch processor's thread has
/// none).
#[derive(Debug)]
struct OnOwnRuntime {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: tokio::runtime::Handle,
}

impl SpanExporter for OnOwnRuntime {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let inner = Arc::clone(&self.inner);
        let sent = self.runtime.spawn(async move { inner.export(batch).await });
        async move {
            sent.await
                .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(e.to_string())))
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called while building the provider, before any export shares the exporter.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// The caller's trace (W3C `traceparent`) as the parent of the call's span, without its
/// `tracestate`. `None` when the header is absent or malformed.
pub fn caller_context(headers: &http::HeaderMap) -> Option<opentelemetry::Context> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let parent = parse_traceparent(value)?;
    Some(opentelemetry::Context::new().with_remote_span_context(parent))
}

/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` (version 00; later versions may add
/// fields after these, which are ignored as the W3C recommendation says).
fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || trace.len() != 32 || span.len() != 16 {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = opentelemetry::trace::TraceId::from_hex(trace).ok()?;
    let span_id = opentelemetry::trace::SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags.get(..2)?, 16).ok()?;
    if trace_id == opentelemetry::trace::TraceId::INVALID
        || span_id == opentelemetry::trace::SpanId::INVALID
    {
        return None;
    }
    Some(SpanContext::new(
        trace_id,
        span_id,
        opentelemetry::trace::TraceFlags::new(flags & 1),
        true,
        TraceState::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_to_loopback() {
        for good in [
            "https://collector.example:4317",
            "http://127.0.0.1:4317",
            "http://[::1]:4317",
            "http://localhost:4317",
        ] {
            assert_eq!(check_endpoint(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "http://collector.example:4317",
            "http://10.0.0.1:4317",
            "collector:4317",
            "ftp://127.0.0.1",
            "",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_traceparent_is_read_and_its_state_left_out() {
        let ctx = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap_or_else(|| panic!("a valid traceparent"));
        assert_eq!(
            ctx.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(ctx.span_id().to_string(), "00f067aa0ba902b7");
        assert!(ctx.is_sampled() && ctx.is_remote());
        assert_eq!(ctx.trace_state().header(), "");
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-xyz92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        // A later version may append fields.
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some_and(|c| !c.is_sampled())
        );
    }
}
