//! Bearer tokens: `valv_<id>_<secret>`, where `id` (16 hex) finds the principal and `secret` is
//! 256 random bits in base32. Only SHA-256 of the secret is stored (a fast hash is right here:
//! the secret has full entropy, so there is nothing to brute-force), compared in constant time.
//! Enrolment codes have the same shape with the prefix `valvenrol_`: a different word, so a code
//! is never mistaken for a token.

use data_encoding::BASE32_NOPAD;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use valv_kms::SecretBytes;

/// Prefix of bearer tokens.
pub const TOKEN: &str = "valv_";
/// Prefix of enrolment codes.
pub const ENROLMENT: &str = "valvenrol_";

/// A new principal id and token; returns (id, token, sha256-hex of the secret).
pub fn issue() -> (String, SecretBytes, String) {
    let mut id = [0u8; 8];
    rand::rng().fill_bytes(&mut id);
    let id = hex::encode(id);
    let (token, hash) = secret_for(TOKEN, &id);
    (id, token, hash)
}

/// A new credential (token or enrolment code, by `prefix`) for principal `id`; returns it with
/// the sha256-hex of its secret part.
pub fn secret_for(prefix: &str, id: &str) -> (SecretBytes, String) {
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(secret.as_mut());
    let secret_text =
        zeroize::Zeroizing::new(BASE32_NOPAD.encode(secret.as_ref()).to_ascii_lowercase());
    let hash = hex::encode(Sha256::digest(secret_text.as_bytes()));
    let token = SecretBytes::from(format!("{prefix}{id}_{}", secret_text.as_str()));
    (token, hash)
}

/// Splits a token into (id, secret); `None` if it is not one.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    parse_with(TOKEN, token)
}

/// Splits a credential with `prefix` into (id, secret); `None` if it is not one.
pub fn parse_with<'a>(prefix: &str, token: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = token.strip_prefix(prefix)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 52)
        .then_some((id, secret))
}

/// Constant-time check of a token secret against the stored hash.
pub fn verify(secret: &str, stored_sha256_hex: &str) -> bool {
    let Ok(stored) = hex::decode(stored_sha256_hex) else {
        return false;
    };
    let actual = Sha256::digest(secret.as_bytes());
    actual.as_slice().ct_eq(&stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_parse_verify() {
        let (id, token, hash) = issue();
        let text = String::from_utf8_lossy(token.expose_secret()).into_owned();
        let (pid, secret) = parse(&text).unwrap_or(("", ""));
        assert_eq!(pid, id);
        assert!(verify(secret, &hash));
        let mut wrong = secret.to_owned();
        wrong.replace_range(0..1, if wrong.starts_with('a') { "b" } else { "a" });
        assert!(!verify(&wrong, &hash));
        assert!(parse("valv_xyz_abc").is_none());
        let (code, code_hash) = secret_for(ENROLMENT, &id);
        let code = String::from_utf8_lossy(code.expose_secret()).into_owned();
        assert!(parse(&code).is_none(), "a code is not a token");
        let (cid, csecret) = parse_with(ENROLMENT, &code).unwrap_or(("", ""));
        assert_eq!(cid, id);
        assert!(verify(csecret, &code_hash));
        assert!(parse("Bearer x").is_none());
    }
}
