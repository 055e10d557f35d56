//! The builder against a deliberately naive implementation of the definitions: collect every
//! event, sort, and compute each figure straight from its definition with chrono dates and
//! ordinary collections. Random data (seeded) with explicit and implicit sessions, gaps near
//! 30 minutes, events on both sides of every window edge, and events after the as-of date.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate};
use northstar_engagement::{EngagementBuilder, EngagementReport, Event};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
struct Ev {
    customer: String,
    user: String,
    t: i64,
    feature: Option<String>,
    session: Option<String>,
}

fn date_of(t: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(t).unwrap().date_naive()
}

/// Naive per-account figures, in the report's field order.
#[derive(Debug)]
struct NaiveAccount {
    active_users_30d: u64,
    dau_mau: Option<f64>,
    sessions_30d: u64,
    avg_session_minutes: Option<f64>,
    features_used_30d: u64,
    usage_trend: f64,
    days_since_last_activity: i64,
}

#[derive(Debug)]
struct NaiveReport {
    dau: u64,
    wau: u64,
    mau: u64,
    stickiness: Option<f64>,
    feature_adoption: BTreeMap<String, f64>,
    accounts: BTreeMap<String, NaiveAccount>,
}

fn naive(events: &[Ev], as_of: NaiveDate) -> NaiveReport {
    let mut events: Vec<&Ev> = events.iter().filter(|e| date_of(e.t) <= as_of).collect();
    events.sort_by_key(|e| e.t);
    let first = as_of - Duration::days(29);
    let previous_first = as_of - Duration::days(59);
    let in_window = |d: NaiveDate| d >= first && d <= as_of;
    let in_previous = |d: NaiveDate| d >= previous_first && d < first;
    let window_days: Vec<NaiveDate> = (0..30).map(|i| first + Duration::days(i)).collect();

    // Active users per day, as (customer, user) pairs.
    let active_on = |day: NaiveDate, customer: Option<&str>| -> BTreeSet<(String, String)> {
        events
            .iter()
            .filter(|e| date_of(e.t) == day && customer.is_none_or(|c| c == e.customer))
            .map(|e| (e.customer.clone(), e.user.clone()))
            .collect()
    };
    let union_over = |days: &[NaiveDate], customer: Option<&str>| -> usize {
        let mut all = BTreeSet::new();
        for &d in days {
            all.extend(active_on(d, customer));
        }
        all.len()
    };
    let dau = active_on(as_of, None).len() as u64;
    let wau = union_over(&window_days[23..], None) as u64;
    let mau = union_over(&window_days, None) as u64;
    let mean_dau = |customer: Option<&str>| -> f64 {
        window_days
            .iter()
            .map(|&d| active_on(d, customer).len() as f64)
            .sum::<f64>()
            / 30.0
    };
    let stickiness = (mau > 0).then(|| mean_dau(None) / mau as f64);

    let customers: BTreeSet<String> = events.iter().map(|e| e.customer.clone()).collect();
    let active_accounts: BTreeSet<&str> = events
        .iter()
        .filter(|e| in_window(date_of(e.t)))
        .map(|e| e.customer.as_str())
        .collect();
    let mut feature_accounts: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for e in events.iter().filter(|e| in_window(date_of(e.t))) {
        if let Some(f) = &e.feature {
            feature_accounts
                .entry(f.clone())
                .or_default()
                .insert(&e.customer);
        }
    }
    let feature_adoption = feature_accounts
        .iter()
        .map(|(f, a)| (f.clone(), a.len() as f64 / active_accounts.len() as f64))
        .collect();

    // Sessions as (customer, first, last).
    let mut sessions: Vec<(String, i64, i64)> = Vec::new();
    let mut explicit: HashMap<(String, String, String), (i64, i64)> = HashMap::new();
    let mut implicit: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for e in &events {
        match &e.session {
            Some(s) => {
                let span = explicit
                    .entry((e.customer.clone(), e.user.clone(), s.clone()))
                    .or_insert((e.t, e.t));
                span.0 = span.0.min(e.t);
                span.1 = span.1.max(e.t);
            }
            None => implicit
                .entry((e.customer.clone(), e.user.clone()))
                .or_default()
                .push(e.t),
        }
    }
    for ((customer, _, _), (a, b)) in explicit {
        sessions.push((customer, a, b));
    }
    for ((customer, _), times) in implicit {
        // `times` is sorted (the events were sorted by time).
        let mut start = times[0];
        for pair in times.windows(2) {
            if pair[1] - pair[0] > 30 * 60_000 {
                sessions.push((customer.clone(), start, pair[0]));
                start = pair[1];
            }
        }
        sessions.push((customer, start, *times.last().unwrap()));
    }

    let mut accounts = BTreeMap::new();
    for customer in &customers {
        let mine: Vec<&&Ev> = events.iter().filter(|e| &e.customer == customer).collect();
        let mau_c = union_over(&window_days, Some(customer)) as u64;
        let lengths: Vec<f64> = sessions
            .iter()
            .filter(|(c, a, _)| c == customer && in_window(date_of(*a)))
            .map(|(_, a, b)| (b - a) as f64 / 60_000.0)
            .collect();
        let features: BTreeSet<&str> = mine
            .iter()
            .filter(|e| in_window(date_of(e.t)))
            .filter_map(|e| e.feature.as_deref())
            .collect();
        let now = mine.iter().filter(|e| in_window(date_of(e.t))).count() as f64;
        let before = mine.iter().filter(|e| in_previous(date_of(e.t))).count() as f64;
        let last = mine.iter().map(|e| e.t).max().unwrap();
        accounts.insert(
            customer.clone(),
            NaiveAccount {
                active_users_30d: mau_c,
                dau_mau: (mau_c > 0).then(|| mean_dau(Some(customer)) / mau_c as f64),
                sessions_30d: lengths.len() as u64,
                avg_session_minutes: (!lengths.is_empty())
                    .then(|| lengths.iter().sum::<f64>() / lengths.len() as f64),
                features_used_30d: features.len() as u64,
                usage_trend: (now - before) / before.max(1.0),
                days_since_last_activity: (as_of - date_of(last)).num_days(),
            },
        );
    }
    NaiveReport {
        dau,
        wau,
        mau,
        stickiness,
        feature_adoption,
        accounts,
    }
}

fn generate(seed: u64, as_of: NaiveDate) -> Vec<Ev> {
    let mut rng = StdRng::seed_from_u64(seed);
    let as_of_ms = as_of
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let features = ["reports", "export", "sso", "api", "billing", "alerts"];
    let mut events = Vec::new();
    for a in 0..9 {
        let customer = format!("acct{a}");
        // Some accounts fade: their activity ends some days before the as-of date.
        let stop_days_before = if a % 3 == 0 {
            rng.random_range(0..50)
        } else {
            0
        };
        for u in 0..rng.random_range(1..6) {
            // User ids repeat across accounts: u0 of acct1 and of acct2 are different users.
            let user = format!("u{u}");
            let mut t = as_of_ms - rng.random_range(40..75) * 86_400_000;
            loop {
                // Minute-resolution gaps: many exactly 30 minutes, some 29 or 31, some days.
                let gap_min = match rng.random_range(0..10) {
                    0..=3 => rng.random_range(0..29),
                    4 => 30,
                    5 => 31,
                    6 => 29,
                    7 => rng.random_range(60..600),
                    _ => rng.random_range(600..5000),
                };
                t += gap_min * 60_000 + if rng.random_bool(0.1) { 1 } else { 0 };
                if t > as_of_ms + 3 * 86_400_000 {
                    break;
                }
                if t > as_of_ms - stop_days_before * 86_400_000 && rng.random_bool(0.9) {
                    continue;
                }
                let feature = rng
                    .random_bool(0.3)
                    .then(|| features[rng.random_range(0..features.len())].to_string());
                // A few session ids reused over days, so explicit sessions span windows.
                let session = rng
                    .random_bool(0.35)
                    .then(|| format!("s{}", rng.random_range(0..12)));
                events.push(Ev {
                    customer: customer.clone(),
                    user: user.clone(),
                    t,
                    feature,
                    session,
                });
            }
        }
    }
    events
}

fn build(events: &[Ev], as_of: NaiveDate) -> EngagementReport {
    let mut builder = EngagementBuilder::new(as_of);
    for e in events {
        builder.push(&Event {
            customer_id: &e.customer,
            user_id: &e.user,
            timestamp_ms: e.t,
            feature: e.feature.as_deref(),
            session_id: e.session.as_deref(),
        });
    }
    builder.finish()
}

fn assert_close(what: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-9, "{what}: got {got}, want {want}");
}

fn assert_close_opt(what: &str, got: Option<f64>, want: Option<f64>) {
    match (got, want) {
        (Some(g), Some(w)) => assert_close(what, g, w),
        (None, None) => {}
        _ => panic!("{what}: got {got:?}, want {want:?}"),
    }
}

fn compare(report: &EngagementReport, expected: &NaiveReport) {
    assert_eq!(
        (report.dau, report.wau, report.mau),
        (expected.dau, expected.wau, expected.mau)
    );
    assert_close_opt("stickiness", report.stickiness, expected.stickiness);
    assert_eq!(
        report.feature_adoption.keys().collect::<Vec<_>>(),
        expected.feature_adoption.keys().collect::<Vec<_>>()
    );
    for (f, &v) in &expected.feature_adoption {
        assert_close(f, report.feature_adoption[f], v);
    }
    assert_eq!(
        report
            .accounts
            .iter()
            .map(|a| &a.customer_id)
            .collect::<Vec<_>>(),
        expected.accounts.keys().collect::<Vec<_>>()
    );
    for a in &report.accounts {
        let e = &expected.accounts[&a.customer_id];
        let id = &a.customer_id;
        assert_eq!(a.active_users_30d, e.active_users_30d, "{id}");
        assert_close_opt(&format!("{id} dau_mau"), a.dau_mau, e.dau_mau);
        assert_eq!(a.sessions_30d, e.sessions_30d, "{id} sessions");
        assert_close_opt(
            &format!("{id} avg_session_minutes"),
            a.avg_session_minutes,
            e.avg_session_minutes,
        );
        assert_eq!(a.features_used_30d, e.features_used_30d, "{id}");
        assert_close(&format!("{id} usage_trend"), a.usage_trend, e.usage_trend);
        assert_eq!(
            a.days_since_last_activity, e.days_since_last_activity,
            "{id}"
        );
    }
}

#[test]
fn builder_matches_naive_definitions_on_random_data_in_any_order() {
    for seed in 0..4u64 {
        let as_of = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap() + Duration::days(seed as i64 * 17);
        let events = generate(seed, as_of);
        assert!(events.len() > 2000, "{} events", events.len());
        let expected = naive(&events, as_of);
        // The data exercises what it should.
        assert!(expected.accounts.values().any(|a| a.sessions_30d > 3));
        assert!(expected.accounts.values().any(|a| a.usage_trend < -0.3));
        assert!(events.iter().any(|e| date_of(e.t) > as_of));

        let mut by_time = events.clone();
        by_time.sort_by_key(|e| e.t);
        compare(&build(&by_time, as_of), &expected);

        let mut by_user = events.clone();
        by_user.sort_by(|a, b| (&a.user, &a.customer, a.t).cmp(&(&b.user, &b.customer, b.t)));
        let report = build(&by_user, as_of);
        compare(&report, &expected);

        let mut shuffled = events.clone();
        shuffled.shuffle(&mut StdRng::seed_from_u64(seed + 100));
        let shuffled_report = build(&shuffled, as_of);
        compare(&shuffled_report, &expected);
        assert_eq!(shuffled_report, report);
    }
}
