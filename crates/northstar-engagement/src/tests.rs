//! Hand-computed fixtures for each definition. The as-of date is 2024-03-30 throughout, so the
//! window is 2024-03-01 ..= 2024-03-30 and (2024 being a leap year) the previous window is
//! 2024-01-31 ..= 2024-02-29.

use super::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const MIN: i64 = 60_000;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 30).unwrap()
}

/// Milliseconds since the epoch of a UTC date-time (computed with chrono, independently of the
/// builder's own day arithmetic).
fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_milli_opt(h, mi, s, ms)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// Midnight UTC of a day in 2024.
fn day(mo: u32, d: u32) -> i64 {
    at(2024, mo, d, 0, 0, 0, 0)
}

/// An owned event, so fixtures can be shuffled.
#[derive(Debug, Clone)]
struct Ev {
    customer: String,
    user: String,
    t: i64,
    feature: Option<String>,
    session: Option<String>,
}

fn ev(customer: &str, user: &str, t: i64) -> Ev {
    Ev {
        customer: customer.into(),
        user: user.into(),
        t,
        feature: None,
        session: None,
    }
}

impl Ev {
    fn push_to(&self, builder: &mut EngagementBuilder) {
        builder.push(&Event {
            customer_id: &self.customer,
            user_id: &self.user,
            timestamp_ms: self.t,
            feature: self.feature.as_deref(),
            session_id: self.session.as_deref(),
        });
    }

    fn feature(mut self, f: &str) -> Self {
        self.feature = Some(f.into());
        self
    }
    fn session(mut self, s: &str) -> Self {
        self.session = Some(s.into());
        self
    }
}

fn report(events: &[Ev]) -> EngagementReport {
    let mut builder = EngagementBuilder::new(as_of());
    for e in events {
        e.push_to(&mut builder);
    }
    builder.finish()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn gap_of_exactly_30_minutes_stays_in_the_session_and_one_millisecond_more_starts_a_new_one() {
    let t0 = at(2024, 3, 10, 10, 0, 0, 0);
    let r = report(&[
        ev("a", "u", t0),
        ev("a", "u", t0 + 30 * MIN), // exactly 30 min later: same session
        ev("a", "u", t0 + 60 * MIN + 1), // 30 min + 1 ms after the previous: new session
        ev("a", "u", t0 + 70 * MIN),
    ]);
    let a = r.account("a").unwrap();
    // Sessions: 10:00 -> 10:30 (1,800,000 ms) and 11:00:00.001 -> 11:10 (599,999 ms).
    assert_eq!(a.sessions_30d, 2);
    // Mean length: (1,800,000 + 599,999) ms / 2 / 60,000 = 19.99999166... minutes.
    assert!(close(
        a.avg_session_minutes.unwrap(),
        2_399_999.0 / 2.0 / 60_000.0
    ));
}

#[test]
fn session_ids_and_implicit_events_of_one_user_form_separate_sessions() {
    let d = |h: u32, mi: u32| at(2024, 3, 10, h, mi, 0, 0);
    let next_day = |h: u32, mi: u32| at(2024, 3, 11, h, mi, 0, 0);
    let r = report(&[
        // u1 without session id at 09:00 and 09:40: 40 minutes apart, so two sessions, even
        // though u1's explicit events at 09:10 and 09:35 lie between them.
        ev("acme", "u1", d(9, 0)),
        ev("acme", "u1", d(9, 40)),
        // Session "a" of u1 spans two days: 09:10 to 08:00 the next day = 1,370 minutes.
        ev("acme", "u1", d(9, 10)).session("a"),
        ev("acme", "u1", d(9, 35)).session("a"),
        ev("acme", "u1", next_day(8, 0)).session("a"),
        // Session "b" of u1: one event, 0 minutes.
        ev("acme", "u1", next_day(12, 0)).session("b"),
        // u2's session "a" is another session: 13:00 to 13:05 = 5 minutes.
        ev("acme", "u2", d(13, 0)).session("a"),
        ev("acme", "u2", d(13, 5)).session("a"),
    ]);
    let a = r.account("acme").unwrap();
    // 2 implicit (0 min each) + u1 "a" (1,370) + u1 "b" (0) + u2 "a" (5) = 5 sessions.
    assert_eq!(a.sessions_30d, 5);
    // (0 + 0 + 1370 + 0 + 5) / 5 = 275 minutes.
    assert!(close(a.avg_session_minutes.unwrap(), 275.0));
    assert_eq!(a.active_users_30d, 2);
}

#[test]
fn window_edges_as_of_end_first_window_day_and_the_day_before() {
    let r = report(&[
        // In the window: the last millisecond of the as-of day, the first of the window, and
        // one in the middle.
        ev("a", "u", at(2024, 3, 30, 23, 59, 59, 999)),
        ev("a", "u", at(2024, 3, 1, 0, 0, 0, 0)),
        ev("a", "u", at(2024, 3, 15, 12, 0, 0, 0)),
        // Previous window: its last second (one second before the window) and its first day.
        ev("a", "u", at(2024, 2, 29, 23, 59, 59, 0)),
        ev("a", "u", day(1, 31)),
        // Before the previous window: counts nowhere but exists.
        ev("a", "u", at(2024, 1, 30, 23, 59, 0, 0)),
        // After the as-of date: ignored, and account "late" is not listed.
        ev("a", "u", day(3, 31)),
        ev("late", "v", day(3, 31)),
    ]);
    assert_eq!(r.events_after_as_of, 2);
    assert_eq!(r.events_used, 6);
    assert_eq!(r.accounts.len(), 1);
    assert!(r.account("late").is_none());
    let a = r.account("a").unwrap();
    // (3 window events - 2 previous-window events) / max(2, 1) = 0.5.
    assert_eq!(a.usage_trend, 0.5);
    assert_eq!(a.days_since_last_activity, 0);
    // The 03-01 00:00:00 event is 1 s after 02-29 23:59:59: its session began the day before
    // the window, so only the 03-15 and 03-30 sessions (0 minutes each) count.
    assert_eq!(a.sessions_30d, 2);
    assert_eq!(a.avg_session_minutes, Some(0.0));
    // Active on 3 window days out of 30, one user: (3 / 30) / 1.
    assert!(close(a.dau_mau.unwrap(), 0.1));
    assert_eq!((r.dau, r.wau, r.mau), (1, 1, 1));
}

#[test]
fn implicit_session_continues_from_before_the_window_only_within_30_minutes() {
    let first_window_event = at(2024, 3, 1, 0, 10, 0, 0);
    for (before, counted) in [
        (at(2024, 2, 29, 23, 40, 0, 0), 0), // exactly 30 min before: same session, not counted
        (at(2024, 2, 29, 23, 39, 59, 999), 1), // 30 min + 1 ms: a new session in the window
        (at(2024, 2, 20, 12, 0, 0, 0), 1),
    ] {
        let r = report(&[ev("a", "u", before), ev("a", "u", first_window_event)]);
        assert_eq!(r.account("a").unwrap().sessions_30d, counted, "{before}");
    }
    // An explicit session that began before the window does not count, whatever its later
    // events; one that begins in the window does.
    let r = report(&[
        ev("a", "u", day(2, 20)).session("s"),
        ev("a", "u", day(3, 20)).session("s"),
        ev("a", "u", day(3, 21)).session("t"),
        ev("a", "u", day(3, 21) + 90 * MIN).session("t"),
    ]);
    let a = r.account("a").unwrap();
    assert_eq!(a.sessions_30d, 1);
    assert_eq!(a.avg_session_minutes, Some(90.0));
}

#[test]
fn account_without_activity_in_the_window_is_listed_with_null_ratios() {
    let r = report(&[
        ev("active", "u", day(3, 20)),
        // "quiet": three events on 2024-02-10, in the previous window.
        ev("quiet", "q1", day(2, 10)),
        ev("quiet", "q2", day(2, 10) + MIN),
        ev("quiet", "q2", day(2, 10) + 2 * MIN),
        // "ancient": one event on 2023-12-01, before both windows.
        ev("ancient", "z", at(2023, 12, 1, 8, 0, 0, 0)),
    ]);
    let names: Vec<&str> = r.accounts.iter().map(|a| a.customer_id.as_str()).collect();
    assert_eq!(names, ["active", "ancient", "quiet"]);
    let quiet = r.account("quiet").unwrap();
    assert_eq!(
        quiet,
        &AccountEngagement {
            customer_id: "quiet".into(),
            active_users_30d: 0,
            dau_mau: None,
            sessions_30d: 0,
            avg_session_minutes: None,
            features_used_30d: 0,
            // (0 - 3) / max(3, 1) = -1.
            usage_trend: -1.0,
            // 2024-02-10 -> 02-29 is 19 days, -> 03-30 another 30: 49.
            days_since_last_activity: 49,
        }
    );
    let ancient = r.account("ancient").unwrap();
    // (0 - 0) / max(0, 1) = 0.
    assert_eq!(ancient.usage_trend, 0.0);
    // 2023-12-01 -> 2024-01-01 is 31 days, -> 02-01 62, -> 03-01 91, -> 03-30 120.
    assert_eq!(ancient.days_since_last_activity, 120);
    // Only "active" users count overall.
    assert_eq!((r.dau, r.wau, r.mau), (0, 0, 1));
    // "active" was active 03-20: 10 days before the as-of date.
    assert_eq!(r.account("active").unwrap().days_since_last_activity, 10);
}

#[test]
fn dau_wau_mau_and_stickiness_count_distinct_active_users() {
    let mut events = Vec::new();
    // u1 (account A) is active every day of the window, twice a day.
    for d in 1..=30 {
        events.push(ev("A", "u1", day(3, d) + 60 * MIN));
        events.push(ev("A", "u1", day(3, d) + 600 * MIN));
    }
    // u2 (A) on the 15 odd days 03-01, 03-03, ..., 03-29: not on the as-of day, but on 03-29.
    for d in (1..=29).step_by(2) {
        events.push(ev("A", "u2", day(3, d)));
    }
    // u3 (B) on 03-24 only: the first day of the last 7 (03-24 ..= 03-30).
    events.push(ev("B", "u3", day(3, 24)));
    // u4 (B) on 03-23 only: 7 days before the as-of date, outside the week.
    events.push(ev("B", "u4", day(3, 23) + 1439 * MIN));
    // u5 (B) only in the previous window: not active.
    events.push(ev("B", "u5", day(2, 15)));
    let r = report(&events);
    assert_eq!(r.dau, 1); // u1
    assert_eq!(r.wau, 3); // u1, u2 (03-25, 27, 29), u3
    assert_eq!(r.mau, 4); // u1..u4
                          // Daily active users summed over the window: 30 + 15 + 1 + 1 = 47; mean 47/30; / mau 4.
    assert!(close(r.stickiness.unwrap(), 47.0 / 30.0 / 4.0));
    // Account A: (30 + 15) / 30 / 2 users = 0.75. Account B: (1 + 1) / 30 / 2.
    assert!(close(r.account("A").unwrap().dau_mau.unwrap(), 0.75));
    assert!(close(
        r.account("B").unwrap().dau_mau.unwrap(),
        2.0 / 30.0 / 2.0
    ));
    assert_eq!(r.account("B").unwrap().active_users_30d, 2);
    // The same user id in another account is another user.
    let r = report(&[ev("A", "u", day(3, 30)), ev("B", "u", day(3, 30))]);
    assert_eq!((r.dau, r.mau), (2, 2));
    // No activity in the window: stickiness is undefined.
    let r = report(&[ev("A", "u", day(2, 1))]);
    assert_eq!((r.mau, r.stickiness), (0, None));
}

#[test]
fn feature_adoption_divides_by_accounts_active_in_the_window() {
    let r = report(&[
        ev("A", "a", day(3, 5)).feature("reports"),
        ev("A", "a", day(3, 6)).feature("export"),
        ev("A", "a", day(3, 7)).feature("reports"),
        ev("B", "b", day(3, 8)).feature("reports"),
        ev("C", "c", day(3, 9)),
        // D used "export" and "legacy" only in the previous window.
        ev("D", "d", day(2, 9)).feature("export"),
        ev("D", "d", day(2, 9)).feature("legacy"),
        // An empty feature is no feature.
        ev("C", "c", day(3, 9)).feature(""),
    ]);
    // Accounts active in the window: A, B, C. "reports": A, B -> 2/3; "export": A -> 1/3;
    // "legacy" was not used in the window and is not listed.
    let expected: BTreeMap<String, f64> = [
        ("export".to_string(), 1.0 / 3.0),
        ("reports".to_string(), 2.0 / 3.0),
    ]
    .into();
    assert_eq!(r.feature_adoption, expected);
    let used: Vec<u64> = r.accounts.iter().map(|a| a.features_used_30d).collect();
    assert_eq!(used, [2, 1, 0, 0]);
}

#[test]
fn more_than_64_features_are_counted_exactly() {
    // Account A uses 70 features, B the first 10 and the last 10 of them.
    let mut events = Vec::new();
    for f in 0..70 {
        events.push(ev("A", "a", day(3, 10) + f * MIN).feature(&format!("f{f:02}")));
    }
    for f in (0..10).chain(60..70) {
        events.push(ev("B", "b", day(3, 11)).feature(&format!("f{f:02}")));
    }
    let r = report(&events);
    assert_eq!(r.account("A").unwrap().features_used_30d, 70);
    assert_eq!(r.account("B").unwrap().features_used_30d, 20);
    assert_eq!(r.feature_adoption.len(), 70);
    assert_eq!(r.feature_adoption["f05"], 1.0);
    assert_eq!(r.feature_adoption["f30"], 0.5);
    assert_eq!(r.feature_adoption["f65"], 1.0);
}

#[test]
fn out_of_order_events_merge_sessions_as_if_sorted() {
    // Events at 0, 20 and 40 minutes are one session whatever the order they arrive in;
    // 0 and 40 alone are two.
    // (arrival order in minutes, expected sessions in minutes)
    type Case = (&'static [i64], &'static [(i64, i64)]);
    let cases: [Case; 6] = [
        (&[40, 0, 20], &[(0, 40)]),
        (&[0, 40, 20], &[(0, 40)]),
        (&[40, 0], &[(0, 0), (40, 40)]),
        (&[100, 40, 0, 71, 20], &[(0, 40), (71, 100)]), // 40 -> 71 is 31 minutes
        (&[100, 40, 0, 70, 20], &[(0, 100)]),           // 40 -> 70 is exactly 30 minutes
        (&[100, 70, 75, 10, 90], &[(10, 10), (70, 100)]),
    ];
    for (order, expected) in cases {
        let mut sessions = ImplicitSessions::default();
        for &m in order {
            sessions.add(m * MIN);
        }
        let expected: Vec<(i64, i64)> = expected.iter().map(|&(a, b)| (a * MIN, b * MIN)).collect();
        assert_eq!(sessions.iter().collect::<Vec<_>>(), expected, "{order:?}");
    }
}

/// A fixture touching every definition: both windows, out-of-window sessions, explicit and
/// implicit sessions, features, quiet and late accounts.
fn mixed_fixture() -> Vec<Ev> {
    let mut events = Vec::new();
    let accounts = ["acme", "beta", "cobalt", "delta"];
    let mut k = 0i64;
    for (ai, account) in accounts.iter().enumerate() {
        for user in 0..3 {
            let u = format!("u{user}");
            for i in 0..40 {
                k += 1;
                // Spread over 2024-01-20 .. 2024-04-02, with bursts of close events.
                let t = day(1, 20) + (k * 7919 % 73) * DAY_MS + (k * 104_729 % 180) * MIN;
                let mut e = ev(account, &u, t);
                if i % 3 == 0 {
                    e = e.feature(["reports", "export", "sso", "api"][(i + ai) % 4]);
                }
                if i % 4 == 1 {
                    e = e.session(&format!("s{}", i % 8));
                }
                events.push(e);
            }
        }
    }
    events
}

#[test]
fn shuffled_input_gives_the_same_report() {
    let events = mixed_fixture();
    let sorted_by_time = {
        let mut e = events.clone();
        e.sort_by_key(|e| e.t);
        e
    };
    let expected = report(&sorted_by_time);
    assert!(expected.accounts.iter().any(|a| a.sessions_30d > 0));
    let mut reversed = sorted_by_time.clone();
    reversed.reverse();
    assert_eq!(report(&reversed), expected);
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    for _ in 0..20 {
        let mut shuffled = events.clone();
        shuffled.shuffle(&mut rng);
        assert_eq!(report(&shuffled), expected);
    }
}

#[test]
fn json_has_the_issue_keys_in_order_with_nulls_where_undefined() {
    let r = report(&[
        ev("acme", "u1", day(3, 30) + 10 * MIN).feature("reports"),
        ev("acme", "u1", day(3, 30) + 25 * MIN),
        ev("quiet", "q", day(2, 1)),
    ]);
    let json = serde_json::to_string(&r).unwrap();
    // acme: 1 user active 1 day: dau_mau = 1/30; one 15-minute session; trend (2-0)/1 = 2.
    // quiet: its one event is in the previous window: trend (0-1)/1 = -1; 02-01 -> 03-30 = 58.
    let expected = format!(
        concat!(
            r#"{{"as_of":"2024-03-30","dau":1,"wau":1,"mau":1,"stickiness":{s},"#,
            r#""feature_adoption":{{"reports":1.0}},"accounts":["#,
            r#"{{"customer_id":"acme","active_users_30d":1,"dau_mau":{s},"sessions_30d":1,"#,
            r#""avg_session_minutes":15.0,"features_used_30d":1,"usage_trend":2.0,"days_since_last_activity":0}},"#,
            r#"{{"customer_id":"quiet","active_users_30d":0,"dau_mau":null,"sessions_30d":0,"#,
            r#""avg_session_minutes":null,"features_used_30d":0,"usage_trend":-1.0,"days_since_last_activity":58}}]}}"#
        ),
        s = serde_json::to_string(&(1.0f64 / 30.0)).unwrap()
    );
    assert_eq!(json, expected);
}

#[test]
fn long_ids_and_one_user_id_in_several_accounts_stay_apart() {
    // Ids longer than the inline key size, differing only in the last byte.
    let long_a = "a".repeat(60);
    let long_b = format!("{}b", "a".repeat(59));
    let t = at(2024, 3, 30, 10, 0, 0, 0);
    let r = report(&[
        ev(&long_a, "u", t),
        ev(&long_b, "u", t + 10 * MIN),
        ev(&long_a, "u", t + 20 * MIN),
        ev(&long_b, "v", t + 50 * MIN),
        ev("short", "u", t + 55 * MIN),
        ev(&long_b, "u", t + 90 * MIN),
    ]);
    // Four users: (long_a, u), (long_b, u), (long_b, v), (short, u).
    assert_eq!((r.dau, r.mau), (4, 4));
    let a = r.account(&long_a).unwrap();
    // long_a's u: 10:00 and 10:20 form one 20-minute session; long_b's u at 10:10 in between
    // belongs to another user.
    assert_eq!((a.active_users_30d, a.sessions_30d), (1, 1));
    assert_eq!(a.avg_session_minutes, Some(20.0));
    let b = r.account(&long_b).unwrap();
    // long_b: u at 10:10 and 11:30 (80 minutes apart: two sessions), v at 10:50 (one).
    assert_eq!((b.active_users_30d, b.sessions_30d), (2, 3));
    assert_eq!(b.avg_session_minutes, Some(0.0));
    assert_eq!(r.account("short").unwrap().active_users_30d, 1);
}

#[test]
fn extreme_timestamps_do_not_overflow() {
    let r = report(&[
        ev("a", "u", i64::MIN),
        ev("a", "u", i64::MIN + 1).session("s"),
        ev("a", "u", day(3, 30)),
        ev("a", "u", day(3, 29)), // out of order: the slow path
        ev("a", "u", i64::MAX),
    ]);
    assert_eq!(r.events_after_as_of, 1);
    let a = r.account("a").unwrap();
    // The two window events are a day apart: two sessions; the old ones are not in the window.
    assert_eq!(a.sessions_30d, 2);
    assert_eq!(a.days_since_last_activity, 0);
}

/// Interns every string of `events` in one numbering (as the store's name table does) and
/// pushes them with [`EngagementBuilder::push_interned`]; every `mix`-th event goes through
/// [`EngagementBuilder::push`] instead, and ids are spread out by `stride` (1 = dense).
fn report_interned(events: &[Ev], stride: u32, mix: usize) -> EngagementReport {
    let mut names: Vec<String> = Vec::new();
    let mut ids: std::collections::HashMap<String, u32> = Default::default();
    let mut intern = |s: &str| -> u32 {
        if let Some(&id) = ids.get(s) {
            return id;
        }
        names.push(s.to_string());
        let id = (names.len() as u32 - 1) * stride;
        ids.insert(s.to_string(), id);
        id
    };
    let interned: Vec<(u32, u32, Option<u32>)> = events
        .iter()
        .map(|e| {
            (
                intern(&e.customer),
                intern(&e.user),
                e.feature.as_deref().map(&mut intern),
            )
        })
        .collect();
    let mut builder = EngagementBuilder::new(as_of());
    for (i, (e, &(customer, user, feature))) in events.iter().zip(&interned).enumerate() {
        if mix > 0 && i % mix == 0 {
            e.push_to(&mut builder);
        } else {
            let event = InternedEvent {
                customer,
                user,
                timestamp_ms: e.t,
                feature,
                session_id: e.session.as_deref(),
            };
            builder.push_interned(&event, |id| names[(id / stride) as usize].as_str());
        }
    }
    builder.finish()
}

#[test]
fn interned_ids_give_the_same_report_as_names() {
    let t = at(2024, 3, 30, 10, 0, 0, 0);
    let mut events = mixed_fixture();
    events.sort_by_key(|e| e.t);
    // One user id in two accounts (two users), an account id that is also a user id, an empty
    // feature name (no feature), a late event.
    events.extend([
        ev("acme", "shared", t).feature(""),
        ev("beta", "shared", t + 5 * MIN).feature("reports"),
        ev("acme", "shared", t + 20 * MIN),
        ev("beta", "acme", t + 25 * MIN).feature("api"),
        ev("acme", "u0", day(4, 5)),
    ]);
    let expected = report(&events);
    assert_eq!(expected.accounts.len(), 4);
    assert!(expected.events_after_as_of > 0);
    for (stride, mix) in [(1, 0), (1, 3), (7, 0), (1 << 25, 0), (1, 1)] {
        assert_eq!(
            report_interned(&events, stride, mix),
            expected,
            "stride {stride}, every {mix}-th event by name"
        );
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut shuffled = events.clone();
    shuffled.shuffle(&mut rng);
    assert_eq!(report_interned(&shuffled, 1, 5), expected);
}

#[test]
fn window_events_first_then_window_complete_gives_the_same_report_and_stores_fewer_sessions() {
    let window_start = day(3, 1);
    let mut events = mixed_fixture();
    // Sessions across the window start: s-x starts the day before (not counted); s-y is only
    // before the window; s-z is only in it (counted).
    events.extend([
        ev("acme", "u9", window_start - 10 * MIN).session("s-x"),
        ev("acme", "u9", window_start + 10 * MIN).session("s-x"),
        ev("acme", "u9", window_start - 5 * MIN).session("s-y"),
        ev("acme", "u9", window_start + 20 * MIN).session("s-z"),
        ev("acme", "u9", window_start + 50 * MIN).session("s-z"),
    ]);
    let expected = report(&events);
    let (window, earlier): (Vec<Ev>, Vec<Ev>) =
        events.iter().cloned().partition(|e| e.t >= window_start);
    assert!(!window.is_empty() && earlier.iter().any(|e| e.session.is_some()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    for _ in 0..5 {
        let (mut window, mut earlier) = (window.clone(), earlier.clone());
        window.shuffle(&mut rng);
        earlier.shuffle(&mut rng);
        let mut builder = EngagementBuilder::new(as_of());
        assert_eq!(builder.window_start_ms(), window_start);
        window.iter().for_each(|e| e.push_to(&mut builder));
        builder.window_complete();
        earlier.iter().for_each(|e| e.push_to(&mut builder));
        // Only sessions first seen in the window are stored: s-y is not.
        let stored: usize = builder
            .users
            .iter()
            .map(|u| {
                let mut ids: std::collections::HashSet<&str> =
                    u.explicit.others.keys().map(Key::as_str).collect();
                ids.extend(u.explicit.latest.as_ref().map(|(k, _)| k.as_str()));
                ids.len()
            })
            .sum();
        let in_window_ids: std::collections::HashSet<(&str, &str, &str)> = window
            .iter()
            .filter_map(|e| Some((e.customer.as_str(), e.user.as_str(), e.session.as_deref()?)))
            .collect();
        assert!(
            stored <= in_window_ids.len(),
            "{stored} > {}",
            in_window_ids.len()
        );
        assert_eq!(builder.finish(), expected);
    }
    // acme's u9: s-z (30 minutes) is its only counted session.
    let acme_without_u9 = report(
        &events
            .iter()
            .filter(|e| e.user != "u9")
            .cloned()
            .collect::<Vec<_>>(),
    );
    let (with, without) = (
        expected.account("acme").unwrap(),
        acme_without_u9.account("acme").unwrap(),
    );
    assert_eq!(with.sessions_30d, without.sessions_30d + 1);
}

#[test]
fn builders_of_disjoint_accounts_merge_into_the_single_builder_report() {
    let mut events = mixed_fixture();
    events.push(ev("echo", "u0", day(3, 30)).feature("reports"));
    let expected = report(&events);
    for parts in [1usize, 2, 3, 5] {
        let mut builders: Vec<EngagementBuilder> = (0..parts)
            .map(|_| EngagementBuilder::new(as_of()))
            .collect();
        for e in &events {
            // Accounts to builders by the length and first byte of the id.
            let part = (e.customer.len() + e.customer.as_bytes()[0] as usize) % parts;
            e.push_to(&mut builders[part]);
        }
        assert_eq!(
            EngagementBuilder::finish_all(builders).unwrap(),
            expected,
            "{parts} parts"
        );
    }
    // The same account in two builders is refused, as are different dates and no builders.
    let (mut a, mut b) = (
        EngagementBuilder::new(as_of()),
        EngagementBuilder::new(as_of()),
    );
    for builder in [&mut a, &mut b] {
        builder.push(&Event {
            customer_id: "acme",
            user_id: "u",
            timestamp_ms: day(3, 2),
            feature: None,
            session_id: None,
        });
    }
    assert_eq!(
        EngagementBuilder::finish_all(vec![a, b]),
        Err(MergeError::AccountInTwoBuilders("acme".into()))
    );
    let other_day = EngagementBuilder::new(NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
    assert!(matches!(
        EngagementBuilder::finish_all(vec![EngagementBuilder::new(as_of()), other_day]),
        Err(MergeError::DifferentDates(..))
    ));
    assert_eq!(
        EngagementBuilder::finish_all(Vec::new()),
        Err(MergeError::NoBuilders)
    );
}
