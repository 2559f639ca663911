//! Names of tenants, domains, purposes and principals: one rule, checked in one place.

/// Checks a name: 1–63 characters of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or digit.
/// Returns the rule broken, for an INVALID_ARGUMENT message.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.len() > 63 {
        return Err("at most 63 characters");
    }
    let mut chars = name.chars();
    if !chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err("must start with a-z or 0-9");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err("only a-z, 0-9, '.', '_' and '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("patients.research").is_ok());
        assert!(check_name("a").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("Patients").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"a".repeat(64)).is_err());
    }
}
