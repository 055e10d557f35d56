//! Calendar months (`YYYY-MM`), the unit of every month-end snapshot.

use chrono::{Datelike, NaiveDate};
use std::fmt;
use std::str::FromStr;

/// A calendar month such as 2024-01, stored as a month count (`year × 12 + month − 1`) so that
/// months compare and subtract like integers.
///
/// ```
/// use northstar_saas::Month;
/// let jan: Month = "2024-01".parse()?;
/// assert_eq!(jan.offset(-1).to_string(), "2023-12");
/// assert_eq!(jan.offset(13).months_since(jan), 13);
/// assert_eq!(jan.last_day().to_string(), "2024-01-31");
/// # Ok::<(), northstar_saas::ParseMonthError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(i32);

/// Earliest and latest years accepted (four-digit years).
const MIN_YEAR: i32 = 1;
const MAX_YEAR: i32 = 9999;

impl Month {
    /// The month `month` (1–12) of `year` (1–9999), or `None` outside that range.
    ///
    /// ```
    /// use northstar_saas::Month;
    /// assert_eq!(Month::new(2024, 2).unwrap().to_string(), "2024-02");
    /// assert!(Month::new(2024, 13).is_none());
    /// ```
    pub fn new(year: i32, month: u32) -> Option<Month> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        Some(Month(year * 12 + month as i32 - 1))
    }

    /// The month a date falls in.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use northstar_saas::Month;
    /// let d = NaiveDate::from_ymd_opt(2024, 3, 15).unwrap();
    /// assert_eq!(Month::of_date(d).to_string(), "2024-03");
    /// ```
    pub fn of_date(date: NaiveDate) -> Month {
        Month(date.year() * 12 + date.month0() as i32)
    }

    /// Internal: from a month count, as produced by [`Month::index`].
    pub(crate) fn from_index(index: i32) -> Month {
        Month(index)
    }

    /// Internal: the month count `year × 12 + month − 1`.
    pub(crate) fn index(self) -> i32 {
        self.0
    }

    /// The year.
    ///
    /// ```
    /// assert_eq!("2024-07".parse::<northstar_saas::Month>().unwrap().year(), 2024);
    /// ```
    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }

    /// The month of the year, 1–12.
    ///
    /// ```
    /// assert_eq!("2024-07".parse::<northstar_saas::Month>().unwrap().month(), 7);
    /// ```
    pub fn month(self) -> u32 {
        self.0.rem_euclid(12) as u32 + 1
    }

    /// The month `k` months later (earlier for negative `k`).
    ///
    /// ```
    /// let m: northstar_saas::Month = "2024-11".parse().unwrap();
    /// assert_eq!(m.offset(2).to_string(), "2025-01");
    /// ```
    pub fn offset(self, k: i32) -> Month {
        Month(self.0 + k)
    }

    /// Whole months from `earlier` to `self` (negative if `self` is earlier).
    ///
    /// ```
    /// let a: northstar_saas::Month = "2023-11".parse().unwrap();
    /// let b: northstar_saas::Month = "2024-02".parse().unwrap();
    /// assert_eq!(b.months_since(a), 3);
    /// ```
    pub fn months_since(self, earlier: Month) -> i32 {
        self.0 - earlier.0
    }

    /// The first day of the month.
    ///
    /// ```
    /// let m: northstar_saas::Month = "2024-02".parse().unwrap();
    /// assert_eq!(m.first_day().to_string(), "2024-02-01");
    /// ```
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year(), self.month(), 1).unwrap_or(NaiveDate::MIN)
    }

    /// The last day of the month: the day its month-end snapshot is taken.
    ///
    /// ```
    /// let m: northstar_saas::Month = "2024-02".parse().unwrap();
    /// assert_eq!(m.last_day().to_string(), "2024-02-29");
    /// ```
    pub fn last_day(self) -> NaiveDate {
        let day = days_in_month(self.year(), self.month());
        NaiveDate::from_ymd_opt(self.year(), self.month(), day).unwrap_or(NaiveDate::MAX)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A month that is not written `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid month {0:?}; expected YYYY-MM, for example 2024-01")]
pub struct ParseMonthError(pub String);

impl FromStr for Month {
    type Err = ParseMonthError;

    /// Parses `YYYY-MM`.
    fn from_str(s: &str) -> Result<Month, ParseMonthError> {
        parse_month(s.trim().as_bytes()).ok_or_else(|| ParseMonthError(s.to_string()))
    }
}

/// Parses `YYYY-MM` exactly.
pub(crate) fn parse_month(b: &[u8]) -> Option<Month> {
    if b.len() != 7 || b[4] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    Month::new(year, month)
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    Some(v)
}

pub(crate) fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A calendar day as (year, month, day), ordered like the dates.
pub(crate) type Ymd = (i32, u32, u32);

/// Parses an ISO date `YYYY-MM-DD`, optionally followed by `T` or a space and a time of day
/// (dropped). Returns `None` if the text is not such a date or the day does not exist.
#[inline]
pub(crate) fn parse_iso_date(b: &[u8]) -> Option<Ymd> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    if b.len() > 10 && b[10] != b'T' && b[10] != b' ' {
        return None;
    }
    let y = digits(&b[0..4])? as i32;
    let m = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    if y < MIN_YEAR || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

/// The month count of a parsed date.
#[inline]
pub(crate) fn month_index(ymd: Ymd) -> i32 {
    ymd.0 * 12 + ymd.1 as i32 - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_months() {
        let m: Month = "2024-01".parse().unwrap();
        assert_eq!((m.year(), m.month()), (2024, 1));
        assert_eq!(m.to_string(), "2024-01");
        assert_eq!(m.offset(-1).to_string(), "2023-12");
        assert!("2024-1".parse::<Month>().is_err());
        assert!("2024-00".parse::<Month>().is_err());
        assert!("2024-13".parse::<Month>().is_err());
        assert!("24-01-01".parse::<Month>().is_err());
    }

    #[test]
    fn parses_iso_dates_and_rejects_impossible_days() {
        assert_eq!(parse_iso_date(b"2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_iso_date(b"2023-02-29"), None);
        assert_eq!(parse_iso_date(b"2024-04-31"), None);
        assert_eq!(parse_iso_date(b"2024-01-15T10:00:00Z"), Some((2024, 1, 15)));
        assert_eq!(parse_iso_date(b"2024-01-15 10:00"), Some((2024, 1, 15)));
        assert_eq!(parse_iso_date(b"2024-01-15x"), None);
        assert_eq!(parse_iso_date(b"15/01/2024"), None);
        assert_eq!(parse_iso_date(b"2024-1-15"), None);
    }

    #[test]
    fn last_day_handles_leap_years() {
        assert_eq!(
            "2023-02".parse::<Month>().unwrap().last_day().to_string(),
            "2023-02-28"
        );
        assert_eq!(
            "2000-02".parse::<Month>().unwrap().last_day().to_string(),
            "2000-02-29"
        );
        assert_eq!(
            "1900-02".parse::<Month>().unwrap().last_day().to_string(),
            "1900-02-28"
        );
    }
}
