//! A streaming reader of product-usage event files (`customer_id,user_id,timestamp,event` plus
//! the optional `feature`, `session_id` and `duration_seconds`).
//!
//! Rows are handed to a callback one at a time as borrowed [`EventRecord`]s, so memory stays
//! constant whatever the file size. Timestamps become milliseconds since the Unix epoch (UTC).

use std::path::Path;

use crate::date::days_from_civil;
use crate::error::{show, ColumnInfo, DataError, InputError, InputErrorKind};
use crate::format::Delimiter;
use crate::records::{trim, Record, Records};
use crate::scan::utf8_error;

/// Milliseconds in one day.
const DAY_MS: i64 = 86_400_000;

/// The timestamp forms accepted, for error messages.
const TIMESTAMP_FORMS: &str = "an ISO date-time in UTC such as 2024-03-01T12:00:00Z, \
2024-03-01T12:00:00.250, 2024-03-01 12:00:00 or 2024-03-01T13:00:00+01:00 (offsets are \
converted to UTC), or a date 2024-03-01 (midnight UTC)";

/// One row of an events file, borrowed from the reader's buffer.
///
/// Empty optional cells (and optional columns the file does not have) read as `None`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRecord<'a> {
    /// The account the user belongs to.
    pub customer_id: &'a str,
    /// The user who caused the event.
    pub user_id: &'a str,
    /// When the event happened: milliseconds since 1970-01-01T00:00:00Z.
    pub timestamp_ms: i64,
    /// The event name (for example `login`, `limit_hit`, `locked_feature_click`).
    pub event: &'a str,
    /// The product feature the event used, if any.
    pub feature: Option<&'a str>,
    /// The client's session id, if the event carries one.
    pub session_id: Option<&'a str>,
    /// A duration reported with the event, in seconds (finite, not negative).
    pub duration_seconds: Option<f64>,
}

/// Column positions of one events file.
struct Columns {
    names: Vec<String>,
    customer: usize,
    user: usize,
    timestamp: usize,
    event: usize,
    feature: Option<usize>,
    session: Option<usize>,
    duration: Option<usize>,
}

impl Columns {
    fn info(&self, index: usize) -> ColumnInfo {
        ColumnInfo {
            name: Some(self.names[index].clone()),
            position: index + 1,
        }
    }
}

/// The required columns, in the order the error messages list them.
const REQUIRED: [&str; 4] = ["customer_id", "user_id", "timestamp", "event"];

/// Streams the events CSV at `path`, calling `each` once per data row in file order; returns
/// the number of data rows read.
///
/// The first non-blank row is the header; columns are found by name, in any order, and other
/// columns are ignored. Cells are trimmed of surrounding whitespace. An error from `each` stops
/// the reading and is returned as is.
///
/// Errors ([`DataError::Input`]) name the file, line and column: an empty file or a file with a
/// header only, a missing required column (listing the header that was found), a row with a
/// different number of fields than the header, a cell that is not UTF-8, an empty customer or
/// user id, a timestamp that is not one of the accepted forms, and a `duration_seconds` that is
/// not a finite number ≥ 0.
///
/// ```
/// use northstar_data::for_each_event;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("events.csv");
/// std::fs::write(
///     &path,
///     "customer_id,user_id,timestamp,event,feature\n\
///      acme,u1,2024-03-01T12:00:00Z,login,\n\
///      acme,u2,2024-03-02,export,reports\n",
/// )
/// .unwrap();
/// let mut seen = Vec::new();
/// let rows = for_each_event(&path, |e| {
///     seen.push((e.user_id.to_string(), e.timestamp_ms, e.feature.map(str::to_string)));
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(rows, 2);
/// // 2024-03-01 is day 19783 since 1970-01-01; noon adds 43,200,000 ms.
/// assert_eq!(seen[0], ("u1".to_string(), 19_783 * 86_400_000 + 43_200_000, None));
/// assert_eq!(seen[1], ("u2".to_string(), 19_784 * 86_400_000, Some("reports".to_string())));
/// ```
pub fn for_each_event(
    path: &Path,
    mut each: impl FnMut(&EventRecord<'_>) -> Result<(), DataError>,
) -> Result<u64, DataError> {
    let mut no_progress = |_| {};
    let mut records = Records::open(path, Delimiter::Comma, &mut no_progress)?;
    let mut record = Record::new();
    let Some(header_line) = records.next(&mut record)? else {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            format!(
                "the file is empty; expected a header with the columns {} (optional: feature, session_id, duration_seconds)",
                REQUIRED.join(",")
            ),
        )
        .into());
    };
    let columns = header_columns(path, header_line, &record)?;
    let width = columns.names.len();
    let mut rows = 0u64;
    while let Some(line) = records.next(&mut record)? {
        if record.len() != width {
            return Err(InputError::new(
                InputErrorKind::RaggedRow,
                path,
                format!(
                    "found {} field{}, expected {width} (as in the header on line {header_line})",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" }
                ),
            )
            .at_line(line)
            .into());
        }
        let event = parse_row(path, line, &columns, &record)?;
        rows += 1;
        each(&event)?;
    }
    if rows == 0 {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            format!("the file has a header (line {header_line}) but no data rows"),
        )
        .into());
    }
    Ok(rows)
}

fn header_columns(path: &Path, header_line: u64, record: &Record) -> Result<Columns, DataError> {
    let names: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
        .collect();
    let find = |name: &str| names.iter().position(|n| n == name);
    let mut required = [0usize; 4];
    for (slot, name) in required.iter_mut().zip(REQUIRED) {
        *slot = find(name).ok_or_else(|| {
            DataError::from(
                InputError::new(
                    InputErrorKind::MissingColumn,
                    path,
                    format!(
                        "no column named '{name}' in the header \"{}\"; expected the columns {} (optional: feature, session_id, duration_seconds)",
                        show(names.join(",").as_bytes()),
                        REQUIRED.join(",")
                    ),
                )
                .at_line(header_line),
            )
        })?;
    }
    Ok(Columns {
        customer: required[0],
        user: required[1],
        timestamp: required[2],
        event: required[3],
        feature: find("feature"),
        session: find("session_id"),
        duration: find("duration_seconds"),
        names,
    })
}

#[inline]
fn parse_row<'r>(
    path: &Path,
    line: u64,
    columns: &Columns,
    record: &'r Record,
) -> Result<EventRecord<'r>, DataError> {
    let text = |index: usize| -> Result<&'r str, DataError> {
        let bytes = trim(&record[index]);
        std::str::from_utf8(bytes)
            .map_err(|_| utf8_error(path, line, columns.info(index), bytes).into())
    };
    let optional = |index: Option<usize>| -> Result<Option<&'r str>, DataError> {
        match index {
            Some(index) => Ok(Some(text(index)?).filter(|s| !s.is_empty())),
            None => Ok(None),
        }
    };
    let customer_id = text(columns.customer)?;
    if customer_id.is_empty() {
        return Err(empty_id(path, line, columns.info(columns.customer), "customer").into());
    }
    let user_id = text(columns.user)?;
    if user_id.is_empty() {
        return Err(empty_id(path, line, columns.info(columns.user), "user").into());
    }
    let stamp = trim(&record[columns.timestamp]);
    let timestamp_ms = parse_timestamp_ms(stamp)
        .ok_or_else(|| timestamp_error(path, line, columns.info(columns.timestamp), stamp))?;
    let event = text(columns.event)?;
    let feature = optional(columns.feature)?;
    let session_id = optional(columns.session)?;
    let duration_seconds = match columns.duration {
        None => None,
        Some(index) => {
            let bytes = trim(&record[index]);
            if bytes.is_empty() {
                None
            } else {
                let value = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|v| v.is_finite() && *v >= 0.0);
                Some(value.ok_or_else(|| duration_error(path, line, columns.info(index), bytes))?)
            }
        }
    };
    Ok(EventRecord {
        customer_id,
        user_id,
        timestamp_ms,
        event,
        feature,
        session_id,
        duration_seconds,
    })
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    let mut n = 0u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + d as u32;
    }
    Some(n)
}

/// Parses a timestamp into milliseconds since the Unix epoch (UTC).
///
/// Accepts `YYYY-MM-DD` (midnight UTC) and `YYYY-MM-DD[T| ]HH:MM[:SS[.f…]]` followed by nothing
/// (UTC), `Z`, or an offset `±HH:MM`, `±HHMM` or `±HH`, which is subtracted to give UTC.
/// Fractional seconds beyond milliseconds are truncated.
pub(crate) fn parse_timestamp_ms(s: &[u8]) -> Option<i64> {
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let day = days_from_civil(
        digits(&s[0..4])? as i32,
        digits(&s[5..7])?,
        digits(&s[8..10])?,
    )?;
    let midnight = day as i64 * DAY_MS;
    if s.len() == 10 {
        return Some(midnight);
    }
    if !matches!(s[10], b'T' | b't' | b' ') {
        return None;
    }
    let t = &s[11..];
    if t.len() < 5 || t[2] != b':' {
        return None;
    }
    let (hour, minute) = (digits(&t[0..2])?, digits(&t[3..5])?);
    if hour > 23 || minute > 59 {
        return None;
    }
    let mut ms = (hour as i64 * 60 + minute as i64) * 60_000;
    let mut rest = &t[5..];
    if rest.first() == Some(&b':') {
        if rest.len() < 3 {
            return None;
        }
        let second = digits(&rest[1..3])?;
        if second > 59 {
            return None;
        }
        ms += second as i64 * 1000;
        rest = &rest[3..];
        if matches!(rest.first(), Some(b'.' | b',')) {
            let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let mut frac = 0i64;
            for i in 0..3 {
                frac *= 10;
                if i < n {
                    frac += (rest[1 + i] - b'0') as i64;
                }
            }
            ms += frac;
            rest = &rest[1 + n..];
        }
    }
    let offset_minutes: i64 = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), off @ ..] => {
            let (h, m) = match off.len() {
                2 => (digits(off)?, 0),
                4 => (digits(&off[0..2])?, digits(&off[2..4])?),
                5 if off[2] == b':' => (digits(&off[0..2])?, digits(&off[3..5])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = (h * 60 + m) as i64;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    Some(midnight + ms - offset_minutes * 60_000)
}

#[cold]
fn empty_id(path: &Path, line: u64, column: ColumnInfo, what: &str) -> InputError {
    InputError::new(
        InputErrorKind::EmptyCustomerId,
        path,
        format!("the {what} id is empty; expected a non-empty id"),
    )
    .at_line(line)
    .in_column(column)
}

#[cold]
fn timestamp_error(path: &Path, line: u64, column: ColumnInfo, bytes: &[u8]) -> DataError {
    InputError::new(
        InputErrorKind::InvalidDate,
        path,
        format!(
            "\"{}\" is not a valid timestamp; expected {TIMESTAMP_FORMS}",
            show(bytes)
        ),
    )
    .at_line(line)
    .in_column(column)
    .with_value(show(bytes))
    .into()
}

#[cold]
fn duration_error(path: &Path, line: u64, column: ColumnInfo, bytes: &[u8]) -> DataError {
    InputError::new(
        InputErrorKind::InvalidNumber,
        path,
        format!(
            "\"{}\" is not a valid duration; expected a number of seconds >= 0 (or an empty cell)",
            show(bytes)
        ),
    )
    .at_line(line)
    .in_column(column)
    .with_value(show(bytes))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::file;

    /// Milliseconds of a UTC date-time, computed independently with chrono.
    fn chrono_ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_milli_opt(h, mi, s, ms)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn timestamps_in_every_accepted_form_convert_to_utc_milliseconds() {
        let noon = chrono_ms(2024, 3, 1, 12, 0, 0, 0);
        for s in [
            "2024-03-01T12:00:00Z",
            "2024-03-01T12:00:00",
            "2024-03-01 12:00:00",
            "2024-03-01t12:00:00z",
            "2024-03-01T12:00",
            "2024-03-01T12:00:00+00:00",
            "2024-03-01T13:00:00+01:00",
            "2024-03-01T13:30:00+0130",
            "2024-03-01T07:00:00-05",
            "2024-03-01T07:00:00.000-05:00",
        ] {
            assert_eq!(parse_timestamp_ms(s.as_bytes()), Some(noon), "{s}");
        }
        assert_eq!(
            parse_timestamp_ms(b"2024-03-01"),
            Some(chrono_ms(2024, 3, 1, 0, 0, 0, 0))
        );
        // Fractions keep milliseconds and truncate the rest; ",5" is half a second.
        assert_eq!(
            parse_timestamp_ms(b"2024-03-01T23:59:59.9999Z"),
            Some(chrono_ms(2024, 3, 1, 23, 59, 59, 999))
        );
        assert_eq!(
            parse_timestamp_ms(b"2024-03-01T00:00:01,5"),
            Some(chrono_ms(2024, 3, 1, 0, 0, 1, 500))
        );
        assert_eq!(
            parse_timestamp_ms(b"2024-03-01T00:00:01.25"),
            Some(chrono_ms(2024, 3, 1, 0, 0, 1, 250))
        );
        // An offset can move the instant to the previous UTC day.
        assert_eq!(
            parse_timestamp_ms(b"2024-03-01T00:30:00+02:00"),
            Some(chrono_ms(2024, 2, 29, 22, 30, 0, 0))
        );
        // Before 1970 is negative.
        assert_eq!(parse_timestamp_ms(b"1969-12-31T23:59:59Z"), Some(-1000));
    }

    #[test]
    fn malformed_timestamps_are_rejected() {
        for s in [
            "",
            "2024-3-01",
            "2024/03/01",
            "20240301",
            "2024-02-30",
            "2024-03-01T",
            "2024-03-01T24:00:00",
            "2024-03-01T12:60:00",
            "2024-03-01T12:00:61",
            "2024-03-01T12:00:00.",
            "2024-03-01T12:00:00+5",
            "2024-03-01T12:00:00+24:00",
            "2024-03-01T12:00:00ZZ",
            "2024-03-01X12:00:00",
            "2024-03-01 noon",
            "yesterday!",
        ] {
            assert_eq!(parse_timestamp_ms(s.as_bytes()), None, "{s:?}");
        }
    }

    fn read(content: &str) -> Result<Vec<String>, DataError> {
        let (_dir, path) = file("events.csv", content);
        let mut out = Vec::new();
        for_each_event(&path, |e| {
            out.push(format!(
                "{}|{}|{}|{}|{:?}|{:?}|{:?}",
                e.customer_id,
                e.user_id,
                e.timestamp_ms,
                e.event,
                e.feature,
                e.session_id,
                e.duration_seconds
            ));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn columns_are_found_by_name_and_empty_optional_cells_are_absent() {
        let rows = read(
            "duration_seconds,event,session_id,timestamp,user_id,extra,customer_id,feature\n\
             12.5,login,s1,1970-01-02,u1,x, acme ,\n\
             ,export,,1970-01-01T00:00:01Z,u2,y,acme,reports\n",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                "acme|u1|86400000|login|None|Some(\"s1\")|Some(12.5)".to_string(),
                "acme|u2|1000|export|Some(\"reports\")|None|None".to_string(),
            ]
        );
        // Without the optional columns everything optional is None.
        let rows = read("customer_id,user_id,timestamp,event\na,b,1970-01-01,e\n").unwrap();
        assert_eq!(rows, vec!["a|b|0|e|None|None|None".to_string()]);
    }

    fn error(content: &[u8]) -> InputError {
        let (_dir, path) = file("events.csv", content);
        let err = for_each_event(&path, |_| Ok(())).unwrap_err();
        err.input().expect("an input error").clone()
    }

    #[test]
    fn bad_timestamp_names_line_column_and_value() {
        let err =
            error(b"customer_id,user_id,timestamp,event\na,u,2024-03-01,x\na,u,2024-13-01,x\n");
        assert_eq!(err.kind, InputErrorKind::InvalidDate);
        assert_eq!(err.line, Some(3));
        assert_eq!(
            err.column,
            Some(ColumnInfo {
                name: Some("timestamp".into()),
                position: 3
            })
        );
        assert_eq!(err.value.as_deref(), Some("2024-13-01"));
        let text = err.to_string();
        assert!(
            text.contains("events.csv: line 3, column 'timestamp' (3): \"2024-13-01\"")
                && text.contains("2024-03-01T12:00:00Z"),
            "{text}"
        );
    }

    #[test]
    fn missing_column_names_the_column_and_the_header_seen() {
        let err = error(b"customer_id,user,timestamp,event\na,u,2024-03-01,x\n");
        assert_eq!(err.kind, InputErrorKind::MissingColumn);
        assert_eq!(err.line, Some(1));
        let text = err.to_string();
        assert!(
            text.contains("'user_id'") && text.contains("\"customer_id,user,timestamp,event\""),
            "{text}"
        );
    }

    #[test]
    fn other_bad_rows_fail_with_their_kind_and_line() {
        let header = "customer_id,user_id,timestamp,event,duration_seconds\n";
        let cases: [(&[u8], InputErrorKind, Option<u64>); 7] = [
            (
                b"a,u,2024-03-01,x,-1\n",
                InputErrorKind::InvalidNumber,
                Some(2),
            ),
            (
                b"a,u,2024-03-01,x,NaN\n",
                InputErrorKind::InvalidNumber,
                Some(2),
            ),
            (
                b"a,u,2024-03-01,x,5\n ,u,2024-03-01,x,\n",
                InputErrorKind::EmptyCustomerId,
                Some(3),
            ),
            (
                b"a,,2024-03-01,x,\n",
                InputErrorKind::EmptyCustomerId,
                Some(2),
            ),
            (b"a,u,2024-03-01,x\n", InputErrorKind::RaggedRow, Some(2)),
            (
                b"Jos\xe9,u,2024-03-01,x,\n",
                InputErrorKind::InvalidUtf8,
                Some(2),
            ),
            (b"", InputErrorKind::NoData, None),
        ];
        for (rows, kind, line) in cases {
            let mut content = header.as_bytes().to_vec();
            content.extend_from_slice(rows);
            let err = error(&content);
            assert_eq!((err.kind, err.line), (kind, line), "{err}");
        }
        // A header without data rows.
        let err = error(header.as_bytes());
        assert_eq!((err.kind, err.line), (InputErrorKind::NoData, None));
        // The empty user id is named as such.
        let mut content = header.as_bytes().to_vec();
        content.extend_from_slice(b"a,,2024-03-01,x,\n");
        let text = error(&content).to_string();
        assert!(
            text.contains("column 'user_id' (2)") && text.contains("user id is empty"),
            "{text}"
        );
    }

    #[test]
    fn an_error_from_the_callback_stops_the_reading() {
        let (_dir, path) = file(
            "events.csv",
            "customer_id,user_id,timestamp,event\na,u,2024-03-01,x\na,u,2024-03-02,x\n",
        );
        let mut calls = 0;
        let err = for_each_event(&path, |_| {
            calls += 1;
            Err(DataError::Internal("stop".into()))
        })
        .unwrap_err();
        assert_eq!(calls, 1);
        assert!(matches!(err, DataError::Internal(ref s) if s == "stop"));
    }
}
