//! Error types: user errors ([`InputError`]) are kept apart from I/O and internal failures.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The input (file content or options) is wrong; the message says where and what was expected.
    #[error(transparent)]
    Input(Box<InputError>),
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Output could not be written.
    #[error("cannot write output: {0}")]
    Write(#[source] std::io::Error),
    /// A limit of this implementation was reached (not the user's fault).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<InputError> for DataError {
    fn from(e: InputError) -> Self {
        DataError::Input(Box::new(e))
    }
}

impl DataError {
    /// The user error inside, if this is one.
    ///
    /// ```
    /// let err = northstar_data::read_rfm_csv("no/such/file.csv".as_ref(), "customer_id").unwrap_err();
    /// assert!(err.input().is_none()); // an I/O error, not an input error
    /// ```
    pub fn input(&self) -> Option<&InputError> {
        match self {
            DataError::Input(e) => Some(e),
            _ => None,
        }
    }
}

/// What kind of user error an [`InputError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputErrorKind {
    /// A date could not be parsed.
    InvalidDate,
    /// A number (amount, frequency, ...) could not be parsed or is not finite.
    InvalidNumber,
    /// A negative amount under [`NegativeAmounts::Error`](crate::NegativeAmounts::Error).
    NegativeAmount,
    /// A customer id is empty.
    EmptyCustomerId,
    /// A column named in the options is not in the header (or the file has no header).
    MissingColumn,
    /// A column position is beyond the number of fields in a row.
    ColumnOutOfRange,
    /// A row has a different number of fields than the header (or the first row).
    RaggedRow,
    /// A field that is used is not valid UTF-8.
    InvalidUtf8,
    /// The file has no data rows.
    NoData,
    /// No customer is left after applying the observation (or calibration) period.
    NoCustomers,
    /// The calibration / observation period is inconsistent.
    InvalidPeriod,
    /// An option value is invalid (for example a malformed date format).
    InvalidOption,
}

/// A column as named in an error message: its header name when known and its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The header name, if the file has a header.
    pub name: Option<String>,
    /// 1-based position of the column.
    pub position: usize,
}

impl fmt::Display for ColumnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "column '{name}' ({})", self.position),
            None => write!(f, "column {}", self.position),
        }
    }
}

/// A user error: names the file, the 1-based physical line and the column when they apply, and
/// says what was found and what was expected.
///
/// Displayed as `path: line 7, column 'date' (2): "2024-13-01" is not a valid date; expected ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    /// What kind of error this is.
    pub kind: InputErrorKind,
    /// The file the error is about.
    pub path: PathBuf,
    /// 1-based physical line, when the error is about one line.
    pub line: Option<u64>,
    /// The column, when the error is about one column.
    pub column: Option<ColumnInfo>,
    /// The offending value as written (lossily decoded), when there is one.
    pub value: Option<String>,
    /// What was wrong and what was expected (already contains the value when there is one).
    pub message: String,
}

impl InputError {
    pub(crate) fn new(kind: InputErrorKind, path: &Path, message: impl Into<String>) -> Self {
        InputError {
            kind,
            path: path.to_path_buf(),
            line: None,
            column: None,
            value: None,
            message: message.into(),
        }
    }

    pub(crate) fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    pub(crate) fn in_column(mut self, column: ColumnInfo) -> Self {
        self.column = Some(column);
        self
    }

    pub(crate) fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match (&self.line, &self.column) {
            (Some(line), Some(col)) => write!(f, ": line {line}, {col}")?,
            (Some(line), None) => write!(f, ": line {line}")?,
            (None, Some(col)) => write!(f, ": {col}")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

/// Error returned by the `FromStr` implementations of the option enums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}; expected {expected}")]
pub struct ParseOptionError {
    /// Which option was being parsed (for example "delimiter").
    pub what: &'static str,
    /// The text that was given.
    pub value: String,
    /// The accepted choices.
    pub expected: &'static str,
}

/// Lossy, length-limited rendering of a field for error messages.
pub(crate) fn show(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        s.into_owned()
    }
}
