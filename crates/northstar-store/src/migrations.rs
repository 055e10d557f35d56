//! Numbered schema migrations: `MIGRATIONS[i]` brings the schema from version `i` to `i + 1`.
//! Each is applied in its own transaction together with its `schema_migrations` row. Never edit
//! a released migration; append a new one.

/// The migrations, in order.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: datasets, snapshots, actions, tasks.
    r#"
-- AUTOINCREMENT: a source id is never reused, even after --replace deleted its source.
CREATE TABLE sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('transactions', 'subscriptions', 'events', 'customers')),
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    rows INTEGER NOT NULL,
    imported_at TEXT NOT NULL,
    UNIQUE (kind, sha256)
);

CREATE TABLE transactions (
    source_id INTEGER NOT NULL REFERENCES sources(id),
    customer_id TEXT NOT NULL,
    day TEXT NOT NULL,
    amount REAL NOT NULL
);
CREATE INDEX transactions_by_source ON transactions(source_id);

CREATE TABLE subscriptions (
    source_id INTEGER NOT NULL REFERENCES sources(id),
    line INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    subscription_id TEXT,
    plan TEXT,
    start_date TEXT NOT NULL,
    end_date TEXT,
    amount REAL NOT NULL,
    interval TEXT NOT NULL,
    interval_count INTEGER NOT NULL,
    quantity REAL NOT NULL
);
CREATE INDEX subscriptions_by_source ON subscriptions(source_id);

-- Strings of the events table (customer ids, user ids, event names, features), interned: an
-- event row then holds small integers, which keeps 10M-event tables and their index small.
CREATE TABLE names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- Clustered by time, so that the ordered scan reads the table sequentially and appending a
-- time-ordered file appends to the tree. (source_id, seq) makes the key unique.
CREATE TABLE events (
    ts_ms INTEGER NOT NULL,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    seq INTEGER NOT NULL,
    customer INTEGER NOT NULL,
    user INTEGER NOT NULL,
    event INTEGER NOT NULL,
    feature INTEGER,
    session_id TEXT,
    duration_seconds REAL,
    PRIMARY KEY (ts_ms, source_id, seq)
) WITHOUT ROWID;
-- Events of given names in a time range (event triggers).
CREATE INDEX events_by_name ON events(event, ts_ms);

CREATE TABLE customers (
    source_id INTEGER NOT NULL REFERENCES sources(id),
    customer_id TEXT NOT NULL,
    attributes TEXT NOT NULL CHECK (json_valid(attributes) AND json_type(attributes) = 'object')
);
CREATE INDEX customers_by_source ON customers(source_id);

CREATE TABLE snapshots (
    as_of TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    model TEXT NOT NULL,
    config TEXT NOT NULL
);

CREATE TABLE customer_scores (
    as_of TEXT NOT NULL REFERENCES snapshots(as_of) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    health REAL,
    tier TEXT,
    segment TEXT NOT NULL,
    segment_before TEXT,
    explanation TEXT NOT NULL,
    PRIMARY KEY (as_of, customer_id)
) WITHOUT ROWID;
CREATE INDEX customer_scores_by_customer ON customer_scores(customer_id, as_of);

CREATE TABLE actions (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    trigger TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('task', 'webhook')),
    url TEXT,
    secret_env TEXT,
    body TEXT NOT NULL,
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead', 'task')),
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX actions_due ON actions(status, next_attempt_ms);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    action_id INTEGER NOT NULL UNIQUE REFERENCES actions(id),
    customer_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    as_of TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'done'))
);
"#,
];
