//! The alternative the store's schema was measured against: events with their strings stored
//! as TEXT in every row (no `names` table), same clustering (ts_ms, seq) and name index.
//! Imports an events CSV and scans it in time order, printing the times and the file size:
//! `cargo run --release -p northstar-store --example text_events_baseline -- EVENTS.csv OUT.db`.

use rusqlite::{params, Connection};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (csv, db) = match (args.next(), args.next()) {
        (Some(c), Some(d)) => (c, d),
        _ => return Err("usage: text_events_baseline EVENTS.csv OUT.db".into()),
    };
    // A third argument `scan` scans an existing baseline file without importing.
    let scan_only = args.next().as_deref() == Some("scan");
    let mut conn = Connection::open(&db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    if !scan_only {
        conn.execute_batch(
        "CREATE TABLE events (ts_ms INTEGER NOT NULL, seq INTEGER NOT NULL, customer_id TEXT NOT NULL,
             user_id TEXT NOT NULL, event TEXT NOT NULL, feature TEXT, session_id TEXT,
             duration_seconds REAL, PRIMARY KEY (ts_ms, seq)) WITHOUT ROWID;
         CREATE INDEX events_by_name ON events(event, ts_ms);",
    )?;
        let started = Instant::now();
        let tx = conn.transaction()?;
        {
            let mut insert =
                tx.prepare("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
            let mut reader = csv::ReaderBuilder::new().from_path(&csv)?;
            let mut record = csv::StringRecord::new();
            let mut seq = 0i64;
            while reader.read_record(&mut record)? {
                seq += 1;
                let opt = |i: usize| record.get(i).filter(|s| !s.is_empty());
                // Timestamps as written sort like the times (fixed-width ISO, UTC): the baseline
                // only needs an order, so the text's digits are packed into an integer.
                let ts: i64 = record[2]
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .fold(0i64, |acc, b| {
                        acc.wrapping_mul(10).wrapping_add(i64::from(b - b'0'))
                    });
                insert.execute(params![
                    ts,
                    seq,
                    &record[0],
                    &record[1],
                    &record[3],
                    opt(4),
                    opt(5),
                    opt(6).and_then(|s| s.parse::<f64>().ok())
                ])?;
            }
        }
        tx.commit()?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        println!(
            "text schema: imported in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let started = Instant::now();
    let mut stmt = conn.prepare(
        "SELECT ts_ms, customer_id, user_id, event, feature, session_id, duration_seconds FROM events ORDER BY ts_ms, seq",
    )?;
    let mut rows = stmt.query([])?;
    let (mut n, mut checksum) = (0u64, 0usize);
    while let Some(r) = rows.next()? {
        let user = r.get_ref(2)?.as_str()?;
        let customer = r.get_ref(1)?.as_str()?;
        let event = r.get_ref(3)?.as_str()?;
        let feature = r.get_ref(4)?.as_str_or_null()?;
        let session = r.get_ref(5)?.as_str_or_null()?;
        let _duration: Option<f64> = r.get(6)?;
        let _ts: i64 = r.get(0)?;
        checksum = checksum.wrapping_add(
            user.len()
                + customer.len()
                + event.len()
                + feature.map_or(0, str::len)
                + session.map_or(0, str::len),
        );
        n += 1;
    }
    let scan = started.elapsed();
    let size = std::fs::metadata(&db)?.len();
    println!(
        "text schema: scanned {n} events in {:.2} s, file {} MB (checksum {checksum})",
        scan.as_secs_f64(),
        size / 1_000_000
    );
    Ok(())
}
