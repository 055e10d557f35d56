//! Dates as `i32` day numbers (days since 1970-01-01) and fast parsing of common date forms.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};

/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Day number (days since 1970-01-01) of a chrono date.
pub(crate) fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_DAYS_FROM_CE
}

/// The chrono date of a day number, if it is in chrono's range.
pub(crate) fn to_date(day: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(day.checked_add(EPOCH_DAYS_FROM_CE)?)
}

/// Renders a day number as `YYYY-MM-DD` (falls back to the raw number out of range).
pub(crate) fn show_day(day: i32) -> String {
    match to_date(day) {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => format!("day {day}"),
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` if the date does not exist.
///
/// Counts whole 400-year eras (146,097 days each) from 0000-03-01, so that the leap day is the
/// last day of each shifted year.
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> Option<i32> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400); // 0..=399
    let shifted_month = (m + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + d - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year as i32;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// First year of [`MONTHS`].
const TABLE_FIRST_YEAR: i32 = 1900;
/// Years covered by [`MONTHS`].
const TABLE_YEARS: usize = 300;

/// Day number of the first day and length of every month of the years 1900 to 2199, so that
/// the usual dates need no calendar arithmetic. Built once from [`days_from_civil`].
static MONTHS: std::sync::OnceLock<Vec<(i32, u32)>> = std::sync::OnceLock::new();

fn months() -> &'static [(i32, u32)] {
    MONTHS.get_or_init(|| {
        let mut table = Vec::with_capacity(TABLE_YEARS * 12);
        for y in TABLE_FIRST_YEAR..TABLE_FIRST_YEAR + TABLE_YEARS as i32 {
            for m in 1..=12 {
                let first = days_from_civil(y, m, 1).unwrap_or(0);
                table.push((first, days_in_month(y, m)));
            }
        }
        table
    })
}

/// [`days_from_civil`], by table lookup for the years the table covers.
#[inline]
fn civil_day(y: i32, m: u32, d: u32) -> Option<i32> {
    let year = y.wrapping_sub(TABLE_FIRST_YEAR) as u32 as usize;
    if year < TABLE_YEARS && (1..=12).contains(&m) {
        let (first, len) = months()[year * 12 + m as usize - 1];
        return (1..=len).contains(&d).then(|| first + d as i32 - 1);
    }
    days_from_civil(y, m, d)
}

#[inline]
fn two_digits(b: &[u8]) -> Option<u32> {
    let (a, c) = (b[0].wrapping_sub(b'0'), b[1].wrapping_sub(b'0'));
    if a < 10 && c < 10 {
        Some(a as u32 * 10 + c as u32)
    } else {
        None
    }
}

#[inline]
fn four_digits(b: &[u8]) -> Option<i32> {
    Some((two_digits(&b[0..2])? * 100 + two_digits(&b[2..4])?) as i32)
}

/// `YYYY-MM-DD` at the start of `s` (which must have at least 10 bytes).
#[inline]
fn iso_date_prefix(s: &[u8]) -> Option<i32> {
    if s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    civil_day(
        four_digits(&s[0..4])?,
        two_digits(&s[5..7])?,
        two_digits(&s[8..10])?,
    )
}

/// Whether `t` is a time of day as written after the `T` of an ISO date-time:
/// `HH:MM[:SS[.fff]]` then optionally `Z` or an offset `±HH[:MM]` / `±HHMM`.
fn is_iso_time(t: &[u8]) -> bool {
    fn hh_mm(t: &[u8]) -> Option<&[u8]> {
        if t.len() < 5 || t[2] != b':' || two_digits(&t[0..2])? > 23 || two_digits(&t[3..5])? > 59 {
            return None;
        }
        Some(&t[5..])
    }
    let Some(mut rest) = hh_mm(t) else {
        return false;
    };
    if rest.first() == Some(&b':') {
        if rest.len() < 3 || !matches!(two_digits(&rest[1..3]), Some(s) if s <= 60) {
            return false;
        }
        rest = &rest[3..];
        if matches!(rest.first(), Some(b'.') | Some(b',')) {
            let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return false;
            }
            rest = &rest[1 + digits..];
        }
    }
    match rest {
        [] | [b'Z'] | [b'z'] => true,
        [b'+' | b'-', off @ ..] => match off.len() {
            2 => two_digits(off).is_some_and(|h| h <= 23),
            4 => {
                two_digits(&off[0..2]).is_some_and(|h| h <= 23)
                    && two_digits(&off[2..4]).is_some_and(|m| m <= 59)
            }
            5 => hh_mm(off).is_some_and(|r| r.is_empty()),
            _ => false,
        },
        _ => false,
    }
}

/// Parses `YYYY-MM-DD`, `YYYYMMDD`, or an ISO date-time (`YYYY-MM-DDTHH:MM:SS` or with a space,
/// optional fractional seconds and optional `Z` / `±HH:MM` offset) into a day number. The time
/// of day and the offset are ignored: the calendar date as written is used.
#[inline]
pub(crate) fn parse_auto(s: &[u8]) -> Option<i32> {
    match s.len() {
        8 => civil_day(
            four_digits(&s[0..4])?,
            two_digits(&s[4..6])?,
            two_digits(&s[6..8])?,
        ),
        10 => iso_date_prefix(s),
        n if n > 10 => {
            if matches!(s[10], b'T' | b't' | b' ') && is_iso_time(&s[11..]) {
                iso_date_prefix(s)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Parses with a chrono strftime pattern: first as a date, then as a date-time (taking its date),
/// then as a date-time with an offset (taking the local calendar date as written).
pub(crate) fn parse_with_format(s: &str, fmt: &str) -> Option<i32> {
    if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
        return Some(day_number(d));
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
        return Some(day_number(dt.date()));
    }
    if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
        return Some(day_number(dt.naive_local().date()));
    }
    None
}

/// Whether a strftime pattern is well formed.
pub(crate) fn is_valid_format(fmt: &str) -> bool {
    !chrono::format::StrftimeItems::new(fmt).any(|item| matches!(item, chrono::format::Item::Error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_agrees_with_chrono_over_many_years() {
        let mut date = NaiveDate::from_ymd_opt(1599, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2401, 12, 31).unwrap();
        while date <= end {
            let ours = days_from_civil(date.year(), date.month(), date.day());
            assert_eq!(ours, Some(day_number(date)), "{date}");
            date = date.succ_opt().unwrap();
        }
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(to_date(0), NaiveDate::from_ymd_opt(1970, 1, 1));
    }

    #[test]
    fn table_lookup_agrees_with_calendar_arithmetic_for_every_day_and_invalid_days() {
        for y in [
            1583, 1899, 1900, 1970, 2000, 2024, 2100, 2199, 2200, 9999, -5,
        ] {
            for m in 0..=13 {
                for d in 0..=32 {
                    assert_eq!(civil_day(y, m, d), days_from_civil(y, m, d), "{y}-{m}-{d}");
                }
            }
        }
        let mut date = NaiveDate::from_ymd_opt(1899, 1, 1).unwrap();
        while date.year() < 2201 {
            let ours = civil_day(date.year(), date.month(), date.day());
            assert_eq!(ours, Some(day_number(date)), "{date}");
            date = date.succ_opt().unwrap();
        }
    }

    #[test]
    fn rejects_impossible_calendar_dates() {
        assert_eq!(parse_auto(b"2023-02-29"), None);
        assert!(parse_auto(b"2024-02-29").is_some());
        assert_eq!(parse_auto(b"1900-02-29"), None);
        assert!(parse_auto(b"2000-02-29").is_some());
        assert_eq!(parse_auto(b"2024-13-01"), None);
        assert_eq!(parse_auto(b"2024-04-31"), None);
        assert_eq!(parse_auto(b"20240100"), None);
        assert_eq!(parse_auto(b"2024/01/01"), None);
        assert_eq!(parse_auto(b"2024-1-01"), None);
        assert_eq!(parse_auto(b"+2024-01-1"), None);
        assert_eq!(parse_auto(b""), None);
    }

    #[test]
    fn parses_plain_and_iso_date_time_forms_to_the_written_calendar_date() {
        let day = days_from_civil(2024, 3, 9).unwrap();
        for s in [
            "2024-03-09",
            "20240309",
            "2024-03-09T23:59:59",
            "2024-03-09 00:00:00",
            "2024-03-09T10:11",
            "2024-03-09T10:11:12.123456",
            "2024-03-09T10:11:12,5",
            "2024-03-09T23:30:00Z",
            "2024-03-09T23:30:00+05:30",
            "2024-03-09T23:30:00-0800",
            "2024-03-09T23:30:00-08",
        ] {
            assert_eq!(parse_auto(s.as_bytes()), Some(day), "{s}");
        }
        for s in [
            "2024-03-09T",
            "2024-03-09T24:00:00",
            "2024-03-09T10:60",
            "2024-03-09T10:11:12.",
            "2024-03-09T10:11:12+5",
            "2024-03-09X10:11:12",
            "2024-03-09 foo",
            "2024-03-09T10:11:12ZZ",
        ] {
            assert_eq!(parse_auto(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn custom_formats_parse_dates_and_date_times() {
        let day = days_from_civil(2024, 3, 9).unwrap();
        assert_eq!(parse_with_format("09/03/2024", "%d/%m/%Y"), Some(day));
        assert_eq!(
            parse_with_format("09/03/2024 13:45", "%d/%m/%Y %H:%M"),
            Some(day)
        );
        assert_eq!(
            parse_with_format("2024-03-09 23:00 +0100", "%Y-%m-%d %H:%M %z"),
            Some(day)
        );
        assert_eq!(parse_with_format("31/02/2024", "%d/%m/%Y"), None);
        assert!(is_valid_format("%d/%m/%Y"));
        assert!(!is_valid_format("%Q"));
    }
}
