//! Finnish henkilötunnus (HETU): DDMMYY, century sign, individual number, check character.

use super::digits::{digits, two};
use crate::engine::date::Date;

pub(crate) const CHECK_CHARS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

fn century(sign: char) -> Option<i32> {
    match sign {
        '+' => Some(1800),
        '-' | 'Y' | 'X' | 'W' | 'V' | 'U' => Some(1900),
        'A' | 'B' | 'C' | 'D' | 'E' | 'F' => Some(2000),
        _ => None,
    }
}

/// Normal form: upper case, 11 characters.
pub(super) fn normalise(raw: &str) -> Result<(String, Date), &'static str> {
    let s = raw.trim().to_ascii_uppercase();
    if s.chars().count() != 11 || !s.is_ascii() {
        return Err("length (11 characters DDMMYYCZZZQ)");
    }
    let sign = s.chars().nth(6).unwrap_or(' ');
    let base = century(sign).ok_or("century sign")?;
    let nine = format!("{}{}", &s[..6], &s[7..10]);
    let d = digits(&nine).ok_or("not a digit")?;
    let (day, month) = (two(&d[0..2]), two(&d[2..4]));
    let year = base + i32::try_from(two(&d[4..6])).unwrap_or(0);
    let date = Date::new(year, month, day).ok_or("date (no such date)")?;
    if d[6] * 100 + d[7] * 10 + d[8] < 2 {
        return Err("individual number (002-999)");
    }
    if s.as_bytes()[10] != check_char(&nine) {
        return Err("check character");
    }
    Ok((s, date))
}

/// The check character for the nine digits DDMMYYZZZ.
pub(crate) fn check_char(nine: &str) -> u8 {
    let n: u64 = nine.parse().unwrap_or(0);
    CHECK_CHARS[usize::try_from(n % 31).unwrap_or(0)]
}
