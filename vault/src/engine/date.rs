//! Calendar dates for identifier validation: a date is valid, and what today is.

/// A calendar date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Full year, e.g. 2003.
    pub year: i32,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` of `year`; 0 for a month outside 1–12.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A date if it exists.
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        (day >= 1 && day <= days_in_month(year, month)).then_some(Self { year, month, day })
    }

    /// Completed years from `self` (a birth date) to `today`; 0 for a date in the future.
    pub fn years_until(self, today: Self) -> u32 {
        let before_birthday = (today.month, today.day) < (self.month, self.day);
        let years = today.year - self.year - i32::from(before_birthday);
        u32::try_from(years).unwrap_or(0)
    }

    /// The UTC date of a Unix time in milliseconds (Howard Hinnant's civil-from-days).
    pub fn from_unix_ms(ms: i64) -> Self {
        let days = ms.div_euclid(86_400_000);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_years() {
        let born = Date {
            year: 2010,
            month: 3,
            day: 15,
        };
        let on = |year, month, day| born.years_until(Date { year, month, day });
        assert_eq!(on(2026, 3, 14), 15);
        assert_eq!(on(2026, 3, 15), 16);
        assert_eq!(on(2026, 12, 1), 16);
        assert_eq!(on(2009, 1, 1), 0);
    }

    #[test]
    fn validity_and_leap_years() {
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(1981, 2, 30).is_none());
        assert!(Date::new(1981, 13, 1).is_none());
        assert!(Date::new(1981, 4, 31).is_none());
    }

    #[test]
    fn from_unix_ms() {
        assert_eq!(
            Date::from_unix_ms(0),
            Date {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        // 2026-11-23T00:00:00Z
        assert_eq!(
            Date::from_unix_ms(1_795_392_000_000),
            Date {
                year: 2026,
                month: 11,
                day: 23
            }
        );
        assert_eq!(
            Date::from_unix_ms(951_782_400_000),
            Date {
                year: 2000,
                month: 2,
                day: 29
            }
        );
    }
}
