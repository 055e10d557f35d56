//! The store's guarantees, each on a fresh file in a temporary directory.

use chrono::NaiveDate;
use northstar_saas::Interval;
use northstar_store::*;
use serde_json::{json, Map, Value};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("northstar.db")).unwrap();
    (dir, store)
}

fn source(name: &str) -> SourceInfo {
    SourceInfo {
        file_name: name.into(),
        sha256: format!("sha-of-{name}"),
    }
}

/// Imports `rows` (customer, day, amount) as transactions from a file named `name`.
fn import_tx(
    store: &mut SqliteStore,
    name: &str,
    rows: &[(&str, &str, f64)],
    replace: bool,
) -> ImportOutcome {
    store
        .import(
            DatasetKind::Transactions,
            &source(name),
            replace,
            &mut |sink| {
                for (id, day, amount) in rows {
                    sink.transaction(id, d(day), *amount)?;
                }
                Ok(())
            },
        )
        .unwrap()
}

fn stored_tx(store: &SqliteStore) -> Vec<(String, NaiveDate, f64)> {
    let mut out = Vec::new();
    store
        .for_each_transaction(&mut |id, day, amount| out.push((id.to_string(), day, amount)))
        .unwrap();
    out
}

fn sources(store: &SqliteStore) -> i64 {
    store
        .connection()
        .query_row("SELECT count(*) FROM sources", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn migrations_are_applied_once_and_reopening_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("northstar.db");
    for _ in 0..3 {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), 2);
        let applied: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(applied, 2);
        let mode: String = store
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

#[test]
fn a_store_with_a_newer_schema_is_refused_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("northstar.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .connection()
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 'later')",
            [],
        )
        .unwrap();
    drop(store);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                known: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[test]
fn a_failed_import_rolls_back_and_leaves_the_previous_rows() {
    let (_dir, mut store) = open();
    import_tx(
        &mut store,
        "a.csv",
        &[("x", "2024-01-01", 1.0), ("y", "2024-01-02", 2.0)],
        false,
    );
    let before = stored_tx(&store);
    for replace in [false, true] {
        let err = store
            .import(
                DatasetKind::Transactions,
                &source("b.csv"),
                replace,
                &mut |sink| {
                    sink.transaction("z", d("2024-02-01"), 5.0)?;
                    sink.transaction("z", d("2024-02-02"), 6.0)?;
                    Err(StoreError::source(std::io::Error::other(
                        "b.csv: line 4, column 'date' (2): \"2024-02-30\" is not a valid date",
                    )))
                },
            )
            .unwrap_err();
        // The reader's message comes back untouched.
        assert_eq!(
            err.to_string(),
            "b.csv: line 4, column 'date' (2): \"2024-02-30\" is not a valid date"
        );
        assert_eq!(stored_tx(&store), before, "replace = {replace}");
        assert_eq!(store.dataset_counts().unwrap().transactions, 2);
        assert_eq!(sources(&store), 1);
    }
}

#[test]
fn the_same_file_twice_is_already_imported_and_adds_no_rows() {
    let (_dir, mut store) = open();
    let rows = [("x", "2024-01-01", 1.0), ("x", "2024-01-05", 2.5)];
    assert_eq!(
        import_tx(&mut store, "a.csv", &rows, false),
        ImportOutcome::Imported {
            source_id: 1,
            rows: 2
        }
    );
    assert_eq!(
        import_tx(&mut store, "a.csv", &rows, false),
        ImportOutcome::AlreadyImported { source_id: 1 }
    );
    // The same bytes under another kind are a different dataset.
    let events = store
        .import(
            DatasetKind::Events,
            &source("a.csv"),
            false,
            &mut |_| Ok(()),
        )
        .unwrap();
    assert_eq!(
        events,
        ImportOutcome::Imported {
            source_id: 2,
            rows: 0
        }
    );
    assert_eq!(stored_tx(&store).len(), 2);
    assert_eq!(store.dataset_counts().unwrap().transactions, 2);
}

#[test]
fn another_file_is_appended_and_replace_swaps_the_whole_dataset() {
    let (_dir, mut store) = open();
    import_tx(&mut store, "a.csv", &[("x", "2024-01-01", 1.0)], false);
    import_tx(
        &mut store,
        "b.csv",
        &[("y", "2024-01-02", 2.0), ("z", "2024-01-03", 3.0)],
        false,
    );
    assert_eq!(store.dataset_counts().unwrap().transactions, 3);
    let outcome = import_tx(&mut store, "c.csv", &[("w", "2024-03-01", 9.0)], true);
    assert_eq!(
        outcome,
        ImportOutcome::Imported {
            source_id: 3,
            rows: 1
        }
    );
    assert_eq!(
        stored_tx(&store),
        vec![("w".to_string(), d("2024-03-01"), 9.0)]
    );
    assert_eq!(sources(&store), 1);
    // Replacing by the file the dataset already is: nothing to do.
    assert_eq!(
        import_tx(&mut store, "c.csv", &[("w", "2024-03-01", 9.0)], true),
        ImportOutcome::AlreadyImported { source_id: 3 }
    );
    // Replacing a dataset of two files by one of them keeps only that one.
    import_tx(&mut store, "a.csv", &[("x", "2024-01-01", 1.0)], false);
    import_tx(&mut store, "a.csv", &[("x", "2024-01-01", 1.0)], true);
    assert_eq!(
        stored_tx(&store),
        vec![("x".to_string(), d("2024-01-01"), 1.0)]
    );
}

#[test]
fn a_row_of_another_kind_is_refused() {
    let (_dir, mut store) = open();
    let err = store
        .import(
            DatasetKind::Customers,
            &source("c.csv"),
            false,
            &mut |sink| sink.transaction("x", d("2024-01-01"), 1.0),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a transactions row was pushed while importing customers"
    );
    assert_eq!(sources(&store), 0);
}

fn ev<'a>(
    customer: &'a str,
    user: &'a str,
    ts: i64,
    event: &'a str,
    feature: Option<&'a str>,
) -> EventRef<'a> {
    EventRef {
        customer_id: customer,
        user_id: user,
        timestamp_ms: ts,
        event,
        feature,
        session_id: (user == "u1").then_some("s-1"),
        duration_seconds: (event == "login").then_some(12.5),
    }
}

#[test]
fn events_come_back_in_time_order_and_by_name_within_a_range() {
    let (_dir, mut store) = open();
    let file = [
        ev("acme", "u1", 3_000, "login", None),
        ev("acme", "u2", 1_000, "limit_hit", Some("reports")),
        ev("zeta", "u3", 2_000, "export", Some("reports")),
        ev("acme", "u1", 2_000, "limit_hit", None),
        ev("zeta", "u3", 5_000, "limit_hit", Some("api")),
    ];
    store
        .import(DatasetKind::Events, &source("e.csv"), false, &mut |sink| {
            file.iter().try_for_each(|e| sink.event(e))
        })
        .unwrap();
    let mut seen = Vec::new();
    let n = store
        .for_each_event(&mut |e| {
            seen.push((
                e.timestamp_ms,
                e.customer_id.to_string(),
                e.user_id.to_string(),
                e.event.to_string(),
                e.feature.map(str::to_string),
                e.session_id.map(str::to_string),
                e.duration_seconds,
            ))
        })
        .unwrap();
    assert_eq!(n, 5);
    let times: Vec<i64> = seen.iter().map(|s| s.0).collect();
    // Ties (2,000) in file order: zeta's export came before acme's limit_hit.
    assert_eq!(times, [1_000, 2_000, 2_000, 3_000, 5_000]);
    assert_eq!(seen[1].3, "export");
    assert_eq!(
        seen[3],
        (
            3_000,
            "acme".into(),
            "u1".into(),
            "login".into(),
            None,
            Some("s-1".into()),
            Some(12.5)
        )
    );
    assert_eq!(seen[4].4.as_deref(), Some("api"));

    // The interned scan: the same events in the same order, names through the name table.
    let mut interned = Vec::new();
    let n = store
        .for_each_interned_event(None, None, &mut |e, names| {
            let name = |id: u32| names[id as usize].clone();
            interned.push((
                e.timestamp_ms,
                name(e.customer),
                name(e.user),
                e.feature.map(name),
                e.session_id.map(str::to_string),
            ))
        })
        .unwrap();
    assert_eq!(n, 5);
    let expected: Vec<_> = seen
        .iter()
        .map(|s| (s.0, s.1.clone(), s.2.clone(), s.4.clone(), s.5.clone()))
        .collect();
    assert_eq!(interned, expected);
    // A range: [2,000, 5,000) holds the three events at 2,000, 2,000 and 3,000.
    let mut times = Vec::new();
    let n = store
        .for_each_interned_event(Some(2_000), Some(5_000), &mut |e, _| {
            times.push(e.timestamp_ms)
        })
        .unwrap();
    assert_eq!((n, times), (3, vec![2_000, 2_000, 3_000]));
    let mut times = Vec::new();
    store
        .for_each_interned_event(Some(3_000), None, &mut |e, _| times.push(e.timestamp_ms))
        .unwrap();
    assert_eq!(times, [3_000, 5_000]);
    assert_eq!(store.latest_event_ms().unwrap(), Some(5_000));

    // (1,000, 5,000]: the limit_hit at 1,000 is excluded, the one at 5,000 included.
    let hits = store
        .events_between(Some(1_000), 5_000, &["limit_hit", "never_seen"])
        .unwrap();
    let got: Vec<(i64, &str)> = hits
        .iter()
        .map(|e| (e.timestamp_ms, e.customer_id.as_str()))
        .collect();
    assert_eq!(got, [(2_000, "acme"), (5_000, "zeta")]);
    assert_eq!(hits[1].feature.as_deref(), Some("api"));
    let all = store.events_between(None, 4_999, &["limit_hit"]).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0].as_ref(),
        ev("acme", "u2", 1_000, "limit_hit", Some("reports"))
    );
}

#[test]
fn subscriptions_rebuild_the_book_and_customers_merge_attributes() {
    let (_dir, mut store) = open();
    let row = |line, customer: &str, start, end: Option<&str>, amount, quantity| SubscriptionRow {
        line,
        customer_id: customer.into(),
        subscription_id: Some("s1".into()),
        plan: None,
        start_date: d(start),
        end_date: end.map(d),
        amount,
        interval: Interval::Month,
        interval_count: 1,
        quantity,
    };
    let rows = [
        row(2, "acme", "2024-01-15", Some("2024-03-01"), 20.0, 5.0),
        row(3, "acme", "2024-03-01", None, 20.0, 8.0),
        row(4, "zeta", "2024-02-10", None, 100.0, 1.0),
    ];
    store
        .import(
            DatasetKind::Subscriptions,
            &source("s.csv"),
            false,
            &mut |sink| rows.iter().try_for_each(|r| sink.subscription(r)),
        )
        .unwrap();
    let mut back = Vec::new();
    store
        .for_each_subscription(&mut |r| back.push(r.clone()))
        .unwrap();
    assert_eq!(back, rows);
    let book = store.subscription_book().unwrap().unwrap();
    assert_eq!((book.customers(), book.rows()), (2, 3));
    assert_eq!(book.first_mrr_month().unwrap().to_string(), "2024-01");

    let attrs = |v: Value| -> Map<String, Value> { v.as_object().unwrap().clone() };
    store
        .import(
            DatasetKind::Customers,
            &source("c1.csv"),
            false,
            &mut |sink| {
                sink.customer("acme", &attrs(json!({"nps": 8, "plan": "team"})))?;
                sink.customer("zeta", &attrs(json!({"nps": 3})))
            },
        )
        .unwrap();
    store
        .import(
            DatasetKind::Customers,
            &source("c2.csv"),
            false,
            &mut |sink| sink.customer("acme", &attrs(json!({"nps": 9, "tickets": 2}))),
        )
        .unwrap();
    let customers = store.customers().unwrap();
    assert_eq!(customers.len(), 2);
    assert_eq!(
        customers[0],
        (
            "acme".to_string(),
            attrs(json!({"nps": 9, "plan": "team", "tickets": 2}))
        )
    );
    assert_eq!(
        store.dataset_counts().unwrap(),
        DatasetCounts {
            transactions: 0,
            subscriptions: 3,
            events: 0,
            customers: 3
        }
    );
}

fn score(customer: &str, segment: &str, health: f64) -> CustomerScore {
    CustomerScore {
        customer_id: customer.into(),
        fields: JsonText::from_value(&json!({"p_alive": 0.5, "clv": null})).unwrap(),
        health: Some(health),
        tier: Some(if health >= 76.0 { "green" } else { "red" }.into()),
        segment: segment.into(),
        segment_before: None,
        explanation: JsonText::from_value(&json!([{"field": "p_alive", "score": 50}])).unwrap(),
    }
}

fn action(trigger: &str, customer: &str, as_of: &str, kind: ActionKind) -> NewAction {
    NewAction {
        idempotency_key: format!("{trigger}/{customer}/{as_of}"),
        trigger: trigger.into(),
        customer_id: customer.into(),
        as_of: d(as_of),
        kind,
        body: format!(r#"{{"customer_id":"{customer}"}}"#),
        max_attempts: 3,
    }
}

fn webhook() -> ActionKind {
    ActionKind::Webhook {
        url: "http://127.0.0.1:9/hook".into(),
        secret_env: Some("NORTHSTAR_WEBHOOK_SECRET".into()),
    }
}

fn snapshot(as_of: &str) -> Snapshot {
    Snapshot {
        as_of: d(as_of),
        created_at: String::new(),
        model: json!({"purchase": "bgnbd"}),
        config: json!({"health": {"green": 76}}),
    }
}

#[test]
fn a_second_snapshot_of_the_same_date_replaces_scores_and_adds_no_actions() {
    let (_dir, mut store) = open();
    let actions = [
        action("cs-task-on-risk", "acme", "2024-03-31", ActionKind::Task),
        action("upsell", "zeta", "2024-03-31", webhook()),
    ];
    let first = store
        .write_snapshot(
            &snapshot("2024-03-31"),
            &[
                score("acme", "at_risk", 20.0),
                score("zeta", "champion", 90.0),
            ],
            &actions,
        )
        .unwrap();
    assert_eq!(
        first,
        WriteOutcome {
            scores: 2,
            new_actions: 2,
            new_tasks: 1
        }
    );
    let second = store
        .write_snapshot(
            &snapshot("2024-03-31"),
            &[score("acme", "stable", 60.0)],
            &actions,
        )
        .unwrap();
    assert_eq!(
        second,
        WriteOutcome {
            scores: 1,
            new_actions: 0,
            new_tasks: 0
        }
    );
    assert_eq!(store.actions(None).unwrap().len(), 2);
    assert_eq!(store.tasks(false).unwrap().len(), 1);
    // The scores were replaced, not added to.
    let scores = store.scores_at(d("2024-03-31")).unwrap();
    assert_eq!(scores, vec![score("acme", "stable", 60.0)]);
    assert_eq!(
        store.segments_at(d("2024-03-31")).unwrap(),
        [("acme".to_string(), "stable".to_string())].into()
    );
}

#[test]
fn task_actions_create_open_tasks_that_can_be_closed() {
    let (_dir, mut store) = open();
    store
        .write_snapshot(
            &snapshot("2024-03-31"),
            &[score("acme", "at_risk", 20.0)],
            &[
                action("cs-task-on-risk", "acme", "2024-03-31", ActionKind::Task),
                action("upsell", "acme", "2024-03-31", webhook()),
            ],
        )
        .unwrap();
    let tasks = store.tasks(true).unwrap();
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(
        (
            task.customer_id.as_str(),
            task.trigger.as_str(),
            task.as_of,
            task.status
        ),
        ("acme", "cs-task-on-risk", d("2024-03-31"), TaskStatus::Open)
    );
    let task_actions = store.actions(Some(ActionStatus::Task)).unwrap();
    assert_eq!(task_actions.len(), 1);
    assert_eq!(task_actions[0].id, task.action_id);
    // The task action is never offered for delivery.
    let due = store.due_webhooks(i64::MAX, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].trigger, "upsell");
    store.set_task_status(task.id, true).unwrap();
    assert!(store.tasks(true).unwrap().is_empty());
    assert_eq!(store.tasks(false).unwrap()[0].status, TaskStatus::Done);
    assert!(matches!(
        store.set_task_status(999, true),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_webhook_failing_max_attempts_times_is_dead_and_no_longer_due() {
    let (_dir, mut store) = open();
    store
        .write_snapshot(
            &snapshot("2024-03-31"),
            &[],
            &[action("upsell", "zeta", "2024-03-31", webhook())],
        )
        .unwrap();
    let id = store.due_webhooks(i64::MAX, 10).unwrap()[0].id;
    // max_attempts is 3: two failures leave it pending with the next attempt time.
    assert_eq!(
        store.mark_failed(id, "HTTP 500", 0, 1_000).unwrap(),
        ActionStatus::Pending
    );
    assert!(
        store.due_webhooks(999, 10).unwrap().is_empty(),
        "not due before 1,000"
    );
    assert_eq!(store.due_webhooks(1_000, 10).unwrap().len(), 1);
    assert_eq!(store.next_webhook_due().unwrap(), Some(1_000));
    assert_eq!(
        store.mark_failed(id, "HTTP 500", 1_000, 2_000).unwrap(),
        ActionStatus::Pending
    );
    assert_eq!(
        store
            .mark_failed(id, "connection refused", 2_000, 4_000)
            .unwrap(),
        ActionStatus::Dead
    );
    assert!(store.due_webhooks(i64::MAX, 10).unwrap().is_empty());
    assert_eq!(store.next_webhook_due().unwrap(), None);
    let dead = store.actions(Some(ActionStatus::Dead)).unwrap();
    assert_eq!(
        (dead[0].attempts, dead[0].last_error.as_deref()),
        (3, Some("connection refused"))
    );
    // A late success report does not revive a dead action.
    store.mark_delivered(id, 5_000).unwrap();
    assert_eq!(store.actions(Some(ActionStatus::Dead)).unwrap().len(), 1);
}

#[test]
fn a_delivered_webhook_keeps_its_body_url_and_secret_name_but_no_secret() {
    let (_dir, mut store) = open();
    store
        .write_snapshot(
            &snapshot("2024-03-31"),
            &[],
            &[action("upsell", "zeta", "2024-03-31", webhook())],
        )
        .unwrap();
    let due = store.due_webhooks(i64::MAX, 10).unwrap();
    store.mark_delivered(due[0].id, 1_234).unwrap();
    let delivered = store.actions(Some(ActionStatus::Delivered)).unwrap();
    assert_eq!(delivered.len(), 1);
    let a = &delivered[0];
    assert_eq!(
        (a.attempts, a.delivered_at_ms, a.body.as_str()),
        (1, Some(1_234), r#"{"customer_id":"zeta"}"#)
    );
    assert_eq!(a.kind, webhook());
    assert_eq!(a.idempotency_key, "upsell/zeta/2024-03-31");
    assert!(store.due_webhooks(i64::MAX, 10).unwrap().is_empty());
}

#[test]
fn snapshots_are_found_by_date_and_history_is_newest_first() {
    let (_dir, mut store) = open();
    for (as_of, segment) in [
        ("2024-01-31", "stable"),
        ("2024-03-31", "at_risk"),
        ("2024-02-29", "champion"),
    ] {
        store
            .write_snapshot(&snapshot(as_of), &[score("acme", segment, 50.0)], &[])
            .unwrap();
    }
    assert_eq!(
        store.latest_snapshot().unwrap().unwrap().as_of,
        d("2024-03-31")
    );
    assert_eq!(
        store
            .previous_snapshot(d("2024-03-31"))
            .unwrap()
            .unwrap()
            .as_of,
        d("2024-02-29")
    );
    assert_eq!(
        store
            .previous_snapshot(d("2024-03-01"))
            .unwrap()
            .unwrap()
            .as_of,
        d("2024-02-29")
    );
    assert!(store.previous_snapshot(d("2024-01-31")).unwrap().is_none());
    let snap = store.snapshot_at(d("2024-01-31")).unwrap().unwrap();
    assert_eq!(snap.model, json!({"purchase": "bgnbd"}));
    assert!(snap.created_at.ends_with('Z'), "{}", snap.created_at);
    let history = store.customer_history("acme").unwrap();
    let got: Vec<(NaiveDate, &str)> = history
        .iter()
        .map(|(day, s)| (*day, s.segment.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (d("2024-03-31"), "at_risk"),
            (d("2024-02-29"), "champion"),
            (d("2024-01-31"), "stable")
        ]
    );
    assert!(store.customer_history("nobody").unwrap().is_empty());
}

#[test]
fn an_empty_store_has_no_latest_event_and_scans_nothing() {
    let (_dir, store) = open();
    assert_eq!(store.latest_event_ms().unwrap(), None);
    let n = store
        .for_each_interned_event(None, None, &mut |_, _| panic!("no events"))
        .unwrap();
    assert_eq!(n, 0);
}
