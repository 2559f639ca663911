//! Swedish personnummer and samordningsnummer (Skatteverket SKV 704 and SKV 707).

use super::digits::{digits, two};
use crate::engine::date::Date;

/// Normal form: `YYYYMMDDNNNC`, 12 digits; samordningsnummer keep their day + 60.
pub(super) fn normalise(raw: &str, today: Date) -> Result<(String, Date), &'static str> {
    let s = raw.trim();
    if !s.is_ascii() {
        return Err("not a digit");
    }
    let (body, century, plus) = match s.len() {
        12 => (s.to_owned(), Some(&s[..2]), false),
        13 if s.is_char_boundary(8) && matches!(&s[8..9], "-" | "+") => {
            (format!("{}{}", &s[..8], &s[9..]), Some(&s[..2]), false)
        }
        10 => (s.to_owned(), None, false),
        11 if s.is_char_boundary(6) && matches!(&s[6..7], "-" | "+") => {
            (format!("{}{}", &s[..6], &s[7..]), None, &s[6..7] == "+")
        }
        _ => return Err("length (10 or 12 digits, optionally with a separator)"),
    };
    let d = digits(&body).ok_or("not a digit")?;
    let ten = &d[d.len() - 10..];
    let (yy, month, raw_day) = (two(&ten[0..2]), two(&ten[2..4]), two(&ten[4..6]));
    let day = if raw_day > 60 { raw_day - 60 } else { raw_day };
    if !(1..=12).contains(&month) {
        return Err("month");
    }
    let year = match century {
        Some(c) => i32::try_from(digits(c).map(|c| two(&c)).unwrap_or(0) * 100 + yy).unwrap_or(0),
        None => {
            // The most recent century in which the date is not in the future; `+` adds 100 years.
            let base = today.year - today.year.rem_euclid(100);
            let mut year = base + i32::try_from(yy).unwrap_or(0);
            if (year, month, day) > (today.year, today.month, today.day) {
                year -= 100;
            }
            if plus { year - 100 } else { year }
        }
    };
    let date = Date::new(year, month, day).ok_or("day (no such date)")?;
    if !luhn_ok(ten) {
        return Err("check digit");
    }
    Ok((format!("{year:04}{}", &body[body.len() - 8..]), date))
}

/// Luhn over the ten digits YYMMDDNNNC.
fn luhn_ok(ten: &[u32]) -> bool {
    luhn_check_digit(&ten[..9]) == ten[9]
}

/// The Luhn check digit for nine digits YYMMDDNNN (used by the format-preserving scheme).
pub(crate) fn luhn_check_digit(nine: &[u32]) -> u32 {
    let sum: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}
