//! Danish CPR numbers: DDMMYY-SSSS with a valid date. The modulus-11 check is not applied:
//! CPR numbers issued since 2007 need not satisfy it.

use super::digits::{digits, two};
use crate::engine::date::Date;

/// Normal form: the 10 digits without separator.
pub(super) fn normalise(raw: &str) -> Result<(String, Date), &'static str> {
    let s = raw.trim();
    if !s.is_ascii() {
        return Err("not a digit");
    }
    let body = match s.len() {
        10 if !s.contains('-') => s.to_owned(),
        11 if s.is_char_boundary(6) && &s[6..7] == "-" => format!("{}{}", &s[..6], &s[7..]),
        _ => return Err("length (10 digits, optionally DDMMYY-SSSS)"),
    };
    let d = digits(&body).ok_or("not a digit")?;
    let (day, month) = (two(&d[0..2]), two(&d[2..4]));
    let yy = i32::try_from(two(&d[4..6])).unwrap_or(0);
    // Century from the first digit of the sequence number (CPR office rules).
    let year = match d[6] {
        0..=3 => 1900 + yy,
        4 | 9 => {
            if yy <= 36 {
                2000 + yy
            } else {
                1900 + yy
            }
        }
        _ => {
            if yy <= 57 {
                2000 + yy
            } else {
                1800 + yy
            }
        }
    };
    if !(1..=31).contains(&day) {
        return Err("day");
    }
    if !(1..=12).contains(&month) {
        return Err("month");
    }
    let date = Date::new(year, month, day).ok_or("day (no such date)")?;
    Ok((body, date))
}
