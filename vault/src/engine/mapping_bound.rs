//! What a mapping's ciphertext is bound to: the fields of its row that decide whether it
//! releases — the subject handle (whose consent and restrictions apply), the pseudonym epoch
//! (whose grace ends) and the expiry. They go into the AAD of the ciphertext, so a row whose
//! subject, epoch or expiry was changed in the store (or a backup) no longer decrypts and is
//! refused instead of released. Binding costs no bytes on disk and no extra MAC per read.
//!
//! Layouts, chosen by the ciphertext's format (`valv_kms::envelope::bound_layout`):
//! - 0: nothing (ciphertexts from before binding existed);
//! - 1: `subject [16]` (ciphertexts from before epoch and expiry were bound);
//! - 2: `subject [16] ‖ epoch u32 BE ‖ expiry in whole seconds, rounded up, u32 BE` — what every
//!   seal writes now. Whole seconds because the embedded store keeps them so (see its codec);
//!   saturated at `u32::MAX` like the codec, so a row reads back to the same bound in every store.
//!
//! Older layouts stay readable until a key rotation (or an expiry move) re-encrypts the row in
//! layout 2; a row cannot be relabelled with an older layout, because the format is in the AAD.

use crate::model::{SubjectHandle, records::MappingRecord};

/// Bytes of layout 2.
const LEN: usize = 16 + 4 + 4;

/// The bound fields of one mapping, in one layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    bytes: [u8; LEN],
    len: usize,
}

impl Bound {
    /// The bytes that go into the AAD.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The governing fields of a mapping row, as stored.
#[derive(Debug, Clone, Copy)]
pub struct Governing<'a> {
    /// Subject handle.
    pub subject: &'a SubjectHandle,
    /// Pseudonym epoch.
    pub epoch: u32,
    /// Expiry in milliseconds (0 = none).
    pub expires_ms: i64,
}

impl<'a> From<&'a MappingRecord> for Governing<'a> {
    fn from(r: &'a MappingRecord) -> Self {
        Self {
            subject: &r.subject,
            epoch: r.epoch,
            expires_ms: r.expires_ms,
        }
    }
}

/// An expiry as the stores keep it: whole seconds, rounded up, saturated.
fn expiry_secs(expires_ms: i64) -> u32 {
    u32::try_from(expires_ms.max(0).saturating_add(999) / 1000).unwrap_or(u32::MAX)
}

/// The bound of layout 2, for sealing.
pub fn current(g: Governing<'_>) -> Bound {
    let mut bytes = [0u8; LEN];
    bytes[..16].copy_from_slice(g.subject);
    bytes[16..20].copy_from_slice(&g.epoch.to_be_bytes());
    bytes[20..].copy_from_slice(&expiry_secs(g.expires_ms).to_be_bytes());
    Bound { bytes, len: LEN }
}

/// The bound in `layout` (see the module docs), for opening a ciphertext made in it.
pub fn in_layout(layout: u8, g: Governing<'_>) -> Bound {
    match layout {
        0 => Bound {
            bytes: [0; LEN],
            len: 0,
        },
        1 => {
            let mut bytes = [0u8; LEN];
            bytes[..16].copy_from_slice(g.subject);
            Bound { bytes, len: 16 }
        }
        _ => current(g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(subject: &SubjectHandle, epoch: u32, expires_ms: i64) -> Governing<'_> {
        Governing {
            subject,
            epoch,
            expires_ms,
        }
    }

    #[test]
    fn each_governing_field_changes_the_bound() {
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let base = current(g(&a, 3, 1_800_000_000_000));
        assert_ne!(base, current(g(&b, 3, 1_800_000_000_000)));
        assert_ne!(base, current(g(&a, 4, 1_800_000_000_000)));
        assert_ne!(base, current(g(&a, 3, 1_800_000_001_000)));
        assert_ne!(base, current(g(&a, 3, 0)));
        assert_eq!(base.as_slice().len(), 24);
        assert_eq!(&base.as_slice()[16..20], &[0, 0, 0, 3]);
    }

    #[test]
    fn the_bound_survives_the_stores_rounding_of_an_expiry() {
        let a = [1u8; 16];
        // Sealed with a sub-second expiry; the embedded store reads it back rounded up.
        let sealed = current(g(&a, 1, 1_800_000_000_001));
        assert_eq!(sealed, current(g(&a, 1, 1_800_000_001_000)));
        assert_ne!(sealed, current(g(&a, 1, 1_800_000_000_000)));
        // Past 2106 the store saturates; so does the bound.
        assert_eq!(
            current(g(&a, 1, i64::MAX)),
            current(g(&a, 1, i64::from(u32::MAX) * 1000))
        );
    }

    #[test]
    fn older_layouts_bind_less() {
        let a = [7u8; 16];
        let gov = g(&a, 9, 5_000);
        assert_eq!(in_layout(0, gov).as_slice(), b"");
        assert_eq!(in_layout(1, gov).as_slice(), &a);
        assert_eq!(in_layout(2, gov), current(gov));
    }
}
