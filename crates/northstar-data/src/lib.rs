//! Files in, tables out for northstar.
//!
//! * [`summarize_file`] streams a purchase log (CSV, TSV or whitespace-separated) once and
//!   builds the RFM summary ([`RfmRow`]) or the calibration/holdout table
//!   ([`CalibrationHoldoutRow`]) with the semantics of Python lifetimes'
//!   `summary_data_from_transaction_data` and `calibration_and_holdout_data` at daily
//!   resolution: purchases by one customer on one calendar day merge into one purchase day.
//!   Memory grows with the number of customers, not rows.
//! * [`write_rfm_csv`] and [`write_calibration_holdout_csv`] write those tables as CSV.
//! * [`read_rfm_csv`] reads an RFM table back for fitting and prediction; [`RfmFile::fold`]
//!   hands its rows out chunk by chunk on every core without building the table.
//! * [`for_each_event`] streams a product-usage events file (`customer_id,user_id,timestamp,event`
//!   plus optional `feature`, `session_id`, `duration_seconds`) as [`EventRecord`]s with UTC
//!   millisecond timestamps, in constant memory.
//!
//! Every user error is an [`InputError`] naming the file, line, column and value and saying
//! what was expected. Nothing here knows about models.
#![deny(missing_docs)]

mod blocks;
mod date;
mod error;
mod events;
mod format;
mod numeric_table;
mod records;
mod rfm_input;
mod scan;
mod summary;
mod table;
mod transactions;
mod write;

pub use error::{ColumnInfo, DataError, InputError, InputErrorKind, ParseOptionError};
pub use events::{for_each_event, EventRecord};
pub use format::{
    ColumnRef, Delimiter, NegativeAmounts, SummaryOptions, TimeUnit, TransactionFormat,
};
pub use numeric_table::{read_numeric_table, NumericTable, TableSpec};
pub use rfm_input::{read_rfm_csv, CustomerIds, RfmFile, RfmInput, RfmTable};
pub use scan::find_name;
pub use summary::{
    summarize_file, summarize_file_table, summarize_records, CalibrationHoldoutRow, RecordFeed,
    RfmRow, Summary, SummaryTable,
};
pub use transactions::for_each_transaction;
pub use write::{write_calibration_holdout_csv, write_rfm_csv, write_table_csv};

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::PathBuf;

    /// Writes `content` to a file named `name` in a fresh temporary directory.
    pub fn file(name: &str, content: impl AsRef<[u8]>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        (dir, path)
    }
}
