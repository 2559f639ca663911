//! OpenTelemetry traces (`--otlp-endpoint`): a small OTLP collector inside the test receives
//! the spans of the whole no-leak workload from a real vault — one server span per RPC with
//! its method, request id, tenant, principal, status and latency, children for store calls and
//! key work, the caller's trace joined — and finds no identifier and no token in any of them.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind, status::StatusCode},
};
use prost::Message;
use valv_e2e::{pb, *};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

/// What the collector received, as sent.
#[derive(Clone, Default)]
struct Collector {
    requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.requests.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts the collector on a loopback port: plaintext (the vault allows that on loopback), or
/// TLS with the certificate given.
async fn collector(tls: Option<&Issued>) -> (Collector, std::net::SocketAddr) {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(collector.clone());
    let mut server = tonic::transport::Server::builder();
    if let Some(issued) = tls {
        let identity = tonic::transport::Identity::from_pem(&issued.cert_pem, &issued.key_pem);
        server = server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .unwrap();
    }
    tokio::spawn(
        server
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (collector, addr)
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_of_a_full_workload_reach_the_collector_without_an_identifier() {
    init();
    let (collector, addr) = collector(None).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let endpoint = format!("http://{addr}");
    let server = spawn_with(
        BIN,
        &data,
        &log,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--otlp-endpoint",
            &endpoint,
        ],
    );
    let w = super::no_leak::workload(&server).await;

    // A call inside a caller's trace (W3C traceparent, with a tracestate the vault drops).
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let admin = server.client(&w.tokens[1]).await;
    let mut request = tonic::Request::new(pb::ListDomainsRequest {});
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{caller_trace}-{caller_span}-01")
            .parse()
            .unwrap(),
    );
    request
        .metadata_mut()
        .insert("tracestate", "leakcanary=195209035525".parse().unwrap());
    admin.admin().list_domains(request).await.unwrap();
    // The last spans leave when the vault stops.
    server.terminate();

    let requests = collector.requests.lock().unwrap().clone();
    assert!(!requests.is_empty(), "the collector received nothing");
    // Everything the collector received, as bytes on the wire and as text.
    let wire: Vec<u8> = requests.iter().flat_map(Message::encode_to_vec).collect();
    let shown = format!("{requests:?}");
    for s in &w.secrets {
        assert!(!shown.contains(s.as_str()), "an identifier in a span");
        assert!(
            !wire.windows(s.len()).any(|b| b == s.as_bytes()),
            "an identifier in the exported bytes"
        );
    }
    for token in &w.tokens {
        let secret = token.rsplit('_').next().unwrap_or_default();
        assert!(!shown.contains(secret), "a bearer token in a span");
    }
    assert!(
        !shown.contains("leakcanary"),
        "the caller's tracestate was kept"
    );

    let resource = requests[0].resource_spans[0].resource.as_ref().unwrap();
    assert!(
        resource
            .attributes
            .iter()
            .any(|kv| kv.key == "service.name" && text(&kv.value) == "valv"),
        "{resource:?}"
    );
    let spans: Vec<&Span> = requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), *s)).collect();
    let rpc = |name: &str| -> Vec<&Span> {
        spans
            .iter()
            .copied()
            .filter(|s| s.name == name && s.kind == SpanKind::Server as i32)
            .collect()
    };

    // One server span per call, named by its method, with the call's facts.
    let pseudonymise = rpc("valv.v1.PseudonymService/Pseudonymise");
    assert!(pseudonymise.len() >= 4, "{}", pseudonymise.len());
    for span in &pseudonymise {
        let a = attributes(span);
        assert_eq!(a["method"], "/valv.v1.PseudonymService/Pseudonymise");
        assert_eq!(a["request_id"].len(), 32, "{a:?}");
        assert!(a["tenant"].parse::<u64>().is_ok(), "{a:?}");
        assert!(
            a["principal"].len() == 16 && hex::decode(&a["principal"]).is_ok(),
            "{a:?}"
        );
        assert_eq!(a["status"], "0");
        assert!(a["latency_ms"].parse::<f64>().unwrap() > 0.0, "{a:?}");
    }
    // A refused call says so in its status.
    let refused: Vec<&&Span> = spans
        .iter()
        .filter(|s| attributes(s).get("status").is_some_and(|c| c != "0"))
        .collect();
    assert!(!refused.is_empty(), "the workload has refused calls");
    for span in refused {
        let status = span.status.as_ref().unwrap();
        assert_eq!(status.code, StatusCode::Error as i32, "{}", span.name);
    }

    // Children: the store calls and the key work of a call, inside its trace.
    let child_of = |span: &Span, parents: &[&Span]| {
        parents.iter().any(|p| {
            let mut at = span;
            while let Some(up) = by_id.get(at.parent_span_id.as_slice()) {
                if up.span_id == p.span_id {
                    return up.trace_id == span.trace_id;
                }
                at = up;
            }
            false
        })
    };
    for (name, parents) in [
        ("store.insert_mappings", &pseudonymise),
        ("store.sync", &pseudonymise),
        ("keys.pseudonyms", &pseudonymise),
        ("keys.seal", &pseudonymise),
        ("keys.open", &rpc("valv.v1.PseudonymService/ReIdentify")),
        (
            "store.append_audit",
            &rpc("valv.v1.ConsentService/GrantConsent"),
        ),
    ] {
        let found: Vec<&&Span> = spans.iter().filter(|s| s.name == name).collect();
        assert!(!found.is_empty(), "no {name} span");
        assert!(
            found.iter().any(|s| child_of(s, parents)),
            "no {name} span inside the call's span"
        );
    }
    let open = spans.iter().find(|s| s.name == "keys.open").unwrap();
    assert!(
        attributes(open).contains_key("released"),
        "{:?}",
        attributes(open)
    );

    // The caller's trace is the parent of the call it made.
    let joined: Vec<&Span> = spans
        .iter()
        .copied()
        .filter(|s| s.kind == SpanKind::Server as i32 && hex::encode(&s.trace_id) == caller_trace)
        .collect();
    assert_eq!(joined.len(), 1, "one call was made in the caller's trace");
    assert_eq!(joined[0].name, "valv.v1.AdminService/ListDomains");
    assert_eq!(hex::encode(&joined[0].parent_span_id), caller_span);
    // Every other call starts a trace of its own.
    assert!(
        rpc("valv.v1.AdminService/ListDomains")
            .iter()
            .filter(|s| s.trace_id != joined[0].trace_id)
            .all(|s| s.parent_span_id.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_collector_over_tls_with_its_ca() {
    init();
    let ca = TestCa::new();
    let (collector, addr) = collector(Some(&ca.issue("localhost"))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("collector-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let endpoint = format!("https://localhost:{}", addr.port());
    let server = spawn_with(
        BIN,
        &data,
        &log,
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-ca",
            ca_file.to_str().unwrap(),
        ],
    );
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "tls",
        &[("mail", pb::IdentifierKind::Email, pb::Scheme::Keyed, true)],
        &[],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    pseudonymise_ok(&tok, "mail", &["anna@example.se"]).await;
    server.terminate();
    let spans: Vec<String> = collector
        .requests
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect();
    assert!(
        spans.contains(&"valv.v1.PseudonymService/Pseudonymise".to_owned())
            && spans.contains(&"store.insert_mappings".to_owned()),
        "{spans:?}"
    );
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log_text.contains("anna@example.se"));
}

#[test]
fn a_plaintext_collector_off_loopback_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (endpoint, says) in [
        ("http://collector.example:4317", "plaintext"),
        ("collector:4317", "https://"),
    ] {
        let out = std::process::Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", "--otlp-endpoint", endpoint])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--otlp-endpoint") && stderr.contains(says),
            "{stderr}"
        );
    }
    // An https endpoint needs the collector's CA.
    let out = std::process::Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--otlp-endpoint",
            "https://127.0.0.1:4317",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--otlp-ca"), "{stderr}");
}
