//! Reading an RFM table back (the input of fitting, prediction and CLV).
//!
//! Only parsing happens here: the model-level rules (frequency is an integer ≥ 0,
//! 0 ≤ recency ≤ T, ...) are checked by the caller, which can point at [`RfmInput::line`].

use std::path::Path;

use crate::error::{show, ColumnInfo, DataError, InputError, InputErrorKind};
use crate::format::Delimiter;
use crate::records::{trim, Record, Records};

/// One row of an RFM table as read, before any model-level validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmInput {
    /// 1-based physical line of the row in the file.
    pub line: u64,
    /// Customer id as written (surrounding whitespace trimmed).
    pub customer_id: String,
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

struct Col {
    index: usize,
    name: &'static str,
}

/// Reads a comma-separated RFM table with a header. Required columns: `id_col`, `frequency`,
/// `recency` and `T` (names are case-sensitive); optional: `monetary_value` and `weight` (an
/// empty cell there reads as `None`). Other columns are ignored. Numbers must be finite.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("rfm.csv");
/// std::fs::write(&path, "customer_id,frequency,recency,T,extra\nc1,2,30.43,38.86,x\n").unwrap();
/// let rows = northstar_data::read_rfm_csv(&path, "customer_id").unwrap();
/// assert_eq!((rows[0].line, rows[0].frequency, rows[0].t, rows[0].weight), (2, 2.0, 38.86, None));
/// ```
pub fn read_rfm_csv(path: &Path, id_col: &str) -> Result<Vec<RfmInput>, DataError> {
    let mut no_progress = |_| {};
    let mut records = Records::open(path, Delimiter::Comma, &mut no_progress)?;
    let mut record = Record::new();
    let Some(header_line) = records.next(&mut record)? else {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            format!(
                "the file is empty; expected a header with columns {id_col}, frequency, recency, T"
            ),
        )
        .into());
    };
    let names: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
        .collect();
    let width = names.len();
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
    let id = find(id_col).ok_or_else(|| missing(id_col))?;
    let required = |name: &'static str| {
        find(name)
            .map(|index| Col { index, name })
            .ok_or_else(|| missing(name))
    };
    let frequency = required("frequency")?;
    let recency = required("recency")?;
    let t = required("T")?;
    let monetary = find("monetary_value").map(|index| Col {
        index,
        name: "monetary_value",
    });
    let weight = find("weight").map(|index| Col {
        index,
        name: "weight",
    });

    let info = |index: usize| ColumnInfo {
        name: names.get(index).cloned(),
        position: index + 1,
    };
    let number =
        |line: u64, col: &Col, record: &Record, optional: bool| -> Result<Option<f64>, DataError> {
            let bytes = trim(&record[col.index]);
            if optional && bytes.is_empty() {
                return Ok(None);
            }
            let parsed = std::str::from_utf8(bytes)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|v| v.is_finite());
            parsed.map(Some).ok_or_else(|| {
                DataError::from(
                    InputError::new(
                        InputErrorKind::InvalidNumber,
                        path,
                        format!(
                            "\"{}\" is not a valid {}; expected a finite number",
                            show(bytes),
                            col.name
                        ),
                    )
                    .at_line(line)
                    .in_column(info(col.index))
                    .with_value(show(bytes)),
                )
            })
        };

    let mut rows = Vec::new();
    while let Some(line) = records.next(&mut record)? {
        if record.len() != width {
            return Err(InputError::new(
                InputErrorKind::RaggedRow,
                path,
                format!(
                    "found {} fields, expected {width} (as in the header on line {header_line})",
                    record.len()
                ),
            )
            .at_line(line)
            .into());
        }
        let id_bytes = trim(&record[id]);
        let customer_id = match std::str::from_utf8(id_bytes) {
            Ok(s) if !s.is_empty() => s.to_string(),
            Ok(_) => {
                return Err(InputError::new(
                    InputErrorKind::EmptyCustomerId,
                    path,
                    "the customer id is empty; expected a non-empty id",
                )
                .at_line(line)
                .in_column(info(id))
                .into())
            }
            Err(_) => {
                return Err(InputError::new(
                    InputErrorKind::InvalidUtf8,
                    path,
                    format!(
                        "\"{}\" is not valid UTF-8; expected UTF-8 text",
                        show(id_bytes)
                    ),
                )
                .at_line(line)
                .in_column(info(id))
                .with_value(show(id_bytes))
                .into())
            }
        };
        // Required columns never yield `None`.
        let required_number =
            |col: &Col| number(line, col, &record, false).map(|v| v.unwrap_or(f64::NAN));
        rows.push(RfmInput {
            line,
            customer_id,
            frequency: required_number(&frequency)?,
            recency: required_number(&recency)?,
            t: required_number(&t)?,
            monetary_value: monetary
                .as_ref()
                .map(|c| number(line, c, &record, true))
                .transpose()?
                .flatten(),
            weight: weight
                .as_ref()
                .map(|c| number(line, c, &record, true))
                .transpose()?
                .flatten(),
        });
    }
    if rows.is_empty() {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            format!("the file has a header (line {header_line}) but no data rows; expected one row per customer"),
        )
        .into());
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
            rows,
            vec![
                RfmInput {
                    line: 2,
                    customer_id: "1".into(),
                    frequency: 2.0,
                    recency: 30.43,
                    t: 38.86,
                    monetary_value: Some(22.35),
                    weight: Some(3.0),
                },
                RfmInput {
                    line: 4,
                    customer_id: "2".into(),
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
    fn optional_columns_absent_read_as_none() {
        let (_dir, path) = file("rfm.csv", "customer_id,frequency,recency,T\na,1,2,3\n");
        let rows = read_rfm_csv(&path, "customer_id").unwrap();
        assert_eq!((rows[0].monetary_value, rows[0].weight), (None, None));
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
}
