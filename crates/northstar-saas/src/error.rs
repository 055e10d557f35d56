//! Error types: user errors ([`InputError`], [`SaasError::Options`]) are kept apart from I/O.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading files or computing metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaasError {
    /// A file's content is wrong; the message names the file, line, column and value.
    #[error(transparent)]
    Input(Box<InputError>),
    /// The options are inconsistent (for example `--from` after `--to`).
    #[error("{0}")]
    Options(String),
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl From<InputError> for SaasError {
    fn from(e: InputError) -> Self {
        SaasError::Input(Box::new(e))
    }
}

impl SaasError {
    /// The input error inside, if this is one.
    ///
    /// ```
    /// let err = northstar_saas::read_subscriptions("no/such/file.csv".as_ref()).unwrap_err();
    /// assert!(err.input().is_none()); // an I/O error, not an input error
    /// ```
    pub fn input(&self) -> Option<&InputError> {
        match self {
            SaasError::Input(e) => Some(e),
            _ => None,
        }
    }
}

/// What kind of user error an [`InputError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputErrorKind {
    /// The file is empty (not even a header line).
    EmptyFile,
    /// The file has a header but no data rows.
    NoData,
    /// A required column is not in the header.
    MissingColumn,
    /// A row has a different number of fields than the header.
    RaggedRow,
    /// A date is not an ISO date (`YYYY-MM-DD`) or does not exist.
    InvalidDate,
    /// A month is not written `YYYY-MM`.
    InvalidMonth,
    /// An `end_date` is before its `start_date`.
    EndBeforeStart,
    /// An `interval` is not one of `day`, `week`, `month`, `year`.
    UnknownInterval,
    /// A number could not be parsed or is not finite.
    InvalidNumber,
    /// An amount (or spend) is negative.
    NegativeAmount,
    /// A quantity is negative.
    NegativeQuantity,
    /// An `interval_count` is not a whole number ≥ 1.
    InvalidIntervalCount,
    /// A row's MRR is beyond [`Mrr::MAX_ROW`](crate::Mrr::MAX_ROW).
    TooLarge,
    /// A customer id is empty.
    EmptyCustomerId,
    /// A key that must be unique (a customer id, a month) appears twice.
    Duplicate,
    /// A field is not valid UTF-8, or the CSV is malformed.
    Malformed,
}

/// A user error in a file: names the file, the 1-based line and the column when they apply,
/// and says what was found and what was expected.
///
/// Displayed as `subs.csv: line 7, column 'end_date' (5): "2024-01-01" is before ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    /// What kind of error this is.
    pub kind: InputErrorKind,
    /// The file the error is about.
    pub path: PathBuf,
    /// 1-based line, when the error is about one line.
    pub line: Option<u64>,
    /// The column name and its 1-based position, when the error is about one column.
    pub column: Option<(String, usize)>,
    /// The offending value as written, when there is one.
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

    pub(crate) fn in_column(mut self, name: &str, index: usize) -> Self {
        self.column = Some((name.to_string(), index + 1));
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
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        if let Some((name, position)) = &self.column {
            let sep = if self.line.is_some() { ", " } else { ": " };
            write!(f, "{sep}column '{name}' ({position})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

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
