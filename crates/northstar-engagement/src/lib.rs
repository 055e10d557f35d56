//! Product-usage engagement metrics for northstar: events in, DAU/WAU/MAU, stickiness, feature
//! adoption, sessions and per-account usage figures out.
//!
//! Feed events to an [`EngagementBuilder`] in any order with [`EngagementBuilder::push`]; call
//! [`EngagementBuilder::finish`] for the [`EngagementReport`]. The result does not depend on
//! the order of the events. This crate does no I/O: the CLI reads the events file with
//! `northstar_data::for_each_event`, and `refresh` feeds events from the store.
//!
//! # Definitions
//!
//! All days are UTC days. With `D` the as-of date:
//!
//! * **Ignored events.** Events after `D` (after `D` 23:59:59.999 UTC) are ignored entirely:
//!   they create no account, extend no session and count nowhere.
//! * **Windows.** The window is the 30 days `D-29 ..= D`; the previous window is the 30 days
//!   `D-59 ..= D-30`.
//! * **Users.** A user is identified by the pair (customer_id, user_id): the same user id under
//!   two accounts is two users. (With globally unique user ids this makes no difference.)
//! * **Active.** A user is active on a day when they have any event that day.
//! * **Overall.** `dau` = users active on `D`; `wau` = distinct users active in `D-6 ..= D`;
//!   `mau` = distinct users active in the window; `stickiness` = (mean over the window's 30
//!   days of the daily active users) / `mau`, null when `mau` = 0.
//! * **Feature adoption.** For each feature F carried by at least one event in the window:
//!   (accounts with an event carrying F in the window) / (accounts with any event in the
//!   window). Features seen only outside the window are not listed.
//! * **Sessions.** Events with a session id form one session per (user, session id), whatever
//!   their days. A user's events without a session id form sessions split wherever the gap
//!   between consecutive such events is more than 30 minutes (a gap of exactly 30 minutes stays
//!   in the session); events with a session id do not count toward that gap. A session belongs
//!   to the day of its first event; its length is last event − first event.
//! * **Per account** ([`AccountEngagement`]): every account with an event on or before `D`.
//!   `active_users_30d` is the account's mau; `dau_mau` the account's mean daily active users
//!   over the window divided by its mau (null when its mau is 0); `sessions_30d` the sessions
//!   of its users that start in the window; `avg_session_minutes` their mean length in minutes
//!   (null when there is none); `features_used_30d` the distinct features its events carry in
//!   the window; `usage_trend` = (events in the window − events in the previous window) /
//!   max(events in the previous window, 1); `days_since_last_activity` the whole UTC days from
//!   the day of its last event to `D` (0 when it was active on `D`).
//!
//! # Memory and speed
//!
//! Memory grows with accounts, users and sessions, not with events: each user keeps a 30-bit
//! activity mask, the latest time of its events without session id before the window, the
//! implicit sessions that start in the window, and one entry per explicit session id. Ids of
//! up to 38 bytes are stored inline in the hash tables; an event of a known account, user and
//! feature allocates nothing (except when it switches to a session id longer than that).
//! Events arriving grouped by user (e.g. ordered by user, then time) are the fastest, since
//! consecutive events of one user skip the lookups; events in time order cost a few cache
//! misses each (see `examples/throughput.rs`).
//!
//! A caller that can push every event from the window start on first, and the earlier ones
//! after, calls [`EngagementBuilder::window_complete`] in between: session ids first seen
//! after that cannot start in the window and are not stored, so memory holds only the sessions
//! that start in the window, not every session of the history (`refresh` does this).
//!
//! ```
//! use chrono::NaiveDate;
//! use northstar_engagement::{EngagementBuilder, Event};
//!
//! const MIN: i64 = 60_000;
//! let as_of = NaiveDate::from_ymd_opt(2024, 3, 30).unwrap();
//! // 2024-03-30 00:00 UTC in milliseconds since the epoch (day 19812).
//! let day = 19_812 * 86_400_000i64;
//! let mut builder = EngagementBuilder::new(as_of);
//! for (user, minute, feature) in [("u1", 0, Some("reports")), ("u1", 20, None), ("u2", 5, None)] {
//!     builder.push(&Event {
//!         customer_id: "acme",
//!         user_id: user,
//!         timestamp_ms: day + minute * MIN,
//!         feature,
//!         session_id: None,
//!     });
//! }
//! let report = builder.finish();
//! assert_eq!((report.dau, report.wau, report.mau), (2, 2, 2));
//! // Each user was active on 1 of the 30 days: (2 / 30) / 2.
//! assert_eq!(report.stickiness, Some(1.0 / 30.0));
//! let acme = report.account("acme").unwrap();
//! // u1's events 20 minutes apart are one 20-minute session; u2 has a 0-minute session.
//! assert_eq!(acme.sessions_30d, 2);
//! assert_eq!(acme.avg_session_minutes, Some(10.0));
//! assert_eq!(report.feature_adoption["reports"], 1.0);
//! ```
#![deny(missing_docs)]

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use chrono::{Datelike, NaiveDate};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Serialize, Serializer};

/// Milliseconds in one day.
const DAY_MS: i64 = 86_400_000;
/// The longest gap between two events without session id of one session: 30 minutes.
pub const SESSION_GAP_MS: i64 = 30 * 60_000;
/// Days in the window (and in the previous window).
pub const WINDOW_DAYS: i64 = 30;
/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const EPOCH_DAYS_FROM_CE: i64 = 719_163;
/// Feature ids below this are kept in a per-account bit set; the rest in a shared hash set.
const FEATURE_BITS: u32 = 64;

/// One usage event, as pushed into an [`EngagementBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The account.
    pub customer_id: &'a str,
    /// The user, within the account.
    pub user_id: &'a str,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub timestamp_ms: i64,
    /// The feature the event used, if any (an empty string counts as none).
    pub feature: Option<&'a str>,
    /// The session id the event carries, if any (an empty string counts as none).
    pub session_id: Option<&'a str>,
}

/// One usage event with its customer, user and feature as ids the caller interned, as pushed
/// with [`EngagementBuilder::push_interned`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InternedEvent<'a> {
    /// The account's id.
    pub customer: u32,
    /// The user's id (the user is the pair of account and user, as with [`Event`]).
    pub user: u32,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub timestamp_ms: i64,
    /// The id of the feature the event used, if any (an id naming the empty string counts as
    /// none).
    pub feature: Option<u32>,
    /// The session id the event carries, if any (an empty string counts as none).
    pub session_id: Option<&'a str>,
}

/// What one account did, as listed in [`EngagementReport::accounts`].
///
/// Serializes with exactly these keys in this order; `null` where a figure is undefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountEngagement {
    /// The account.
    pub customer_id: String,
    /// Distinct users of the account active in the window (the account's mau).
    pub active_users_30d: u64,
    /// The account's mean daily active users over the window divided by its mau; `None` when
    /// no user of the account was active in the window.
    pub dau_mau: Option<f64>,
    /// Sessions of the account's users that start in the window.
    pub sessions_30d: u64,
    /// Mean length of those sessions in minutes; `None` when there is none.
    pub avg_session_minutes: Option<f64>,
    /// Distinct features carried by the account's events in the window.
    pub features_used_30d: u64,
    /// (events in the window − events in the previous window) / max(events in the previous
    /// window, 1).
    pub usage_trend: f64,
    /// Whole UTC days from the day of the account's last event (on or before the as-of date)
    /// to the as-of date.
    pub days_since_last_activity: i64,
}

/// The engagement figures as of a date; see the [crate docs](crate) for the definitions.
///
/// Serializes as `{"as_of":"YYYY-MM-DD","dau":..,"wau":..,"mau":..,"stickiness":..,
/// "feature_adoption":{..},"accounts":[..]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngagementReport {
    /// The as-of date (the last day of the window).
    #[serde(serialize_with = "serialize_date")]
    pub as_of: NaiveDate,
    /// Users active on the as-of day.
    pub dau: u64,
    /// Distinct users active in the 7 days ending on the as-of day.
    pub wau: u64,
    /// Distinct users active in the window.
    pub mau: u64,
    /// Mean daily active users over the window divided by `mau`; `None` when `mau` is 0.
    pub stickiness: Option<f64>,
    /// For each feature used in the window, the share of the accounts active in the window
    /// that used it there.
    pub feature_adoption: BTreeMap<String, f64>,
    /// Every account with an event on or before the as-of date, sorted by `customer_id`.
    pub accounts: Vec<AccountEngagement>,
    /// Events pushed that were on or before the as-of date (not serialized).
    #[serde(skip)]
    pub events_used: u64,
    /// Events pushed that were after the as-of date and so ignored (not serialized).
    #[serde(skip)]
    pub events_after_as_of: u64,
}

impl EngagementReport {
    /// The figures of one account, if it had an event on or before the as-of date.
    ///
    /// ```
    /// # use northstar_engagement::{EngagementBuilder, Event};
    /// let as_of = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    /// let mut b = EngagementBuilder::new(as_of);
    /// b.push(&Event { customer_id: "acme", user_id: "u", timestamp_ms: 0, feature: None, session_id: None });
    /// let report = b.finish();
    /// assert_eq!(report.account("acme").unwrap().active_users_30d, 1);
    /// assert!(report.account("zeta").is_none());
    /// ```
    pub fn account(&self, customer_id: &str) -> Option<&AccountEngagement> {
        self.accounts
            .binary_search_by(|a| a.customer_id.as_str().cmp(customer_id))
            .ok()
            .map(|i| &self.accounts[i])
    }
}

fn serialize_date<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&date.format("%Y-%m-%d"))
}

/// Bytes of a [`Key`] stored inline.
const INLINE: usize = 38;

/// A hash-map key string, stored inline when it has at most [`INLINE`] bytes, so that a lookup
/// compares keys without following a pointer (one cache miss fewer per lookup).
#[derive(Debug, Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Key {
    fn new(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Key::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(s.into())
        }
    }

    #[inline]
    fn as_str(&self) -> &str {
        match self {
            // The bytes were copied from a `str`, so they are UTF-8.
            Key::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or("")
            }
            Key::Heap(s) => s,
        }
    }
}

impl Borrow<str> for Key {
    #[inline]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Key {}

/// Running state of one account.
#[derive(Debug)]
struct AccountState {
    id: Key,
    /// Users of this account whose user id was first seen in another account.
    other_users: FxHashMap<Key, u32>,
    events_window: u64,
    events_previous: u64,
    last_ms: i64,
    /// Features with id < [`FEATURE_BITS`] used in the window.
    feature_bits: u64,
}

/// Running state of one user.
#[derive(Debug)]
struct UserState {
    account: u32,
    /// Bit `i` is set when the user was active on window day `i` (0 = first day, 29 = as-of).
    active_days: u32,
    /// Latest event without session id before the window (`i64::MIN` when none).
    last_implicit_before_window: i64,
    /// Sessions of the in-window events without session id.
    implicit: ImplicitSessions,
    /// Sessions by session id.
    explicit: ExplicitSessions,
}

/// A user's sessions of in-window events without session id, as (first, last) milliseconds,
/// sorted by start, consecutive sessions more than [`SESSION_GAP_MS`] apart. The latest
/// session is kept apart, so that events in time order touch no heap memory.
#[derive(Debug, Default, Clone, PartialEq)]
struct ImplicitSessions {
    earlier: Vec<(i64, i64)>,
    latest: Option<(i64, i64)>,
}

impl ImplicitSessions {
    /// Adds an event at `t`. Events in time order only touch the latest session; an earlier
    /// event may extend a session, start one, or join two.
    #[inline]
    fn add(&mut self, t: i64) {
        match &mut self.latest {
            None => self.latest = Some((t, t)),
            Some(latest) if t >= latest.0 => {
                if t <= latest.1.saturating_add(SESSION_GAP_MS) {
                    latest.1 = latest.1.max(t);
                } else {
                    self.earlier.push(*latest);
                    *latest = (t, t);
                }
            }
            Some(latest) => {
                self.earlier.push(*latest);
                insert_out_of_order(&mut self.earlier, t);
                self.latest = self.earlier.pop();
            }
        }
    }

    /// The sessions in order of their start.
    fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.earlier.iter().copied().chain(self.latest)
    }
}

/// A user's sessions by session id: (first, last) milliseconds over all their events. The
/// session of the last event with a session id is kept apart, so that a run of events of one
/// session touches no hash table.
#[derive(Debug, Default)]
struct ExplicitSessions {
    latest: Option<(Key, (i64, i64))>,
    /// The other sessions (possibly also the latest one's id, merged by [`Self::into_spans`]).
    others: FxHashMap<Key, (i64, i64)>,
}

impl ExplicitSessions {
    #[inline]
    fn add(&mut self, session: &str, t: i64) {
        if let Some((key, span)) = &mut self.latest {
            if key.as_str() == session {
                span.0 = span.0.min(t);
                span.1 = span.1.max(t);
                return;
            }
        }
        self.store_latest();
        self.latest = Some((Key::new(session), (t, t)));
    }

    /// Extends the session `session` if it is known; an unknown one is not stored (see
    /// [`EngagementBuilder::window_complete`]).
    #[inline]
    fn extend_known(&mut self, session: &str, t: i64) {
        let span = match &mut self.latest {
            Some((key, span)) if key.as_str() == session => Some(span),
            _ => self.others.get_mut(session),
        };
        if let Some(span) = span {
            span.0 = span.0.min(t);
            span.1 = span.1.max(t);
        }
    }

    /// Merges the latest session into the others.
    fn store_latest(&mut self) {
        if let Some((key, (first, last))) = self.latest.take() {
            let span = self.others.entry(key).or_insert((first, last));
            span.0 = span.0.min(first);
            span.1 = span.1.max(last);
        }
    }

    /// Every session's (first, last).
    fn into_spans(mut self) -> impl Iterator<Item = (i64, i64)> {
        self.store_latest();
        self.others.into_values()
    }
}

/// What the caller's ids of [`InternedEvent`]s resolved to: vectors indexed by id, so that an
/// event costs array lookups instead of string hashing.
#[derive(Debug, Default)]
struct InternedIds {
    accounts: Vec<u32>,
    /// The user first seen with each user id (in whatever account).
    users: Vec<u32>,
    /// Feature index, or [`NO_FEATURE`] for an id naming the empty string.
    features: Vec<u32>,
}

/// An id not resolved yet.
const UNKNOWN: u32 = u32::MAX;
/// A feature id naming the empty string, which counts as no feature.
const NO_FEATURE: u32 = u32::MAX - 1;
/// Ids from this on are not cached (the vectors would be huge); they are resolved by name.
const MAX_CACHED_ID: u32 = 1 << 26;

impl InternedIds {
    #[inline]
    fn get(table: &[u32], id: u32) -> Option<u32> {
        table.get(id as usize).copied().filter(|&v| v != UNKNOWN)
    }

    fn set(table: &mut Vec<u32>, id: u32, value: u32) {
        if id >= MAX_CACHED_ID {
            return;
        }
        let i = id as usize;
        if table.len() <= i {
            table.resize(i + 1, UNKNOWN);
        }
        table[i] = value;
    }

    #[inline]
    fn account(&self, id: u32) -> Option<u32> {
        Self::get(&self.accounts, id)
    }

    fn remember_account(&mut self, id: u32, account: u32) {
        Self::set(&mut self.accounts, id, account)
    }

    #[inline]
    fn user(&self, id: u32) -> Option<u32> {
        Self::get(&self.users, id)
    }

    fn remember_user(&mut self, id: u32, user: u32) {
        Self::set(&mut self.users, id, user)
    }

    /// `Some(None)` for an id naming the empty string.
    #[inline]
    fn feature(&self, id: u32) -> Option<Option<u32>> {
        Self::get(&self.features, id).map(|f| (f != NO_FEATURE).then_some(f))
    }

    fn remember_feature(&mut self, id: u32, feature: Option<u32>) {
        Self::set(&mut self.features, id, feature.unwrap_or(NO_FEATURE))
    }
}

/// Accumulates events (in any order) into an [`EngagementReport`].
#[derive(Debug)]
pub struct EngagementBuilder {
    as_of: NaiveDate,
    as_of_day: i64,
    /// First day of the window.
    window_day: i64,
    /// First millisecond of the window.
    window_start_ms: i64,
    /// First millisecond of the previous window.
    previous_start_ms: i64,
    /// Last millisecond of the as-of day.
    end_ms: i64,
    accounts: Vec<AccountState>,
    account_ids: FxHashMap<Key, u32>,
    users: Vec<UserState>,
    /// Each user id, to the user first seen with it (in whatever account).
    user_ids: FxHashMap<Key, u32>,
    features: Vec<Box<str>>,
    feature_ids: FxHashMap<Key, u32>,
    /// (account, feature) used in the window, for feature ids ≥ [`FEATURE_BITS`].
    wide_features: FxHashSet<(u32, u32)>,
    /// The last (customer id, user id) seen and its (account, user), to skip the lookups for
    /// runs of one user's events.
    last_customer: String,
    last_user_id: String,
    last: Option<(u32, u32)>,
    last_feature: String,
    last_feature_id: Option<u32>,
    /// The caller's ids of [`InternedEvent`]s, resolved.
    interned: InternedIds,
    /// Set by [`Self::window_complete`]: only events before the window come from now on.
    window_complete: bool,
    events_used: u64,
    events_after_as_of: u64,
}

impl EngagementBuilder {
    /// A builder for the figures as of `as_of` (the last day of the window, inclusive).
    pub fn new(as_of: NaiveDate) -> Self {
        let as_of_day = as_of.num_days_from_ce() as i64 - EPOCH_DAYS_FROM_CE;
        let window_day = as_of_day - (WINDOW_DAYS - 1);
        EngagementBuilder {
            as_of,
            as_of_day,
            window_day,
            window_start_ms: window_day * DAY_MS,
            previous_start_ms: (window_day - WINDOW_DAYS) * DAY_MS,
            end_ms: (as_of_day + 1) * DAY_MS - 1,
            accounts: Vec::new(),
            account_ids: FxHashMap::default(),
            users: Vec::new(),
            user_ids: FxHashMap::default(),
            features: Vec::new(),
            feature_ids: FxHashMap::default(),
            wide_features: FxHashSet::default(),
            last_customer: String::new(),
            last_user_id: String::new(),
            last: None,
            last_feature: String::new(),
            last_feature_id: None,
            interned: InternedIds::default(),
            window_complete: false,
            events_used: 0,
            events_after_as_of: 0,
        }
    }

    /// The as-of date.
    pub fn as_of(&self) -> NaiveDate {
        self.as_of
    }

    /// Adds one event. Events after the as-of date are counted as ignored and otherwise
    /// have no effect.
    #[inline]
    pub fn push(&mut self, event: &Event<'_>) {
        if event.timestamp_ms > self.end_ms {
            self.events_after_as_of += 1;
            return;
        }
        let (account, user) = self.resolve(event.customer_id, event.user_id);
        let feature = match event.feature.filter(|f| !f.is_empty()) {
            Some(f) if event.timestamp_ms >= self.window_start_ms => Some(self.feature_id(f)),
            _ => None,
        };
        self.apply(account, user, event.timestamp_ms, feature, event.session_id);
    }

    /// Adds one event whose customer, user and feature come as ids the caller interned, as a
    /// store's name table does: [`push`](Self::push) without hashing strings, much faster
    /// for events in time order. `name(id)` gives an id's string; it is called only for ids
    /// not seen before. Within one builder an id must always stand for the same string (ids
    /// of customers, users and features may share one numbering). The report is the same as
    /// with [`push`](Self::push) of the named event, and the two can be mixed.
    ///
    /// ```
    /// use northstar_engagement::{EngagementBuilder, InternedEvent};
    /// let names = ["acme", "u1", "reports"];
    /// let as_of = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    /// let mut b = EngagementBuilder::new(as_of);
    /// let event = InternedEvent { customer: 0, user: 1, timestamp_ms: 0, feature: Some(2), session_id: None };
    /// b.push_interned(&event, |id| names[id as usize]);
    /// let report = b.finish();
    /// assert_eq!(report.account("acme").unwrap().features_used_30d, 1);
    /// ```
    #[inline]
    pub fn push_interned<'n>(&mut self, event: &InternedEvent<'_>, name: impl Fn(u32) -> &'n str) {
        if event.timestamp_ms > self.end_ms {
            self.events_after_as_of += 1;
            return;
        }
        let account = match self.interned.account(event.customer) {
            Some(account) => account,
            None => {
                let account = self.account_index(name(event.customer));
                self.interned.remember_account(event.customer, account);
                account
            }
        };
        let user = match self.interned.user(event.user) {
            Some(user) if self.users[user as usize].account == account => user,
            cached => {
                let (_, user) = self.resolve(name(event.customer), name(event.user));
                if cached.is_none() {
                    self.interned.remember_user(event.user, user);
                }
                user
            }
        };
        let feature = match event.feature {
            Some(id) if event.timestamp_ms >= self.window_start_ms => {
                match self.interned.feature(id) {
                    Some(feature) => feature,
                    None => {
                        let text = name(id);
                        let feature = (!text.is_empty()).then(|| self.feature_id(text));
                        self.interned.remember_feature(id, feature);
                        feature
                    }
                }
            }
            _ => None,
        };
        self.apply(account, user, event.timestamp_ms, feature, event.session_id);
    }

    /// Declares that every event from the window start on has been pushed, so that only
    /// earlier events follow. A session id first seen after this cannot start in the window,
    /// so it is not stored: memory then holds the sessions that start in the window rather
    /// than every session of the history. The report is the same as without the call,
    /// provided the promise holds; an event in the window pushed after it still counts, but
    /// the sessions of its session id may then be counted wrongly.
    ///
    /// ```
    /// use northstar_engagement::{EngagementBuilder, Event};
    /// let as_of = chrono::NaiveDate::from_ymd_opt(2024, 3, 30).unwrap();
    /// let window_start = 19_783 * 86_400_000i64; // 2024-03-01
    /// let event = |t, session| Event { customer_id: "acme", user_id: "u", timestamp_ms: t, feature: None, session_id: Some(session) };
    /// let mut b = EngagementBuilder::new(as_of);
    /// b.push(&event(window_start + 60_000, "s1"));
    /// b.window_complete();
    /// b.push(&event(window_start - 60_000, "s1")); // s1 began before the window
    /// b.push(&event(window_start - 120_000, "s0")); // not stored
    /// assert_eq!(b.finish().account("acme").unwrap().sessions_30d, 0);
    /// ```
    pub fn window_complete(&mut self) {
        self.window_complete = true;
    }

    /// The first millisecond of the window (of its first day, UTC).
    pub fn window_start_ms(&self) -> i64 {
        self.window_start_ms
    }

    /// Counts an event on or before the as-of date of a resolved account and user, with the
    /// id of its feature when it is in the window and carries one.
    #[inline]
    fn apply(
        &mut self,
        account: u32,
        user: u32,
        t: i64,
        feature: Option<u32>,
        session_id: Option<&str>,
    ) {
        self.events_used += 1;
        let in_window = t >= self.window_start_ms;

        let state = &mut self.accounts[account as usize];
        if in_window {
            state.events_window += 1;
        } else if t >= self.previous_start_ms {
            state.events_previous += 1;
        }
        if t > state.last_ms {
            state.last_ms = t;
        }
        if let Some(id) = feature {
            if id < FEATURE_BITS {
                state.feature_bits |= 1 << id;
            } else {
                self.wide_features.insert((account, id));
            }
        }

        let u = &mut self.users[user as usize];
        if in_window {
            let offset = t.div_euclid(DAY_MS) - self.window_day;
            u.active_days |= 1 << offset;
        }
        match session_id.filter(|s| !s.is_empty()) {
            Some(session) if self.window_complete && !in_window => {
                u.explicit.extend_known(session, t)
            }
            Some(session) => u.explicit.add(session, t),
            None if in_window => u.implicit.add(t),
            None => {
                u.last_implicit_before_window = u.last_implicit_before_window.max(t);
            }
        }
    }

    /// The (account, user) indexes of an event's ids, creating them when new.
    #[inline]
    fn resolve(&mut self, customer_id: &str, user_id: &str) -> (u32, u32) {
        if let Some(found) = self.last {
            if self.last_user_id == user_id && self.last_customer == customer_id {
                return found;
            }
        }
        let found = match self.user_ids.get(user_id) {
            Some(&user) => {
                let account = self.users[user as usize].account;
                if self.accounts[account as usize].id.as_str() == customer_id {
                    (account, user)
                } else {
                    self.resolve_user_of_another_account(customer_id, user_id)
                }
            }
            None => {
                let account = self.account_index(customer_id);
                let user = self.new_user(account);
                self.user_ids.insert(Key::new(user_id), user);
                (account, user)
            }
        };
        self.last_customer.clear();
        self.last_customer.push_str(customer_id);
        self.last_user_id.clear();
        self.last_user_id.push_str(user_id);
        self.last = Some(found);
        found
    }

    /// [`Self::resolve`] for a user id first seen in another account: another user.
    #[cold]
    fn resolve_user_of_another_account(&mut self, customer_id: &str, user_id: &str) -> (u32, u32) {
        let account = self.account_index(customer_id);
        if let Some(&user) = self.accounts[account as usize].other_users.get(user_id) {
            return (account, user);
        }
        let user = self.new_user(account);
        self.accounts[account as usize]
            .other_users
            .insert(Key::new(user_id), user);
        (account, user)
    }

    fn account_index(&mut self, customer_id: &str) -> u32 {
        if let Some(&index) = self.account_ids.get(customer_id) {
            return index;
        }
        let index = self.accounts.len() as u32;
        self.account_ids.insert(Key::new(customer_id), index);
        self.accounts.push(AccountState {
            id: Key::new(customer_id),
            other_users: FxHashMap::default(),
            events_window: 0,
            events_previous: 0,
            last_ms: i64::MIN,
            feature_bits: 0,
        });
        index
    }

    fn new_user(&mut self, account: u32) -> u32 {
        let index = self.users.len() as u32;
        self.users.push(UserState {
            account,
            active_days: 0,
            last_implicit_before_window: i64::MIN,
            implicit: ImplicitSessions::default(),
            explicit: ExplicitSessions::default(),
        });
        index
    }

    #[inline]
    fn feature_id(&mut self, feature: &str) -> u32 {
        if let Some(id) = self.last_feature_id {
            if self.last_feature == feature {
                return id;
            }
        }
        let id = match self.feature_ids.get(feature) {
            Some(&id) => id,
            None => {
                let id = self.features.len() as u32;
                self.feature_ids.insert(Key::new(feature), id);
                self.features.push(feature.into());
                id
            }
        };
        self.last_feature.clear();
        self.last_feature.push_str(feature);
        self.last_feature_id = Some(id);
        id
    }

    /// Computes the figures from the events pushed so far.
    pub fn finish(self) -> EngagementReport {
        let as_of = self.as_of;
        self.into_counts().into_report(as_of)
    }

    /// One report from builders that each got every event of their own accounts (an
    /// account's events all went to one builder, e.g. split by a hash of the customer id), so
    /// that several threads can each fill one. Errors when an account is in two builders, or
    /// when the builders have different as-of dates.
    ///
    /// ```
    /// use northstar_engagement::{EngagementBuilder, Event};
    /// let as_of = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    /// let event = |customer_id| Event { customer_id, user_id: "u", timestamp_ms: 0, feature: None, session_id: None };
    /// let (mut a, mut b) = (EngagementBuilder::new(as_of), EngagementBuilder::new(as_of));
    /// a.push(&event("acme"));
    /// b.push(&event("zeta"));
    /// let report = EngagementBuilder::finish_all(vec![a, b])?;
    /// assert_eq!((report.dau, report.accounts.len()), (2, 2));
    /// # Ok::<(), northstar_engagement::MergeError>(())
    /// ```
    pub fn finish_all(builders: Vec<EngagementBuilder>) -> Result<EngagementReport, MergeError> {
        let Some(as_of) = builders.first().map(|b| b.as_of) else {
            return Err(MergeError::NoBuilders);
        };
        let mut total = Counts::default();
        for builder in builders {
            if builder.as_of != as_of {
                return Err(MergeError::DifferentDates(as_of, builder.as_of));
            }
            total.add(builder.into_counts());
        }
        total
            .accounts
            .sort_unstable_by(|a, b| a.customer_id.cmp(&b.customer_id));
        if let Some(pair) = total
            .accounts
            .windows(2)
            .find(|w| w[0].customer_id == w[1].customer_id)
        {
            return Err(MergeError::AccountInTwoBuilders(
                pair[0].customer_id.clone(),
            ));
        }
        Ok(total.into_report(as_of))
    }

    /// The additive totals of this builder's accounts.
    fn into_counts(self) -> Counts {
        #[derive(Default, Clone)]
        struct Totals {
            mau: u64,
            active_user_days: u64,
            sessions: u64,
            session_ms: i64,
        }
        let mut totals = vec![Totals::default(); self.accounts.len()];
        let (mut dau, mut wau, mut mau, mut active_user_days) = (0u64, 0u64, 0u64, 0u64);
        let as_of_bit = 1u32 << (WINDOW_DAYS - 1);
        let week_bits = 0x7Fu32 << (WINDOW_DAYS - 7);
        for user in self.users {
            let days = user.active_days;
            let account = &mut totals[user.account as usize];
            if days != 0 {
                mau += 1;
                account.mau += 1;
            }
            dau += u64::from(days & as_of_bit != 0);
            wau += u64::from(days & week_bits != 0);
            active_user_days += u64::from(days.count_ones());
            account.active_user_days += u64::from(days.count_ones());
            for (i, (first, last)) in user.implicit.iter().enumerate() {
                // The first in-window session continues a session begun before the window when
                // the last earlier event is at most the gap before it.
                let continues = i == 0
                    && user.last_implicit_before_window != i64::MIN
                    && first.saturating_sub(user.last_implicit_before_window) <= SESSION_GAP_MS;
                if !continues {
                    account.sessions += 1;
                    account.session_ms = account.session_ms.saturating_add(last - first);
                }
            }
            for (first, last) in user.explicit.into_spans() {
                if first >= self.window_start_ms {
                    account.sessions += 1;
                    account.session_ms = account.session_ms.saturating_add(last - first);
                }
            }
        }

        let mut adopters = vec![0u64; self.features.len()];
        let mut features_used = vec![0u64; self.accounts.len()];
        for (index, account) in self.accounts.iter().enumerate() {
            let mut bits = account.feature_bits;
            features_used[index] = u64::from(bits.count_ones());
            while bits != 0 {
                adopters[bits.trailing_zeros() as usize] += 1;
                bits &= bits - 1;
            }
        }
        for &(account, feature) in &self.wide_features {
            features_used[account as usize] += 1;
            adopters[feature as usize] += 1;
        }
        let active_accounts = self.accounts.iter().filter(|a| a.events_window > 0).count() as u64;
        let adopters = self
            .features
            .iter()
            .zip(&adopters)
            .filter(|(_, &n)| n > 0)
            .map(|(name, &n)| (name.to_string(), n))
            .collect();

        let window = WINDOW_DAYS as f64;
        let accounts: Vec<AccountEngagement> = self
            .accounts
            .iter()
            .zip(&totals)
            .zip(&features_used)
            .map(|((account, totals), &features)| AccountEngagement {
                customer_id: account.id.as_str().to_string(),
                active_users_30d: totals.mau,
                dau_mau: (totals.mau > 0)
                    .then(|| totals.active_user_days as f64 / window / totals.mau as f64),
                sessions_30d: totals.sessions,
                avg_session_minutes: (totals.sessions > 0)
                    .then(|| totals.session_ms as f64 / 60_000.0 / totals.sessions as f64),
                features_used_30d: features,
                usage_trend: (account.events_window as f64 - account.events_previous as f64)
                    / account.events_previous.max(1) as f64,
                days_since_last_activity: self.as_of_day - account.last_ms.div_euclid(DAY_MS),
            })
            .collect();
        Counts {
            dau,
            wau,
            mau,
            active_user_days,
            active_accounts,
            adopters,
            accounts,
            events_used: self.events_used,
            events_after_as_of: self.events_after_as_of,
        }
    }
}

/// Why [`EngagementBuilder::finish_all`] could not merge its builders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// There was no builder.
    #[error("no engagement builders to merge")]
    NoBuilders,
    /// The builders were made for different as-of dates.
    #[error("engagement builders for different as-of dates: {0} and {1}")]
    DifferentDates(NaiveDate, NaiveDate),
    /// One account's events went to two builders.
    #[error("account {0:?} is in two engagement builders")]
    AccountInTwoBuilders(String),
}

/// What the builders of disjoint accounts add up: everything a report needs.
#[derive(Debug, Default)]
struct Counts {
    dau: u64,
    wau: u64,
    mau: u64,
    active_user_days: u64,
    active_accounts: u64,
    /// Accounts that used each feature in the window.
    adopters: BTreeMap<String, u64>,
    accounts: Vec<AccountEngagement>,
    events_used: u64,
    events_after_as_of: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.dau += other.dau;
        self.wau += other.wau;
        self.mau += other.mau;
        self.active_user_days += other.active_user_days;
        self.active_accounts += other.active_accounts;
        for (feature, n) in other.adopters {
            *self.adopters.entry(feature).or_default() += n;
        }
        self.accounts.extend(other.accounts);
        self.events_used += other.events_used;
        self.events_after_as_of += other.events_after_as_of;
    }

    fn into_report(mut self, as_of: NaiveDate) -> EngagementReport {
        let window = WINDOW_DAYS as f64;
        let active_accounts = self.active_accounts as f64;
        let feature_adoption = self
            .adopters
            .into_iter()
            .map(|(name, n)| (name, n as f64 / active_accounts))
            .collect();
        self.accounts
            .sort_unstable_by(|a, b| a.customer_id.cmp(&b.customer_id));
        EngagementReport {
            as_of,
            dau: self.dau,
            wau: self.wau,
            mau: self.mau,
            stickiness: (self.mau > 0)
                .then(|| self.active_user_days as f64 / window / self.mau as f64),
            feature_adoption,
            accounts: self.accounts,
            events_used: self.events_used,
            events_after_as_of: self.events_after_as_of,
        }
    }
}

/// [`ImplicitSessions::add`] for an event before the start of the latest session.
#[cold]
fn insert_out_of_order(sessions: &mut Vec<(i64, i64)>, t: i64) {
    // Sessions [..next] start at or before t; sessions[next] exists and starts after t.
    let next = sessions.partition_point(|s| s.0 <= t);
    let joins_previous = next > 0 && t <= sessions[next - 1].1.saturating_add(SESSION_GAP_MS);
    let joins_next = sessions[next].0.saturating_sub(t) <= SESSION_GAP_MS;
    match (joins_previous, joins_next) {
        (true, true) => {
            sessions[next - 1].1 = sessions[next].1;
            sessions.remove(next);
        }
        (true, false) => sessions[next - 1].1 = sessions[next - 1].1.max(t),
        (false, true) => sessions[next].0 = t,
        (false, false) => sessions.insert(next, (t, t)),
    }
}

#[cfg(test)]
mod tests;
