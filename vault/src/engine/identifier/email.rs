//! E-mail addresses. Policy: trim surrounding whitespace and lower-case the whole address
//! (providers treat local parts case-insensitively in practice); no other rewriting (dots and
//! `+tags` are kept, since they can name different mailboxes).

/// Normal form: trimmed, lower-cased.
pub(super) fn normalise(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim().to_lowercase();
    let mut parts = s.split('@');
    let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
        (Some(_), None, _) => return Err("no @"),
        (Some(l), Some(d), None) => (l, d),
        _ => return Err("two @"),
    };
    if local.is_empty() {
        return Err("empty local part");
    }
    if domain.is_empty() {
        return Err("empty domain");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("whitespace inside the address");
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err("domain has an empty label");
    }
    if s.len() > 254 {
        return Err("longer than 254 characters");
    }
    Ok(s)
}
