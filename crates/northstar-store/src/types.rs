//! The values that go in and out of a [`Store`](crate::Store).

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use northstar_saas::Interval;
use serde_json::{Map, Value};

use crate::StoreError;

/// The kinds of dataset a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// Purchases: customer, day, amount.
    Transactions,
    /// Subscription rows (the columns of `northstar_saas::SUBSCRIPTION_COLUMNS`).
    Subscriptions,
    /// Product-usage events.
    Events,
    /// Customer attributes.
    Customers,
}

impl DatasetKind {
    /// Every kind, in a fixed order.
    pub const ALL: [DatasetKind; 4] = [
        DatasetKind::Transactions,
        DatasetKind::Subscriptions,
        DatasetKind::Events,
        DatasetKind::Customers,
    ];

    /// The lower-case plural name: `transactions`, `subscriptions`, `events`, `customers`.
    ///
    /// ```
    /// assert_eq!(northstar_store::DatasetKind::Events.name(), "events");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Transactions => "transactions",
            DatasetKind::Subscriptions => "subscriptions",
            DatasetKind::Events => "events",
            DatasetKind::Customers => "customers",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = StoreError;

    /// Parses the name given by [`DatasetKind::name`].
    ///
    /// ```
    /// use northstar_store::DatasetKind;
    /// assert_eq!("customers".parse::<DatasetKind>().unwrap(), DatasetKind::Customers);
    /// assert!("orders".parse::<DatasetKind>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "unknown dataset kind {s:?}; expected transactions, subscriptions, events or customers"
                ))
            })
    }
}

/// A customer's attributes: the customers file's other columns (numbers as JSON numbers,
/// other values as strings; empty cells absent).
pub type Attributes = Map<String, Value>;

/// Where an import comes from: the file's name (for people) and the SHA-256 of its bytes (for
/// idempotency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The file name as given on the command line.
    pub file_name: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The rows were stored as a new source.
    Imported {
        /// The new source's id.
        source_id: i64,
        /// Rows stored.
        rows: u64,
    },
    /// A source of this kind with the same SHA-256 exists; nothing changed.
    AlreadyImported {
        /// The existing source's id.
        source_id: i64,
    },
}

/// Rows stored per dataset kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DatasetCounts {
    /// Purchase rows.
    pub transactions: u64,
    /// Subscription rows.
    pub subscriptions: u64,
    /// Events.
    pub events: u64,
    /// Customer rows.
    pub customers: u64,
}

impl DatasetCounts {
    /// The count of one kind.
    ///
    /// ```
    /// use northstar_store::{DatasetCounts, DatasetKind};
    /// let c = DatasetCounts { events: 3, ..Default::default() };
    /// assert_eq!(c.get(DatasetKind::Events), 3);
    /// ```
    pub fn get(&self, kind: DatasetKind) -> u64 {
        match kind {
            DatasetKind::Transactions => self.transactions,
            DatasetKind::Subscriptions => self.subscriptions,
            DatasetKind::Events => self.events,
            DatasetKind::Customers => self.customers,
        }
    }
}

/// One validated subscription row, as the subscriptions reader accepted it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    /// The file line it came from.
    pub line: u64,
    /// The customer.
    pub customer_id: String,
    /// The subscription id, when the file has one.
    pub subscription_id: Option<String>,
    /// The plan, when the file has one.
    pub plan: Option<String>,
    /// First day the row applies.
    pub start_date: NaiveDate,
    /// First day it no longer applies (`None` while active).
    pub end_date: Option<NaiveDate>,
    /// Price per unit per interval.
    pub amount: f64,
    /// Billing interval.
    pub interval: Interval,
    /// Intervals per billing period (1 or more).
    pub interval_count: u32,
    /// Seats (0 or more).
    pub quantity: f64,
}

/// One event, borrowed (what [`RowSink::event`] takes and [`Store::for_each_event`](crate::Store::for_each_event) hands out).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRef<'a> {
    /// The account.
    pub customer_id: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub timestamp_ms: i64,
    /// The event name.
    pub event: &'a str,
    /// The feature used, if any.
    pub feature: Option<&'a str>,
    /// The client's session id, if any.
    pub session_id: Option<&'a str>,
    /// A reported duration in seconds, if any.
    pub duration_seconds: Option<f64>,
}

/// One stored event with its customer, user and feature as ids into the store's name table
/// (what [`Store::for_each_interned_event`](crate::Store::for_each_interned_event) hands out):
/// equal ids stand for equal strings. Only the fields engagement metrics need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InternedEventRef<'a> {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub timestamp_ms: i64,
    /// The account's name id.
    pub customer: u32,
    /// The user's name id.
    pub user: u32,
    /// The feature's name id, if any.
    pub feature: Option<u32>,
    /// The client's session id, if any.
    pub session_id: Option<&'a str>,
}

/// One event, owned (what [`Store::events_between`](crate::Store::events_between) returns).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// The account.
    pub customer_id: String,
    /// The user.
    pub user_id: String,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub timestamp_ms: i64,
    /// The event name.
    pub event: String,
    /// The feature used, if any.
    pub feature: Option<String>,
    /// The client's session id, if any.
    pub session_id: Option<String>,
    /// A reported duration in seconds, if any.
    pub duration_seconds: Option<f64>,
}

impl EventRow {
    /// Borrows this event.
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            customer_id: &self.customer_id,
            user_id: &self.user_id,
            timestamp_ms: self.timestamp_ms,
            event: &self.event,
            feature: self.feature.as_deref(),
            session_id: self.session_id.as_deref(),
            duration_seconds: self.duration_seconds,
        }
    }
}

/// Where an import's rows go. Only the method of the kind being imported may be called; the
/// others return [`StoreError::WrongKind`].
pub trait RowSink {
    /// Adds a purchase.
    fn transaction(
        &mut self,
        customer_id: &str,
        day: NaiveDate,
        amount: f64,
    ) -> Result<(), StoreError>;
    /// Adds a subscription row.
    fn subscription(&mut self, row: &SubscriptionRow) -> Result<(), StoreError>;
    /// Adds an event.
    fn event(&mut self, event: &EventRef<'_>) -> Result<(), StoreError>;
    /// Adds a customer with its attributes (a JSON object).
    fn customer(
        &mut self,
        customer_id: &str,
        attributes: &Map<String, Value>,
    ) -> Result<(), StoreError>;
}

/// A score snapshot's header: its date, when it was made, the fitted model and the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The as-of date (one snapshot per date).
    pub as_of: NaiveDate,
    /// When it was written, RFC 3339 UTC. Set by the store on write (the value given to
    /// [`Store::write_snapshot`](crate::Store::write_snapshot) is ignored).
    pub created_at: String,
    /// The fitted model(s), as JSON.
    pub model: Value,
    /// The config used, as JSON (it holds no secrets: only environment variable names).
    pub config: Value,
}

/// One customer's scores in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerScore {
    /// The customer.
    pub customer_id: String,
    /// Every per-customer field (a JSON object).
    pub fields: JsonText,
    /// Health score 0–100, if any measure applied.
    pub health: Option<f64>,
    /// `green`, `yellow` or `red`, when there is a health score.
    pub tier: Option<String>,
    /// The segment the customer is in.
    pub segment: String,
    /// The segment in the previous snapshot, if the customer was in it.
    pub segment_before: Option<String>,
    /// How the health score was made (measures, values, scores, weights), as JSON.
    pub explanation: JsonText,
}

/// A JSON value kept as its text: serialized once where it is made (a refresh makes 100k of
/// them in parallel), stored as it is, and parsed only by whoever reads it. Much smaller in
/// memory than a [`Value`] tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// The JSON text of `value`.
    ///
    /// ```
    /// let text = northstar_store::JsonText::from_value(&serde_json::json!({"clv": 1.5}))?;
    /// assert_eq!(text.as_str(), r#"{"clv":1.5}"#);
    /// assert_eq!(text.to_value()?["clv"], 1.5);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_value<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(value).map(JsonText)
    }

    /// Text read back from the store, checked to be JSON.
    pub(crate) fn from_stored(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(JsonText(text))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parsed value.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    /// A row in the tasks table.
    Task,
    /// An HTTP POST of the body.
    Webhook {
        /// The http(s) URL.
        url: String,
        /// The name of the environment variable holding the signing secret (never the secret).
        secret_env: Option<String>,
    },
}

/// An action to insert with a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAction {
    /// Unique key (trigger, customer, as-of, ...): a second insert with the same key is ignored.
    pub idempotency_key: String,
    /// The trigger's name.
    pub trigger: String,
    /// The customer.
    pub customer_id: String,
    /// The snapshot date.
    pub as_of: NaiveDate,
    /// Task or webhook.
    pub kind: ActionKind,
    /// The exact JSON bytes to send (webhooks) or to keep (tasks).
    pub body: String,
    /// Delivery attempts before the action is dead (webhooks; at least 1).
    pub max_attempts: u32,
}

/// How many rows [`Store::write_snapshot`](crate::Store::write_snapshot) wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// Customer scores stored.
    pub scores: usize,
    /// Actions that were new (not already present by idempotency key).
    pub new_actions: usize,
    /// Tasks created (one per new task action).
    pub new_tasks: usize,
}

/// The state of an action in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionStatus {
    /// A webhook waiting to be delivered (or retried).
    Pending,
    /// A webhook that was delivered.
    Delivered,
    /// A webhook that failed `max_attempts` times.
    Dead,
    /// A task action (its task row is in the tasks table).
    Task,
}

impl ActionStatus {
    /// The stored name: `pending`, `delivered`, `dead` or `task`.
    ///
    /// ```
    /// assert_eq!(northstar_store::ActionStatus::Dead.name(), "dead");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ActionStatus::Pending => "pending",
            ActionStatus::Delivered => "delivered",
            ActionStatus::Dead => "dead",
            ActionStatus::Task => "task",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<ActionStatus, StoreError> {
        match s {
            "pending" => Ok(ActionStatus::Pending),
            "delivered" => Ok(ActionStatus::Delivered),
            "dead" => Ok(ActionStatus::Dead),
            "task" => Ok(ActionStatus::Task),
            other => Err(StoreError::Corrupt(format!("action status {other:?}"))),
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One action of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// The idempotency key (receivers de-duplicate by it).
    pub idempotency_key: String,
    /// The trigger's name.
    pub trigger: String,
    /// The customer.
    pub customer_id: String,
    /// The snapshot date.
    pub as_of: NaiveDate,
    /// Task or webhook (with its URL and secret variable name).
    pub kind: ActionKind,
    /// The exact JSON bytes to send.
    pub body: String,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Attempts made.
    pub attempts: u32,
    /// Where it stands.
    pub status: ActionStatus,
    /// When the next attempt is due (ms since the epoch).
    pub next_attempt_ms: i64,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// When it was created, RFC 3339 UTC.
    pub created_at: String,
    /// When it was delivered (ms since the epoch).
    pub delivered_at_ms: Option<i64>,
}

/// Whether a task is still to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// To do.
    Open,
    /// Done.
    Done,
}

impl TaskStatus {
    /// `open` or `done`.
    ///
    /// ```
    /// assert_eq!(northstar_store::TaskStatus::Open.name(), "open");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
        }
    }
}

/// One task for the customer-success team.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    /// Row id.
    pub id: i64,
    /// The action that created it.
    pub action_id: i64,
    /// The customer.
    pub customer_id: String,
    /// The trigger's name.
    pub trigger: String,
    /// The snapshot date.
    pub as_of: NaiveDate,
    /// When it was created, RFC 3339 UTC.
    pub created_at: String,
    /// Open or done.
    pub status: TaskStatus,
}
