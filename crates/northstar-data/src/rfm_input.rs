//! Reading an RFM table back (the input of fitting, prediction and CLV).
//!
//! Only parsing happens here: the model-level rules (frequency is an integer ≥ 0,
//! 0 ≤ recency ≤ T, ...) are checked by the caller, which can point at [`RfmInput::line`].
//!
//! The table has one row per customer, so it is read whole into memory (memory grows with the
//! number of customers either way). Files without quotes are then split into line-aligned chunks
//! and parsed on every core; files with quoted fields go through the general CSV reader. The
//! result is columnar ([`RfmTable`]): a handful of vectors and one string holding every id, so a
//! million-row table costs no per-row allocation.

use std::path::Path;

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

    fn append(&mut self, other: &CustomerIds) {
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
    fn with_columns(columns: &Columns<'_>, capacity: usize) -> Self {
        RfmTable {
            lines: Vec::with_capacity(capacity),
            ids: CustomerIds {
                text: String::with_capacity(capacity * 8),
                ends: Vec::with_capacity(capacity),
            },
            frequency: Vec::with_capacity(capacity),
            recency: Vec::with_capacity(capacity),
            t: Vec::with_capacity(capacity),
            monetary_value: columns
                .monetary
                .as_ref()
                .map(|_| Vec::with_capacity(capacity)),
            weight: columns
                .weight
                .as_ref()
                .map(|_| Vec::with_capacity(capacity)),
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
struct Columns<'a> {
    path: &'a Path,
    names: Vec<String>,
    header_line: u64,
    id: usize,
    frequency: Col,
    recency: Col,
    t: Col,
    monetary: Option<Col>,
    weight: Option<Col>,
}

impl<'a> Columns<'a> {
    fn from_header(
        path: &'a Path,
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
            path,
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
            self.path,
            format!(
                "found {found} fields, expected {} (as in the header on line {})",
                self.width(),
                self.header_line
            ),
        )
        .at_line(line)
        .into()
    }

    fn number(
        &self,
        line: u64,
        col: &Col,
        fields: &[&[u8]],
        optional: bool,
    ) -> Result<Option<f64>, DataError> {
        let bytes = trim(fields[col.index]);
        if optional && bytes.is_empty() {
            return Ok(None);
        }
        let parsed = fast_float2::parse::<f64, _>(bytes)
            .ok()
            .filter(|v| v.is_finite());
        parsed.map(Some).ok_or_else(|| {
            DataError::from(
                InputError::new(
                    InputErrorKind::InvalidNumber,
                    self.path,
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

    /// Appends one data row (already checked to have the header's width) to `table`.
    fn push_row(&self, line: u64, fields: &[&[u8]], table: &mut RfmTable) -> Result<(), DataError> {
        let id_bytes = trim(fields[self.id]);
        let customer_id = match std::str::from_utf8(id_bytes) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => {
                return Err(InputError::new(
                    InputErrorKind::EmptyCustomerId,
                    self.path,
                    "the customer id is empty; expected a non-empty id",
                )
                .at_line(line)
                .in_column(self.info(self.id))
                .into())
            }
            Err(_) => {
                return Err(InputError::new(
                    InputErrorKind::InvalidUtf8,
                    self.path,
                    format!(
                        "\"{}\" is not valid UTF-8; expected UTF-8 text",
                        show(id_bytes)
                    ),
                )
                .at_line(line)
                .in_column(self.info(self.id))
                .with_value(show(id_bytes))
                .into())
            }
        };
        // Required columns never yield `None`.
        let required = |col: &Col| {
            self.number(line, col, fields, false)
                .map(|v| v.unwrap_or(f64::NAN))
        };
        let frequency = required(&self.frequency)?;
        let recency = required(&self.recency)?;
        let t = required(&self.t)?;
        if let (Some(col), Some(values)) = (&self.monetary, &mut table.monetary_value) {
            values.push(self.number(line, col, fields, true)?);
        }
        if let (Some(col), Some(values)) = (&self.weight, &mut table.weight) {
            values.push(self.number(line, col, fields, true)?);
        }
        table.lines.push(line);
        table.ids.push(customer_id);
        table.frequency.push(frequency);
        table.recency.push(recency);
        table.t.push(t);
        Ok(())
    }

    fn no_rows(&self) -> DataError {
        InputError::new(
            InputErrorKind::NoData,
            self.path,
            format!(
                "the file has a header (line {}) but no data rows; expected one row per customer",
                self.header_line
            ),
        )
        .into()
    }
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

/// Reads a comma-separated RFM table with a header. Required columns: `id_col`, `frequency`,
/// `recency` and `T` (names are case-sensitive); optional: `monetary_value` and `weight` (an
/// empty cell there reads as `None`). Other columns are ignored. Numbers must be finite.
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
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes);
    let simple = memchr::memchr(b'"', body).is_none()
        && !matches!(body.first(), Some(b'\n' | b'\r' | b' ' | b'\t'));
    if simple {
        read_simple(path, id_col, body)
    } else {
        read_general(path, id_col)
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Lines of a chunk: (physical line number, content without the line ending).
fn lines(chunk: &[u8], first_line: u64) -> impl Iterator<Item = (u64, &[u8])> {
    let mut start = 0;
    let mut line = first_line;
    let mut ends = memchr::memchr_iter(b'\n', chunk).chain(std::iter::once(chunk.len()));
    std::iter::from_fn(move || {
        let end = ends.next()?;
        let text = &chunk[start.min(end)..end];
        start = end + 1;
        line += 1;
        Some((line - 1, text.strip_suffix(b"\r").unwrap_or(text)))
    })
}

/// Splits a line on commas into `fields`.
fn split_fields<'a>(text: &'a [u8], fields: &mut Vec<&'a [u8]>) {
    fields.clear();
    let mut start = 0;
    for comma in memchr::memchr_iter(b',', text) {
        fields.push(&text[start..comma]);
        start = comma + 1;
    }
    fields.push(&text[start..]);
}

/// The fast path for files without quotes: the header on line 1, then the rows in parallel chunks.
fn read_simple(path: &Path, id_col: &str, body: &[u8]) -> Result<RfmTable, DataError> {
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
    let rest = body.get(header_end + 1..).unwrap_or(&[]);

    // Line-aligned chunks, several per thread so uneven chunks even out.
    let pieces = (rayon::current_num_threads() * 4).max(1);
    let mut bounds = vec![0];
    for i in 1..pieces {
        let guess = rest.len() * i / pieces;
        let at = memchr::memchr(b'\n', &rest[guess.max(*bounds.last().unwrap_or(&0))..])
            .map(|p| guess.max(*bounds.last().unwrap_or(&0)) + p + 1);
        match at {
            Some(at) if at < rest.len() => bounds.push(at),
            _ => break,
        }
    }
    bounds.push(rest.len());
    let chunks: Vec<&[u8]> = bounds.windows(2).map(|w| &rest[w[0]..w[1]]).collect();
    let mut first_lines = Vec::with_capacity(chunks.len());
    let mut line = 2;
    for chunk in &chunks {
        first_lines.push(line);
        line += memchr::memchr_iter(b'\n', chunk).count() as u64;
    }
    let parsed: Vec<Result<RfmTable, DataError>> = chunks
        .par_iter()
        .zip(first_lines)
        .map(|(chunk, first_line)| {
            let chunk = chunk.strip_suffix(b"\n").unwrap_or(chunk);
            let mut rows = RfmTable::with_columns(&columns, chunk.len() / 32);
            let mut fields: Vec<&[u8]> = Vec::with_capacity(columns.width());
            for (line, text) in lines(chunk, first_line) {
                if trim(text).is_empty() {
                    continue;
                }
                split_fields(text, &mut fields);
                if fields.len() != columns.width() {
                    return Err(columns.ragged(line, fields.len()));
                }
                columns.push_row(line, &fields, &mut rows)?;
            }
            Ok(rows)
        })
        .collect();
    let mut rows = RfmTable::default();
    for chunk in parsed {
        let chunk = chunk?;
        if rows.is_empty() {
            rows = chunk;
        } else {
            rows.append(&chunk);
        }
    }
    if rows.is_empty() {
        return Err(columns.no_rows());
    }
    Ok(rows)
}

/// Any CSV (quoted fields, blank lines before the header, ...), read record by record.
fn read_general(path: &Path, id_col: &str) -> Result<RfmTable, DataError> {
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
    let mut rows = RfmTable::with_columns(&columns, 0);
    while let Some(line) = records.next(&mut record)? {
        if record.len() != columns.width() {
            return Err(columns.ragged(line, record.len()));
        }
        let fields: Vec<&[u8]> = record.iter().collect();
        columns.push_row(line, &fields, &mut rows)?;
    }
    if rows.is_empty() {
        return Err(columns.no_rows());
    }
    Ok(rows)
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
        let general = read_general(&path, "customer_id").unwrap();
        assert_eq!(fast.len(), 5000);
        assert_eq!(fast, general);
        // An error deep in the file names the same line either way.
        let broken = text
            .replacen("c4321,", "c4321,x", 1)
            .replace("c4321,x", "c4321,");
        let broken = broken.replacen(&format!("c4321,{}", 4321 % 7), "c4321,abc", 1);
        let (_dir, path) = file("rfm.csv", &broken);
        let fast = read_rfm_csv(&path, "customer_id").unwrap_err().to_string();
        let general = read_general(&path, "customer_id").unwrap_err().to_string();
        assert_eq!(fast, general);
        assert!(fast.contains("\"abc\""), "{fast}");
    }
}
