//! The reserved part of each national identifier's space, where `format-preserving` pseudonyms
//! live, so that a pseudonym has the shape legacy systems check (check digits, a calendar date
//! underneath, a century consistent with the individual number) and can never be a real
//! person's number.
//!
//! A space is a numbered set: `encode(index)` turns an index below [`Space::bound`] into the
//! pseudonym text, or `None` for an index outside the set (its date part does not exist, or
//! its check digits do not). The format-preserving scheme walks an FF1 permutation of
//! `0..bound` (see `scheme`), so each allocated serial number lands on a distinct member.
//!
//! | kind | reserved part | why nobody has it | members |
//! | --- | --- | --- | --- |
//! | `no-fodselsnummer` | month + 80 (Skatteetaten's synthetic population), dates 1900–1999, individual numbers 000–499 | the tax administration marks synthetic test persons with +80 on the month; no real person's number has a month above 52 (H-numbers add 40) | 15,092,574 |
//! | `fi-hetu` | individual numbers 900–999, dates 1900–1999, separator `-` | DVV issues 002–899; 900–999 are for temporary identifiers that are never entered in the population register | 3,652,400 |
//! | `dk-cpr` | day + 60, dates 1900–1999, 7th digit 0–3 | the CPR never has a day above 31: a marked number, not a reserved range (Denmark reserves none) | 146,096,000 |
//!
//! Swedish personnummer and phone numbers have no such part (every valid-shaped value can be
//! issued), so the scheme is refused for them.

use super::{date::Date, identifier::IdentifierKind};

/// Days from 1900-01-01 to 1999-12-31 inclusive.
const DAYS_1900S: u64 = 36_524;
/// 1900-01-01 in days since 1970-01-01.
const DAY_1900_01_01: i64 = -25_567;

/// A kind's reserved space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    kind: IdentifierKind,
    /// Decimal digits of the permuted index (`bound` = 10^digits).
    digits: u32,
    /// Serial values per calendar date.
    per_day: u64,
}

/// The reserved space of `kind`, if it has one.
pub fn space(kind: IdentifierKind) -> Option<Space> {
    let (digits, per_day) = match kind {
        IdentifierKind::NoFodselsnummer => (8, 500),
        IdentifierKind::FiHetu => (7, 100),
        IdentifierKind::DkCpr => (9, 4_000),
        IdentifierKind::SePersonnummer
        | IdentifierKind::Phone
        | IdentifierKind::Opaque
        | IdentifierKind::Email => return None,
    };
    Some(Space {
        kind,
        digits,
        per_day,
    })
}

fn date_of(day_index: u64) -> Date {
    let days = DAY_1900_01_01 + i64::try_from(day_index).unwrap_or(0);
    Date::from_unix_ms(days * 86_400_000)
}

fn two(n: u32) -> String {
    format!("{:02}", n % 100)
}

impl Space {
    /// Decimal digits of an index (the FF1 numeral string's length; at least 6, so FF1's domain
    /// is at least 10^6 as NIST SP 800-38G requires).
    pub fn digits(self) -> u32 {
        self.digits
    }

    /// Indexes run below this (10^digits).
    pub fn bound(self) -> u64 {
        10u64.pow(self.digits)
    }

    /// The pseudonym at `index`, or `None` when the index is not a member.
    pub fn encode(self, index: u64) -> Option<String> {
        let (day, serial) = (index / self.per_day, index % self.per_day);
        if day >= DAYS_1900S {
            return None;
        }
        let date = date_of(day);
        let (dd, mm, yy) = (date.day, date.month, u32::try_from(date.year % 100).ok()?);
        let serial = u32::try_from(serial).ok()?;
        match self.kind {
            IdentifierKind::NoFodselsnummer => {
                let nine = format!("{}{}{}{serial:03}", two(dd), two(mm + 80), two(yy));
                let d: Vec<u32> = nine.chars().filter_map(|c| c.to_digit(10)).collect();
                let (k1, k2) = super::identifier::no_check_digits(&d)?;
                Some(format!("{nine}{k1}{k2}"))
            }
            IdentifierKind::FiHetu => {
                let nine = format!("{}{}{}{}", two(dd), two(mm), two(yy), 900 + serial);
                let check = char::from(super::identifier::hetu_check_char(&nine));
                Some(format!("{}-{}{check}", &nine[..6], &nine[6..]))
            }
            IdentifierKind::DkCpr => {
                Some(format!("{}{}{}{serial:04}", two(dd + 60), two(mm), two(yy)))
            }
            _ => None,
        }
    }

    /// How many indexes below the bound are members (the most pseudonyms a domain can hold).
    pub fn members(self) -> u64 {
        match self.kind {
            // Counted once (see the test): the share of (date, individual number) pairs whose
            // two check digits exist.
            IdentifierKind::NoFodselsnummer => 15_092_574,
            _ => DAYS_1900S * self.per_day,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_space_is_large_enough_and_counted_right() {
        for kind in [
            IdentifierKind::NoFodselsnummer,
            IdentifierKind::FiHetu,
            IdentifierKind::DkCpr,
        ] {
            let s = space(kind).unwrap();
            assert!(s.digits() >= 6);
            assert!(s.members() >= 1_000_000, "{kind:?}");
            assert!(s.members() <= s.bound());
            assert!(DAYS_1900S * s.per_day <= s.bound());
        }
        let no = space(IdentifierKind::NoFodselsnummer).unwrap();
        let members = (0..DAYS_1900S * no.per_day)
            .filter(|i| no.encode(*i).is_some())
            .count() as u64;
        assert_eq!(members, no.members());
        for kind in [IdentifierKind::SePersonnummer, IdentifierKind::Phone] {
            assert_eq!(space(kind), None);
        }
    }

    #[test]
    fn the_ends_of_each_space() {
        let fi = space(IdentifierKind::FiHetu).unwrap();
        assert_eq!(fi.encode(0).as_deref(), Some("010100-900F"));
        assert_eq!(fi.encode(3_652_399).as_deref(), Some("311299-999E"));
        assert_eq!(fi.encode(3_652_400), None);
        let dk = space(IdentifierKind::DkCpr).unwrap();
        assert_eq!(dk.encode(0).as_deref(), Some("6101000000"));
        assert_eq!(dk.encode(146_095_999).as_deref(), Some("9112993999"));
        let no = space(IdentifierKind::NoFodselsnummer).unwrap();
        let first = (0..100).find_map(|i| no.encode(i)).unwrap_or_default();
        assert_eq!(&first[..6], "018100");
    }
}
