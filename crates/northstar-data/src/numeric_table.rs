//! Small comma-separated tables of named numeric columns, with optional text columns (a
//! customer id, a cohort label): the inputs of the discrete-time and subscription models.

use std::path::Path;

use crate::error::{show, ColumnInfo, DataError, InputError, InputErrorKind};
use crate::format::Delimiter;
use crate::records::{trim, Record, Records};

/// Which columns to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableSpec<'a> {
    /// Numeric columns that must be present.
    pub required: &'a [&'a str],
    /// Numeric columns read when present (an empty cell reads as `None`).
    pub optional: &'a [&'a str],
    /// Text columns read when present (e.g. `customer_id`, `cohort`).
    pub text: &'a [&'a str],
}

/// A table read by [`read_numeric_table`]: one entry per data row in every column.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericTable {
    /// 1-based physical line of each row.
    pub lines: Vec<u64>,
    /// The required columns, in the order of [`TableSpec::required`].
    pub required: Vec<Vec<f64>>,
    /// The optional columns, in the order of [`TableSpec::optional`]; `None` for a missing column.
    pub optional: Vec<Option<Vec<Option<f64>>>>,
    /// The text columns, in the order of [`TableSpec::text`]; `None` for a missing column.
    pub text: Vec<Option<Vec<String>>>,
}

/// Reads a comma-separated table with a header; numbers must be finite.
///
/// ```
/// use northstar_data::{read_numeric_table, TableSpec};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("cohort.csv");
/// std::fs::write(&path, "period,alive\n0,1000\n1,631\n").unwrap();
/// let spec = TableSpec { required: &["period", "alive"], ..TableSpec::default() };
/// let table = read_numeric_table(&path, &spec).unwrap();
/// assert_eq!(table.required[1], vec![1000.0, 631.0]);
/// assert_eq!(table.lines, vec![2, 3]);
/// ```
pub fn read_numeric_table(path: &Path, spec: &TableSpec) -> Result<NumericTable, DataError> {
    let mut no_progress = |_| {};
    let mut records = Records::open(path, Delimiter::Comma, &mut no_progress)?;
    let mut record = Record::new();
    let Some(header_line) = records.next(&mut record)? else {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            format!(
                "the file is empty; expected a header with columns {}",
                spec.required.join(", ")
            ),
        )
        .into());
    };
    let names: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
        .collect();
    let find = |name: &str| names.iter().position(|n| n == name);
    let required = spec
        .required
        .iter()
        .map(|name| {
            find(name).ok_or_else(|| {
                DataError::from(
                    InputError::new(
                        InputErrorKind::MissingColumn,
                        path,
                        format!(
                            "no column named '{name}' in the header; expected columns {} (available: {})",
                            spec.required.join(", "),
                            names.join(", ")
                        ),
                    )
                    .at_line(header_line),
                )
            })
        })
        .collect::<Result<Vec<usize>, DataError>>()?;
    let optional: Vec<Option<usize>> = spec.optional.iter().map(|n| find(n)).collect();
    let text: Vec<Option<usize>> = spec.text.iter().map(|n| find(n)).collect();

    let mut table = NumericTable {
        lines: Vec::new(),
        required: vec![Vec::new(); required.len()],
        optional: optional.iter().map(|c| c.map(|_| Vec::new())).collect(),
        text: text.iter().map(|c| c.map(|_| Vec::new())).collect(),
    };
    let number = |line: u64, index: usize, record: &Record| -> Result<Option<f64>, DataError> {
        let bytes = trim(&record[index]);
        if bytes.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| {
                DataError::from(
                    InputError::new(
                        InputErrorKind::InvalidNumber,
                        path,
                        format!(
                            "\"{}\" is not a valid {}; expected a finite number",
                            show(bytes),
                            names[index]
                        ),
                    )
                    .at_line(line)
                    .in_column(ColumnInfo {
                        name: Some(names[index].clone()),
                        position: index + 1,
                    })
                    .with_value(show(bytes)),
                )
            })
    };
    while let Some(line) = records.next(&mut record)? {
        if record.len() != names.len() {
            return Err(InputError::new(
                InputErrorKind::RaggedRow,
                path,
                format!(
                    "found {} fields, expected {} (as in the header on line {header_line})",
                    record.len(),
                    names.len()
                ),
            )
            .at_line(line)
            .into());
        }
        table.lines.push(line);
        for (column, &index) in table.required.iter_mut().zip(&required) {
            let value = number(line, index, &record)?.ok_or_else(|| {
                DataError::from(
                    InputError::new(
                        InputErrorKind::InvalidNumber,
                        path,
                        format!("the {} cell is empty; expected a number", names[index]),
                    )
                    .at_line(line)
                    .in_column(ColumnInfo {
                        name: Some(names[index].clone()),
                        position: index + 1,
                    }),
                )
            })?;
            column.push(value);
        }
        for (column, index) in table.optional.iter_mut().zip(&optional) {
            if let (Some(column), Some(index)) = (column, index) {
                column.push(number(line, *index, &record)?);
            }
        }
        for (column, index) in table.text.iter_mut().zip(&text) {
            if let (Some(column), Some(index)) = (column, index) {
                column.push(String::from_utf8_lossy(trim(&record[*index])).into_owned());
            }
        }
    }
    if table.lines.is_empty() {
        return Err(InputError::new(
            InputErrorKind::NoData,
            path,
            format!("the file has a header (line {header_line}) but no data rows"),
        )
        .into());
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::file;

    #[test]
    fn reads_required_optional_and_text_columns_and_names_bad_cells() {
        let (_dir, path) = file("t.csv", "cohort,tenure,churned,weight\na,3,1,\nb,5,0,2\n");
        let spec = TableSpec {
            required: &["tenure", "churned"],
            optional: &["weight", "missing"],
            text: &["cohort", "customer_id"],
        };
        let t = read_numeric_table(&path, &spec).unwrap();
        assert_eq!(t.required, vec![vec![3.0, 5.0], vec![1.0, 0.0]]);
        assert_eq!(t.optional, vec![Some(vec![None, Some(2.0)]), None]);
        assert_eq!(t.text, vec![Some(vec!["a".into(), "b".into()]), None]);

        let (_dir, path) = file("t.csv", "tenure,churned\n3,1\n4,yes\n");
        let err = read_numeric_table(&path, &spec).unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("yes") && err.contains("churned"),
            "{err}"
        );
        let (_dir, path) = file("t.csv", "tenure\n3\n");
        let err = read_numeric_table(&path, &spec).unwrap_err().to_string();
        assert!(err.contains("churned") && err.contains("line 1"), "{err}");
    }
}
