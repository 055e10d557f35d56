//! `northstar import`: atomic, idempotent imports into the workspace store, run as a user would.

use assert_cmd::Command;
use northstar_store::{DatasetKind, SqliteStore, Store};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn northstar() -> Command {
    let mut cmd = Command::cargo_bin("northstar").unwrap();
    cmd.env_remove("NORTHSTAR_DB");
    cmd
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn import(kind: &str, file: &Path, db: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    northstar()
        .arg("import")
        .arg(kind)
        .arg(file)
        .arg("--db")
        .arg(db)
        .args(extra)
        .assert()
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Every stored purchase as (customer, day, amount).
fn stored(db: &Path) -> Vec<(String, String, f64)> {
    let store = SqliteStore::open(db).unwrap();
    let mut rows = Vec::new();
    store
        .for_each_transaction(&mut |id, day, amount| {
            rows.push((id.into(), day.to_string(), amount))
        })
        .unwrap();
    rows
}

fn row(id: &str, day: &str, amount: f64) -> (String, String, f64) {
    (id.into(), day.into(), amount)
}

#[test]
fn importing_the_same_file_twice_stores_its_rows_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let tx = write(
        dir.path(),
        "tx.csv",
        "customer_id,date,amount\na,2024-01-01,10\nb,2024-01-02,5.5\na,2024-01-09,3\n",
    );
    let first = import("transactions", &tx, &db, &[]).success();
    assert_eq!(
        stdout(&first),
        format!("imported 3 transactions from {} (source 1)\n", tx.display())
    );
    let second = import("transactions", &tx, &db, &[]).success();
    assert_eq!(
        stdout(&second),
        format!(
            "{} was already imported (source 1); nothing changed\n",
            tx.display()
        )
    );
    assert_eq!(
        stored(&db),
        vec![
            row("a", "2024-01-01", 10.0),
            row("b", "2024-01-02", 5.5),
            row("a", "2024-01-09", 3.0)
        ]
    );
}

#[test]
fn db_path_comes_from_the_environment_when_no_flag_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    write(dir.path(), "tx.csv", "customer_id,date\na,2024-01-01\n");
    northstar()
        .current_dir(dir.path())
        .env("NORTHSTAR_DB", &db)
        .args(["import", "transactions", "tx.csv"])
        .assert()
        .success();
    assert_eq!(stored(&db), vec![row("a", "2024-01-01", 0.0)]);
    // Without either, ./northstar.db.
    northstar()
        .current_dir(dir.path())
        .args(["import", "transactions", "tx.csv"])
        .assert()
        .success();
    assert_eq!(stored(&dir.path().join("northstar.db")).len(), 1);
}

#[test]
fn format_flags_are_those_of_summarize() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    // CDNOW layout: whitespace-separated, no header, id in column 2, YYYYMMDD date in 3.
    let tx = write(
        dir.path(),
        "cdnow.txt",
        " 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n",
    );
    import(
        "transactions",
        &tx,
        &db,
        &[
            "--delimiter",
            "whitespace",
            "--no-header",
            "--customer-col",
            "2",
            "--date-col",
            "3",
            "--amount-col",
            "5",
        ],
    )
    .success();
    assert_eq!(
        stored(&db),
        vec![
            row("0001", "1997-01-01", 29.33),
            row("0001", "1997-01-18", 29.73)
        ]
    );
}

#[test]
fn replace_swaps_the_dataset_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let a = write(
        dir.path(),
        "a.csv",
        "customer_id,date,amount\na,2024-01-01,1\n",
    );
    let b = write(
        dir.path(),
        "b.csv",
        "customer_id,date,amount\nb,2024-02-01,2\n",
    );
    let c = write(
        dir.path(),
        "c.csv",
        "customer_id,date,amount\nc,2024-03-01,3\nc,2024-03-02,4\n",
    );
    import("transactions", &a, &db, &[]).success();
    import("transactions", &b, &db, &[]).success();
    assert_eq!(stored(&db).len(), 2, "a new file is appended");
    let replaced = import("transactions", &c, &db, &["--replace"]).success();
    assert!(stdout(&replaced).starts_with("imported 2 transactions"));
    assert_eq!(
        stored(&db),
        vec![row("c", "2024-03-01", 3.0), row("c", "2024-03-02", 4.0)]
    );
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.dataset_counts().unwrap().transactions, 2);
}

#[test]
fn a_bad_row_halfway_fails_naming_it_and_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let good = write(
        dir.path(),
        "good.csv",
        "customer_id,date,amount\na,2024-01-01,1\n",
    );
    import("transactions", &good, &db, &[]).success();
    let before = stored(&db);
    let mut text = String::from("customer_id,date,amount\n");
    for i in 0..500 {
        text.push_str(&format!("c{i},2024-01-02,2\n"));
    }
    text.push_str("z,2024-01-03,$12\n"); // line 502
    let bad = write(dir.path(), "bad.csv", &text);
    for extra in [&[][..], &["--replace"][..]] {
        let failed = import("transactions", &bad, &db, extra).failure();
        let err = stderr(&failed);
        assert!(
            err.contains("bad.csv: line 502, column 'amount' (3)"),
            "{err}"
        );
        assert!(err.contains("$12"), "{err}");
        assert_eq!(stored(&db), before, "{extra:?}");
    }
    // The same for events: a bad timestamp.
    let events = write(
        dir.path(),
        "events.csv",
        "customer_id,user_id,timestamp,event\nacme,u1,2024-03-01T10:00:00Z,login\nacme,u1,yesterday,login\n",
    );
    let failed = import("events", &events, &db, &[]).failure();
    let err = stderr(&failed);
    assert!(err.contains("line 3") && err.contains("yesterday"), "{err}");
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.dataset_counts().unwrap().events, 0);
}

#[test]
fn subscriptions_events_and_customers_are_stored_as_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let subs = write(
        dir.path(),
        "subs.csv",
        "customer_id,subscription_id,plan,start_date,end_date,amount,interval,interval_count,quantity\n\
         acme,s1,team,2024-01-15,2024-03-01,20,month,1,5\n\
         acme,s1,team,2024-03-01,,20,month,,8\n\
         zeta,s2,pro,2024-02-10,,1200,year,1,1\n",
    );
    import("subscriptions", &subs, &db, &[]).success();
    let events = write(
        dir.path(),
        "events.csv",
        "customer_id,user_id,timestamp,event,feature\nacme,u1,2024-03-02,limit_hit,api\nacme,u2,2024-03-01T12:00:00Z,login,\n",
    );
    import("events", &events, &db, &[]).success();
    let customers = write(
        dir.path(),
        "customers.csv",
        "account,nps,segment,tickets\nacme,8,enterprise,\nzeta,-1.5,smb,3\n",
    );
    import("customers", &customers, &db, &["--id-col", "account"]).success();

    let store = SqliteStore::open(&db).unwrap();
    let book = store.subscription_book().unwrap().unwrap();
    assert_eq!((book.customers(), book.rows()), (2, 3));
    let mut rows = Vec::new();
    store
        .for_each_subscription(&mut |r| rows.push(r.clone()))
        .unwrap();
    // The empty interval_count reads as 1; the line numbers are the file's.
    assert_eq!(
        (
            rows[1].line,
            rows[1].interval_count,
            rows[1].quantity,
            rows[1].end_date
        ),
        (3, 1, 8.0, None)
    );
    let mut seen = Vec::new();
    store
        .for_each_event(&mut |e| seen.push((e.timestamp_ms, e.event.to_string())))
        .unwrap();
    // 2024-03-01 is day 19,783 since 1970-01-01; noon adds 43,200,000 ms. Ordered by time.
    assert_eq!(
        seen,
        [
            (19_783 * 86_400_000 + 43_200_000, "login".to_string()),
            (19_784 * 86_400_000, "limit_hit".to_string())
        ]
    );
    let customers = store.customers().unwrap();
    assert_eq!(
        serde_json::Value::from(customers[0].1.clone()),
        serde_json::json!({"nps": 8, "segment": "enterprise"})
    );
    assert_eq!(
        serde_json::Value::from(customers[1].1.clone()),
        serde_json::json!({"nps": -1.5, "segment": "smb", "tickets": 3})
    );
}

#[test]
fn subscription_errors_are_those_of_saas_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let subs = write(
        dir.path(),
        "subs.csv",
        "customer_id,start_date,end_date,amount,interval\nacme,2024-02-01,2024-01-01,10,month\n",
    );
    let failed = import("subscriptions", &subs, &db, &[]).failure();
    let err = stderr(&failed);
    assert!(
        err.contains("subs.csv: line 2, column 'end_date' (3)"),
        "{err}"
    );
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(
        store
            .dataset_counts()
            .unwrap()
            .get(DatasetKind::Subscriptions),
        0
    );
}

#[test]
fn customers_without_the_id_column_are_rejected_naming_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let customers = write(dir.path(), "customers.csv", "account,nps\nacme,8\n");
    let failed = import("customers", &customers, &db, &[]).failure();
    let err = stderr(&failed);
    assert!(
        err.contains("no column 'customer_id' in the header (account,nps)"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn kill_9_during_an_import_leaves_the_previous_dataset_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let small = write(
        dir.path(),
        "small.csv",
        "customer_id,date,amount\nkeep,2024-01-01,1\nkeep,2024-01-02,2\n",
    );
    import("transactions", &small, &db, &[]).success();
    let before = stored(&db);

    // 1.5 million rows: several seconds of importing in a debug build.
    let big = dir.path().join("big.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        writeln!(out, "customer_id,date,amount").unwrap();
        for i in 0..1_500_000u32 {
            writeln!(
                out,
                "cust{},2024-{:02}-{:02},{}.5",
                i % 50_000,
                i % 12 + 1,
                i % 28 + 1,
                i % 100
            )
            .unwrap();
        }
    }
    let bin = assert_cmd::cargo::cargo_bin("northstar");
    for replace in [false, true] {
        let mut child = std::process::Command::new(&bin)
            .args(["import", "transactions"])
            .arg(&big)
            .arg("--db")
            .arg(&db)
            .args(if replace { &["--replace"][..] } else { &[][..] })
            .env_remove("NORTHSTAR_DB")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the import has been writing for a while: hashing the file takes a
        // fraction of a second, then rows go into the open transaction.
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(800));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import finished within {:?}; make the file larger",
            started.elapsed()
        );
        // SIGKILL: no destructor, no rollback by the process itself.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());

        let store = SqliteStore::open(&db).unwrap();
        assert_eq!(store.dataset_counts().unwrap().transactions, 2);
        let sources: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM sources", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sources, 1, "no source of the killed import");
        drop(store);
        assert_eq!(stored(&db), before, "replace = {replace}");
    }
    // The store still takes a normal import.
    let next = write(
        dir.path(),
        "next.csv",
        "customer_id,date,amount\nnew,2024-05-01,7\n",
    );
    let ok = import("transactions", &next, &db, &[]).success();
    assert!(
        stdout(&ok).starts_with("imported 1 transactions"),
        "{}",
        stdout(&ok)
    );
    assert_eq!(stored(&db).len(), 3);
}
