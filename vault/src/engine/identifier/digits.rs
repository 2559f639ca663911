//! Digit helpers shared by the national-ID rules.

/// ASCII digits of `s` as numbers, or `None` if any character is not a digit.
pub(super) fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars()
        .map(|c| c.to_digit(10).filter(|_| c.is_ascii_digit()))
        .collect()
}

/// Two ASCII digits as a number.
pub(super) fn two(d: &[u32]) -> u32 {
    d[0] * 10 + d[1]
}
