//! Norwegian fødselsnummer and D-number (day + 40): date and both mod-11 check digits.

use super::digits::{digits, two};
use crate::engine::date::Date;

const W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

fn check(d: &[u32], w: &[u32]) -> Option<u32> {
    let sum: u32 = d.iter().zip(w).map(|(a, b)| a * b).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => Some(k),
    }
}

/// Normal form: the 11 digits.
pub(super) fn normalise(raw: &str) -> Result<(String, Date), &'static str> {
    let s: String = raw.trim().chars().filter(|c| *c != ' ').collect();
    if s.chars().count() != 11 {
        return Err("length (11 digits)");
    }
    let d = digits(&s).ok_or("not a digit")?;
    let raw_day = two(&d[0..2]);
    let day = if raw_day > 40 { raw_day - 40 } else { raw_day };
    let month = two(&d[2..4]);
    let yy = i32::try_from(two(&d[4..6])).unwrap_or(0);
    let individual = d[6] * 100 + d[7] * 10 + d[8];
    let year = match individual {
        0..=499 => 1900 + yy,
        500..=749 if yy >= 54 => 1800 + yy,
        500..=999 if yy <= 39 => 2000 + yy,
        900..=999 if yy >= 40 => 1900 + yy,
        _ => return Err("individual number does not fit the year"),
    };
    let date = Date::new(year, month, day).ok_or("date (no such date)")?;
    if check(&d[..9], &W1) != Some(d[9]) {
        return Err("first check digit");
    }
    if check(&d[..10], &W2) != Some(d[10]) {
        return Err("second check digit");
    }
    Ok((s, date))
}

/// Recomputes both check digits for nine digits (format-preserving output), if they exist.
pub(crate) fn check_digits(nine: &[u32]) -> Option<(u32, u32)> {
    let k1 = check(nine, &W1)?;
    let mut ten = nine.to_vec();
    ten.push(k1);
    Some((k1, check(&ten, &W2)?))
}
