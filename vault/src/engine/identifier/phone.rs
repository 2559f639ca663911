//! Telephone numbers in E.164. Policy: the number must carry its country code (`+` or `00`);
//! spaces, `-`, `.`, `(` and `)` are dropped; 7–15 digits, not starting with 0.

/// Normal form: `+` and the digits.
pub(super) fn normalise(raw: &str) -> Result<String, &'static str> {
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let rest = if let Some(r) = s.strip_prefix('+') {
        r
    } else if let Some(r) = s.strip_prefix("00") {
        r
    } else {
        return Err("no country code (start with + or 00)");
    };
    if !rest.chars().all(|c| c.is_ascii_digit()) {
        return Err("not a digit");
    }
    if rest.starts_with('0') {
        return Err("country code cannot start with 0");
    }
    if rest.len() < 7 {
        return Err("too short (at least 7 digits)");
    }
    if rest.len() > 15 {
        return Err("more than 15 digits (E.164)");
    }
    Ok(format!("+{rest}"))
}
