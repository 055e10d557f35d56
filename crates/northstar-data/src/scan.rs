//! One pass over a purchase log: header and column resolution, per-row validation, and the
//! negative-amount policy. Each valid row is handed to a callback as (customer id, day, amount).

use std::path::Path;

use crate::date;
use crate::error::{show, ColumnInfo, DataError, InputError, InputErrorKind};
use crate::format::{ColumnRef, Delimiter, NegativeAmounts, TransactionFormat};
use crate::records::{trim, Record, Records};

const DATE_EXPECTATION: &str =
    "expected YYYY-MM-DD, YYYYMMDD, an ISO date-time, or use --date-format";

/// What a scan saw, besides the rows it handed out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanStats {
    /// Data rows read (including dropped ones).
    pub rows: u64,
    /// Rows handed to the callback (not dropped).
    pub kept: u64,
    /// Earliest and latest day among kept rows.
    pub min_day: i32,
    pub max_day: i32,
}

/// Resolved column indices (0-based) and their descriptions for error messages.
struct Columns {
    customer: usize,
    date: usize,
    amount: Option<usize>,
    names: Option<Vec<String>>,
}

impl Columns {
    fn info(&self, index: usize) -> ColumnInfo {
        ColumnInfo {
            name: self.names.as_ref().and_then(|n| n.get(index).cloned()),
            position: index + 1,
        }
    }
}

/// Finds a header name: exact match first, then a unique ASCII case-insensitive match.
pub(crate) fn find_name(names: &[String], wanted: &str) -> Option<usize> {
    if let Some(i) = names.iter().position(|n| n == wanted) {
        return Some(i);
    }
    let mut matches = names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.eq_ignore_ascii_case(wanted));
    match (matches.next(), matches.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

fn list_names(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves one column reference against the header (or the first row's width).
fn resolve(
    path: &Path,
    role: &str,
    col: &ColumnRef,
    names: Option<&[String]>,
    width: usize,
    first_line: u64,
) -> Result<usize, DataError> {
    match col {
        ColumnRef::Position(p) => {
            if *p == 0 || *p > width {
                let what = if names.is_some() { "the header" } else { "the first row" };
                return Err(InputError::new(
                    InputErrorKind::ColumnOutOfRange,
                    path,
                    format!(
                        "{role} column position {p} is beyond the row width: {what} has {width} field{}; expected a position from 1 to {width}",
                        if width == 1 { "" } else { "s" }
                    ),
                )
                .at_line(first_line)
                .into());
            }
            Ok(p - 1)
        }
        ColumnRef::Name(name) => match names {
            Some(names) => find_name(names, name).ok_or_else(|| {
                DataError::from(InputError::new(
                    InputErrorKind::MissingColumn,
                    path,
                    format!(
                        "no {role} column named '{name}' in the header; available columns: {}",
                        list_names(names)
                    ),
                )
                .at_line(first_line))
            }),
            None => Err(InputError::new(
                InputErrorKind::MissingColumn,
                path,
                format!(
                    "the {role} column is given by name ('{name}') but the file has no header; give its 1-based position instead (the first row, line {first_line}, has {width} fields)"
                ),
            )
            .into()),
        },
    }
}

/// Parses an amount; `Err(None)` means "not a number", handled by the caller.
#[inline]
fn parse_amount(field: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(field).ok()?;
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Rows handed out together, so that consumers can look ahead (for example to prefetch).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    ids: Vec<u8>,
    rows: Vec<BatchRow>,
}

/// One kept row of a [`Batch`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchRow {
    id_start: usize,
    id_end: usize,
    /// Purchase day (days since 1970-01-01).
    pub day: i32,
    /// Purchase amount (0 without an amount column).
    pub amount: f64,
}

impl Batch {
    const CAPACITY: usize = 1024;

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The rows.
    pub(crate) fn rows(&self) -> &[BatchRow] {
        &self.rows
    }

    /// The customer id of a row: valid UTF-8, trimmed, not empty.
    #[inline]
    pub(crate) fn id(&self, row: &BatchRow) -> &[u8] {
        &self.ids[row.id_start..row.id_end]
    }

    fn push(&mut self, id: &[u8], day: i32, amount: f64) {
        let id_start = self.ids.len();
        self.ids.extend_from_slice(id);
        self.rows.push(BatchRow {
            id_start,
            id_end: self.ids.len(),
            day,
            amount,
        });
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.rows.clear();
    }
}

/// Reads `path` once and hands every kept row to `on_batch`, in file order, in batches. The
/// callback may take the batch's contents (for example by swapping in an empty batch).
pub(crate) fn scan(
    path: &Path,
    format: &TransactionFormat,
    on_progress: &mut dyn FnMut(u64),
    mut on_batch: impl FnMut(&mut Batch) -> Result<(), DataError>,
) -> Result<ScanStats, DataError> {
    if let Some(fmt) = &format.date_format {
        if !date::is_valid_format(fmt) {
            return Err(InputError::new(
                InputErrorKind::InvalidOption,
                path,
                format!("invalid date format {fmt:?}; expected a chrono strftime pattern such as \"%d/%m/%Y\""),
            )
            .into());
        }
    }
    let mut records = Records::open(path, format.delimiter, on_progress)?;
    let mut record = Record::new();

    let Some(first_line) = records.next(&mut record)? else {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            "the file is empty; expected purchase rows",
        )
        .into());
    };
    let width = record.len();
    let names: Option<Vec<String>> = format.has_header.then(|| {
        record
            .iter()
            .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
            .collect()
    });

    let names_ref = names.as_deref();
    let customer = resolve(
        path,
        "customer",
        &format.customer_col,
        names_ref,
        width,
        first_line,
    )?;
    let date_idx = resolve(path, "date", &format.date_col, names_ref, width, first_line)?;
    let amount = match (&format.amount_col, names_ref) {
        (Some(col), _) => Some(resolve(path, "amount", col, names_ref, width, first_line)?),
        (None, Some(names)) => find_name(names, "amount"),
        (None, None) => None,
    };
    let cols = Columns {
        customer,
        date: date_idx,
        amount,
        names,
    };
    let width_source = if format.has_header {
        "the header"
    } else {
        "the first row"
    };

    let mut batch = Batch::default();
    let mut stats = ScanStats {
        rows: 0,
        kept: 0,
        min_day: i32::MAX,
        max_day: i32::MIN,
    };
    let mut have_row = !format.has_header;
    loop {
        let line = if have_row {
            have_row = false;
            first_line
        } else {
            match records.next(&mut record)? {
                Some(line) => line,
                None => break,
            }
        };
        stats.rows += 1;
        if record.len() != width {
            return Err(InputError::new(
                InputErrorKind::RaggedRow,
                path,
                format!(
                    "found {} field{}, expected {width} (as in {width_source} on line {first_line}){}",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" },
                    if format.delimiter == Delimiter::Whitespace {
                        "; with --delimiter whitespace no field may be empty or contain spaces"
                    } else {
                        ""
                    }
                ),
            )
            .at_line(line)
            .into());
        }

        let id_bytes = trim(&record[cols.customer]);
        let id = match std::str::from_utf8(id_bytes) {
            Ok(id) if !id.is_empty() => id,
            Ok(_) => {
                return Err(InputError::new(
                    InputErrorKind::EmptyCustomerId,
                    path,
                    "the customer id is empty; expected a non-empty id",
                )
                .at_line(line)
                .in_column(cols.info(cols.customer))
                .into())
            }
            Err(_) => return Err(utf8_error(path, line, cols.info(cols.customer), id_bytes).into()),
        };

        let date_bytes = trim(&record[cols.date]);
        let parsed = match &format.date_format {
            None => date::parse_auto(date_bytes),
            Some(fmt) => std::str::from_utf8(date_bytes)
                .ok()
                .and_then(|s| date::parse_with_format(s, fmt)),
        };
        let Some(day) = parsed else {
            return Err(date_error(
                path,
                line,
                cols.info(cols.date),
                date_bytes,
                format.date_format.as_deref(),
            )
            .into());
        };

        let amount = match cols.amount {
            None => 0.0,
            Some(idx) => {
                let bytes = trim(&record[idx]);
                let Some(value) = parse_amount(bytes) else {
                    return Err(amount_error(path, line, cols.info(idx), bytes).into());
                };
                if value < 0.0 {
                    match format.negative_amounts {
                        NegativeAmounts::Error => {
                            return Err(InputError::new(
                                InputErrorKind::NegativeAmount,
                                path,
                                format!(
                                    "negative amount {} (a return?); choose --negative-amounts drop to skip such rows or --negative-amounts keep to net them into the day's total",
                                    show(bytes)
                                ),
                            )
                            .at_line(line)
                            .in_column(cols.info(idx))
                            .with_value(show(bytes))
                            .into())
                        }
                        NegativeAmounts::Drop => continue,
                        NegativeAmounts::Keep => {}
                    }
                }
                value
            }
        };

        stats.kept += 1;
        stats.min_day = stats.min_day.min(day);
        stats.max_day = stats.max_day.max(day);
        batch.push(id.as_bytes(), day, amount);
        if batch.len() == Batch::CAPACITY {
            on_batch(&mut batch)?;
            batch.clear();
        }
    }
    if batch.len() > 0 {
        on_batch(&mut batch)?;
    }
    records.finish();

    if stats.rows == 0 {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            format!("the file has a header (line {first_line}) but no data rows; expected purchase rows"),
        )
        .into());
    }
    Ok(stats)
}

/// Like [`scan`], but `each(&mut state, batch)` runs on a second thread while this one keeps
/// reading and parsing, so that parsing and the consumer's work overlap. Returns the scan
/// statistics and the final state. An error from `each` stops the scan and is returned.
pub(crate) fn scan_in_background<T: Send>(
    path: &Path,
    format: &TransactionFormat,
    on_progress: &mut dyn FnMut(u64),
    mut state: T,
    mut each: impl FnMut(&mut T, &Batch) -> Result<(), DataError> + Send,
) -> Result<(ScanStats, T), DataError> {
    use std::sync::mpsc;
    /// Batches in flight between the threads.
    const QUEUE: usize = 8;
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(QUEUE);
        let (empty_tx, empty_rx) = mpsc::channel::<Batch>();
        let worker = scope.spawn(move || {
            for batch in full_rx {
                each(&mut state, &batch)?;
                // The reader may have finished already; then the batch is simply dropped.
                let _ = empty_tx.send(batch);
            }
            Ok(state)
        });
        let scanned = scan(path, format, on_progress, |batch| {
            let empty = empty_rx.try_recv().unwrap_or_default();
            let full = std::mem::replace(batch, empty);
            // A send fails only if the worker stopped with an error, reported below.
            full_tx
                .send(full)
                .map_err(|_| DataError::Internal("the summary worker stopped".into()))
        });
        drop(full_tx);
        let worked = worker
            .join()
            .unwrap_or_else(|_| Err(DataError::Internal("the summary worker panicked".into())));
        match (scanned, worked) {
            (_, Err(e)) | (Err(e), _) => Err(e),
            (Ok(stats), Ok(state)) => Ok((stats, state)),
        }
    })
}

fn utf8_error(path: &Path, line: u64, column: ColumnInfo, bytes: &[u8]) -> InputError {
    InputError::new(
        InputErrorKind::InvalidUtf8,
        path,
        format!(
            "\"{}\" is not valid UTF-8; expected UTF-8 text (convert the file, e.g. `iconv -f latin1 -t utf-8`)",
            show(bytes)
        ),
    )
    .at_line(line)
    .in_column(column)
    .with_value(show(bytes))
}

fn date_error(
    path: &Path,
    line: u64,
    column: ColumnInfo,
    bytes: &[u8],
    fmt: Option<&str>,
) -> InputError {
    if std::str::from_utf8(bytes).is_err() {
        return utf8_error(path, line, column, bytes);
    }
    let message = match fmt {
        None => format!(
            "\"{}\" is not a valid date; {DATE_EXPECTATION}",
            show(bytes)
        ),
        Some(fmt) => format!(
            "\"{}\" is not a valid date; expected a date matching --date-format {fmt:?}",
            show(bytes)
        ),
    };
    InputError::new(InputErrorKind::InvalidDate, path, message)
        .at_line(line)
        .in_column(column)
        .with_value(show(bytes))
}

fn amount_error(path: &Path, line: u64, column: ColumnInfo, bytes: &[u8]) -> InputError {
    if std::str::from_utf8(bytes).is_err() {
        return utf8_error(path, line, column, bytes);
    }
    let message = if bytes.is_empty() {
        "the amount is empty; expected a number such as 12.50".to_string()
    } else {
        format!(
            "\"{}\" is not a valid amount; expected a finite number such as 12.50",
            show(bytes)
        )
    };
    InputError::new(InputErrorKind::InvalidNumber, path, message)
        .at_line(line)
        .in_column(column)
        .with_value(show(bytes))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::NaiveDate;

    use crate::error::{DataError, InputError, InputErrorKind};
    use crate::format::{ColumnRef, Delimiter, SummaryOptions, TransactionFormat};
    use crate::summary::{summarize_file, Summary};
    use crate::test_util::file;

    fn fail(path: &Path, format: &TransactionFormat, options: &SummaryOptions) -> InputError {
        match summarize_file(path, format, options, &mut |_| {}) {
            Err(DataError::Input(e)) => *e,
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    fn fail_default(content: &str) -> (InputError, String) {
        let (_dir, path) = file("tx.csv", content);
        let err = fail(
            &path,
            &TransactionFormat::default(),
            &SummaryOptions::default(),
        );
        let shown = err.to_string();
        assert!(
            shown.starts_with(&path.display().to_string()),
            "names the file: {shown}"
        );
        (err, shown)
    }

    fn assert_contains(text: &str, parts: &[&str]) {
        for part in parts {
            assert!(text.contains(part), "{text:?} should contain {part:?}");
        }
    }

    #[test]
    fn bad_date_names_line_column_value_and_accepted_forms() {
        let (err, shown) =
            fail_default("customer_id,date\na,2024-01-01\na,2024-01-02\nb,2024-13-01\n");
        assert_eq!(err.kind, InputErrorKind::InvalidDate);
        assert_eq!(err.line, Some(4));
        assert_eq!(err.value.as_deref(), Some("2024-13-01"));
        assert_contains(
            &shown,
            &[": line 4, column 'date' (2): \"2024-13-01\" is not a valid date; expected YYYY-MM-DD, YYYYMMDD, an ISO date-time, or use --date-format"],
        );
    }

    #[test]
    fn bad_date_under_a_custom_format_names_the_format() {
        let (_dir, path) = file("tx.csv", "customer_id,date\na,2024-01-01\n");
        let format = TransactionFormat {
            date_format: Some("%d/%m/%Y".into()),
            ..Default::default()
        };
        let shown = fail(&path, &format, &SummaryOptions::default()).to_string();
        assert_contains(
            &shown,
            &[
                "line 2",
                "column 'date' (2)",
                "\"2024-01-01\"",
                "--date-format \"%d/%m/%Y\"",
            ],
        );
    }

    #[test]
    fn malformed_date_format_is_rejected_before_reading() {
        let (_dir, path) = file("tx.csv", "customer_id,date\na,2024-01-01\n");
        let format = TransactionFormat {
            date_format: Some("%Y-%Q".into()),
            ..Default::default()
        };
        let err = fail(&path, &format, &SummaryOptions::default());
        assert_eq!(err.kind, InputErrorKind::InvalidOption);
        assert_contains(&err.to_string(), &["\"%Y-%Q\"", "strftime"]);
    }

    #[test]
    fn missing_column_lists_the_available_columns() {
        let (err, shown) = fail_default("customer,date,amount\na,2024-01-01,1\n");
        assert_eq!(err.kind, InputErrorKind::MissingColumn);
        assert_contains(
            &shown,
            &[
                "line 1",
                "'customer_id'",
                "available columns: 'customer', 'date', 'amount'",
            ],
        );
    }

    #[test]
    fn required_amount_column_missing_is_an_error() {
        let (_dir, path) = file("tx.csv", "customer_id,date\na,2024-01-01\n");
        let format = TransactionFormat {
            amount_col: Some(ColumnRef::Name("revenue".into())),
            ..Default::default()
        };
        let shown = fail(&path, &format, &SummaryOptions::default()).to_string();
        assert_contains(
            &shown,
            &["'revenue'", "available columns: 'customer_id', 'date'"],
        );
    }

    #[test]
    fn column_name_without_header_asks_for_a_position() {
        let (_dir, path) = file("tx.csv", "a,2024-01-01\n");
        let format = TransactionFormat {
            has_header: false,
            ..Default::default()
        };
        let err = fail(&path, &format, &SummaryOptions::default());
        assert_eq!(err.kind, InputErrorKind::MissingColumn);
        assert_contains(
            &err.to_string(),
            &["'customer_id'", "no header", "position"],
        );
    }

    #[test]
    fn column_position_beyond_the_row_width_is_an_error() {
        let (_dir, path) = file("tx.csv", "a,2024-01-01,3\n");
        let format = TransactionFormat {
            has_header: false,
            customer_col: ColumnRef::Position(1),
            date_col: ColumnRef::Position(7),
            ..Default::default()
        };
        let err = fail(&path, &format, &SummaryOptions::default());
        assert_eq!(err.kind, InputErrorKind::ColumnOutOfRange);
        assert_eq!(err.line, Some(1));
        assert_contains(&err.to_string(), &["position 7", "3 fields", "from 1 to 3"]);
    }

    #[test]
    fn empty_file_and_header_only_file_are_errors() {
        let (err, shown) = fail_default("");
        assert_eq!(err.kind, InputErrorKind::NoData);
        assert_contains(&shown, &["empty"]);
        let (err, shown) = fail_default("\n\n");
        assert_eq!(err.kind, InputErrorKind::NoData);
        assert_contains(&shown, &["empty"]);
        let (err, shown) = fail_default("customer_id,date,amount\n");
        assert_eq!(err.kind, InputErrorKind::NoData);
        assert_contains(&shown, &["no data rows"]);
    }

    #[test]
    fn non_numeric_amount_names_line_column_and_value() {
        let (err, shown) =
            fail_default("customer_id,date,amount\na,2024-01-01,12.50\na,2024-01-02,$3\n");
        assert_eq!(err.kind, InputErrorKind::InvalidNumber);
        assert_contains(&shown, &[": line 3, column 'amount' (3): \"$3\" is not a valid amount; expected a finite number"]);
        let (_, shown) = fail_default("customer_id,date,amount\na,2024-01-01,NaN\n");
        assert_contains(&shown, &["line 2", "\"NaN\""]);
        let (_, shown) = fail_default("customer_id,date,amount\na,2024-01-01,\n");
        assert_contains(&shown, &["line 2", "amount is empty"]);
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let (_dir, path) = file(
            "tx.csv",
            b"customer_id,date\na,2024-01-01\nJos\xe9,2024-01-02\n".as_slice(),
        );
        let err = fail(
            &path,
            &TransactionFormat::default(),
            &SummaryOptions::default(),
        );
        assert_eq!(err.kind, InputErrorKind::InvalidUtf8);
        assert_eq!(err.line, Some(3));
        assert_contains(
            &err.to_string(),
            &["line 3", "column 'customer_id' (1)", "not valid UTF-8"],
        );
    }

    #[test]
    fn ragged_row_says_how_many_fields_were_found_and_expected() {
        let (err, shown) = fail_default("customer_id,date,amount\na,2024-01-01,1\na,2024-01-02\n");
        assert_eq!(err.kind, InputErrorKind::RaggedRow);
        assert_contains(
            &shown,
            &["line 3", "found 2 fields, expected 3", "header on line 1"],
        );
    }

    #[test]
    fn negative_amount_under_the_error_policy_explains_the_choices() {
        let (err, shown) =
            fail_default("customer_id,date,amount\na,2024-01-01,10\na,2024-01-02,-5.00\n");
        assert_eq!(err.kind, InputErrorKind::NegativeAmount);
        assert_contains(
            &shown,
            &[": line 3, column 'amount' (3): negative amount -5.00 (a return?); choose --negative-amounts drop to skip such rows or --negative-amounts keep to net them into the day's total"],
        );
    }

    #[test]
    fn empty_customer_id_is_an_error() {
        let (err, shown) = fail_default("customer_id,date\n  ,2024-01-01\n");
        assert_eq!(err.kind, InputErrorKind::EmptyCustomerId);
        assert_contains(&shown, &["line 2", "column 'customer_id' (1)"]);
    }

    #[test]
    fn calibration_end_must_be_before_observation_end() {
        let (_dir, path) = file("tx.csv", "customer_id,date\na,2024-01-01\na,2024-01-10\n");
        let d = |s: &str| s.parse::<NaiveDate>().ok();
        let options = SummaryOptions {
            observation_end: d("2024-01-05"),
            calibration_end: d("2024-01-05"),
            ..Default::default()
        };
        let err = fail(&path, &TransactionFormat::default(), &options);
        assert_eq!(err.kind, InputErrorKind::InvalidPeriod);
        assert_contains(
            &err.to_string(),
            &["calibration end 2024-01-05 is not before the observation end 2024-01-05"],
        );
        // With the default observation end (the last date in the file).
        let options = SummaryOptions {
            calibration_end: d("2024-01-10"),
            ..Default::default()
        };
        let err = fail(&path, &TransactionFormat::default(), &options);
        assert_eq!(err.kind, InputErrorKind::InvalidPeriod);
        assert_contains(
            &err.to_string(),
            &["2024-01-10", "last purchase date in the file"],
        );
    }

    #[test]
    fn observation_end_before_every_purchase_leaves_no_customers() {
        let (_dir, path) = file("tx.csv", "customer_id,date\na,2024-01-03\nb,2024-01-05\n");
        let options = SummaryOptions {
            observation_end: "2024-01-01".parse().ok(),
            ..Default::default()
        };
        let err = fail(&path, &TransactionFormat::default(), &options);
        assert_eq!(err.kind, InputErrorKind::NoCustomers);
        assert_contains(
            &err.to_string(),
            &[
                "observation end 2024-01-01",
                "earliest purchase is on 2024-01-03",
            ],
        );
    }

    #[test]
    fn calibration_end_before_every_purchase_leaves_no_customers() {
        let (_dir, path) = file("tx.csv", "customer_id,date\na,2024-01-03\nb,2024-01-05\n");
        let options = SummaryOptions {
            calibration_end: "2024-01-01".parse().ok(),
            ..Default::default()
        };
        let err = fail(&path, &TransactionFormat::default(), &options);
        assert_eq!(err.kind, InputErrorKind::NoCustomers);
        assert_contains(
            &err.to_string(),
            &["calibration end 2024-01-01", "2024-01-03"],
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let err = summarize_file(
            Path::new("/nonexistent/tx.csv"),
            &TransactionFormat::default(),
            &SummaryOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, DataError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/tx.csv"));
    }

    #[test]
    fn line_numbers_are_physical_lines_across_blank_lines_and_quoted_newlines() {
        let (err, _) = fail_default("customer_id,date\n\n\"multi\nline\",2024-01-01\n\nb,bad\n");
        assert_eq!(err.line, Some(6));
    }

    #[test]
    fn byte_order_mark_before_the_header_is_ignored() {
        let (_dir, path) = file("tx.csv", "\u{feff}customer_id,date\na,2024-01-01\n");
        let summary = summarize_file(
            &path,
            &TransactionFormat::default(),
            &SummaryOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        assert!(matches!(summary, Summary::Rfm(rows) if rows.len() == 1));
        let (_dir, path) = file("tx.txt", "\u{feff} x 2024-01-01\n");
        let format = TransactionFormat {
            delimiter: Delimiter::Whitespace,
            has_header: false,
            customer_col: ColumnRef::Position(1),
            date_col: ColumnRef::Position(2),
            ..Default::default()
        };
        let summary =
            summarize_file(&path, &format, &SummaryOptions::default(), &mut |_| {}).unwrap();
        assert!(matches!(summary, Summary::Rfm(rows) if rows[0].customer_id == "x"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let alphabet = b"ab,\t \n\r\"0123456789-:TZ+.\xff\xc3";
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            let (_dir, path) = file("fuzz.csv", &bytes);
            for delimiter in [Delimiter::Comma, Delimiter::Tab, Delimiter::Whitespace] {
                for has_header in [true, false] {
                    let format = TransactionFormat {
                        delimiter,
                        has_header,
                        customer_col: ColumnRef::Position(1),
                        date_col: ColumnRef::Position(2),
                        ..Default::default()
                    };
                    let _ = summarize_file(&path, &format, &SummaryOptions::default(), &mut |_| {});
                }
            }
        }
    }
}
