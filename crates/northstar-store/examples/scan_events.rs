//! Times a full ordered scan of the events in a store:
//! `cargo run --release -p northstar-store --example scan_events -- northstar.db`.

use northstar_store::{SqliteStore, Store};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: scan_events STORE.db")?;
    let store = SqliteStore::open(path.as_ref())?;
    let started = Instant::now();
    let (mut checksum, mut last, mut ordered) = (0i64, i64::MIN, true);
    let n = store.for_each_event(&mut |e| {
        checksum = checksum.wrapping_add(e.timestamp_ms ^ e.user_id.len() as i64);
        ordered &= e.timestamp_ms >= last;
        last = e.timestamp_ms;
    })?;
    let elapsed = started.elapsed();
    println!(
        "scanned {n} events in {:.2} s ({:.0} ns/event), in time order: {ordered}, checksum {checksum}",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / n.max(1) as f64
    );
    Ok(())
}
