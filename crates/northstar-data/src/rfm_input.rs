//! Reading an RFM table back (the input of fitting, prediction and CLV).
//!
//! Only parsing happens here: the model-level rules (frequency is an integer ≥ 0,
//! 0 ≤ recency ≤ T, ...) are checked by the caller, which can point at [`RfmInput::line`].
//!
//! The table has one row per customer, so it is read whole into memory (memory grows with the
//! number of customers either way). Files without quotes are then split into line-aligned chunks
//! and parsed on every core; files with quoted fields go through the general CSV reader.
//! [`RfmFile::fold`] hands every row to the caller, chunk by chunk on every core, so a command
//! can validate, compress or score rows as they are parsed without first building a table;
//! [`read_rfm_csv`] builds the columnar [`RfmTable`] (a handful of vectors and one string
//! holding every id, so a million-row table costs no per-row allocation).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{show, ColumnInfo, DataError, InputError, InputErrorKind};
use crate::format::Delimiter;
use crate::records::{trim, Record, Records};

/// One row of an RFM table as read, before any model-level validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmInput<'a> {
    /// 1-based physical line of the row in the file.
    pub line: u64,
    /// Customer id as written (surrounding whitespace trimmed).
    pub customer_id: &'a str,
    /// Repeat purchases (parsed as a number; integrality is checked later).
    pub frequency: f64,
    /// Time of the last purchase since the first.
    pub recency: f64,
    /// Time since the first purchase (column `T`).
    pub t: f64,
    /// Mean repeat spend, if the table has a `monetary_value` column and the cell is not empty.
    pub monetary_value: Option<f64>,
    /// Row weight (number of identical customers), if the table has a `weight` column and the
    /// cell is not empty.
    pub weight: Option<f64>,
}

/// Customer ids stored end to end in one string: no allocation per id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerIds {
    text: String,
    ends: Vec<usize>,
}

impl CustomerIds {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one id.
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no ids.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`-th id; panics when `i >= len()`.
    ///
    /// ```
    /// let mut ids = northstar_data::CustomerIds::new();
    /// ids.push("a");
    /// ids.push("bc");
    /// assert_eq!((ids.get(1), ids.len()), ("bc", 2));
    /// ```
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// The ids in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends every id of `other`.
    ///
    /// ```
    /// let mut ids: northstar_data::CustomerIds = ["a"].into_iter().collect();
    /// ids.append(&["b", "c"].into_iter().collect());
    /// assert_eq!(ids.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    /// ```
    pub fn append(&mut self, other: &CustomerIds) {
        let offset = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|end| end + offset));
    }
}

impl<'a> FromIterator<&'a str> for CustomerIds {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut ids = CustomerIds::new();
        for id in iter {
            ids.push(id);
        }
        ids
    }
}

/// An RFM table as read: one entry per data row in every column, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RfmTable {
    /// 1-based physical line of each row.
    pub lines: Vec<u64>,
    /// Customer ids as written (surrounding whitespace trimmed).
    pub ids: CustomerIds,
    /// Repeat purchases (parsed as a number; integrality is checked later).
    pub frequency: Vec<f64>,
    /// Time of the last purchase since the first.
    pub recency: Vec<f64>,
    /// Time since the first purchase (column `T`).
    pub t: Vec<f64>,
    /// Mean repeat spend per row when the table has a `monetary_value` column (`None` for an
    /// empty cell).
    pub monetary_value: Option<Vec<Option<f64>>>,
    /// Row weight when the table has a `weight` column (`None` for an empty cell).
    pub weight: Option<Vec<Option<f64>>>,
}

impl RfmTable {
    fn with_columns(monetary: bool, weight: bool, capacity: usize) -> Self {
        RfmTable {
            lines: Vec::with_capacity(capacity),
            ids: CustomerIds {
                text: String::with_capacity(capacity * 8),
                ends: Vec::with_capacity(capacity),
            },
            frequency: Vec::with_capacity(capacity),
            recency: Vec::with_capacity(capacity),
            t: Vec::with_capacity(capacity),
            monetary_value: monetary.then(|| Vec::with_capacity(capacity)),
            weight: weight.then(|| Vec::with_capacity(capacity)),
        }
    }

    /// Appends one row.
    fn push(&mut self, row: RfmInput<'_>) {
        self.lines.push(row.line);
        self.ids.push(row.customer_id);
        self.frequency.push(row.frequency);
        self.recency.push(row.recency);
        self.t.push(row.t);
        if let Some(values) = &mut self.monetary_value {
            values.push(row.monetary_value);
        }
        if let Some(values) = &mut self.weight {
            values.push(row.weight);
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Row `i` (panics when `i >= len()`).
    pub fn row(&self, i: usize) -> RfmInput<'_> {
        RfmInput {
            line: self.lines[i],
            customer_id: self.ids.get(i),
            frequency: self.frequency[i],
            recency: self.recency[i],
            t: self.t[i],
            monetary_value: self.monetary_value.as_ref().and_then(|m| m[i]),
            weight: self.weight.as_ref().and_then(|w| w[i]),
        }
    }

    /// The rows in file order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = RfmInput<'_>> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    fn append(&mut self, other: &RfmTable) {
        self.lines.extend_from_slice(&other.lines);
        self.ids.append(&other.ids);
        self.frequency.extend_from_slice(&other.frequency);
        self.recency.extend_from_slice(&other.recency);
        self.t.extend_from_slice(&other.t);
        if let (Some(mine), Some(theirs)) = (&mut self.monetary_value, &other.monetary_value) {
            mine.extend_from_slice(theirs);
        }
        if let (Some(mine), Some(theirs)) = (&mut self.weight, &other.weight) {
            mine.extend_from_slice(theirs);
        }
    }
}

struct Col {
    index: usize,
    name: &'static str,
}

/// Where each needed column is, found from the header; turns a row's fields into an [`RfmInput`].
struct Columns {
    path: PathBuf,
    names: Vec<String>,
    header_line: u64,
    id: usize,
    frequency: Col,
    recency: Col,
    t: Col,
    monetary: Option<Col>,
    weight: Option<Col>,
}

impl Columns {
    fn from_header(
        path: &Path,
        id_col: &str,
        names: Vec<String>,
        header_line: u64,
    ) -> Result<Self, DataError> {
        let find = |name: &str| names.iter().position(|n| n == name);
        let missing = |name: &str| {
            let hint = match names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
                Some(other) => format!(" (found '{other}'; column names are case-sensitive)"),
                None => String::new(),
            };
            let available = names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ");
            DataError::from(
                InputError::new(
                    InputErrorKind::MissingColumn,
                    path,
                    format!(
                        "no column named '{name}' in the header{hint}; available columns: {available}"
                    ),
                )
                .at_line(header_line),
            )
        };
        let required = |name: &'static str| {
            find(name)
                .map(|index| Col { index, name })
                .ok_or_else(|| missing(name))
        };
        let optional = |name: &'static str| find(name).map(|index| Col { index, name });
        Ok(Self {
            id: find(id_col).ok_or_else(|| missing(id_col))?,
            frequency: required("frequency")?,
            recency: required("recency")?,
            t: required("T")?,
            monetary: optional("monetary_value"),
            weight: optional("weight"),
            path: path.to_path_buf(),
            names,
            header_line,
        })
    }

    fn width(&self) -> usize {
        self.names.len()
    }

    fn info(&self, index: usize) -> ColumnInfo {
        ColumnInfo {
            name: self.names.get(index).cloned(),
            position: index + 1,
        }
    }

    fn ragged(&self, line: u64, found: usize) -> DataError {
        InputError::new(
            InputErrorKind::RaggedRow,
            &self.path,
            format!(
                "found {found} fields, expected {} (as in the header on line {})",
                self.width(),
                self.header_line
            ),
        )
        .at_line(line)
        .into()
    }

    /// Parses one (untrimmed) cell of column `col`; an empty cell is `None` when `optional`.
    #[inline]
    fn number(
        &self,
        line: u64,
        col: &Col,
        cell: &[u8],
        optional: bool,
    ) -> Result<Option<f64>, DataError> {
        let bytes = trim(cell);
        if optional && bytes.is_empty() {
            return Ok(None);
        }
        parse_number(bytes).map(Some).ok_or_else(|| {
            DataError::from(
                InputError::new(
                    InputErrorKind::InvalidNumber,
                    &self.path,
                    format!(
                        "\"{}\" is not a valid {}; expected a finite number",
                        show(bytes),
                        col.name
                    ),
                )
                .at_line(line)
                .in_column(self.info(col.index))
                .with_value(show(bytes)),
            )
        })
    }

    /// The customer id of a row: `text`, if the caller already knows the cell is UTF-8, else
    /// the (trimmed) bytes, checked.
    #[inline]
    fn customer_id<'s>(
        &self,
        line: u64,
        bytes: &'s [u8],
        text: Option<&'s str>,
    ) -> Result<&'s str, DataError> {
        let id = match text {
            Some(text) => Ok(text),
            None => std::str::from_utf8(bytes),
        };
        match id {
            Ok(s) if !s.is_empty() => Ok(s),
            Ok(_) => Err(InputError::new(
                InputErrorKind::EmptyCustomerId,
                &self.path,
                "the customer id is empty; expected a non-empty id",
            )
            .at_line(line)
            .in_column(self.info(self.id))
            .into()),
            Err(_) => Err(InputError::new(
                InputErrorKind::InvalidUtf8,
                &self.path,
                format!(
                    "\"{}\" is not valid UTF-8; expected UTF-8 text",
                    show(bytes)
                ),
            )
            .at_line(line)
            .in_column(self.info(self.id))
            .with_value(show(bytes))
            .into()),
        }
    }

    /// One data row (already checked to have the header's width): `cell(i)` is field `i`
    /// untrimmed, `id` the trimmed id cell and, when known to be UTF-8, its text.
    #[inline]
    fn row<'s, 'c>(
        &self,
        line: u64,
        cell: impl Fn(usize) -> &'c [u8],
        id: (&'s [u8], Option<&'s str>),
    ) -> Result<RfmInput<'s>, DataError> {
        let customer_id = self.customer_id(line, id.0, id.1)?;
        // Required columns never yield `None`.
        let required = |col: &Col| {
            self.number(line, col, cell(col.index), false)
                .map(|v| v.unwrap_or(f64::NAN))
        };
        let frequency = required(&self.frequency)?;
        let recency = required(&self.recency)?;
        let t = required(&self.t)?;
        let optional = |col: &Option<Col>| match col {
            Some(col) => self.number(line, col, cell(col.index), true),
            None => Ok(None),
        };
        let monetary_value = optional(&self.monetary)?;
        let weight = optional(&self.weight)?;
        Ok(RfmInput {
            line,
            customer_id,
            frequency,
            recency,
            t,
            monetary_value,
            weight,
        })
    }

    fn no_rows(&self) -> DataError {
        InputError::new(
            InputErrorKind::NoData,
            &self.path,
            format!(
                "the file has a header (line {}) but no data rows; expected one row per customer",
                self.header_line
            ),
        )
        .into()
    }
}

/// Powers of ten that are exact in `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A trimmed cell as a finite number, or `None`.
///
/// The forms a summary writes (`[+-]digits[.digits]` with a mantissa of at most 2^53, such as
/// `12`, `0` or `71.57142857142857`) are the integer `m` over `10^k`, both exact in `f64`, so the
/// one correctly rounded division gives the correctly rounded value, as the general parser
/// does. Everything else (longer mantissas, exponents, ...) goes to `fast_float2`.
#[inline]
fn parse_number(bytes: &[u8]) -> Option<f64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    if digits.len() <= 20 {
        let mut mantissa = 0u64;
        let mut i = digits_into(digits, 0, &mut mantissa);
        let whole = i;
        let mut decimals = 0;
        if digits.get(i) == Some(&b'.') {
            i = digits_into(digits, i + 1, &mut mantissa);
            decimals = i - whole - 1;
        }
        // At most 19 digits cannot overflow; 2^53 and below convert exactly.
        if i == digits.len()
            && whole + decimals > 0
            && whole + decimals <= 19
            && mantissa <= 1 << 53
        {
            let value = mantissa as f64 / POW10[decimals];
            return Some(if negative { -value } else { value });
        }
    }
    fast_float2::parse::<f64, _>(bytes)
        .ok()
        .filter(|v| v.is_finite())
}

/// Appends the run of decimal digits of `bytes` from `i` to `mantissa` (wrapping: the caller
/// checks the digit count) and returns where the run ends. Eight digits at a time where it can.
#[inline]
fn digits_into(bytes: &[u8], mut i: usize, mantissa: &mut u64) -> usize {
    while let Some(word) = bytes.get(i..i + 8) {
        let mut le = [0; 8];
        le.copy_from_slice(word);
        let Some(value) = eight_digits(u64::from_le_bytes(le)) else {
            break;
        };
        *mantissa = mantissa.wrapping_mul(100_000_000).wrapping_add(value);
        i += 8;
    }
    while let Some(d) = bytes
        .get(i)
        .map(|b| b.wrapping_sub(b'0'))
        .filter(|&d| d < 10)
    {
        *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    i
}

/// The value of eight ASCII digits loaded little-endian (the first digit in the low byte), or
/// `None` if some byte is not a digit. Every step works on all the bytes of the word at once.
#[inline]
fn eight_digits(word: u64) -> Option<u64> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // A digit is 0x30..=0x39: its high nibble is 3, and still 3 after adding 6. (A byte that
    // carries into the next one when 6 is added is at least 0xFA, so it fails the first test.)
    let sixes = word.wrapping_add(0x0606_0606_0606_0606);
    if (word & HIGH) | ((sixes & HIGH) >> 4) != 0x3333_3333_3333_3333 {
        return None;
    }
    let v = word - 0x3030_3030_3030_3030;
    // Pairs of digits, then quadruples, then all eight: each time the more significant part
    // (lower byte) is scaled and the next added, in every lane at once.
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF)
}

fn empty_file(path: &Path, id_col: &str) -> DataError {
    InputError::new(
        InputErrorKind::NoData,
        path,
        format!(
            "the file is empty; expected a header with columns {id_col}, frequency, recency, T"
        ),
    )
    .into()
}

/// An RFM table file, read into memory with its header checked, whose rows are handed out by
/// [`RfmFile::fold`]. Required columns: the id column, `frequency`, `recency` and `T` (names
/// are case-sensitive); optional: `monetary_value` and `weight` (an empty cell there reads as
/// `None`). Other columns are ignored. Numbers must be finite.
///
/// ```
/// use northstar_data::RfmFile;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("rfm.csv");
/// std::fs::write(&path, "customer_id,frequency,recency,T\na,2,1.5,4\nb,0,0,3\n").unwrap();
/// let file = RfmFile::open(&path, "customer_id").unwrap();
/// assert!(!file.has_monetary_value());
/// // One accumulator per chunk, in file order: here the ids and the repeat purchases.
/// let chunks = file
///     .fold(Vec::new, |ids, row| {
///         ids.push((row.customer_id, row.frequency));
///         Ok::<(), northstar_data::DataError>(())
///     })
///     .unwrap();
/// assert_eq!(chunks.concat(), vec![("a", 2.0), ("b", 0.0)]);
/// ```
pub struct RfmFile {
    columns: Columns,
    source: Source,
}

enum Source {
    /// A file without quotes: its bytes and where the first data line starts.
    Text { bytes: Vec<u8>, rows_start: usize },
    /// Any other CSV, parsed whole by the general reader.
    Table(RfmTable),
}

impl RfmFile {
    /// Reads `path` and finds the columns in its header; `id_col` names the customer-id column.
    /// A file without quotes is parsed later, by [`fold`](Self::fold); any other CSV is
    /// parsed now, so its first bad row is reported here.
    pub fn open(path: &Path, id_col: &str) -> Result<Self, DataError> {
        let bytes = read_whole(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let body_start = if bytes.starts_with(UTF8_BOM) {
            UTF8_BOM.len()
        } else {
            0
        };
        let body = &bytes[body_start..];
        let simple = memchr::memchr(b'"', body).is_none()
            && !matches!(body.first(), Some(b'\n' | b'\r' | b' ' | b'\t'));
        if !simple {
            drop(bytes);
            let (columns, table) = read_general(path, id_col)?;
            return Ok(Self {
                columns,
                source: Source::Table(table),
            });
        }
        let header_end = memchr::memchr(b'\n', body).unwrap_or(body.len());
        let header = body[..header_end]
            .strip_suffix(b"\r")
            .unwrap_or(&body[..header_end]);
        if trim(header).is_empty() {
            return Err(empty_file(path, id_col));
        }
        let names = header
            .split(|&b| b == b',')
            .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
            .collect();
        let columns = Columns::from_header(path, id_col, names, 1)?;
        let rows_start = (body_start + header_end + 1).min(bytes.len());
        Ok(Self {
            columns,
            source: Source::Text { bytes, rows_start },
        })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.columns.path
    }

    /// Whether the header has a `monetary_value` column.
    pub fn has_monetary_value(&self) -> bool {
        self.columns.monetary.is_some()
    }

    /// Whether the header has a `weight` column.
    pub fn has_weight(&self) -> bool {
        self.columns.weight.is_some()
    }

    /// Parses every data row and hands it to `fold`, in file order within line-aligned chunks
    /// that are processed on every core; returns one accumulator (made by `init`) per chunk, in
    /// file order. The first error in file order is returned, whether a parse error (an
    /// [`InputError`] naming file, line, column and value) or one of `fold`'s; a file with a
    /// header and no rows is an error too.
    pub fn fold<'s, A, E>(
        &'s self,
        init: impl Fn() -> A + Sync,
        fold: impl Fn(&mut A, RfmInput<'s>) -> Result<(), E> + Sync,
    ) -> Result<Vec<A>, E>
    where
        A: Send,
        E: From<DataError> + Send,
    {
        let results: Vec<Result<(A, usize), E>> = match &self.source {
            Source::Text { bytes, rows_start } => {
                let rest = &bytes[*rows_start..];
                let chunks = line_chunks(rest, (rayon::current_num_threads() * 4).max(1));
                let newlines: Vec<u64> = chunks
                    .par_iter()
                    .map(|chunk| memchr::memchr_iter(b'\n', chunk).count() as u64)
                    .collect();
                let first_lines = newlines.iter().scan(2, |line, n| {
                    let first = *line;
                    *line += n;
                    Some(first)
                });
                let jobs: Vec<(&[u8], u64)> = chunks.iter().copied().zip(first_lines).collect();
                jobs.into_par_iter()
                    .map(|(chunk, first_line)| {
                        let mut acc = init();
                        let rows = self.fold_text(chunk, first_line, &mut acc, &fold)?;
                        Ok((acc, rows))
                    })
                    .collect()
            }
            Source::Table(table) => {
                let pieces = (rayon::current_num_threads() * 4).max(1);
                let per_piece = table.len().div_ceil(pieces).max(1);
                let starts: Vec<usize> = (0..table.len()).step_by(per_piece).collect();
                starts
                    .into_par_iter()
                    .map(|start| {
                        let mut acc = init();
                        let end = (start + per_piece).min(table.len());
                        for i in start..end {
                            fold(&mut acc, table.row(i))?;
                        }
                        Ok((acc, end - start))
                    })
                    .collect()
            }
        };
        let mut accumulators = Vec::with_capacity(results.len());
        let mut rows = 0;
        for result in results {
            let (acc, n) = result?;
            rows += n;
            accumulators.push(acc);
        }
        if rows == 0 {
            return Err(self.columns.no_rows().into());
        }
        Ok(accumulators)
    }

    /// Parses the rows of one line-aligned chunk (line `first_line` first); returns how many
    /// rows it handed to `fold` (blank lines are skipped).
    fn fold_text<'s, A, E: From<DataError>>(
        &self,
        chunk: &'s [u8],
        first_line: u64,
        acc: &mut A,
        fold: &impl Fn(&mut A, RfmInput<'s>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let columns = &self.columns;
        // Chunks end at line ends, so a chunk of valid UTF-8 gives every id as text at once.
        let text = std::str::from_utf8(chunk).ok();
        let mut fields: Vec<(usize, usize)> = Vec::with_capacity(columns.width() + 1);
        let mut start = 0;
        let mut line = first_line;
        let mut rows = 0;
        let mut separators = memchr::memchr2_iter(b',', b'\n', chunk);
        loop {
            let (end, line_end) = match separators.next() {
                Some(at) => (at, chunk[at] == b'\n'),
                None if start < chunk.len() || !fields.is_empty() => (chunk.len(), true),
                None => break,
            };
            fields.push((start, end));
            start = end + 1;
            if !line_end {
                continue;
            }
            if let Some(last) = fields.last_mut() {
                if last.1 > last.0 && chunk[last.1 - 1] == b'\r' {
                    last.1 -= 1;
                }
            }
            let blank = fields.len() == 1 && trim(&chunk[fields[0].0..fields[0].1]).is_empty();
            if !blank {
                if fields.len() != columns.width() {
                    return Err(columns.ragged(line, fields.len()).into());
                }
                let (id_start, id_end) = trim_range(chunk, fields[columns.id]);
                let id_text = text.and_then(|text| text.get(id_start..id_end));
                let row = columns.row(
                    line,
                    |i| &chunk[fields[i].0..fields[i].1],
                    (&chunk[id_start..id_end], id_text),
                )?;
                fold(acc, row)?;
                rows += 1;
            }
            fields.clear();
            line += 1;
            if end == chunk.len() {
                break;
            }
        }
        Ok(rows)
    }
}

/// The whole file. A large file is read in pieces on every core at once (`pread` at each
/// piece's offset), which also spreads the cost of mapping the fresh buffer; if the file turns
/// out not to have the size it had when the read started, it is read again in one go.
fn read_whole(path: &Path) -> std::io::Result<Vec<u8>> {
    const PARALLEL_FROM: u64 = 8 << 20;
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        if let Ok(len) = usize::try_from(size) {
            if size >= PARALLEL_FROM {
                let mut bytes = vec![0u8; len];
                let piece = len.div_ceil(rayon::current_num_threads().max(1) * 2);
                let read = bytes
                    .par_chunks_mut(piece)
                    .enumerate()
                    .try_for_each(|(i, part)| file.read_exact_at(part, (i * piece) as u64));
                let mut probe = [0u8; 1];
                if read.is_ok() && file.read_at(&mut probe, size)? == 0 {
                    return Ok(bytes);
                }
            }
        }
    }
    std::fs::read(path)
}

/// A field's byte range with ASCII whitespace trimmed from both ends.
#[inline]
fn trim_range(bytes: &[u8], (mut start, mut end): (usize, usize)) -> (usize, usize) {
    while start < end && bytes[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    (start, end)
}

/// Splits `rest` into about `pieces` chunks, each ending just after a line end (the last at the
/// end of `rest`).
fn line_chunks(rest: &[u8], pieces: usize) -> Vec<&[u8]> {
    let mut bounds = vec![0];
    for i in 1..pieces {
        let from = (rest.len() * i / pieces).max(*bounds.last().unwrap_or(&0));
        match memchr::memchr(b'\n', &rest[from..]).map(|p| from + p + 1) {
            Some(at) if at < rest.len() => bounds.push(at),
            _ => break,
        }
    }
    bounds.push(rest.len());
    bounds.windows(2).map(|w| &rest[w[0]..w[1]]).collect()
}

/// Reads a comma-separated RFM table with a header into columns. Required columns: `id_col`,
/// `frequency`, `recency` and `T` (names are case-sensitive); optional: `monetary_value` and
/// `weight` (an empty cell there reads as `None`). Other columns are ignored. Numbers must be
/// finite. [`RfmFile::fold`] reads the same rows without building the table.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("rfm.csv");
/// std::fs::write(&path, "customer_id,frequency,recency,T,extra\nc1,2,30.43,38.86,x\n").unwrap();
/// let table = northstar_data::read_rfm_csv(&path, "customer_id").unwrap();
/// let row = table.row(0);
/// assert_eq!((row.line, row.customer_id, row.frequency, row.t, row.weight), (2, "c1", 2.0, 38.86, None));
/// ```
pub fn read_rfm_csv(path: &Path, id_col: &str) -> Result<RfmTable, DataError> {
    let file = RfmFile::open(path, id_col)?;
    let (monetary, weight) = (file.has_monetary_value(), file.has_weight());
    if let Source::Table(table) = file.source {
        return Ok(table);
    }
    let parts = file.fold(
        || RfmTable::with_columns(monetary, weight, 0),
        |table, row| {
            table.push(row);
            Ok::<(), DataError>(())
        },
    )?;
    let mut table = RfmTable::with_columns(monetary, weight, parts.iter().map(RfmTable::len).sum());
    for part in &parts {
        table.append(part);
    }
    Ok(table)
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Any CSV (quoted fields, blank lines before the header, ...), read record by record.
fn read_general(path: &Path, id_col: &str) -> Result<(Columns, RfmTable), DataError> {
    let mut no_progress = |_| {};
    let mut records = Records::open(path, Delimiter::Comma, &mut no_progress)?;
    let mut record = Record::new();
    let Some(header_line) = records.next(&mut record)? else {
        return Err(empty_file(path, id_col));
    };
    let names = record
        .iter()
        .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
        .collect();
    let columns = Columns::from_header(path, id_col, names, header_line)?;
    let mut rows = RfmTable::with_columns(columns.monetary.is_some(), columns.weight.is_some(), 0);
    while let Some(line) = records.next(&mut record)? {
        if record.len() != columns.width() {
            return Err(columns.ragged(line, record.len()));
        }
        let id = trim(&record[columns.id]);
        let row = columns.row(line, |i| &record[i], (id, None))?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(columns.no_rows());
    }
    Ok((columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::file;

    fn input_error(content: &str, id_col: &str) -> InputError {
        let (_dir, path) = file("rfm.csv", content);
        match read_rfm_csv(&path, id_col) {
            Err(DataError::Input(e)) => *e,
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn reads_columns_by_name_with_extra_columns_and_optional_weight_and_monetary_value() {
        let (_dir, path) = file(
            "rfm.csv",
            "segment,ID,T,recency,frequency,weight,monetary_value\nx,1, 38.86,30.43,2,3,22.35\n\ny,2,38.86,0,0,1,\n",
        );
        let rows = read_rfm_csv(&path, "ID").unwrap();
        assert_eq!(
            rows.rows().collect::<Vec<_>>(),
            vec![
                RfmInput {
                    line: 2,
                    customer_id: "1",
                    frequency: 2.0,
                    recency: 30.43,
                    t: 38.86,
                    monetary_value: Some(22.35),
                    weight: Some(3.0),
                },
                RfmInput {
                    line: 4,
                    customer_id: "2",
                    frequency: 0.0,
                    recency: 0.0,
                    t: 38.86,
                    monetary_value: None,
                    weight: Some(1.0),
                },
            ]
        );
    }

    #[test]
    fn numbers_take_every_form_rust_parses() {
        let (_dir, path) = file(
            "rfm.csv",
            "customer_id,frequency,recency,T\na,+1,.5,5.\nb,1e1,2.5E-1, 3 \n",
        );
        let table = read_rfm_csv(&path, "customer_id").unwrap();
        assert_eq!(
            (table.frequency, table.recency, table.t),
            (vec![1.0, 10.0], vec![0.5, 0.25], vec![5.0, 3.0])
        );
        for bad in ["1,5", "0x10", "1e", "--1", "nan", "1 2"] {
            let (_dir, path) = file(
                "rfm.csv",
                format!("customer_id,frequency,recency,T\na,1,\"{bad}\",3\n"),
            );
            assert!(
                read_rfm_csv(&path, "customer_id").is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn optional_columns_absent_read_as_none() {
        let (_dir, path) = file("rfm.csv", "customer_id,frequency,recency,T\na,1,2,3\n");
        let rows = read_rfm_csv(&path, "customer_id").unwrap();
        assert_eq!(
            (rows.monetary_value.as_ref(), rows.weight.as_ref()),
            (None, None)
        );
        assert_eq!(
            (rows.row(0).monetary_value, rows.row(0).weight),
            (None, None)
        );
    }

    #[test]
    fn non_numeric_value_names_line_column_and_value() {
        let err = input_error(
            "customer_id,frequency,recency,T\na,1,2,3\nb,two,2,3\n",
            "customer_id",
        );
        assert_eq!(err.kind, InputErrorKind::InvalidNumber);
        assert_eq!(err.line, Some(3));
        assert!(
            err.to_string().ends_with(": line 3, column 'frequency' (2): \"two\" is not a valid frequency; expected a finite number"),
            "{err}"
        );
        let err = input_error(
            "customer_id,frequency,recency,T,weight\na,1,2,3,inf\n",
            "customer_id",
        );
        assert!(
            err.to_string()
                .contains("line 2, column 'weight' (5): \"inf\""),
            "{err}"
        );
        let err = input_error("customer_id,frequency,recency,T\na,1,,3\n", "customer_id");
        assert!(
            err.to_string()
                .contains("line 2, column 'recency' (3): \"\""),
            "{err}"
        );
    }

    #[test]
    fn missing_column_is_named_with_a_case_hint() {
        let err = input_error("customer_id,frequency,recency,t\na,1,2,3\n", "customer_id");
        assert_eq!(err.kind, InputErrorKind::MissingColumn);
        let shown = err.to_string();
        assert!(shown.contains("no column named 'T'"), "{shown}");
        assert!(
            shown.contains("found 't'; column names are case-sensitive"),
            "{shown}"
        );
        let err = input_error("id,frequency,recency,T\na,1,2,3\n", "customer_id");
        assert!(err.to_string().contains("'customer_id'"), "{err}");
        assert!(
            err.to_string()
                .contains("available columns: 'id', 'frequency', 'recency', 'T'"),
            "{err}"
        );
    }

    #[test]
    fn ragged_row_and_empty_table_are_errors() {
        let err = input_error("customer_id,frequency,recency,T\na,1,2\n", "customer_id");
        assert_eq!(err.kind, InputErrorKind::RaggedRow);
        assert!(
            err.to_string()
                .contains("line 2: found 3 fields, expected 4"),
            "{err}"
        );
        let err = input_error("customer_id,frequency,recency,T\n", "customer_id");
        assert_eq!(err.kind, InputErrorKind::NoData);
        let err = input_error("", "customer_id");
        assert_eq!(err.kind, InputErrorKind::NoData);
    }

    #[test]
    fn parallel_fast_path_agrees_with_the_general_reader_across_chunk_boundaries() {
        let mut text = String::from("customer_id,frequency,recency,T,monetary_value\r\n");
        for i in 0..5000 {
            text += &format!(
                "c{i},{},{}.5,{},{}\r\n",
                i % 7,
                i % 3,
                40 + i % 5,
                (i % 11) as f64 * 1.25
            );
            if i % 997 == 0 {
                text += "\n";
            }
        }
        let (_dir, path) = file("rfm.csv", &text);
        let fast = read_rfm_csv(&path, "customer_id").unwrap();
        let (_, general) = read_general(&path, "customer_id").unwrap();
        assert_eq!(fast.len(), 5000);
        assert_eq!(fast, general);
        // An error deep in the file names the same line either way.
        let broken = text
            .replacen("c4321,", "c4321,x", 1)
            .replace("c4321,x", "c4321,");
        let broken = broken.replacen(&format!("c4321,{}", 4321 % 7), "c4321,abc", 1);
        let (_dir, path) = file("rfm.csv", &broken);
        let fast = read_rfm_csv(&path, "customer_id").unwrap_err().to_string();
        let general = read_general(&path, "customer_id")
            .err()
            .unwrap()
            .to_string();
        assert_eq!(fast, general);
        assert!(fast.contains("\"abc\""), "{fast}");
    }

    #[test]
    fn fast_number_path_reads_exactly_what_the_standard_parser_reads() {
        // Expected values: Rust's `str::parse::<f64>` (correctly rounded) on the same text.
        let check = |text: &str| {
            let expected = text.parse::<f64>().ok().filter(|v| v.is_finite());
            assert_eq!(
                parse_number(text.as_bytes()).map(f64::to_bits),
                expected.map(f64::to_bits),
                "{text}"
            );
        };
        for text in [
            "0",
            "-0",
            "+0",
            "0.0",
            "-0.0",
            "1",
            "+1",
            ".5",
            "5.",
            "-.5",
            "007",
            "12",
            "71.57142857142857",
            "10.428571428571429",
            "9007199254740992",
            "9007199254740993",
            "-9007199254740993",
            "1234567890123456789",
            "12345678901234567890",
            "0.0000000000000000000001",
            "1.0000000000000000001",
            "0.1",
            "0.3",
            "123.45",
            "1e5",
            "2.5E-1",
            "inf",
            "nan",
            "",
            ".",
            "-",
            "+",
            "1.2.3",
            "1,5",
            "0x10",
            "--1",
            "1 2",
        ] {
            check(text);
        }
        // Shortest round-trip forms (what `summarize` writes) of many values: whole days over
        // 7 (weeks), 30.4375 (months) and 365.25 (years), random magnitudes and money amounts.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut buffer = ryu::Buffer::new();
        for day in 0..5000u32 {
            for unit in [7.0, 30.4375, 365.25] {
                check(buffer.format(f64::from(day) / unit));
            }
        }
        for _ in 0..20_000 {
            let bits = next();
            let value = f64::from_bits(bits >> 2); // positive, finite or not
            check(buffer.format(value));
            check(&format!("{}", value));
            check(&format!("{:.2}", (bits % 1_000_000) as f64 / 100.0));
            check(&format!("-{}", (bits % 100_000) as f64 / 7.0));
        }
    }

    #[test]
    fn eight_digits_at_once_agree_with_one_at_a_time() {
        // Expected values: the digits read one by one (`str::parse::<u64>`).
        for text in [
            "00000000", "12345678", "99999999", "90000001", "31415926", "00000009",
        ] {
            let word = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            assert_eq!(eight_digits(word), text.parse::<u64>().ok(), "{text}");
        }
        for text in [
            "1234567.",
            "/0000000",
            ":0000000",
            "0000000:",
            "1234 678",
            "-1234567",
            "é1234567",
        ] {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&text.as_bytes()[..8]);
            assert_eq!(eight_digits(u64::from_le_bytes(bytes)), None, "{text}");
        }
        // Every byte value in every position, around all-nines and all-zeros words.
        for position in 0..8 {
            for byte in 0..=255u8 {
                for base in [*b"99999999", *b"00000000"] {
                    let mut bytes = base;
                    bytes[position] = byte;
                    let expected = std::str::from_utf8(&bytes)
                        .ok()
                        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|t| t.parse::<u64>().ok());
                    assert_eq!(
                        eight_digits(u64::from_le_bytes(bytes)),
                        expected,
                        "{bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn fold_hands_out_every_row_in_order_with_its_line_and_reports_the_first_error() {
        let mut text = String::from("customer_id,frequency,recency,T,weight\r\n");
        for i in 0..3000 {
            text += &format!("c{i},{},0,{}.5,\r\n", i % 4, 10 + i % 9);
            if i % 500 == 7 {
                text += "  \r\n";
            }
        }
        let (_dir, path) = file("rfm.csv", &text);
        let rfm = RfmFile::open(&path, "customer_id").unwrap();
        assert!(rfm.has_weight() && !rfm.has_monetary_value());
        let chunks = rfm
            .fold(Vec::new, |rows, row| {
                rows.push(row);
                Ok::<(), DataError>(())
            })
            .unwrap();
        assert!(chunks.len() > 1, "the test needs several chunks");
        let rows = chunks.concat();
        let table = read_general(&path, "customer_id").ok().unwrap().1;
        assert_eq!(rows, table.rows().collect::<Vec<_>>());
        // Row 3000 (c2999) is on line 3001 plus the 6 blank lines before it.
        assert_eq!((rows[2999].customer_id, rows[2999].line), ("c2999", 3007));
        assert_eq!(rows[2999].t, 10.0 + (2999 % 9) as f64 + 0.5);
        assert_eq!(rows[2999].weight, None);

        // The caller's error on an early row wins over a parse error further on.
        let broken = text.replace("c2900,0,0,", "c2900,0,x,");
        let (_dir, path) = file("rfm.csv", &broken);
        let rfm = RfmFile::open(&path, "customer_id").unwrap();
        #[derive(Debug, PartialEq)]
        enum Error {
            Data(String),
            Rejected(u64),
        }
        impl From<DataError> for Error {
            fn from(e: DataError) -> Self {
                Error::Data(e.to_string())
            }
        }
        let early = rfm
            .fold(
                || (),
                |_, row| match row.customer_id {
                    "c5" => Err(Error::Rejected(row.line)),
                    _ => Ok(()),
                },
            )
            .unwrap_err();
        assert_eq!(early, Error::Rejected(7));
        let parse = rfm
            .fold(|| (), |_, _| Ok::<(), DataError>(()))
            .unwrap_err()
            .to_string();
        assert!(
            parse.contains("line 2908, column 'recency' (3): \"x\""),
            "{parse}"
        );
    }

    #[test]
    fn fold_checks_ids_in_files_with_invalid_utf8_elsewhere() {
        let (_dir, path) = file(
            "rfm.csv",
            b"customer_id,frequency,recency,T,note\na,1,2,3,\xff\nb\xfe,1,2,3,x\n".as_slice(),
        );
        let rfm = RfmFile::open(&path, "customer_id").unwrap();
        let err = rfm
            .fold(|| (), |_, _| Ok::<(), DataError>(()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3, column 'customer_id' (1)") && err.contains("UTF-8"),
            "{err}"
        );
        let (_dir, path) = file(
            "rfm.csv",
            b"customer_id,frequency,recency,T,note\na,1,2,3,\xff\n , 1,2,3,x\n".as_slice(),
        );
        let rfm = RfmFile::open(&path, "customer_id").unwrap();
        let err = rfm
            .fold(|| (), |_, _| Ok::<(), DataError>(()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("empty"), "{err}");
    }
}
