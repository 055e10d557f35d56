//! Throughput of [`EngagementBuilder`] on synthetic events: 100,000 accounts of three users
//! each, events spread over 120 days, in sessions of about eight events (half of them with a
//! session id), three in four with a feature.
//!
//! ```sh
//! cargo run --release -p northstar-engagement --example throughput -- 10000000 time
//! ```
//!
//! The second argument is the order events arrive in: `time` (by timestamp, as the store
//! delivers them), `user` (by user, then time) or `random`.

use chrono::NaiveDate;
use northstar_engagement::{EngagementBuilder, Event};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let order = args.next().unwrap_or_else(|| "time".into());
    // A third argument `plain` leaves out features and session ids.
    let plain = args.next().as_deref() == Some("plain");
    let as_of = NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
    let end = 19_905i64 * 86_400_000; // 2024-07-01T00:00Z
    let span = 120 * 86_400_000i64;
    let customers: Vec<String> = (0..100_000).map(|i| format!("cust_{i:06}")).collect();
    let users: Vec<String> = (0..300_000).map(|i| format!("user_{i:07}")).collect();
    let sessions: Vec<String> = (0..1000).map(|i| format!("sess_{i:04}")).collect();
    let features = ["reports", "export", "sso", "api", "alerts", "dashboards"];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut events: Vec<(u32, i64, u8, u16)> = (0..n)
        .map(|i| {
            let user = (next() % 300_000) as u32;
            let t = if order == "time" {
                end - span + (i as i64 * span / n as i64)
            } else {
                end - span + (next() % span as u64) as i64
            };
            (user, t, (next() % 8) as u8, (next() % 2000) as u16)
        })
        .collect();
    if order == "user" {
        events.sort_unstable_by_key(|e| (e.0, e.1));
    }
    // Sessions of about eight events: each user keeps a session (explicit with an id, or
    // implicit) until it changes with probability 1/8 on an event (in the order pushed).
    let mut current: Vec<u16> = (0..300_000).map(|_| (next() % 2000) as u16).collect();
    for e in events.iter_mut() {
        let session = &mut current[e.0 as usize];
        if next() % 8 == 0 {
            *session = (next() % 2000) as u16;
        }
        e.3 = *session;
    }

    let start = Instant::now();
    let mut builder = EngagementBuilder::new(as_of);
    for &(user, t, feature, session) in &events {
        builder.push(&Event {
            customer_id: &customers[(user / 3) as usize],
            user_id: &users[user as usize],
            timestamp_ms: t,
            feature: features.get(feature as usize).copied().filter(|_| !plain),
            session_id: sessions
                .get(session as usize)
                .map(String::as_str)
                .filter(|_| !plain),
        });
    }
    let pushed = start.elapsed();
    let report = builder.finish();
    println!(
        "{n} events in {order} order: push {pushed:.2?}, push + finish {:.2?}; mau {}, {} accounts",
        start.elapsed(),
        report.mau,
        report.accounts.len()
    );
}
