//! [`SqliteStore`]: the [`Store`] on one SQLite file.
//!
//! Durability: the file is in WAL mode with `synchronous = NORMAL`. Every write is one
//! transaction, so a crash of the process (`kill -9` included) at any moment leaves each
//! transaction either entirely applied or not at all: a committed transaction is in the WAL
//! file, which the operating system keeps when the process dies. Only a power loss or an OS
//! crash can roll back the last few commits (never tear one); `FULL` would prevent that at the
//! cost of an fsync per commit, one per delivered webhook. Nothing here depends on that: a lost
//! import or snapshot is simply re-run, and a lost `delivered` mark means the webhook is sent
//! again, which at-least-once delivery allows (receivers de-duplicate by idempotency key).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{NaiveDate, SecondsFormat};
use northstar_saas::{Interval, PricedPeriod, SubscriptionBook};
use rusqlite::{
    params, Connection, OptionalExtension, Row, Statement, Transaction, TransactionBehavior,
};
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::migrations::MIGRATIONS;
use crate::types::*;
use crate::{Store, StoreError};

/// How long a writer waits for another process's write transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Page cache per connection: 64 MiB (a negative `cache_size` is in KiB).
const CACHE_KIB: i64 = 65_536;

/// The [`Store`] on a SQLite file (bundled SQLite, WAL mode, numbered migrations).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file if needed, and brings its schema up to date.
    ///
    /// Sets `journal_mode = WAL`, `synchronous = NORMAL` (see the module documentation),
    /// `foreign_keys = ON` and a busy timeout, then applies the missing migrations, each in its
    /// own transaction. A store whose schema is newer than this build knows is
    /// [`StoreError::SchemaTooNew`].
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("northstar.db");
    /// let store = northstar_store::SqliteStore::open(&path)?;
    /// assert_eq!(store.schema_version()?, northstar_store::SqliteStore::SCHEMA_VERSION);
    /// drop(store);
    /// // Opening again applies nothing new.
    /// assert_eq!(northstar_store::SqliteStore::open(&path)?.schema_version()?, 2);
    /// # Ok::<(), northstar_store::StoreError>(())
    /// ```
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(rusqlite::Error::InvalidParameterName(format!(
                "journal_mode is {mode}, expected wal"
            ))));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB)
            .map_err(open_err)?;
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version this build writes.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?)
    }

    /// The underlying connection, for tests and tools (read-only use is advised).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 applied_at TEXT NOT NULL
             );",
        )?;
        let known = Self::SCHEMA_VERSION;
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let version = index as i64 + 1;
            // Re-read the version inside the write transaction: another process may have
            // migrated meanwhile.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )?;
            if current > known {
                return Err(StoreError::SchemaTooNew {
                    path: self.path.clone(),
                    found: current,
                    known,
                });
            }
            if current >= version {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, now_text()],
            )?;
            tx.commit()?;
        }
        let current = self.schema_version()?;
        if current > known {
            return Err(StoreError::SchemaTooNew {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        Ok(())
    }

    fn snapshot_where(
        &self,
        condition: &str,
        param: Option<String>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let sql = format!(
            "SELECT as_of, created_at, model, config FROM snapshots {condition} ORDER BY as_of DESC LIMIT 1"
        );
        let row = self
            .conn
            .query_row(&sql, rusqlite::params_from_iter(param), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()?;
        row.map(|(as_of, created_at, model, config)| {
            Ok(Snapshot {
                as_of: parse_day(&as_of)?,
                created_at,
                model: serde_json::from_str(&model)?,
                config: serde_json::from_str(&config)?,
            })
        })
        .transpose()
    }

    /// Every interned name by id (index 0 unused).
    fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = vec![String::new()];
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM names ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let id =
                usize::try_from(id).map_err(|_| StoreError::Corrupt(format!("name id {id}")))?;
            if id >= names.len() {
                names.resize(id + 1, String::new());
            }
            names[id] = row.get(1)?;
        }
        Ok(names)
    }

    fn tasks_where(&self, condition: &str) -> Result<Vec<TaskRow>, StoreError> {
        let sql = format!(
            "SELECT id, action_id, customer_id, trigger, as_of, created_at, status FROM tasks {condition} ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, action_id, customer_id, trigger, as_of, created_at, status) = row?;
            out.push(TaskRow {
                id,
                action_id,
                customer_id,
                trigger,
                as_of: parse_day(&as_of)?,
                created_at,
                status: match status.as_str() {
                    "open" => TaskStatus::Open,
                    "done" => TaskStatus::Done,
                    other => return Err(StoreError::Corrupt(format!("task status {other:?}"))),
                },
            });
        }
        Ok(out)
    }

    fn actions_where(
        &self,
        condition: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT id, idempotency_key, trigger, customer_id, as_of, kind, url, secret_env, body, max_attempts, attempts, status, next_attempt_ms, last_error, created_at, delivered_at FROM actions {condition}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(outbox_row(r)?);
        }
        Ok(out)
    }
}

fn outbox_row(r: &Row<'_>) -> Result<OutboxRow, StoreError> {
    let kind: String = r.get(5)?;
    let kind = match kind.as_str() {
        "task" => ActionKind::Task,
        "webhook" => ActionKind::Webhook {
            url: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
            secret_env: r.get(7)?,
        },
        other => return Err(StoreError::Corrupt(format!("action kind {other:?}"))),
    };
    Ok(OutboxRow {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        trigger: r.get(2)?,
        customer_id: r.get(3)?,
        as_of: parse_day(&r.get::<_, String>(4)?)?,
        kind,
        body: r.get(8)?,
        max_attempts: r.get(9)?,
        attempts: r.get(10)?,
        status: ActionStatus::parse(&r.get::<_, String>(11)?)?,
        next_attempt_ms: r.get(12)?,
        last_error: r.get(13)?,
        created_at: r.get(14)?,
        delivered_at_ms: r.get(15)?,
    })
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Now as RFC 3339 UTC with milliseconds.
fn now_text() -> String {
    chrono::DateTime::from_timestamp_millis(now_ms())
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn parse_day(s: &str) -> Result<NaiveDate, StoreError> {
    s.parse::<NaiveDate>()
        .map_err(|_| StoreError::Corrupt(format!("date {s:?}")))
}

/// Where an import's rows go: prepared statements of one transaction.
struct Sink<'tx> {
    tx: &'tx Transaction<'tx>,
    kind: DatasetKind,
    source_id: i64,
    rows: u64,
    insert: Statement<'tx>,
    /// Events only: interned names, and the statement adding a new one.
    names: FxHashMap<Box<str>, i64>,
    add_name: Option<Statement<'tx>>,
}

impl<'tx> Sink<'tx> {
    fn new(
        tx: &'tx Transaction<'tx>,
        kind: DatasetKind,
        source_id: i64,
    ) -> Result<Self, StoreError> {
        let sql = match kind {
            DatasetKind::Transactions => {
                "INSERT INTO transactions (source_id, customer_id, day, amount) VALUES (?1, ?2, ?3, ?4)"
            }
            DatasetKind::Subscriptions => {
                "INSERT INTO subscriptions (source_id, line, customer_id, subscription_id, plan, start_date, end_date, amount, interval, interval_count, quantity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            }
            DatasetKind::Events => {
                "INSERT INTO events (ts_ms, source_id, seq, customer, user, event, feature, session_id, duration_seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            }
            DatasetKind::Customers => {
                "INSERT INTO customers (source_id, customer_id, attributes) VALUES (?1, ?2, ?3)"
            }
        };
        let mut names = FxHashMap::default();
        let mut add_name = None;
        if kind == DatasetKind::Events {
            let mut stmt = tx.prepare("SELECT id, name FROM names")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                names.insert(row.get::<_, String>(1)?.into_boxed_str(), row.get(0)?);
            }
            add_name = Some(tx.prepare("INSERT INTO names (name) VALUES (?1)")?);
        }
        Ok(Sink {
            tx,
            kind,
            source_id,
            rows: 0,
            insert: tx.prepare(sql)?,
            names,
            add_name,
        })
    }

    fn expect(&self, got: DatasetKind) -> Result<(), StoreError> {
        if self.kind == got {
            Ok(())
        } else {
            Err(StoreError::WrongKind {
                expected: self.kind.name(),
                got: got.name(),
            })
        }
    }

    fn intern(&mut self, name: &str) -> Result<i64, StoreError> {
        if let Some(&id) = self.names.get(name) {
            return Ok(id);
        }
        let add = self
            .add_name
            .as_mut()
            .ok_or_else(|| StoreError::Corrupt("names are only interned for events".into()))?;
        add.execute([name])?;
        let id = self.tx.last_insert_rowid();
        self.names.insert(name.into(), id);
        Ok(id)
    }
}

impl RowSink for Sink<'_> {
    fn transaction(
        &mut self,
        customer_id: &str,
        day: NaiveDate,
        amount: f64,
    ) -> Result<(), StoreError> {
        self.expect(DatasetKind::Transactions)?;
        self.insert
            .execute(params![self.source_id, customer_id, day_text(day), amount])?;
        self.rows += 1;
        Ok(())
    }

    fn subscription(&mut self, row: &SubscriptionRow) -> Result<(), StoreError> {
        self.expect(DatasetKind::Subscriptions)?;
        self.insert.execute(params![
            self.source_id,
            row.line as i64,
            row.customer_id,
            row.subscription_id,
            row.plan,
            day_text(row.start_date),
            row.end_date.map(day_text),
            row.amount,
            row.interval.name(),
            row.interval_count,
            row.quantity,
        ])?;
        self.rows += 1;
        Ok(())
    }

    fn event(&mut self, e: &EventRef<'_>) -> Result<(), StoreError> {
        self.expect(DatasetKind::Events)?;
        let customer = self.intern(e.customer_id)?;
        let user = self.intern(e.user_id)?;
        let event = self.intern(e.event)?;
        let feature = e.feature.map(|f| self.intern(f)).transpose()?;
        self.rows += 1;
        self.insert.execute(params![
            e.timestamp_ms,
            self.source_id,
            self.rows as i64,
            customer,
            user,
            event,
            feature,
            e.session_id,
            e.duration_seconds,
        ])?;
        Ok(())
    }

    fn customer(
        &mut self,
        customer_id: &str,
        attributes: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        self.expect(DatasetKind::Customers)?;
        let json = serde_json::to_string(attributes)?;
        self.insert
            .execute(params![self.source_id, customer_id, json])?;
        self.rows += 1;
        Ok(())
    }
}

/// Deletes every row and source of `kind`.
fn delete_kind(tx: &Transaction<'_>, kind: DatasetKind) -> Result<(), StoreError> {
    tx.execute_batch(&format!("DELETE FROM {};", kind.name()))?;
    tx.execute("DELETE FROM sources WHERE kind = ?1", [kind.name()])?;
    Ok(())
}

impl Store for SqliteStore {
    fn import(
        &mut self,
        kind: DatasetKind,
        source: &SourceInfo,
        replace: bool,
        fill: &mut dyn FnMut(&mut dyn RowSink) -> Result<(), StoreError>,
    ) -> Result<ImportOutcome, StoreError> {
        // IMMEDIATE: take the write lock now rather than fail to upgrade a read lock later.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM sources WHERE kind = ?1 AND sha256 = ?2",
                params![kind.name(), source.sha256],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(source_id) = existing {
            let others: i64 = tx.query_row(
                "SELECT count(*) FROM sources WHERE kind = ?1 AND id <> ?2",
                params![kind.name(), source_id],
                |r| r.get(0),
            )?;
            // Appending a file again, or replacing a dataset by the one file it already is:
            // nothing to do. (Dropping `tx` rolls back; nothing was written.)
            if !replace || others == 0 {
                return Ok(ImportOutcome::AlreadyImported { source_id });
            }
        }
        if replace {
            delete_kind(&tx, kind)?;
        }
        tx.execute(
            "INSERT INTO sources (kind, file_name, sha256, rows, imported_at) VALUES (?1, ?2, ?3, 0, ?4)",
            params![kind.name(), source.file_name, source.sha256, now_text()],
        )?;
        let source_id = tx.last_insert_rowid();
        let rows = {
            let mut sink = Sink::new(&tx, kind, source_id)?;
            fill(&mut sink)?;
            sink.rows
        };
        tx.execute(
            "UPDATE sources SET rows = ?1 WHERE id = ?2",
            params![rows as i64, source_id],
        )?;
        tx.commit()?;
        Ok(ImportOutcome::Imported { source_id, rows })
    }

    fn dataset_counts(&self) -> Result<DatasetCounts, StoreError> {
        // The sources table keeps each file's row count, so nothing large is scanned.
        let mut counts = DatasetCounts::default();
        let mut stmt = self
            .conn
            .prepare("SELECT kind, coalesce(sum(rows), 0) FROM sources GROUP BY kind")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let n = row.get::<_, i64>(1)? as u64;
            match row.get::<_, String>(0)?.as_str() {
                "transactions" => counts.transactions = n,
                "subscriptions" => counts.subscriptions = n,
                "events" => counts.events = n,
                "customers" => counts.customers = n,
                other => return Err(StoreError::Corrupt(format!("source kind {other:?}"))),
            }
        }
        Ok(counts)
    }

    fn for_each_transaction(
        &self,
        each: &mut dyn FnMut(&str, NaiveDate, f64),
    ) -> Result<u64, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT customer_id, day, amount FROM transactions ORDER BY rowid")?;
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let id = row.get_ref(0)?.as_str()?;
            let day = parse_day(row.get_ref(1)?.as_str()?)?;
            each(id, day, row.get(2)?);
            n += 1;
        }
        Ok(n)
    }

    fn for_each_subscription(
        &self,
        each: &mut dyn FnMut(&SubscriptionRow),
    ) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT line, customer_id, subscription_id, plan, start_date, end_date, amount, interval, interval_count, quantity FROM subscriptions ORDER BY rowid",
        )?;
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let interval: String = r.get(7)?;
            let row = SubscriptionRow {
                line: r.get::<_, i64>(0)? as u64,
                customer_id: r.get(1)?,
                subscription_id: r.get(2)?,
                plan: r.get(3)?,
                start_date: parse_day(&r.get::<_, String>(4)?)?,
                end_date: r
                    .get::<_, Option<String>>(5)?
                    .map(|s| parse_day(&s))
                    .transpose()?,
                amount: r.get(6)?,
                interval: interval
                    .parse::<Interval>()
                    .map_err(|_| StoreError::Corrupt(format!("interval {interval:?}")))?,
                interval_count: r.get(8)?,
                quantity: r.get(9)?,
            };
            each(&row);
            n += 1;
        }
        Ok(n)
    }

    fn subscription_book(&self) -> Result<Option<SubscriptionBook>, StoreError> {
        let mut builder = SubscriptionBook::builder();
        let mut bad = None;
        let n = self.for_each_subscription(&mut |row| match PricedPeriod::try_new(
            row.start_date,
            row.end_date,
            row.amount,
            row.interval,
            row.interval_count,
            row.quantity,
        ) {
            Ok(period) => builder.push(&row.customer_id, &period),
            Err(e) => {
                bad.get_or_insert_with(|| format!("subscription row of line {}: {e}", row.line));
            }
        })?;
        if let Some(bad) = bad {
            return Err(StoreError::Corrupt(bad));
        }
        Ok((n > 0).then(|| builder.finish()))
    }

    fn for_each_event(&self, each: &mut dyn FnMut(&EventRef<'_>)) -> Result<u64, StoreError> {
        let names = self.names()?;
        let name = |id: i64| -> Result<&str, StoreError> {
            usize::try_from(id)
                .ok()
                .and_then(|i| names.get(i))
                .map(String::as_str)
                .ok_or_else(|| StoreError::Corrupt(format!("name id {id}")))
        };
        let mut stmt = self.conn.prepare(
            "SELECT ts_ms, customer, user, event, feature, session_id, duration_seconds FROM events ORDER BY ts_ms, source_id, seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let feature: Option<i64> = r.get(4)?;
            let event = EventRef {
                timestamp_ms: r.get(0)?,
                customer_id: name(r.get(1)?)?,
                user_id: name(r.get(2)?)?,
                event: name(r.get(3)?)?,
                feature: feature.map(name).transpose()?,
                session_id: r.get_ref(5)?.as_str_or_null()?,
                duration_seconds: r.get(6)?,
            };
            each(&event);
            n += 1;
        }
        Ok(n)
    }

    fn for_each_interned_event(
        &self,
        from_ms: Option<i64>,
        until_ms: Option<i64>,
        each: &mut dyn FnMut(&InternedEventRef<'_>, &[String]),
    ) -> Result<u64, StoreError> {
        let names = self.names()?;
        let id = |value: i64| -> Result<u32, StoreError> {
            u32::try_from(value)
                .ok()
                .filter(|&id| (id as usize) < names.len())
                .ok_or_else(|| StoreError::Corrupt(format!("name id {value}")))
        };
        // ?1 <= ts_ms always holds with i64::MIN; the upper bound is left out when there is none.
        let upper = if until_ms.is_some() {
            "AND ts_ms < ?2"
        } else {
            "AND ?2 IS NULL"
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT ts_ms, customer, user, feature, session_id FROM events WHERE ts_ms >= ?1 {upper} ORDER BY ts_ms, source_id, seq",
        ))?;
        let mut rows = stmt.query(params![from_ms.unwrap_or(i64::MIN), until_ms])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let feature: Option<i64> = r.get(3)?;
            let event = InternedEventRef {
                timestamp_ms: r.get(0)?,
                customer: id(r.get(1)?)?,
                user: id(r.get(2)?)?,
                feature: feature.map(id).transpose()?,
                session_id: r.get_ref(4)?.as_str_or_null()?,
            };
            each(&event, &names);
            n += 1;
        }
        Ok(n)
    }

    fn latest_event_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT max(ts_ms) FROM events", [], |r| r.get(0))?)
    }

    fn events_between(
        &self,
        after_ms_exclusive: Option<i64>,
        until_ms_inclusive: i64,
        names: &[&str],
    ) -> Result<Vec<EventRow>, StoreError> {
        let mut found: Vec<(i64, i64, i64, EventRow)> = Vec::new();
        let mut lookup = self.conn.prepare("SELECT id FROM names WHERE name = ?1")?;
        let mut name_of = self.conn.prepare("SELECT name FROM names WHERE id = ?1")?;
        let mut stmt = self.conn.prepare(
            "SELECT ts_ms, source_id, seq, customer, user, feature, session_id, duration_seconds FROM events WHERE event = ?1 AND ts_ms > ?2 AND ts_ms <= ?3",
        )?;
        let mut cache: HashMap<i64, String> = HashMap::new();
        for &event_name in names {
            let Some(event_id) = lookup
                .query_row([event_name], |r| r.get::<_, i64>(0))
                .optional()?
            else {
                continue;
            };
            let mut rows = stmt.query(params![
                event_id,
                after_ms_exclusive.unwrap_or(i64::MIN),
                until_ms_inclusive
            ])?;
            while let Some(r) = rows.next()? {
                let mut text = |id: i64| -> Result<String, StoreError> {
                    if let Some(s) = cache.get(&id) {
                        return Ok(s.clone());
                    }
                    let s: String = name_of.query_row([id], |r| r.get(0))?;
                    cache.insert(id, s.clone());
                    Ok(s)
                };
                let feature: Option<i64> = r.get(5)?;
                let row = EventRow {
                    customer_id: text(r.get(3)?)?,
                    user_id: text(r.get(4)?)?,
                    timestamp_ms: r.get(0)?,
                    event: event_name.to_string(),
                    feature: feature.map(&mut text).transpose()?,
                    session_id: r.get(6)?,
                    duration_seconds: r.get(7)?,
                };
                found.push((row.timestamp_ms, r.get(1)?, r.get(2)?, row));
            }
        }
        found.sort_by_key(|(ts, source, seq, _)| (*ts, *source, *seq));
        Ok(found.into_iter().map(|(_, _, _, row)| row).collect())
    }

    fn customers(&self) -> Result<Vec<(String, Attributes)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT customer_id, attributes FROM customers ORDER BY rowid")?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<(String, Attributes)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let attributes: Map<String, Value> = serde_json::from_str(r.get_ref(1)?.as_str()?)?;
            match index.get(&id) {
                Some(&i) => out[i].1.extend(attributes),
                None => {
                    index.insert(id.clone(), out.len());
                    out.push((id, attributes));
                }
            }
        }
        Ok(out)
    }

    fn write_snapshot(
        &mut self,
        snapshot: &Snapshot,
        scores: &[CustomerScore],
        actions: &[NewAction],
    ) -> Result<WriteOutcome, StoreError> {
        let as_of = day_text(snapshot.as_of);
        let created_at = now_text();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcome = WriteOutcome::default();
        tx.execute("DELETE FROM customer_scores WHERE as_of = ?1", [&as_of])?;
        tx.execute(
            "INSERT INTO snapshots (as_of, created_at, model, config) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (as_of) DO UPDATE SET created_at = excluded.created_at, model = excluded.model, config = excluded.config",
            params![
                as_of,
                created_at,
                serde_json::to_string(&snapshot.model)?,
                serde_json::to_string(&snapshot.config)?
            ],
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO customer_scores (as_of, customer_id, fields, health, tier, segment, segment_before, explanation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for s in scores {
                insert.execute(params![
                    as_of,
                    s.customer_id,
                    s.fields.as_str(),
                    s.health,
                    s.tier,
                    s.segment,
                    s.segment_before,
                    s.explanation.as_str(),
                ])?;
                outcome.scores += 1;
            }
            let mut insert_action = tx.prepare(
                "INSERT OR IGNORE INTO actions (idempotency_key, trigger, customer_id, as_of, kind, url, secret_env, body, max_attempts, attempts, status, next_attempt_ms, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, ?12)",
            )?;
            let mut insert_task = tx.prepare(
                "INSERT INTO tasks (action_id, customer_id, trigger, as_of, created_at, status) VALUES (?1, ?2, ?3, ?4, ?5, 'open')",
            )?;
            let now = now_ms();
            for a in actions {
                let (kind, url, secret_env, status) = match &a.kind {
                    ActionKind::Task => ("task", None, None, ActionStatus::Task),
                    ActionKind::Webhook { url, secret_env } => (
                        "webhook",
                        Some(url.as_str()),
                        secret_env.as_deref(),
                        ActionStatus::Pending,
                    ),
                };
                let inserted = insert_action.execute(params![
                    a.idempotency_key,
                    a.trigger,
                    a.customer_id,
                    day_text(a.as_of),
                    kind,
                    url,
                    secret_env,
                    a.body,
                    a.max_attempts.max(1),
                    status.name(),
                    now,
                    created_at,
                ])?;
                if inserted == 0 {
                    continue;
                }
                outcome.new_actions += 1;
                if a.kind == ActionKind::Task {
                    insert_task.execute(params![
                        tx.last_insert_rowid(),
                        a.customer_id,
                        a.trigger,
                        day_text(a.as_of),
                        created_at,
                    ])?;
                    outcome.new_tasks += 1;
                }
            }
        }
        tx.commit()?;
        Ok(outcome)
    }

    fn previous_snapshot(&self, before_as_of: NaiveDate) -> Result<Option<Snapshot>, StoreError> {
        self.snapshot_where("WHERE as_of < ?1", Some(day_text(before_as_of)))
    }

    fn latest_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.snapshot_where("", None)
    }

    fn snapshot_at(&self, as_of: NaiveDate) -> Result<Option<Snapshot>, StoreError> {
        self.snapshot_where("WHERE as_of = ?1", Some(day_text(as_of)))
    }

    fn segments_at(&self, as_of: NaiveDate) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT customer_id, segment FROM customer_scores WHERE as_of = ?1")?;
        let rows = stmt.query_map([day_text(as_of)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn scores_at(&self, as_of: NaiveDate) -> Result<Vec<CustomerScore>, StoreError> {
        Ok(scores_query(
            &self.conn,
            "WHERE as_of = ?1 ORDER BY customer_id",
            &day_text(as_of),
        )?
        .into_iter()
        .map(|(_, s)| s)
        .collect())
    }

    fn customer_history(
        &self,
        customer_id: &str,
    ) -> Result<Vec<(NaiveDate, CustomerScore)>, StoreError> {
        scores_query(
            &self.conn,
            "WHERE customer_id = ?1 ORDER BY as_of DESC",
            customer_id,
        )
    }

    fn tasks(&self, open_only: bool) -> Result<Vec<TaskRow>, StoreError> {
        self.tasks_where(if open_only {
            "WHERE status = 'open'"
        } else {
            ""
        })
    }

    fn set_task_status(&mut self, id: i64, done: bool) -> Result<(), StoreError> {
        let status = if done { "done" } else { "open" };
        let changed = self.conn.execute(
            "UPDATE tasks SET status = ?1 WHERE id = ?2",
            params![status, id],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!(
                "no task with id {id}; expected an id listed by `northstar tasks`"
            )));
        }
        Ok(())
    }

    fn due_webhooks(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.actions_where(
            "WHERE status = 'pending' AND kind = 'webhook' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2",
            &[&now_ms, &limit],
        )
    }

    fn next_webhook_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(next_attempt_ms) FROM actions WHERE status = 'pending' AND kind = 'webhook'",
            [],
            |r| r.get(0),
        )?)
    }

    fn mark_delivered(&mut self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        // One statement is one transaction (autocommit).
        self.conn.execute(
            "UPDATE actions SET status = 'delivered', attempts = attempts + 1, delivered_at = ?1, last_error = NULL WHERE id = ?2 AND status = 'pending'",
            params![now_ms, id],
        )?;
        Ok(())
    }

    fn mark_failed(
        &mut self,
        id: i64,
        error: &str,
        _now_ms: i64,
        next_attempt_ms: i64,
    ) -> Result<ActionStatus, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE actions SET attempts = attempts + 1, last_error = ?1, next_attempt_ms = ?2,
                 status = CASE WHEN attempts + 1 >= max_attempts THEN 'dead' ELSE 'pending' END
             WHERE id = ?3 AND status = 'pending'",
            params![error, next_attempt_ms, id],
        )?;
        let status: Option<String> = tx
            .query_row("SELECT status FROM actions WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        tx.commit()?;
        match status {
            Some(s) => ActionStatus::parse(&s),
            None => Err(StoreError::NotFound(format!("no action with id {id}"))),
        }
    }

    fn actions(&self, status: Option<ActionStatus>) -> Result<Vec<OutboxRow>, StoreError> {
        match status {
            Some(s) => self.actions_where("WHERE status = ?1 ORDER BY id", &[&s.name()]),
            None => self.actions_where("ORDER BY id", &[]),
        }
    }
}

fn scores_query(
    conn: &Connection,
    condition: &str,
    param: &str,
) -> Result<Vec<(NaiveDate, CustomerScore)>, StoreError> {
    let sql = format!(
        "SELECT as_of, customer_id, fields, health, tier, segment, segment_before, explanation FROM customer_scores {condition}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([param])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push((
            parse_day(r.get_ref(0)?.as_str()?)?,
            CustomerScore {
                customer_id: r.get(1)?,
                fields: JsonText::from_stored(r.get(2)?)?,
                health: r.get(3)?,
                tier: r.get(4)?,
                segment: r.get(5)?,
                segment_before: r.get(6)?,
                explanation: JsonText::from_stored(r.get(7)?)?,
            },
        ));
    }
    Ok(out)
}
