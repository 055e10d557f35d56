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
    // 2: customer_scores becomes a rowid table. Its rows (JSON fields and explanation, ~1.5 KB)
    // are too large for WITHOUT ROWID, whose b-tree then spills them to overflow pages: writing
    // 100k scores took twice as long and twice the space.
    r#"
CREATE TABLE customer_scores_rowid (
    as_of TEXT NOT NULL REFERENCES snapshots(as_of) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    health REAL,
    tier TEXT,
    segment TEXT NOT NULL,
    segment_before TEXT,
    explanation TEXT NOT NULL,
    UNIQUE (as_of, customer_id)
);
INSERT INTO customer_scores_rowid (as_of, customer_id, fields, health, tier, segment, segment_before, explanation)
    SELECT as_of, customer_id, fields, health, tier, segment, segment_before, explanation
    FROM customer_scores ORDER BY as_of, customer_id;
DROP TABLE customer_scores;
ALTER TABLE customer_scores_rowid RENAME TO customer_scores;
CREATE INDEX customer_scores_by_customer ON customer_scores(customer_id, as_of);
"#,
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use rusqlite::Connection;

    #[test]
    fn scores_keep_their_rows_when_customer_scores_becomes_a_rowid_table() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO snapshots (as_of, created_at, model, config) VALUES ('2024-06-30', 'now', '{}', '{}');
             INSERT INTO customer_scores VALUES ('2024-06-30', 'b', '{\"clv\":2}', 50.0, 'red', 'at_risk', NULL, '{}');
             INSERT INTO customer_scores VALUES ('2024-06-30', 'a', '{\"clv\":1}', NULL, NULL, 'stable', 'stable', '{}');",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        type ScoreRow = (i64, String, String, Option<f64>, Option<String>);
        let rows: Vec<ScoreRow> = conn
            .prepare("SELECT rowid, customer_id, fields, health, segment_before FROM customer_scores ORDER BY customer_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // Copied in key order, so 'a' gets rowid 1.
        assert_eq!(
            rows,
            [
                (
                    1,
                    "a".into(),
                    r#"{"clv":1}"#.into(),
                    None,
                    Some("stable".into())
                ),
                (2, "b".into(), r#"{"clv":2}"#.into(), Some(50.0), None),
            ]
        );
        // The key is still unique, and deleting the snapshot still deletes its scores.
        assert!(conn
            .execute("INSERT INTO customer_scores VALUES ('2024-06-30', 'a', '{}', NULL, NULL, 's', NULL, '{}')", [])
            .is_err());
        conn.execute("DELETE FROM snapshots", []).unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM customer_scores", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
