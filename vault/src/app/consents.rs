//! Consent histories in use: every consent event is sealed for its place in its history when
//! appended and checked whenever it is read (`engine::integrity::ConsentSealer`). An event that
//! fails is never used: the read is refused (`DATA_LOSS`), counted, logged and audited like any
//! other row (`app::rows`).
//!
//! Appending is optimistic across nodes: the event is sealed for the number after the latest
//! one read, and the store takes it only as exactly that number; a node that lost the race
//! reads again and seals anew. Nothing is cached: every check reads the store.

use valv_kms::SecretKey;

use super::App;
use crate::{
    engine::integrity::ConsentSealer,
    error::{VaultError, VaultResult},
    model::{ConsentEvent, SubjectHandle},
    store::StoreError,
};

/// Kind of a consent event in metrics and audit.
const KIND: &str = "consent-event";

/// How often an append is tried again after other nodes appended first.
const APPEND_ATTEMPTS: usize = 32;

fn sealer(key: &SecretKey) -> VaultResult<ConsentSealer> {
    ConsentSealer::new(key)
        .ok_or_else(|| VaultError::Internal("consent sealer: unusable key".into()))
}

impl App {
    /// The sealer of a tenant's consent events.
    pub async fn consent_sealer(&self, tenant_id: u64) -> VaultResult<ConsentSealer> {
        sealer(&self.row_key(tenant_id).await?)
    }

    /// Appends `event` as the next event of (subject, purpose), sealed for that place.
    pub async fn append_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        mut event: ConsentEvent,
    ) -> VaultResult<ConsentEvent> {
        let sealer = self.consent_sealer(tenant_id).await?;
        for _ in 0..APPEND_ATTEMPTS {
            let latest = self
                .store
                .latest_consents(tenant_id, purpose, vec![subject])
                .await?
                .pop()
                .flatten();
            event.seq = latest.map_or(1, |e| e.seq + 1);
            sealer.seal(&subject, purpose, &mut event);
            match self
                .store
                .append_consent(tenant_id, subject, purpose, event.clone())
                .await
            {
                Ok(stored) => return Ok(stored),
                Err(StoreError::AlreadyExists(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(VaultError::Aborted(
            "consent history: too many concurrent changes to this subject's consent; try again"
                .into(),
        ))
    }

    /// `Ok` if every `(subject, event)` of `purpose` carries a valid MAC; else the first that
    /// does not is refused, counted, logged and audited. The check itself is synchronous: only
    /// a failure awaits anything.
    async fn check_all<'a>(
        &self,
        sealer: &ConsentSealer,
        tenant_id: u64,
        purpose: &str,
        events: impl Iterator<Item = (&'a SubjectHandle, &'a ConsentEvent)>,
    ) -> VaultResult<()> {
        let failed = events
            .into_iter()
            .find(|(subject, event)| !sealer.verify(subject, purpose, event));
        let Some((subject, event)) = failed else {
            return Ok(());
        };
        let label = format!("subject:{}/{purpose}/{}", hex::encode(subject), event.seq);
        Err(self.tampered(KIND, tenant_id, &label).await)
    }

    /// A subject's history of one purpose, oldest first, checked.
    pub async fn consent_history(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
    ) -> VaultResult<Vec<ConsentEvent>> {
        let events = self
            .store
            .consent_history(tenant_id, subject, purpose)
            .await?;
        if events.is_empty() {
            return Ok(events);
        }
        let sealer = self.consent_sealer(tenant_id).await?;
        self.check_all(
            &sealer,
            tenant_id,
            purpose,
            events.iter().map(|e| (&subject, e)),
        )
        .await?;
        Ok(events)
    }

    /// Every consent event of a tenant as (subject, purpose, event), checked.
    pub async fn scan_consents(
        &self,
        tenant_id: u64,
    ) -> VaultResult<Vec<(SubjectHandle, String, ConsentEvent)>> {
        let events = self.store.scan_consents(tenant_id).await?;
        if events.is_empty() {
            return Ok(events);
        }
        let sealer = self.consent_sealer(tenant_id).await?;
        if let Some((subject, purpose, event)) = events
            .iter()
            .find(|(subject, purpose, e)| !sealer.verify(subject, purpose, e))
        {
            self.check_all(
                &sealer,
                tenant_id,
                purpose,
                std::iter::once((subject, event)),
            )
            .await?;
        }
        Ok(events)
    }

    /// The latest event of each subject for one purpose, checked (the hot path of a
    /// consent-checked re-identification: one key derivation per call, one HMAC per event).
    pub async fn latest_consents(
        &self,
        tenant_id: u64,
        purpose: &str,
        subjects: Vec<SubjectHandle>,
    ) -> VaultResult<Vec<Option<ConsentEvent>>> {
        let latest = self
            .store
            .latest_consents(tenant_id, purpose, subjects.clone())
            .await?;
        if latest.iter().all(Option::is_none) {
            return Ok(latest);
        }
        let sealer = self.consent_sealer(tenant_id).await?;
        self.check_all(
            &sealer,
            tenant_id,
            purpose,
            subjects
                .iter()
                .zip(&latest)
                .filter_map(|(s, e)| Some((s, e.as_ref()?))),
        )
        .await?;
        Ok(latest)
    }

    /// Seals the consent events of a tenant written before events carried a MAC; returns how
    /// many. Run once per store, at the first start of this version.
    pub async fn seal_consents_of_earlier_versions(&self, tenant_id: u64) -> VaultResult<u64> {
        let mut sealed = 0;
        let events = self.store.scan_consents(tenant_id).await?;
        if events.iter().all(|(_, _, e)| !e.mac.is_empty()) {
            return Ok(0);
        }
        let sealer = self.consent_sealer(tenant_id).await?;
        for (subject, purpose, mut e) in events {
            if e.mac.is_empty() {
                sealer.seal(&subject, &purpose, &mut e);
                if self
                    .store
                    .seal_consent(tenant_id, subject, &purpose, &e)
                    .await?
                {
                    sealed += 1;
                }
            }
        }
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{
        config::Limits,
        error::VaultError,
        model::{ConsentEvent, ConsentEventKind},
        testkit::{Nodes, clinic},
    };

    fn grant() -> ConsentEvent {
        ConsentEvent {
            kind: ConsentEventKind::Granted,
            text_version: 1,
            method: "web".into(),
            at_ms: 5,
            ..ConsentEvent::default()
        }
    }

    /// Two nodes appending to one history at once each get their own number (the loser of a
    /// race reads again and seals anew), and every event checks.
    #[tokio::test(flavor = "multi_thread")]
    async fn nodes_appending_at_once_each_seal_their_own_place() {
        let nodes = Nodes::new();
        let (a, b) = (
            nodes.node(Limits::default()).await,
            nodes.node(Limits::default()).await,
        );
        let (tenant, _) = clinic(&a, 0).await;
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let app = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    app.append_consent(tenant, [4; 16], "research", grant())
                        .await
                        .unwrap()
                        .seq
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=16).collect::<Vec<u64>>());
        assert_eq!(
            b.consent_history(tenant, [4; 16], "research")
                .await
                .unwrap()
                .len(),
            16
        );
    }

    /// An event of an earlier version (no MAC) is refused until it is sealed once; sealing
    /// leaves sealed events alone.
    #[tokio::test(flavor = "multi_thread")]
    async fn events_of_an_earlier_version_are_refused_until_sealed() {
        let nodes = Nodes::new();
        let app = nodes.node(Limits::default()).await;
        let (tenant, _) = clinic(&app, 0).await;
        app.append_consent(tenant, [1; 16], "research", grant())
            .await
            .unwrap();
        let mut old = grant();
        old.seq = 1;
        app.store
            .append_consent(tenant, [2; 16], "research", old)
            .await
            .unwrap();
        let refused = app.scan_consents(tenant).await.err();
        assert!(
            matches!(refused, Some(VaultError::Tampered(_))),
            "{refused:?}"
        );
        let refused = app
            .latest_consents(tenant, "research", vec![[1; 16], [2; 16]])
            .await
            .err();
        assert!(
            matches!(refused, Some(VaultError::Tampered(_))),
            "{refused:?}"
        );
        assert_eq!(
            app.seal_consents_of_earlier_versions(tenant).await.unwrap(),
            1
        );
        assert_eq!(
            app.seal_consents_of_earlier_versions(tenant).await.unwrap(),
            0
        );
        let latest = app
            .latest_consents(tenant, "research", vec![[1; 16], [2; 16], [3; 16]])
            .await
            .unwrap();
        assert_eq!(
            latest.iter().map(Option::is_some).collect::<Vec<_>>(),
            [true, true, false]
        );
    }
}
