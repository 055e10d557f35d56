//! `northstar import transactions|subscriptions|events|customers FILE`: a file into the
//! workspace store, in one transaction.
//!
//! The file is read and validated completely inside the import transaction: the first bad row
//! stops it with the reader's message (file, line, column, value, what was expected), and the
//! store is left exactly as it was, as it is after a crash or `kill -9`. A file whose SHA-256
//! is already a source of that kind is not imported again.

use crate::format_args::TransactionFormatArgs;
use crate::store_path::StoreArgs;
use anyhow::{Context, Result};
use chrono::NaiveDate;
use northstar_data::{for_each_event, for_each_transaction, DataError};
use northstar_saas::{read_subscriptions, Interval};
use northstar_store::{
    DatasetKind, EventRef, ImportOutcome, RowSink, SourceInfo, Store, StoreError, SubscriptionRow,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Arguments of `northstar import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// A purchase log (same columns and format flags as `summarize`).
    Transactions {
        /// The purchase log.
        file: PathBuf,
        #[command(flatten)]
        format: TransactionFormatArgs,
        #[command(flatten)]
        common: Common,
    },
    /// A subscriptions CSV (the columns `saas metrics` reads).
    Subscriptions {
        /// The subscriptions CSV.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// A usage-events CSV: customer_id,user_id,timestamp,event[,feature,session_id,duration_seconds].
    Events {
        /// The events CSV.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// A customers CSV: an id column and any other columns (numbers are kept as numbers).
    Customers {
        /// The customers CSV.
        file: PathBuf,
        /// The customer id column.
        #[arg(long, default_value = "customer_id")]
        id_col: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Replace the whole dataset of this kind by this file (in one transaction) instead of
    /// adding the file to it.
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let (kind, file, common) = match &args.kind {
        Kind::Transactions { file, common, .. } => (DatasetKind::Transactions, file, common),
        Kind::Subscriptions { file, common } => (DatasetKind::Subscriptions, file, common),
        Kind::Events { file, common } => (DatasetKind::Events, file, common),
        Kind::Customers { file, common, .. } => (DatasetKind::Customers, file, common),
    };
    let source = SourceInfo {
        file_name: file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        sha256: sha256_of(file)?,
    };
    // Subscriptions are validated by the SaaS reader first, so that the errors are exactly
    // those of `saas metrics`.
    if kind == DatasetKind::Subscriptions {
        read_subscriptions(file)?;
    }
    let mut store = common.store.open()?;
    let outcome = store.import(
        kind,
        &source,
        common.replace,
        &mut |sink| match &args.kind {
            Kind::Transactions { format, .. } => fill_transactions(file, format, sink),
            Kind::Subscriptions { .. } => fill_subscriptions(file, sink),
            Kind::Events { .. } => fill_events(file, sink),
            Kind::Customers { id_col, .. } => fill_customers(file, id_col, sink),
        },
    )?;
    match outcome {
        ImportOutcome::Imported { source_id, rows } => println!(
            "imported {rows} {kind} from {} (source {source_id})",
            file.display()
        ),
        ImportOutcome::AlreadyImported { source_id } => println!(
            "{} was already imported (source {source_id}); nothing changed",
            file.display()
        ),
    }
    Ok(())
}

/// Lower-case hex SHA-256 of the file's bytes.
fn sha256_of(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Runs a reader whose callback must return a [`DataError`], pushing into the store: a store
/// error is kept aside (the reader is stopped with a placeholder) and returned as it is.
fn with_reader(
    read: impl FnOnce(
        &mut dyn FnMut(Result<(), StoreError>) -> Result<(), DataError>,
    ) -> Result<u64, DataError>,
) -> Result<(), StoreError> {
    let mut failed: Option<StoreError> = None;
    let result = read(&mut |pushed| {
        pushed.map_err(|e| {
            failed = Some(e);
            DataError::Internal("the store stopped the import".into())
        })
    });
    match (failed, result) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(StoreError::source(e)),
        (None, Ok(_)) => Ok(()),
    }
}

fn fill_transactions(
    file: &Path,
    format: &TransactionFormatArgs,
    sink: &mut dyn RowSink,
) -> Result<(), StoreError> {
    let format = format.to_format();
    with_reader(|check| {
        for_each_transaction(file, &format, |id, day, amount| {
            check(sink.transaction(id, day, amount))
        })
    })
}

fn fill_events(file: &Path, sink: &mut dyn RowSink) -> Result<(), StoreError> {
    with_reader(|check| {
        for_each_event(file, |e| {
            check(sink.event(&EventRef {
                customer_id: e.customer_id,
                user_id: e.user_id,
                timestamp_ms: e.timestamp_ms,
                event: e.event,
                feature: e.feature,
                session_id: e.session_id,
                duration_seconds: e.duration_seconds,
            }))
        })
    })
}

/// An error about one cell of a CSV file, in the readers' words.
fn cell_error(
    file: &Path,
    line: u64,
    column: &str,
    position: usize,
    message: String,
) -> StoreError {
    StoreError::source(format!(
        "{}: line {line}, column '{column}' ({position}): {message}",
        file.display()
    ))
}

/// A CSV reader over `file` with the header's trimmed names.
fn open_csv(file: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>), StoreError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(file)
        .map_err(|e| StoreError::source(format!("cannot read {}: {e}", file.display())))?;
    let names = reader
        .byte_headers()
        .map_err(|e| StoreError::source(format!("{}: {e}", file.display())))?
        .iter()
        .map(|f| String::from_utf8_lossy(f.trim_ascii()).into_owned())
        .collect();
    Ok((reader, names))
}

fn csv_error(file: &Path, e: csv::Error) -> StoreError {
    let line = e.position().map(|p| p.line());
    match (e.kind(), line) {
        (
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            },
            Some(line),
        ) => StoreError::source(format!(
            "{}: line {line}: found {len} fields, expected {expected_len} (as in the header)",
            file.display()
        )),
        (_, Some(line)) => StoreError::source(format!("{}: line {line}: {e}", file.display())),
        _ => StoreError::source(format!("{}: {e}", file.display())),
    }
}

/// Stores the subscription rows the SaaS reader has already validated.
fn fill_subscriptions(file: &Path, sink: &mut dyn RowSink) -> Result<(), StoreError> {
    let (mut reader, names) = open_csv(file)?;
    let col = |name: &str| northstar_data::find_name(&names, name);
    let required = |name: &str| {
        col(name)
            .ok_or_else(|| StoreError::source(format!("{}: no column '{name}'", file.display())))
    };
    let (customer, start, end, amount, interval) = (
        required("customer_id")?,
        required("start_date")?,
        required("end_date")?,
        required("amount")?,
        required("interval")?,
    );
    let (subscription, plan, count, quantity) = (
        col("subscription_id"),
        col("plan"),
        col("interval_count"),
        col("quantity"),
    );
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(file, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let optional = |i: Option<usize>| i.map(field).filter(|s| !s.is_empty());
        // The SaaS reader accepted every value; a value it would reject means the file changed
        // between the two reads.
        let changed = |what: &str, value: &str| {
            StoreError::source(format!(
                "{}: line {line}: {what} {value:?} is not what was validated a moment ago; expected the file not to change during the import",
                file.display()
            ))
        };
        let day = |s: &str| {
            s.get(..10)
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .ok_or_else(|| changed("date", s))
        };
        let number = |s: &str| s.parse::<f64>().map_err(|_| changed("number", s));
        let row = SubscriptionRow {
            line,
            customer_id: field(customer).to_string(),
            subscription_id: optional(subscription).map(str::to_string),
            plan: optional(plan).map(str::to_string),
            start_date: day(field(start))?,
            end_date: optional(Some(end)).map(day).transpose()?,
            amount: number(field(amount))?,
            interval: field(interval)
                .parse::<Interval>()
                .map_err(|_| changed("interval", field(interval)))?,
            interval_count: optional(count)
                .map(|s| s.parse::<u32>().map_err(|_| changed("interval_count", s)))
                .transpose()?
                .unwrap_or(1),
            quantity: optional(quantity).map(number).transpose()?.unwrap_or(1.0),
        };
        sink.subscription(&row)?;
    }
    Ok(())
}

/// A customers-file cell as JSON: an integer or a finite number as a JSON number, anything
/// else as a string.
fn attribute(value: &str) -> Value {
    if let Ok(n) = value.parse::<i64>() {
        return Value::from(n);
    }
    match value.parse::<f64>() {
        Ok(x) if x.is_finite() => Value::from(x),
        _ => Value::from(value),
    }
}

fn fill_customers(file: &Path, id_col: &str, sink: &mut dyn RowSink) -> Result<(), StoreError> {
    let (mut reader, names) = open_csv(file)?;
    let id = northstar_data::find_name(&names, id_col).ok_or_else(|| {
        StoreError::source(format!(
            "{}: no column '{id_col}' in the header ({}); expected the customer id column (choose another with --id-col)",
            file.display(),
            names.join(",")
        ))
    })?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    let mut attributes = Map::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(file, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            continue; // a blank line
        }
        rows += 1;
        attributes.clear();
        let mut customer = "";
        for (i, bytes) in record.iter().enumerate() {
            let text = std::str::from_utf8(bytes.trim_ascii()).map_err(|_| {
                cell_error(
                    file,
                    line,
                    &names[i],
                    i + 1,
                    format!(
                        "{:?} is not valid UTF-8; expected text encoded as UTF-8",
                        String::from_utf8_lossy(bytes)
                    ),
                )
            })?;
            if i == id {
                customer = text;
            } else if !text.is_empty() {
                attributes.insert(names[i].clone(), attribute(text));
            }
        }
        if customer.is_empty() {
            return Err(cell_error(
                file,
                line,
                &names[id],
                id + 1,
                "the customer id is empty; expected an id on every row".into(),
            ));
        }
        sink.customer(customer, &attributes)?;
    }
    if rows == 0 {
        return Err(StoreError::source(format!(
            "{}: the file has a header but no data rows; expected one row per customer",
            file.display()
        )));
    }
    Ok(())
}
