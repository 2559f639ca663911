//! Vaults on the in-memory store for unit tests of the use cases: one node, or two nodes that
//! share one store (as two processes share a PostgreSQL database).

use std::sync::Arc;

use crate::{
    authz::Caller,
    config::RootConfig,
    engine::{clock::ManualClock, identifier::IdentifierKind, scheme::Scheme},
    ops,
    store::{
        Store,
        mem::{Faults, MemStore},
        records::{PrincipalRecord, Role},
    },
    {app::App, config::Limits},
};

/// A caller holding one role in `tenant_id` (`None`: an operator).
pub(crate) fn caller(tenant_id: Option<u64>, role: Role) -> Caller {
    Caller {
        principal: PrincipalRecord {
            id: format!("{role:?}").to_lowercase(),
            tenant_id,
            name: "test".into(),
            roles: vec![role],
            purposes: vec![],
            token_sha256: String::new(),
            client_cert_sha256: None,
            revoked: false,
            created_ms: 0,
            ..PrincipalRecord::default()
        },
        request_id: "req".into(),
    }
}

/// Vault nodes on one in-memory store, with the root key in one directory they share.
pub(crate) struct Nodes {
    /// The shared root-key directory.
    pub dir: tempfile::TempDir,
    /// The shared store.
    pub store: Arc<MemStore>,
    /// The store's faults.
    pub faults: Arc<Faults>,
    /// Everybody's clock.
    pub clock: ManualClock,
    /// Nodes started so far (each gets its own lease-holder name).
    started: std::sync::atomic::AtomicUsize,
}

impl Nodes {
    /// A fresh store with nothing in it yet.
    pub(crate) fn new() -> Self {
        let faults = Arc::new(Faults::default());
        Self {
            dir: tempfile::tempdir().unwrap(),
            store: Arc::new(MemStore::with_faults(Arc::clone(&faults))),
            faults,
            clock: ManualClock::new(1_700_000_000_000),
            started: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Starts one more node on the store.
    pub(crate) async fn node(&self, limits: Limits) -> Arc<App> {
        let store: Arc<dyn Store> = self.store.clone();
        crate::bootstrap::open(
            self.dir.path(),
            &RootConfig::File(None),
            Arc::new(self.clock.clone()),
            limits,
            1_000,
            crate::bootstrap::StoreChoice::Given(store),
            Some(format!(
                "node-{}",
                self.started
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            )),
        )
        .await
        .unwrap()
    }
}

/// Creates tenant `clinic` with a reversible keyed domain `patients` of opaque identifiers and
/// pseudonymises `n` of them: the tenant id and the pseudonyms.
pub(crate) async fn clinic(app: &Arc<App>, n: usize) -> (u64, Vec<String>) {
    let (tenant, _) =
        ops::admin::create_tenant(app, &caller(None, Role::Operator), "clinic", "admin", 0)
            .await
            .unwrap();
    let spec = ops::admin::DomainSpec {
        name: "patients".into(),
        kind: Some(IdentifierKind::Opaque),
        scheme: Some(Scheme::Keyed),
        reversible: true,
        ..ops::admin::DomainSpec::default()
    };
    ops::admin::create_domain(app, &caller(Some(tenant.id), Role::TenantAdmin), spec)
        .await
        .unwrap();
    let ids: Vec<String> = (0..n).map(|i| format!("patient-{i}")).collect();
    let tok = caller(Some(tenant.id), Role::Tokenizer);
    let mut pseudonyms = Vec::new();
    for chunk in ids.chunks(1_000) {
        let done = ops::pseudonymise::pseudonymise(app, &tok, "patients", chunk.to_vec())
            .await
            .unwrap();
        pseudonyms.extend(done.results.into_iter().map(Result::unwrap));
    }
    (tenant.id, pseudonyms)
}
