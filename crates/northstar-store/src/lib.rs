//! The northstar workspace store: one SQLite file holding the imported datasets, the
//! per-customer score snapshots, the tasks and the action outbox.
//!
//! * [`Store`] is the storage trait (object safe, closures as `&mut dyn FnMut`), so that another
//!   backend (Postgres) can implement it later; [`SqliteStore`] implements it on a bundled
//!   SQLite in WAL mode with numbered migrations.
//! * **Imports** ([`Store::import`]) run in one transaction: a bad row found halfway, or a
//!   `kill -9`, leaves the store exactly as it was. A file whose SHA-256 is already a source of
//!   that kind is [`ImportOutcome::AlreadyImported`]; `replace` swaps a whole dataset.
//! * **Snapshots** ([`Store::write_snapshot`]) store the scores of one as-of date together with
//!   the actions they trigger, in one transaction; actions are de-duplicated by their
//!   idempotency key, so a second refresh of the same date creates none.
//! * **The outbox** ([`Store::due_webhooks`], [`Store::mark_delivered`],
//!   [`Store::mark_failed`]) changes one action per short transaction: after a crash an action
//!   is either still pending (sent again: at least once) or delivered. Only the *name* of a
//!   secret's environment variable is stored, never a secret.
//!
//! ```
//! use chrono::NaiveDate;
//! use northstar_store::{DatasetKind, ImportOutcome, SourceInfo, SqliteStore, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = SqliteStore::open(&dir.path().join("northstar.db"))?;
//! let source = SourceInfo { file_name: "tx.csv".into(), sha256: "ab12".into() };
//! let day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
//! let outcome = store.import(DatasetKind::Transactions, &source, false, &mut |sink| {
//!     sink.transaction("acme", day, 10.0)?;
//!     sink.transaction("zeta", day, 5.0)
//! })?;
//! assert_eq!(outcome, ImportOutcome::Imported { source_id: 1, rows: 2 });
//! let again = store.import(DatasetKind::Transactions, &source, false, &mut |_| Ok(()))?;
//! assert_eq!(again, ImportOutcome::AlreadyImported { source_id: 1 });
//! assert_eq!(store.dataset_counts()?.transactions, 2);
//! # Ok::<(), northstar_store::StoreError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod migrations;
mod sqlite;
mod types;

pub use error::StoreError;
pub use sqlite::SqliteStore;
pub use types::{
    ActionKind, ActionStatus, Attributes, CustomerScore, DatasetCounts, DatasetKind, EventRef,
    EventRow, ImportOutcome, InternedEventRef, JsonText, NewAction, OutboxRow, RowSink, Snapshot,
    SourceInfo, SubscriptionRow, TaskRow, TaskStatus, WriteOutcome,
};

use chrono::NaiveDate;
use northstar_saas::SubscriptionBook;
use std::collections::HashMap;

/// Everything the commands need from a store. Implemented by [`SqliteStore`]; object safe.
///
/// Every method that writes runs in its own transaction and either commits entirely or leaves
/// the store unchanged.
pub trait Store {
    // --- Datasets ----------------------------------------------------------------------------

    /// Imports one file as a source of `kind`, in one transaction.
    ///
    /// `fill` is handed a [`RowSink`] and must push every row of the file into it (rows of
    /// `kind` only); any error it returns (for example the reader's error about a bad row,
    /// wrapped with [`StoreError::source`]) rolls everything back and is returned as it is.
    /// If a source of `kind` with the same `sha256` exists, nothing is read or written and the
    /// outcome is [`ImportOutcome::AlreadyImported`]; with `replace` that holds only when that
    /// file is the dataset's only source (otherwise the dataset is replaced by it). With
    /// `replace`, every row and source of `kind` is deleted first, in the same transaction.
    fn import(
        &mut self,
        kind: DatasetKind,
        source: &SourceInfo,
        replace: bool,
        fill: &mut dyn FnMut(&mut dyn RowSink) -> Result<(), StoreError>,
    ) -> Result<ImportOutcome, StoreError>;

    /// Rows per dataset kind.
    fn dataset_counts(&self) -> Result<DatasetCounts, StoreError>;

    /// Calls `each(customer_id, day, amount)` for every stored purchase, sources in import order
    /// and rows in file order (so customers come in the order of their first appearance, as
    /// `summarize_file` gives them).
    fn for_each_transaction(
        &self,
        each: &mut dyn FnMut(&str, NaiveDate, f64),
    ) -> Result<u64, StoreError>;

    /// Calls `each` for every stored subscription row, sources in import order and rows in
    /// file order.
    fn for_each_subscription(
        &self,
        each: &mut dyn FnMut(&SubscriptionRow),
    ) -> Result<u64, StoreError>;

    /// The stored subscriptions as a [`SubscriptionBook`], as `saas metrics` would read them
    /// from the files. `None` when no subscriptions are stored.
    fn subscription_book(&self) -> Result<Option<SubscriptionBook>, StoreError>;

    /// Calls `each` for every stored event in order of `timestamp_ms` (ties in import order).
    /// Memory stays constant: the events are streamed.
    fn for_each_event(&self, each: &mut dyn FnMut(&EventRef<'_>)) -> Result<u64, StoreError>;

    /// [`for_each_event`](Self::for_each_event) for the events with `from_ms <= timestamp_ms
    /// < until_ms` (no bound where `None`), without looking up names: customer, user and
    /// feature come as ids, and `each` gets the name table too (`names[id]` is the string of
    /// `id`). Much cheaper per event; for consumers that key state by those ids.
    fn for_each_interned_event(
        &self,
        from_ms: Option<i64>,
        until_ms: Option<i64>,
        each: &mut dyn FnMut(&InternedEventRef<'_>, &[String]),
    ) -> Result<u64, StoreError>;

    /// The time of the latest stored event (`None` without events), without a scan.
    fn latest_event_ms(&self) -> Result<Option<i64>, StoreError>;

    /// The events with `after_ms_exclusive < timestamp_ms <= until_ms_inclusive` (no lower
    /// bound when `None`) whose name is one of `names`, ordered by timestamp.
    fn events_between(
        &self,
        after_ms_exclusive: Option<i64>,
        until_ms_inclusive: i64,
        names: &[&str],
    ) -> Result<Vec<EventRow>, StoreError>;

    /// Every customer of the customers dataset with its attributes (the file's other columns;
    /// numbers as JSON numbers, other values as strings, empty cells absent), in order of first
    /// appearance. A customer in several sources gets the attributes merged, later sources
    /// winning.
    fn customers(&self) -> Result<Vec<(String, Attributes)>, StoreError>;

    // --- Snapshots ---------------------------------------------------------------------------

    /// In one transaction: replaces the snapshot and the scores of `snapshot.as_of`, and inserts
    /// `actions`, ignoring those whose idempotency key exists already. A task action also gets
    /// its task row. Reports how many actions and tasks were new.
    fn write_snapshot(
        &mut self,
        snapshot: &Snapshot,
        scores: &[CustomerScore],
        actions: &[NewAction],
    ) -> Result<WriteOutcome, StoreError>;

    /// The snapshot with the latest as-of date strictly before `before_as_of`.
    fn previous_snapshot(&self, before_as_of: NaiveDate) -> Result<Option<Snapshot>, StoreError>;

    /// The snapshot with the latest as-of date.
    fn latest_snapshot(&self) -> Result<Option<Snapshot>, StoreError>;

    /// The snapshot of one as-of date.
    fn snapshot_at(&self, as_of: NaiveDate) -> Result<Option<Snapshot>, StoreError>;

    /// Customer id → segment in the snapshot of `as_of` (empty when there is none).
    fn segments_at(&self, as_of: NaiveDate) -> Result<HashMap<String, String>, StoreError>;

    /// Every customer's score in the snapshot of `as_of`, ordered by customer id.
    fn scores_at(&self, as_of: NaiveDate) -> Result<Vec<CustomerScore>, StoreError>;

    /// One customer's scores over every snapshot, newest first, with their as-of dates.
    fn customer_history(
        &self,
        customer_id: &str,
    ) -> Result<Vec<(NaiveDate, CustomerScore)>, StoreError>;

    // --- Tasks and the outbox -------------------------------------------------------------

    /// The tasks, oldest first; only the open ones with `open_only`.
    fn tasks(&self, open_only: bool) -> Result<Vec<TaskRow>, StoreError>;

    /// Marks a task done (`done`) or open again. [`StoreError::NotFound`] for an unknown id.
    fn set_task_status(&mut self, id: i64, done: bool) -> Result<(), StoreError>;

    /// Pending webhook actions with `next_attempt_ms <= now_ms`, oldest first, at most `limit`.
    fn due_webhooks(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;

    /// The earliest `next_attempt_ms` of a pending webhook, if any is pending.
    fn next_webhook_due(&self) -> Result<Option<i64>, StoreError>;

    /// Marks a pending action delivered (one transaction). A no-op for an action that is not
    /// pending any more.
    fn mark_delivered(&mut self, id: i64, now_ms: i64) -> Result<(), StoreError>;

    /// Records a failed attempt of a pending action (one transaction): increments `attempts`,
    /// stores `error` and the next attempt time; when `attempts` reaches `max_attempts` the
    /// action becomes [`ActionStatus::Dead`]. Returns the new status.
    fn mark_failed(
        &mut self,
        id: i64,
        error: &str,
        now_ms: i64,
        next_attempt_ms: i64,
    ) -> Result<ActionStatus, StoreError>;

    /// Every action, oldest first, or those with one status.
    fn actions(&self, status: Option<ActionStatus>) -> Result<Vec<OutboxRow>, StoreError>;
}
