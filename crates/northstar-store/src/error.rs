//! The store's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store file could not be opened or set up.
    #[error("cannot open the store {}: {source}", path.display())]
    Open {
        /// The store file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The store was written by a newer northstar.
    #[error("the store {} has schema version {found}, but this northstar knows versions up to {known}; expected a store written by this version or an older one (upgrade northstar)", path.display())]
    SchemaTooNew {
        /// The store file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// A SQLite operation failed.
    #[error("store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The error of whatever fed an import (typically the file reader's error about a bad row,
    /// which names the file, line, column and value); shown as it is.
    #[error(transparent)]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// An import pushed a row of another kind than the dataset being imported.
    #[error("a {got} row was pushed while importing {expected}")]
    WrongKind {
        /// The kind being imported.
        expected: &'static str,
        /// The kind of the row that was pushed.
        got: &'static str,
    },
    /// No row with this id.
    #[error("{0}")]
    NotFound(String),
    /// A stored value cannot be read back (the file was changed by something else).
    #[error("the store holds an unreadable value: {0}")]
    Corrupt(String),
    /// JSON could not be written or read.
    #[error("store JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl StoreError {
    /// Wraps the error of an import's data source (for example a reader's error).
    ///
    /// ```
    /// let e = northstar_store::StoreError::source(std::io::Error::other("tx.csv: line 3: bad date"));
    /// assert_eq!(e.to_string(), "tx.csv: line 3: bad date");
    /// ```
    pub fn source(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError::Source(error.into())
    }
}
