//! End-to-end tests of `northstar engagement`: the real binary on small event files.

use assert_cmd::Command;
use serde_json::{json, Value};
use std::path::Path;

fn northstar() -> Command {
    Command::cargo_bin("northstar").unwrap()
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs northstar, expecting exit code 1 without a panic; returns stderr.
fn run_err(args: &[&str]) -> String {
    let out = northstar().args(args).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// As of 2024-03-30 the window is 2024-03-01 ..= 2024-03-30 and the previous window
/// 2024-01-31 ..= 2024-02-29.
const EVENTS: &str = "\
customer_id,user_id,timestamp,event,feature,session_id,duration_seconds
acme,alice,2024-03-30T09:00:00Z,login,,,
acme,alice,2024-03-30T09:20:00+00:00,export,reports,,
acme,alice,2024-03-31T01:30:00+02:00,login,,,
acme,bob,2024-03-29 14:00:00,view,,s1,30
acme,bob,2024-03-29T14:45:00Z,view,dashboards,s1,
acme,bob,2024-02-20,login,,,
zeta,carol,2024-02-15T10:00:00Z,login,,,
zeta,carol,2024-02-16T10:00:00Z,limit_hit,,,
acme,alice,2024-04-02T10:00:00Z,login,,,
";

#[test]
fn json_has_the_issue_shape_and_hand_computed_values() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(dir.path(), "events.csv", EVENTS);
    let out = northstar()
        .args(["engagement", &events, "--as-of", "2024-03-30", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // Keys in the issue's order.
    assert!(
        text.starts_with(r#"{"as_of":"2024-03-30","dau":1,"wau":2,"mau":2,"stickiness":"#),
        "{text}"
    );
    assert!(text.contains(
        r#"{"customer_id":"zeta","active_users_30d":0,"dau_mau":null,"sessions_30d":0,"avg_session_minutes":null,"features_used_30d":0,"usage_trend":-1.0,"days_since_last_activity":43}"#
    ), "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    // alice is active on 03-30 (09:00, 09:20 and 01:30+02:00 = 23:30 UTC), bob on 03-29 only:
    // dau 1, wau 2, mau 2; mean daily active users 2/30, so stickiness (2/30)/2 = 1/30.
    // Only acme is active in the window and uses both features: adoption 1 each.
    // acme sessions: alice 09:00-09:20 (20 min) and 23:30 (0 min, over 30 min after 09:20),
    // bob's s1 14:00-14:45 (45 min): 3 sessions, mean 65/3 min. Events: 5 in the window,
    // 1 in the previous one (bob 02-20): trend (5-1)/1 = 4. The 04-02 event is ignored.
    // zeta: 2 events in the previous window: trend (0-2)/2 = -1; 02-16 -> 03-30 is 43 days.
    let expected = json!({
        "as_of": "2024-03-30",
        "dau": 1,
        "wau": 2,
        "mau": 2,
        "stickiness": 1.0 / 30.0,
        "feature_adoption": {"dashboards": 1.0, "reports": 1.0},
        "accounts": [
            {
                "customer_id": "acme",
                "active_users_30d": 2,
                "dau_mau": 1.0 / 30.0,
                "sessions_30d": 3,
                "avg_session_minutes": 65.0 / 3.0,
                "features_used_30d": 2,
                "usage_trend": 4.0,
                "days_since_last_activity": 0
            },
            {
                "customer_id": "zeta",
                "active_users_30d": 0,
                "dau_mau": null,
                "sessions_30d": 0,
                "avg_session_minutes": null,
                "features_used_30d": 0,
                "usage_trend": -1.0,
                "days_since_last_activity": 43
            }
        ]
    });
    assert_eq!(got, expected);
}

#[test]
fn text_summary_shows_the_overall_figures_features_and_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(dir.path(), "events.csv", EVENTS);
    let out = northstar()
        .args(["engagement", &events, "--as-of", "2024-03-30"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("window 2024-03-01 to 2024-03-30"), "{text}");
    assert!(
        text.contains("events used: 8; 1 after the as-of date ignored"),
        "{text}"
    );
    assert!(
        text.contains("DAU 1   WAU 2   MAU 2   stickiness (mean DAU / MAU) 0.033"),
        "{text}"
    );
    let reports = text
        .lines()
        .find(|l| l.trim_start().starts_with("reports"))
        .unwrap();
    assert!(reports.ends_with(" 100.0%"), "{text}");
    let zeta = text.lines().find(|l| l.starts_with("zeta")).unwrap();
    let cells: Vec<&str> = zeta.split_whitespace().collect();
    assert_eq!(cells, ["zeta", "0", "-", "0", "-", "0", "-1.000", "43"]);
}

#[test]
fn bad_timestamp_names_line_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(
        dir.path(),
        "events.csv",
        "customer_id,user_id,timestamp,event\nacme,alice,2024-03-30,login\nacme,bob,2024-03-3O 10:00,login\n",
    );
    let err = run_err(&["engagement", &events, "--as-of", "2024-03-30", "--json"]);
    assert!(
        err.contains("events.csv: line 3, column 'timestamp' (3): \"2024-03-3O 10:00\" is not a valid timestamp"),
        "{err}"
    );
    assert!(err.contains("2024-03-01T12:00:00Z"), "{err}");
}

#[test]
fn missing_column_is_named_with_the_header_seen() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(
        dir.path(),
        "events.csv",
        "customer_id,user,timestamp,event\nacme,alice,2024-03-30,login\n",
    );
    let err = run_err(&["engagement", &events, "--as-of", "2024-03-30"]);
    assert!(
        err.contains(
            "line 1: no column named 'user_id' in the header \"customer_id,user,timestamp,event\""
        ),
        "{err}"
    );
}

/// `refresh` computes engagement from the store (window first, on several threads); every
/// account's figures must be those `northstar engagement` computes from the file.
#[test]
fn refresh_from_the_store_gives_the_figures_of_engagement_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let db = db.to_str().unwrap();
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sample_events.csv");
    northstar()
        .args(["import", "events", events, "--db", db])
        .assert()
        .success();
    // Window starts inside the data (sessions cross it) and at its end.
    for as_of in ["2024-05-20", "2024-07-03"] {
        northstar()
            .args(["refresh", "--as-of", as_of, "--db", db])
            .assert()
            .success();
        let out = northstar()
            .args(["engagement", events, "--as-of", as_of, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let store = northstar_store::SqliteStore::open(Path::new(db)).unwrap();
        use northstar_store::Store;
        let day = chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").unwrap();
        let scores = store.scores_at(day).unwrap();
        let accounts = report["accounts"].as_array().unwrap();
        assert_eq!(scores.len(), accounts.len(), "{as_of}");
        assert!(accounts
            .iter()
            .any(|a| a["sessions_30d"].as_u64() > Some(0)));
        for (score, account) in scores.iter().zip(accounts) {
            let fields = score.fields.to_value().unwrap();
            assert_eq!(json!(score.customer_id), account["customer_id"]);
            for key in [
                "active_users_30d",
                "dau_mau",
                "sessions_30d",
                "avg_session_minutes",
                "features_used_30d",
                "usage_trend",
                "days_since_last_activity",
            ] {
                let (stored, expected) = (&fields[key], &account[key]);
                // Counts are stored as numbers of the fields' one numeric type.
                let same = match (stored.as_f64(), expected.as_f64()) {
                    (Some(a), Some(b)) => a == b,
                    _ => stored.is_null() && expected.is_null(),
                };
                assert!(
                    same,
                    "{as_of} {} {key}: {stored} vs {expected}",
                    score.customer_id
                );
            }
        }
    }
}
