//! Compact binary encoding of mapping records, the store's hottest and largest rows.
//!
//! `0x01 | epoch u32 | subject [16] | created i64 | expires i64 | flag u8 | ciphertext…`
//! (all big-endian). JSON would double the bytes on disk per mapping.

use super::records::MappingRecord;

const FORMAT: u8 = 1;
const FIXED: usize = 1 + 4 + 16 + 8 + 8 + 1;

/// Encodes a mapping record.
pub fn encode_mapping(r: &MappingRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED + r.ciphertext.as_ref().map_or(0, Vec::len));
    out.push(FORMAT);
    out.extend_from_slice(&r.epoch.to_be_bytes());
    out.extend_from_slice(&r.subject);
    out.extend_from_slice(&r.created_ms.to_be_bytes());
    out.extend_from_slice(&r.expires_ms.to_be_bytes());
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
    let created_ms = i64::from_be_bytes(b[21..29].try_into().ok()?);
    let expires_ms = i64::from_be_bytes(b[29..37].try_into().ok()?);
    let ciphertext = match b[37] {
        0 => None,
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
                created_ms: 5,
                expires_ms: -1,
                ciphertext: ct,
            };
            assert_eq!(decode_mapping(&encode_mapping(&r)), Some(r));
        }
        assert_eq!(decode_mapping(&[2, 0]), None);
    }
}
