//! The door every call passes before its body is read: a tower layer that authenticates the
//! caller from the request's headers (bearer token) or its TLS client certificate, turns away
//! an address that failed to authenticate too often, and bounds the calls in flight. A stranger's
//! request is answered from its headers alone, so its body — however large — is never buffered
//! or decoded; the handlers find the authenticated caller in the request's extensions.
//!
//! Calls that need no credential pass through unauthenticated: health, reflection, the seal
//! service's unseal steps (the vault may be sealed) and claiming an enrolment code.

use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{
    Status,
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};

use super::status::to_status;
use crate::{app::App, authz::Caller, engine::refusals::Refusals};

/// Paths answered without a credential.
const PUBLIC: [&str; 4] = [
    "/valv.v1.SealService/GetSealStatus",
    "/valv.v1.SealService/Unseal",
    "/valv.v1.SealService/ConfirmNewShare",
    "/valv.v1.AdminService/ClaimEnrolment",
];

/// The window of the failed-authentication count.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Whether a call to `path` must be authenticated before it is dispatched: every method of
/// Valv's own services except [`PUBLIC`]. Health and reflection are other packages.
fn needs_credential(path: &str) -> bool {
    path.starts_with("/valv.") && !PUBLIC.contains(&path)
}

/// The authenticated caller, as the gate leaves it for the handler.
#[derive(Clone)]
pub(crate) struct Authenticated(pub Caller);

/// The layer (add with `Server::builder().layer(..)`, inside the request-id layer).
#[derive(Clone)]
pub struct GateLayer {
    app: Arc<App>,
    calls: Arc<Semaphore>,
    max_calls: usize,
    failures: Arc<Mutex<Refusals>>,
}

impl GateLayer {
    /// At most `max_calls` calls (a stream counts until it ends) in flight in this process;
    /// an address is turned away for the rest of a minute after `failures_per_minute` failed
    /// authentications in it (0: never).
    pub fn new(app: Arc<App>, max_calls: usize, failures_per_minute: u32) -> Self {
        Self {
            app,
            calls: Arc::new(Semaphore::new(max_calls)),
            max_calls,
            failures: Arc::new(Mutex::new(Refusals::new(
                failures_per_minute,
                FAILURE_WINDOW,
            ))),
        }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service the layer wraps around each call.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    layer: GateLayer,
}

/// The caller's address, from the connection (TLS or plaintext).
fn peer_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    let ext = request.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr())
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
        .map(|a| a.ip())
}

/// The leaf of the caller's TLS client certificate chain, DER.
fn peer_leaf<B>(request: &Request<B>) -> Option<Vec<u8>> {
    let certs = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()?
        .peer_certs()?;
    certs.first().map(|c| c.as_ref().to_vec())
}

/// A refusal with a retry hint.
fn exhausted(message: String, retry_after: Duration) -> Status {
    super::status::retry_after(Status::resource_exhausted(message), retry_after.as_secs())
}

/// Authenticates a call from its headers (bearer token, else TLS client certificate `leaf`):
/// refused while sealed, for a shredded tenant, and for every credential that is not a live
/// principal's.
pub(crate) async fn authenticate(
    app: &App,
    headers: &http::HeaderMap,
    leaf: Option<&[u8]>,
) -> Result<Caller, Status> {
    if app.is_sealed() {
        return Err(to_status(crate::error::VaultError::FailedPrecondition(
            "the vault is sealed; it answers only the seal service until unsealed (valvctl unseal)"
                .into(),
        )));
    }
    let caller = crate::authz::authenticate(app, headers, leaf)
        .await
        .map_err(to_status)?;
    if let Some(tenant_id) = caller.principal.tenant_id {
        // Caches follow the store's per-tenant change counter (another node may have changed it).
        app.observe(tenant_id).await.map_err(to_status)?;
    }
    if caller
        .principal
        .tenant_id
        .is_some_and(|t| app.keys.is_shredded(t))
    {
        return Err(to_status(crate::error::VaultError::FailedPrecondition(
            "tenant: its keys were destroyed (shredded); nothing of it can be used".into(),
        )));
    }
    Ok(caller)
}

impl GateLayer {
    /// Authenticates the call from its head, or answers why not. Failed authentications count
    /// against the caller's address.
    async fn admit(
        &self,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
        leaf: Option<&[u8]>,
    ) -> Result<Caller, Status> {
        let window = {
            let failures = self.failures.lock().map_err(|_| Status::internal("gate"))?;
            if peer.is_some_and(|ip| failures.blocked(ip, Instant::now())) {
                Some(failures.window())
            } else {
                None
            }
        };
        if let Some(window) = window {
            return Err(exhausted(
                "credential: too many failed authentications from this address; try again later"
                    .into(),
                window,
            ));
        }
        match authenticate(&self.app, headers, leaf).await {
            Ok(caller) => {
                if let Some(tenant_id) = caller.principal.tenant_id {
                    self.app
                        .take_call(caller.id(), tenant_id)
                        .await
                        .map_err(to_status)?;
                }
                Ok(caller)
            }
            Err(status) => {
                if status.code() == tonic::Code::Unauthenticated
                    && let (Some(ip), Ok(mut failures)) = (peer, self.failures.lock())
                {
                    failures.count(ip, Instant::now());
                }
                Err(status)
            }
        }
    }
}

impl<S, RB> Service<Request<Body>> for Gate<S>
where
    S: Service<Request<Body>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    RB::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone that was made ready is the one to call (tower's contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let Ok(permit) = Arc::clone(&layer.calls).try_acquire_owned() else {
                let status = exhausted(
                    format!(
                        "server busy: {} calls in flight, its limit; retry shortly",
                        layer.max_calls
                    ),
                    Duration::from_secs(1),
                );
                return Ok(status.into_http());
            };
            if needs_credential(request.uri().path()) {
                let peer = peer_ip(&request);
                let leaf = peer_leaf(&request);
                match layer.admit(request.headers(), peer, leaf.as_deref()).await {
                    Ok(caller) => {
                        request.extensions_mut().insert(Authenticated(caller));
                    }
                    // The body is dropped unread: the stream is reset after the answer.
                    Err(status) => return Ok(status.into_http()),
                }
            }
            // A unary call writes, syncs and answers inside `call`; the store's engine is not
            // swapped under it (`store::operation`). Streams that write hold their own, per item.
            let operation = layer.app.store.operation();
            let response = inner.call(request).await?;
            drop(operation);
            Ok(response.map(|body| {
                Body::new(Held {
                    inner: body,
                    _permit: permit,
                })
            }))
        })
    }
}

/// A response body that holds its call's place in flight until it is dropped.
struct Held<B> {
    inner: B,
    _permit: OwnedSemaphorePermit,
}

impl<B> http_body::Body for Held<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valv_methods_need_a_credential_except_the_public_ones() {
        assert!(needs_credential("/valv.v1.PseudonymService/Pseudonymise"));
        assert!(needs_credential("/valv.v1.SealService/Seal"));
        assert!(needs_credential("/valv.v1.Invented/Path"));
        for path in PUBLIC {
            assert!(!needs_credential(path), "{path}");
        }
        assert!(!needs_credential("/grpc.health.v1.Health/Check"));
        assert!(!needs_credential(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
    }
}
