//! The connected client: one TLS channel, the bearer token on every call, a typed client per
//! service, and the bulk methods that split, pipeline and retry.

use std::{
    collections::VecDeque,
    future::Future,
    ops::Range,
    str::FromStr,
    sync::{Arc, OnceLock},
};

use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use valv_proto::v1::{
    self as pb, admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient,
    consent_service_client::ConsentServiceClient, key_service_client::KeyServiceClient,
    pseudonym_service_client::PseudonymServiceClient,
    retention_service_client::RetentionServiceClient, seal_service_client::SealServiceClient,
    subject_service_client::SubjectServiceClient,
};

use crate::{ClientConfig, ClientError, RetryPolicy, chunk, retry};

/// Largest response the client accepts (exports and audit reads can be large).
const MAX_DECODE: usize = 256 * 1024 * 1024;

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// A channel that authenticates every call.
pub type AuthChannel = InterceptedService<Channel, Auth>;

/// What the bulk methods need to know of the server: (most items, most bytes per request).
type Limits = (usize, usize);

/// A connected client. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Valv {
    channel: Channel,
    auth: Auth,
    retry: RetryPolicy,
    max_batch: Option<usize>,
    concurrency: usize,
    limits: Arc<OnceLock<Limits>>,
}

fn bearer(token: &str) -> Result<MetadataValue<Ascii>, ClientError> {
    MetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|_| ClientError::Config("token is not ASCII".into()))
}

/// Pseudonyms for a batch of identifiers, in input order.
#[derive(Debug, Clone, Default)]
pub struct Pseudonymised {
    /// One per identifier: the pseudonym, or the rule it broke (`field` is
    /// `identifiers[i]` with `i` the index in *your* input).
    pub results: Vec<Result<String, pb::ItemError>>,
    /// How many new mappings were stored.
    pub created: u64,
}

/// Records after [`Valv::pseudonymise_records`], in input order.
#[derive(Debug, Clone, Default)]
pub struct RecordsPseudonymised {
    /// One per record: the pseudonymised JSON, or why the record was refused (fields named
    /// `records[i]…` with `i` the index in your input).
    pub results: Vec<Result<Vec<u8>, pb::RecordError>>,
    /// How many new mappings were stored.
    pub created: u64,
}

impl Valv {
    /// Connects (TLS unless the address is `http://`), retrying refused connections as the
    /// configuration's [`RetryPolicy`] says.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let mut endpoint = Endpoint::from_str(&config.addr)
            .map_err(|e| ClientError::Config(format!("address: {e}")))?
            .local_address(config.local_address);
        if let Some(d) = config.timeout {
            endpoint = endpoint.timeout(d).connect_timeout(d);
        }
        if config.addr.starts_with("https://") {
            let Some(ca) = &config.ca_pem else {
                return Err(ClientError::Config(
                    "TLS needs a CA: set VALV_CA, --ca or ClientConfig::with_ca_file".into(),
                ));
            };
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
            if let Some((cert, key)) = &config.identity {
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            if let Some(name) = &config.server_name {
                tls = tls.domain_name(name.clone());
            }
            endpoint = endpoint.tls_config(tls)?;
        } else if !config.addr.starts_with("http://") {
            return Err(ClientError::Config(
                "address must start with https:// (or http:// for a loopback plaintext server)"
                    .into(),
            ));
        }
        let mut attempt = 1;
        let channel = loop {
            match endpoint.connect().await {
                Ok(c) => break c,
                Err(_) if attempt < config.retry.max_attempts => {
                    attempt += 1;
                    retry::pause(&config.retry, attempt).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let auth = config.token.as_deref().map(bearer).transpose()?;
        Ok(Self {
            channel,
            auth: Auth(auth),
            retry: config.retry,
            max_batch: config.max_batch,
            concurrency: config.concurrency.max(1),
            limits: Arc::new(OnceLock::new()),
        })
    }

    /// The same connection with another bearer token.
    pub fn with_token(&self, token: &str) -> Result<Self, ClientError> {
        Ok(Self {
            auth: Auth(Some(bearer(token)?)),
            ..self.clone()
        })
    }

    /// `AdminService`: tenants, domains, purposes, consent texts, principals, record policies.
    pub fn admin(&self) -> AdminServiceClient<AuthChannel> {
        AdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// `PseudonymService`: single requests (the bulk methods on [`Valv`] split and retry).
    pub fn pseudonyms(&self) -> PseudonymServiceClient<AuthChannel> {
        PseudonymServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_DECODE)
    }

    /// `ConsentService`: grants, withdrawals, history, receipts, lists.
    pub fn consents(&self) -> ConsentServiceClient<AuthChannel> {
        ConsentServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_DECODE)
    }

    /// `AuditService`: read and verify the audit chain.
    pub fn audit(&self) -> AuditServiceClient<AuthChannel> {
        AuditServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_DECODE)
    }

    /// `KeyService`: key versions, rotation jobs, epochs, approvals.
    pub fn keys(&self) -> KeyServiceClient<AuthChannel> {
        KeyServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// `RetentionService`: what is due for deletion, and running the reaper.
    pub fn retention(&self) -> RetentionServiceClient<AuthChannel> {
        RetentionServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_DECODE)
    }

    /// `SubjectService`: export, erase, restrict, events.
    pub fn subjects(&self) -> SubjectServiceClient<AuthChannel> {
        SubjectServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_DECODE)
    }

    /// `SealService` (status and unseal need no token).
    pub fn seal(&self) -> SealServiceClient<AuthChannel> {
        SealServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// The raw channel (e.g. for health checks).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Runs one call with this client's retry policy: tried again on `UNAVAILABLE`.
    ///
    /// ```no_run
    /// # async fn demo(valv: valv_client::Valv) -> Result<(), valv_client::ClientError> {
    /// let domains = valv
    ///     .retry(|| {
    ///         let mut admin = valv.admin();
    ///         async move { admin.list_domains(valv_client::pb::ListDomainsRequest {}).await }
    ///     })
    ///     .await?;
    /// # let _ = domains; Ok(()) }
    /// ```
    pub async fn retry<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        retry::retry(&self.retry, call).await
    }

    /// The server's limits (the bulk methods ask once and remember them).
    pub async fn limits(&self) -> Result<pb::ServerLimits, ClientError> {
        self.retry(|| {
            let mut c = self.pseudonyms();
            async move { c.get_limits(pb::GetLimitsRequest {}).await }
        })
        .await
    }

    async fn batch_limits(&self) -> Result<Limits, ClientError> {
        if let Some(l) = self.limits.get() {
            return Ok(*l);
        }
        let server = self.limits().await?;
        let items = usize::try_from(server.max_batch).unwrap_or(usize::MAX);
        let bytes = usize::try_from(server.max_message_bytes).unwrap_or(usize::MAX);
        let limits = (self.max_batch.map_or(items, |m| m.min(items)), bytes);
        Ok(*self.limits.get_or_init(|| limits))
    }

    /// Runs `call` on each range of the split input, up to `concurrency` at once, and returns
    /// the outputs in input order.
    async fn chunked<R, F, Fut>(&self, sizes: Vec<usize>, call: F) -> Result<Vec<R>, ClientError>
    where
        R: Send + 'static,
        F: Fn(Range<usize>) -> Fut,
        Fut: Future<Output = Result<R, ClientError>> + Send + 'static,
    {
        let (max_items, max_bytes) = self.batch_limits().await?;
        let mut pending = VecDeque::new();
        let mut out = Vec::new();
        for range in chunk::ranges(sizes, max_items, max_bytes) {
            if pending.len() == self.concurrency {
                out.push(join(pending.pop_front()).await?);
            }
            pending.push_back(tokio::spawn(call(range)));
        }
        while let Some(task) = pending.pop_front() {
            out.push(join(Some(task)).await?);
        }
        Ok(out)
    }

    /// Pseudonymises any number of identifiers of `domain`: split within the server's limits,
    /// sent several requests at a time, retried on `UNAVAILABLE`. Results come in input order.
    pub async fn pseudonymise<S: AsRef<str>>(
        &self,
        domain: &str,
        identifiers: &[S],
    ) -> Result<Pseudonymised, ClientError> {
        let items: Arc<Vec<String>> =
            Arc::new(identifiers.iter().map(|s| s.as_ref().to_owned()).collect());
        let sizes = items.iter().map(String::len).collect();
        let parts = self
            .chunked(sizes, |range| {
                let (valv, items, domain) = (self.clone(), Arc::clone(&items), domain.to_owned());
                async move {
                    let request = pb::PseudonymiseRequest {
                        domain,
                        identifiers: items[range.clone()].to_vec(),
                        batch_id: range.start as u64,
                    };
                    let reply = valv
                        .retry(|| {
                            let (mut c, r) = (valv.pseudonyms(), request.clone());
                            async move { c.pseudonymise(r).await }
                        })
                        .await?;
                    expect_len(reply.results.len(), range.len())?;
                    Ok((range.start, reply))
                }
            })
            .await?;
        let mut out = Pseudonymised::default();
        for (start, reply) in parts {
            out.created += u64::from(reply.created);
            for (i, r) in reply.results.into_iter().enumerate() {
                out.results.push(match r.outcome {
                    Some(pb::pseudonymise_result::Outcome::Pseudonym(p)) => Ok(p),
                    Some(pb::pseudonymise_result::Outcome::Error(mut e)) => {
                        e.field = format!("identifiers[{}]", start + i);
                        Err(e)
                    }
                    None => return Err(ClientError::Protocol("empty result".into())),
                });
            }
        }
        Ok(out)
    }

    /// Checks any number of identifiers against `domain`'s rules without pseudonymising them
    /// (nothing is stored): the refused ones as (index in your input, error whose `field` names
    /// that index), in order. Split and retried like [`Valv::pseudonymise`].
    pub async fn check_identifiers<S: AsRef<str>>(
        &self,
        domain: &str,
        identifiers: &[S],
    ) -> Result<Vec<(usize, pb::ItemError)>, ClientError> {
        let sizes = identifiers.iter().map(|s| s.as_ref().len()).collect();
        let parts = self
            .chunked(sizes, |range| {
                let valv = self.clone();
                let request = pb::CheckIdentifiersRequest {
                    domain: domain.to_owned(),
                    identifiers: identifiers[range.clone()]
                        .iter()
                        .map(|s| s.as_ref().to_owned())
                        .collect(),
                };
                async move {
                    let reply = valv
                        .retry(|| {
                            let (mut c, r) = (valv.pseudonyms(), request.clone());
                            async move { c.check_identifiers(r).await }
                        })
                        .await?;
                    Ok((range.start, reply.errors))
                }
            })
            .await?;
        let mut out = Vec::new();
        for (start, errors) in parts {
            for mut e in errors {
                let local = e
                    .field
                    .strip_prefix("identifiers[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| {
                        ClientError::Protocol(format!("unexpected field {}", e.field))
                    })?;
                e.field = format!("identifiers[{}]", start + local);
                out.push((start + local, e));
            }
        }
        Ok(out)
    }

    /// Re-identifies any number of pseudonyms of `domain` for `purpose`, split and retried
    /// like [`Valv::pseudonymise`]. One result per pseudonym, in input order; the identifier
    /// is set only when the verdict is `VERDICT_RELEASED`.
    pub async fn reidentify<S: AsRef<str>>(
        &self,
        domain: &str,
        purpose: &str,
        pseudonyms: &[S],
    ) -> Result<Vec<pb::ReIdentifyResult>, ClientError> {
        let items: Arc<Vec<String>> =
            Arc::new(pseudonyms.iter().map(|s| s.as_ref().to_owned()).collect());
        let sizes = items.iter().map(String::len).collect();
        let parts = self
            .chunked(sizes, |range| {
                let valv = self.clone();
                let request = pb::ReIdentifyRequest {
                    domain: domain.to_owned(),
                    purpose: purpose.to_owned(),
                    pseudonyms: items[range.clone()].to_vec(),
                };
                async move {
                    let reply = valv
                        .retry(|| {
                            let (mut c, r) = (valv.pseudonyms(), request.clone());
                            async move { c.re_identify(r).await }
                        })
                        .await?;
                    expect_len(reply.results.len(), range.len())?;
                    Ok(reply.results)
                }
            })
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Translates pseudonyms of a sharing agreement's from-domain into its to-domain, split and
    /// retried like [`Valv::pseudonymise`] (a translation repeated gives the same pseudonyms).
    /// One result per pseudonym, in input order; `pseudonym` is set when the verdict is
    /// `Released` (translated).
    pub async fn translate<S: AsRef<str>>(
        &self,
        agreement: &str,
        pseudonyms: &[S],
    ) -> Result<Vec<pb::TranslateResult>, ClientError> {
        let items: Arc<Vec<String>> =
            Arc::new(pseudonyms.iter().map(|s| s.as_ref().to_owned()).collect());
        let sizes = items.iter().map(String::len).collect();
        let parts = self
            .chunked(sizes, |range| {
                let valv = self.clone();
                let request = pb::TranslatePseudonymsRequest {
                    agreement: agreement.to_owned(),
                    pseudonyms: items[range.clone()].to_vec(),
                    batch_id: 0,
                };
                async move {
                    let reply = valv
                        .retry(|| {
                            let (mut c, r) = (valv.pseudonyms(), request.clone());
                            async move { c.translate_pseudonyms(r).await }
                        })
                        .await?;
                    expect_len(reply.results.len(), range.len())?;
                    Ok(reply.results)
                }
            })
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Pseudonymises JSON records under the stored record policy `policy`, split and retried
    /// like [`Valv::pseudonymise`]. One result per record, in input order.
    pub async fn pseudonymise_records<B: AsRef<[u8]>>(
        &self,
        policy: &str,
        records: &[B],
    ) -> Result<RecordsPseudonymised, ClientError> {
        let sizes = records.iter().map(|r| r.as_ref().len()).collect();
        let parts = self
            .chunked(sizes, |range| {
                let valv = self.clone();
                let request = pb::PseudonymiseRecordsRequest {
                    policy: policy.to_owned(),
                    records: records[range.clone()]
                        .iter()
                        .map(|r| r.as_ref().to_vec())
                        .collect(),
                    batch_id: range.start as u64,
                };
                async move {
                    let reply = valv
                        .retry(|| {
                            let (mut c, r) = (valv.pseudonyms(), request.clone());
                            async move { c.pseudonymise_records(r).await }
                        })
                        .await?;
                    expect_len(reply.results.len(), range.len())?;
                    Ok((range.start, reply))
                }
            })
            .await?;
        let mut out = RecordsPseudonymised::default();
        for (start, reply) in parts {
            out.created += u64::from(reply.created);
            for (i, r) in reply.results.into_iter().enumerate() {
                out.results.push(match r.outcome {
                    Some(pb::pseudonymise_record_result::Outcome::Record(b)) => Ok(b),
                    Some(pb::pseudonymise_record_result::Outcome::Error(e)) => {
                        Err(renumber(e, i, start + i))
                    }
                    None => return Err(ClientError::Protocol("empty result".into())),
                });
            }
        }
        Ok(out)
    }

    /// Re-identifies the fields of JSON records for `purpose` under the record policy
    /// `policy`, split and retried like [`Valv::pseudonymise`]. One result per record, in input
    /// order, each with a verdict per field.
    pub async fn reidentify_records<B: AsRef<[u8]>>(
        &self,
        policy: &str,
        purpose: &str,
        records: &[B],
    ) -> Result<Vec<pb::ReIdentifyRecordResult>, ClientError> {
        let sizes = records.iter().map(|r| r.as_ref().len()).collect();
        let parts = self
            .chunked(sizes, |range| {
                let valv = self.clone();
                let request = pb::ReIdentifyRecordsRequest {
                    policy: policy.to_owned(),
                    purpose: purpose.to_owned(),
                    records: records[range.clone()]
                        .iter()
                        .map(|r| r.as_ref().to_vec())
                        .collect(),
                };
                async move {
                    let reply = valv
                        .retry(|| {
                            let (mut c, r) = (valv.pseudonyms(), request.clone());
                            async move { c.re_identify_records(r).await }
                        })
                        .await?;
                    expect_len(reply.results.len(), range.len())?;
                    Ok((range.start, reply.results))
                }
            })
            .await?;
        let mut out = Vec::new();
        for (start, results) in parts {
            for (i, mut r) in results.into_iter().enumerate() {
                r.error = r.error.map(|e| renumber(e, i, start + i));
                out.push(r);
            }
        }
        Ok(out)
    }
}

async fn join<R>(
    task: Option<tokio::task::JoinHandle<Result<R, ClientError>>>,
) -> Result<R, ClientError> {
    match task {
        Some(t) => t
            .await
            .map_err(|e| ClientError::Protocol(format!("request task failed: {e}")))?,
        None => Err(ClientError::Protocol("no request in flight".into())),
    }
}

fn expect_len(got: usize, want: usize) -> Result<(), ClientError> {
    if got == want {
        Ok(())
    } else {
        Err(ClientError::Protocol(format!(
            "{got} results for {want} items"
        )))
    }
}

/// Rewrites `records[local]…` field names to the caller's index.
fn renumber(mut e: pb::RecordError, local: usize, global: usize) -> pb::RecordError {
    let from = format!("records[{local}]");
    for item in &mut e.errors {
        if let Some(rest) = item.field.strip_prefix(&from) {
            item.field = format!("records[{global}]{rest}");
        }
    }
    e
}
