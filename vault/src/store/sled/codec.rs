//! Compact binary encoding of mapping records, the store's hottest and largest rows.
//!
//! `0x02 | epoch u32 | subject [16] | created u32 | expires u32 | flag u8 | ciphertext…`
//! (big-endian; times in whole seconds since the Unix epoch, 0 = none, good until 2106;
//! creation rounds down and expiry rounds up, so a mapping never expires early). JSON would
//! double the bytes on disk per mapping; every byte here is paid once per stored identifier.

use crate::store::records::MappingRecord;

const FORMAT: u8 = 2;
const FIXED: usize = 1 + 4 + 16 + 4 + 4 + 1;

fn secs_floor(ms: i64) -> u32 {
    u32::try_from(ms.max(0) / 1000).unwrap_or(u32::MAX)
}

fn secs_ceil(ms: i64) -> u32 {
    u32::try_from(ms.max(0).saturating_add(999) / 1000).unwrap_or(u32::MAX)
}

/// Encodes a mapping record.
pub fn encode_mapping(r: &MappingRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED + r.ciphertext.as_ref().map_or(0, Vec::len));
    out.push(FORMAT);
    out.extend_from_slice(&r.epoch.to_be_bytes());
    out.extend_from_slice(&r.subject);
    out.extend_from_slice(&secs_floor(r.created_ms).to_be_bytes());
    out.extend_from_slice(&secs_ceil(r.expires_ms).to_be_bytes());
    match &r.ciphertext {
        Some(ct) => {
            out.push(1);
            out.extend_from_slice(ct);
        }
        None => out.push(0),
    }
    out
}

/// Decodes a mapping record; `None` if the bytes are not one.
pub fn decode_mapping(b: &[u8]) -> Option<MappingRecord> {
    if b.len() < FIXED || b[0] != FORMAT {
        return None;
    }
    let epoch = u32::from_be_bytes(b[1..5].try_into().ok()?);
    let subject: [u8; 16] = b[5..21].try_into().ok()?;
    let created_ms = i64::from(u32::from_be_bytes(b[21..25].try_into().ok()?)) * 1000;
    let expires_ms = i64::from(u32::from_be_bytes(b[25..29].try_into().ok()?)) * 1000;
    let ciphertext = match b[29] {
        // Canonical: a record without ciphertext has nothing after its flag.
        0 if b.len() == FIXED => None,
        0 => return None,
        1 => Some(b[FIXED..].to_vec()),
        _ => return None,
    };
    Some(MappingRecord {
        epoch,
        subject,
        created_ms,
        expires_ms,
        ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for ct in [None, Some(vec![1, 2, 3])] {
            let r = MappingRecord {
                epoch: 3,
                subject: [9; 16],
                created_ms: 1_795_392_000_000,
                expires_ms: 1_795_392_060_000,
                ciphertext: ct,
            };
            assert_eq!(decode_mapping(&encode_mapping(&r)), Some(r));
        }
        assert_eq!(decode_mapping(&[2, 0]), None);
        let mut trailing = encode_mapping(&MappingRecord {
            epoch: 1,
            subject: [1; 16],
            created_ms: 0,
            expires_ms: 0,
            ciphertext: None,
        });
        trailing.push(7);
        assert_eq!(
            decode_mapping(&trailing),
            None,
            "bytes after a record without ciphertext"
        );
        // Sub-second times: creation rounds down, expiry rounds up (never early); 0 stays 0.
        let r = MappingRecord {
            epoch: 1,
            subject: [0; 16],
            created_ms: 1_500,
            expires_ms: 2_001,
            ciphertext: None,
        };
        let back = decode_mapping(&encode_mapping(&r));
        assert_eq!(
            back.as_ref().map(|b| (b.created_ms, b.expires_ms)),
            Some((1_000, 3_000))
        );
        let none = MappingRecord {
            expires_ms: 0,
            ..r.clone()
        };
        assert_eq!(
            decode_mapping(&encode_mapping(&none)).map(|b| b.expires_ms),
            Some(0)
        );
        // Past 2106 the expiry saturates instead of overflowing.
        let far = MappingRecord {
            expires_ms: i64::MAX,
            ..r
        };
        assert_eq!(
            decode_mapping(&encode_mapping(&far)).map(|b| b.expires_ms),
            Some(i64::from(u32::MAX) * 1000)
        );
    }
}
