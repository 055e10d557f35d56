//! One pass over a purchase log: header and column resolution, per-row validation, and the
//! negative-amount policy. Valid rows are handed to a consumer as (customer id, id hash, day,
//! amount), in file order.
//!
//! Plain CSV and TSV go through the parallel block parser ([`crate::blocks`]); whitespace-
//! separated files, files whose first line needs the general CSV reader, and the rest of a file
//! from its first line with a quote or a stray carriage return go through [`Records`] one
//! record at a time. Both check rows with the same [`Rules`].

use std::path::Path;

use crate::blocks;
use crate::date;
use crate::error::{show, ColumnInfo, DataError, InputError, InputErrorKind};
use crate::format::{ColumnRef, Delimiter, NegativeAmounts, TransactionFormat};
use crate::records::{trim, Record, Records, Rest};
use crate::table::{self, Key};

const DATE_EXPECTATION: &str =
    "expected YYYY-MM-DD, YYYYMMDD, an ISO date-time, or use --date-format";

/// Column descriptions for error messages.
struct Columns {
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

/// Finds a header name: exact match first, then a unique ASCII case-insensitive match (how every
/// reader of this crate matches column names).
///
/// ```
/// let names = ["Customer_ID".to_string(), "date".to_string()];
/// assert_eq!(northstar_data::find_name(&names, "customer_id"), Some(0));
/// assert_eq!(northstar_data::find_name(&names, "amount"), None);
/// ```
pub fn find_name(names: &[String], wanted: &str) -> Option<usize> {
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

/// Parses an amount; `None` means "not a finite number", handled by the caller.
#[inline]
fn parse_amount(field: &[u8]) -> Option<f64> {
    if let Some(v) = parse_short_decimal(field) {
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?;
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Powers of ten that are exact in `f64`.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The usual amount, `-?digits[.digits]` with at most 15 digits, parsed without the general
/// algorithm: the digits form an integer `m < 2^53` and the value is `m / 10^k` with both exact,
/// so the one correctly rounded division gives exactly what `str::parse` gives. Anything else
/// returns `None` and goes to `str::parse`.
#[inline]
fn parse_short_decimal(field: &[u8]) -> Option<f64> {
    let (negative, digits) = match field {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, field),
    };
    if digits.len() > 16 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut i = 0;
    while let Some(d) = digits
        .get(i)
        .map(|b| b.wrapping_sub(b'0'))
        .filter(|&d| d < 10)
    {
        mantissa = mantissa * 10 + u64::from(d);
        i += 1;
    }
    let whole = i;
    let mut decimals = 0;
    if digits.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = digits
            .get(i)
            .map(|b| b.wrapping_sub(b'0'))
            .filter(|&d| d < 10)
        {
            mantissa = mantissa * 10 + u64::from(d);
            i += 1;
        }
        decimals = i - whole - 1;
    }
    // At most 16 bytes, one of them a point if there are 16, so at most 15 digits.
    if i != digits.len() || whole + decimals == 0 || whole + decimals > 15 {
        return None;
    }
    // Below 2^53, so the signed conversion (one instruction) is exact.
    let value = mantissa as i64 as f64 / POW10[decimals];
    Some(if negative { -value } else { value })
}

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

impl ScanStats {
    pub(crate) fn new() -> Self {
        ScanStats {
            rows: 0,
            kept: 0,
            min_day: i32::MAX,
            max_day: i32::MIN,
        }
    }

    #[inline]
    pub(crate) fn keep(&mut self, day: i32) {
        self.kept += 1;
        self.min_day = self.min_day.min(day);
        self.max_day = self.max_day.max(day);
    }

    /// Adds the counts of a later part of the file.
    pub(crate) fn add(&mut self, other: &ScanStats) {
        self.rows += other.rows;
        self.kept += other.kept;
        self.min_day = self.min_day.min(other.min_day);
        self.max_day = self.max_day.max(other.max_day);
    }
}

/// Rows handed to the consumer together, so that it can look ahead (for example to prefetch).
/// Short customer ids are inside the rows; longer ones are ranges of `bytes` (ids copied one
/// after another, or a raw block of the file).
#[derive(Debug, Default)]
pub(crate) struct Rows {
    pub(crate) bytes: Vec<u8>,
    pub(crate) rows: Vec<Row>,
}

/// One kept row of [`Rows`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// [`table::hash`] of the customer id.
    pub hash: u64,
    /// Purchase amount (0 without an amount column).
    pub amount: f64,
    /// The customer id: short ids inline, so that the consumer need not read the bytes they
    /// came from (written by another thread); longer ones as a range of the bytes.
    key: Key,
    /// Purchase day (days since 1970-01-01).
    pub day: i32,
    /// Whether the row before this one in its [`Rows`] has the same customer id (common when
    /// a log is grouped by customer; the consumer can then skip the lookup).
    pub same: bool,
}

impl Row {
    /// A row whose id is `bytes[id_start..id_start + id_len]`, where `bytes` are those of its
    /// [`Rows`] and `previous` is the row before it there. The caller guarantees that
    /// `id_start` and `id_len` fit in 32 bits.
    #[inline]
    pub(crate) fn new(
        bytes: &[u8],
        id_start: usize,
        id_len: usize,
        day: i32,
        amount: f64,
        previous: Option<&Row>,
    ) -> Self {
        let id = &bytes[id_start..id_start + id_len];
        let key = Key::inline(id).unwrap_or_else(|| Key::range(id_start as u32, id_len as u32));
        let same = previous.is_some_and(|p| {
            if key.is_long() {
                p.key.is_long() && &bytes[p.key.range_of()] == id
            } else {
                p.key == key
            }
        });
        let hash = match previous {
            Some(p) if same => p.hash,
            _ => table::hash(id),
        };
        Row {
            hash,
            amount,
            key,
            day,
            same,
        }
    }
}

impl Rows {
    pub(crate) const CAPACITY: usize = 1024;

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The rows.
    pub(crate) fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The customer id of a row: valid UTF-8, trimmed, not empty.
    #[inline]
    pub(crate) fn id<'a>(&'a self, row: &'a Row) -> &'a [u8] {
        match row.key.inline_bytes() {
            Some(id) => id,
            None => &self.bytes[row.key.range_of()],
        }
    }

    pub(crate) fn push_copy(&mut self, id: &[u8], day: i32, amount: f64) -> Result<(), DataError> {
        if u32::try_from(id.len()).is_err() {
            return Err(DataError::Internal(
                "a customer id is longer than 4 GiB".into(),
            ));
        }
        // Batches are handed on once they hold 1 MiB, so the start fits in 32 bits.
        let id_start = self.bytes.len();
        self.bytes.extend_from_slice(id);
        let row = Row::new(
            &self.bytes,
            id_start,
            id.len(),
            day,
            amount,
            self.rows.last(),
        );
        self.rows.push(row);
        Ok(())
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.rows.clear();
    }
}

/// The outcome of checking one row.
pub(crate) enum Checked<'r> {
    /// A valid row to hand on.
    Keep { id: &'r [u8], day: i32, amount: f64 },
    /// A valid row dropped by the negative-amount policy.
    Drop,
}

/// How rows are checked: resolved columns, the expected width, and the options.
pub(crate) struct Rules<'a> {
    pub(crate) path: &'a Path,
    pub(crate) format: &'a TransactionFormat,
    pub(crate) customer: usize,
    pub(crate) date: usize,
    pub(crate) amount: Option<usize>,
    cols: Columns,
    width: usize,
    first_line: u64,
}

impl Rules<'_> {
    /// Checks one non-blank record with `fields` fields, found on `line`. `field(i)` gives
    /// field `i` as written; it is only asked for the customer, date and amount columns, and
    /// only once the width is right. With `ascii`, the fields are known to be ASCII.
    #[inline]
    pub(crate) fn check<'r>(
        &self,
        line: u64,
        fields: usize,
        field: impl Fn(usize) -> &'r [u8],
        ascii: bool,
    ) -> Result<Checked<'r>, DataError> {
        if fields != self.width {
            return Err(self.ragged(line, fields));
        }
        let id = trim(field(self.customer));
        if id.is_empty() {
            return Err(self.empty_id(line));
        }
        if !ascii && std::str::from_utf8(id).is_err() {
            return Err(utf8_error(self.path, line, self.cols.info(self.customer), id).into());
        }

        let date_bytes = trim(field(self.date));
        let parsed = match &self.format.date_format {
            None => date::parse_auto(date_bytes),
            Some(fmt) => std::str::from_utf8(date_bytes)
                .ok()
                .and_then(|s| date::parse_with_format(s, fmt)),
        };
        let Some(day) = parsed else {
            return Err(date_error(
                self.path,
                line,
                self.cols.info(self.date),
                date_bytes,
                self.format.date_format.as_deref(),
            )
            .into());
        };

        let amount = match self.amount {
            None => 0.0,
            Some(idx) => {
                let bytes = trim(field(idx));
                let Some(value) = parse_amount(bytes) else {
                    return Err(amount_error(self.path, line, self.cols.info(idx), bytes).into());
                };
                if value < 0.0 {
                    match self.format.negative_amounts {
                        NegativeAmounts::Error => return Err(self.negative(line, idx, bytes)),
                        NegativeAmounts::Drop => return Ok(Checked::Drop),
                        NegativeAmounts::Keep => {}
                    }
                }
                value
            }
        };
        Ok(Checked::Keep { id, day, amount })
    }

    #[cold]
    fn ragged(&self, line: u64, found: usize) -> DataError {
        let width = self.width;
        let width_source = if self.format.has_header {
            "the header"
        } else {
            "the first row"
        };
        InputError::new(
            InputErrorKind::RaggedRow,
            self.path,
            format!(
                "found {found} field{}, expected {width} (as in {width_source} on line {}){}",
                if found == 1 { "" } else { "s" },
                self.first_line,
                if self.format.delimiter == Delimiter::Whitespace {
                    "; with --delimiter whitespace no field may be empty or contain spaces"
                } else {
                    ""
                }
            ),
        )
        .at_line(line)
        .into()
    }

    #[cold]
    fn empty_id(&self, line: u64) -> DataError {
        InputError::new(
            InputErrorKind::EmptyCustomerId,
            self.path,
            "the customer id is empty; expected a non-empty id",
        )
        .at_line(line)
        .in_column(self.cols.info(self.customer))
        .into()
    }

    #[cold]
    fn negative(&self, line: u64, idx: usize, bytes: &[u8]) -> DataError {
        InputError::new(
            InputErrorKind::NegativeAmount,
            self.path,
            format!(
                "negative amount {} (a return?); choose --negative-amounts drop to skip such rows or --negative-amounts keep to net them into the day's total",
                show(bytes)
            ),
        )
        .at_line(line)
        .in_column(self.cols.info(idx))
        .with_value(show(bytes))
        .into()
    }
}

/// Reads `path` once and hands every kept row to `each(&mut state, rows)`, in file order.
/// Returns the scan statistics and the final state. An error from `each` stops the scan and is
/// returned.
///
/// Plain CSV and TSV (no quotes, no stray carriage returns) is parsed in line-aligned blocks
/// on worker threads while `each` runs on the calling thread (see [`crate::blocks`]). Other
/// input is read one record at a time, with `each` on a second thread so that reading and the
/// consumer's work overlap.
pub(crate) fn scan<T: Send>(
    path: &Path,
    format: &TransactionFormat,
    on_progress: &mut dyn FnMut(u64),
    state: T,
    each: impl FnMut(&mut T, &Rows) -> Result<(), DataError> + Send,
) -> Result<(ScanStats, T), DataError> {
    #[cfg(test)]
    let blocks = tests::BLOCKS
        .with(|b| b.get())
        .unwrap_or(Some(blocks::BLOCK));
    #[cfg(not(test))]
    let blocks = Some(blocks::BLOCK);
    scan_with(path, format, on_progress, blocks, state, each)
}

/// [`scan`], with plain CSV parsed in blocks of `blocks` bytes, or read one record at a time
/// like everything else when `None` (tests compare the two).
fn scan_with<T: Send>(
    path: &Path,
    format: &TransactionFormat,
    on_progress: &mut dyn FnMut(u64),
    blocks: Option<usize>,
    state: T,
    each: impl FnMut(&mut T, &Rows) -> Result<(), DataError> + Send,
) -> Result<(ScanStats, T), DataError> {
    scan_parts(
        path,
        format,
        on_progress,
        blocks,
        state,
        each,
        scan_records_in_background,
    )
}

/// [`scan`] for a consumer that must stay on the calling thread (it need not be `Send`): the
/// block parser still parses on worker threads, but `each` always runs here.
pub(crate) fn scan_here<T>(
    path: &Path,
    format: &TransactionFormat,
    on_progress: &mut dyn FnMut(u64),
    state: T,
    each: impl FnMut(&mut T, &Rows) -> Result<(), DataError>,
) -> Result<(ScanStats, T), DataError> {
    #[cfg(test)]
    let blocks = tests::BLOCKS
        .with(|b| b.get())
        .unwrap_or(Some(blocks::BLOCK));
    #[cfg(not(test))]
    let blocks = Some(blocks::BLOCK);
    scan_parts(
        path,
        format,
        on_progress,
        blocks,
        state,
        each,
        scan_records_here,
    )
}

/// What reads the records that do not go through the block parser: in the background or on
/// the calling thread.
type RecordsPath<T, E> = fn(
    &Rules,
    &mut Records,
    &mut Record,
    Option<u64>,
    &mut ScanStats,
    T,
    E,
) -> Result<T, DataError>;

/// The body of [`scan_with`] and [`scan_here`]; `records_path` reads the records that do not
/// go through the block parser.
fn scan_parts<T, E: FnMut(&mut T, &Rows) -> Result<(), DataError>>(
    path: &Path,
    format: &TransactionFormat,
    on_progress: &mut dyn FnMut(u64),
    blocks: Option<usize>,
    mut state: T,
    mut each: E,
    records_path: RecordsPath<T, E>,
) -> Result<(ScanStats, T), DataError> {
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
    let rules = Rules {
        path,
        format,
        customer,
        date: date_idx,
        amount,
        cols: Columns { names },
        width,
        first_line,
    };

    let mut stats = ScanStats::new();
    let first_row = (!format.has_header).then_some(first_line);
    let rest = match blocks {
        Some(_) => records.into_rest(),
        None => Rest::Records(records),
    };
    match rest {
        Rest::Plain {
            input,
            progress,
            newlines,
        } => {
            // Plain CSV so far: the rest goes through the parallel block parser.
            if let Some(line) = first_row {
                let mut rows = Rows::default();
                scan_record(&rules, &record, line, &mut stats, &mut rows)?;
                each(&mut state, &rows)?;
            }
            let delimiter = if format.delimiter == Delimiter::Tab {
                b'\t'
            } else {
                b','
            };
            blocks::scan_blocks(
                &rules,
                delimiter,
                input,
                progress,
                newlines,
                blocks.unwrap_or(blocks::BLOCK),
                &mut stats,
                &mut |rows| each(&mut state, rows),
            )?;
        }
        Rest::Records(mut records) => {
            state = records_path(
                &rules,
                &mut records,
                &mut record,
                first_row,
                &mut stats,
                state,
                each,
            )?;
        }
    }

    if stats.rows == 0 {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            format!("the file has a header (line {first_line}) but no data rows; expected purchase rows"),
        )
        .into());
    }
    Ok((stats, state))
}

/// Checks the data record in `record` (read from `line`) and adds it to `rows` if kept.
fn scan_record(
    rules: &Rules,
    record: &Record,
    line: u64,
    stats: &mut ScanStats,
    rows: &mut Rows,
) -> Result<(), DataError> {
    stats.rows += 1;
    match rules.check(line, record.len(), |i| &record[i], false)? {
        Checked::Keep { id, day, amount } => {
            stats.keep(day);
            rows.push_copy(id, day, amount)
        }
        Checked::Drop => Ok(()),
    }
}

/// Reads the remaining records one at a time, starting with the one already in `record` (from
/// line `first`) when given, and hands the kept rows to `on_batch` in batches. The callback may
/// take the batch's contents (for example by swapping in an empty batch).
pub(crate) fn scan_records(
    rules: &Rules,
    records: &mut Records,
    record: &mut Record,
    mut first: Option<u64>,
    stats: &mut ScanStats,
    mut on_batch: impl FnMut(&mut Rows) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut batch = Rows::default();
    loop {
        let line = match first.take() {
            Some(line) => line,
            None => match records.next(record)? {
                Some(line) => line,
                None => break,
            },
        };
        scan_record(rules, record, line, stats, &mut batch)?;
        if batch.len() >= Rows::CAPACITY || batch.bytes.len() >= 1 << 20 {
            on_batch(&mut batch)?;
            batch.clear();
        }
    }
    if batch.len() > 0 {
        on_batch(&mut batch)?;
    }
    records.finish();
    Ok(())
}

/// [`scan_records`] with `each(&mut state, rows)` on the calling thread. Returns the final state.
fn scan_records_here<T>(
    rules: &Rules,
    records: &mut Records,
    record: &mut Record,
    first: Option<u64>,
    stats: &mut ScanStats,
    mut state: T,
    mut each: impl FnMut(&mut T, &Rows) -> Result<(), DataError>,
) -> Result<T, DataError> {
    scan_records(rules, records, record, first, stats, |batch| {
        each(&mut state, batch)
    })?;
    Ok(state)
}

/// [`scan_records`] with `each(&mut state, rows)` on a second thread while this one keeps
/// reading and parsing. Returns the final state.
fn scan_records_in_background<T: Send>(
    rules: &Rules,
    records: &mut Records,
    record: &mut Record,
    first: Option<u64>,
    stats: &mut ScanStats,
    mut state: T,
    mut each: impl FnMut(&mut T, &Rows) -> Result<(), DataError> + Send,
) -> Result<T, DataError> {
    use std::sync::mpsc;
    /// Batches in flight between the threads.
    const QUEUE: usize = 8;
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Rows>(QUEUE);
        let (empty_tx, empty_rx) = mpsc::channel::<Rows>();
        let worker = scope.spawn(move || {
            for batch in full_rx {
                each(&mut state, &batch)?;
                // The reader may have finished already; then the batch is simply dropped.
                let _ = empty_tx.send(batch);
            }
            Ok(state)
        });
        let scanned = scan_records(rules, records, record, first, stats, |batch| {
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
            (Ok(()), Ok(state)) => Ok(state),
        }
    })
}

#[cold]
pub(crate) fn utf8_error(path: &Path, line: u64, column: ColumnInfo, bytes: &[u8]) -> InputError {
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

#[cold]
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

#[cold]
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
pub(crate) mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use chrono::NaiveDate;

    use crate::error::{DataError, InputError, InputErrorKind};
    use crate::format::{ColumnRef, Delimiter, SummaryOptions, TransactionFormat};
    use crate::summary::{summarize_file, Summary};
    use crate::test_util::file;

    thread_local! {
        /// The block size of the scans on this test's thread: `Some(None)` reads every record
        /// with the record reader; unset, the default block size.
        pub(crate) static BLOCKS: Cell<Option<Option<usize>>> = const { Cell::new(None) };
    }

    /// Runs `f` with scans on this thread set to `blocks` (see [`BLOCKS`]).
    pub(crate) fn with_blocks<R>(blocks: Option<usize>, f: impl FnOnce() -> R) -> R {
        let before = BLOCKS.with(|b| b.replace(Some(blocks)));
        let result = f();
        BLOCKS.with(|b| b.set(before));
        result
    }

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
    fn short_decimal_fast_path_gives_exactly_what_str_parse_gives() {
        use super::{parse_amount, parse_short_decimal};
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"0123456789.-+e";
        let mut fast = 0;
        for i in 0..200_000 {
            let len = 1 + (next() % 19) as usize;
            let text: Vec<u8> = (0..len)
                .map(|k| {
                    let r = next();
                    // Mostly digits, a point now and then, a sign at the front.
                    match (k, r % 16) {
                        (0, 0) => b'-',
                        (_, 1) => b'.',
                        (_, 2) if i % 7 == 0 => alphabet[(r / 16 % 14) as usize],
                        _ => b'0' + (r / 16 % 10) as u8,
                    }
                })
                .collect();
            let s = std::str::from_utf8(&text).unwrap();
            let want = s.parse::<f64>().ok().filter(|v| v.is_finite());
            let got = parse_amount(&text);
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{s:?}");
            if let Some(v) = parse_short_decimal(&text) {
                assert_eq!(Some(v.to_bits()), want.map(f64::to_bits), "{s:?}");
                fast += 1;
            }
        }
        assert!(
            fast > 100_000,
            "the fast path took only {fast} of the numbers"
        );
        for s in [
            "", "-", ".", "-.", "1.2.3", "--1", "1-", "1e5", "+1", ".5", "5.", "-0", "-0.0",
        ] {
            let want = s.parse::<f64>().ok().filter(|v| v.is_finite());
            assert_eq!(
                parse_amount(s.as_bytes()).map(f64::to_bits),
                want.map(f64::to_bits),
                "{s:?}"
            );
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
    fn block_parser_and_record_reader_agree_on_odd_bytes() {
        let mut state = 0x6A09_E667_F3BC_C908u64;
        let mut pick = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        // Mostly valid lines, with quotes, carriage returns, blank lines, bad dates, invalid
        // UTF-8 and missing line ends mixed in.
        let ids: [&[u8]; 10] = [
            b"a",
            b"b",
            b"c",
            b"\"q,\"",
            b"\"two\nlines\"",
            b"x\ry",
            b"",
            b" ",
            b"\xff",
            b"\"\"",
        ];
        let ends: [&[u8]; 6] = [b"\n", b"\n", b"\r\n", b"\r", b"", b"\n\n"];
        let mut compared = 0;
        for case in 0..1500 {
            let tab = case % 4 == 0;
            let d: &[u8] = if tab { b"\t" } else { b"," };
            let mut bytes = Vec::new();
            for _ in 0..pick(30) {
                bytes.extend_from_slice(if pick(4) == 0 {
                    ids[pick(ids.len())]
                } else {
                    b"a"
                });
                bytes.extend_from_slice(if pick(30) == 0 { b";" } else { d });
                match pick(20) {
                    0 => bytes.extend_from_slice(b"2024-13-01"),
                    1 => bytes.extend_from_slice(b"\"2024-01-02\""),
                    _ => bytes.extend_from_slice(format!("2024-01-0{}", 1 + pick(9)).as_bytes()),
                }
                bytes.extend_from_slice(if pick(3) == 0 {
                    ends[pick(ends.len())]
                } else {
                    b"\n"
                });
            }
            let (_dir, path) = file("odd.csv", &bytes);
            let format = TransactionFormat {
                delimiter: if tab {
                    Delimiter::Tab
                } else {
                    Delimiter::Comma
                },
                has_header: case % 3 == 0,
                customer_col: ColumnRef::Position(1),
                date_col: ColumnRef::Position(2),
                ..Default::default()
            };
            let run = |blocks: Option<usize>| {
                with_blocks(blocks, || {
                    summarize_file(&path, &format, &SummaryOptions::default(), &mut |_| {})
                        .map_err(|e| e.to_string())
                })
            };
            let reference = run(None);
            compared += usize::from(reference.is_ok());
            for blocks in [Some(1), Some(5), Some(64), Some(1 << 20)] {
                assert_eq!(
                    run(blocks),
                    reference,
                    "{:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
        assert!(compared > 100, "only {compared} inputs gave a summary");
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
