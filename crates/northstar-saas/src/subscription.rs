//! Subscription rows (one per priced period) and the per-customer book the metrics read.

use crate::money::Mrr;
use crate::month::Month;
use chrono::NaiveDate;
use rustc_hash::FxHashMap;
use std::fmt;
use std::str::FromStr;

/// Days in the average month (365.25 / 12), used to turn weekly and daily prices into MRR.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// A billing interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    /// Billed per day: 1/30.4375 of a month.
    Day,
    /// Billed per week: 7/30.4375 of a month.
    Week,
    /// Billed per month.
    Month,
    /// Billed per year: 12 months.
    Year,
}

impl Interval {
    /// How many months one interval lasts: 1/30.4375, 7/30.4375, 1 or 12.
    ///
    /// ```
    /// use northstar_saas::Interval;
    /// assert_eq!(Interval::Year.months(), 12.0);
    /// assert_eq!(Interval::Week.months(), 7.0 / 30.4375);
    /// ```
    pub fn months(self) -> f64 {
        match self {
            Interval::Day => 1.0 / DAYS_PER_MONTH,
            Interval::Week => 7.0 / DAYS_PER_MONTH,
            Interval::Month => 1.0,
            Interval::Year => 12.0,
        }
    }

    /// The name as written in the subscriptions file.
    ///
    /// ```
    /// assert_eq!(northstar_saas::Interval::Week.name(), "week");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }

    /// Parses `day`, `week`, `month` or `year` (any letter case).
    #[inline]
    pub(crate) fn parse_bytes(b: &[u8]) -> Option<Interval> {
        if b.eq_ignore_ascii_case(b"month") {
            Some(Interval::Month)
        } else if b.eq_ignore_ascii_case(b"year") {
            Some(Interval::Year)
        } else if b.eq_ignore_ascii_case(b"week") {
            Some(Interval::Week)
        } else if b.eq_ignore_ascii_case(b"day") {
            Some(Interval::Day)
        } else {
            None
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An interval that is not `day`, `week`, `month` or `year`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown interval {0:?}; expected day, week, month or year")]
pub struct ParseIntervalError(pub String);

impl FromStr for Interval {
    type Err = ParseIntervalError;

    /// Parses `day`, `week`, `month` or `year` (any letter case).
    fn from_str(s: &str) -> Result<Interval, ParseIntervalError> {
        Interval::parse_bytes(s.trim().as_bytes()).ok_or_else(|| ParseIntervalError(s.to_string()))
    }
}

/// Why a subscription row is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PeriodError {
    /// The end date is before the start date.
    #[error("end_date {end} is before start_date {start}; expected an end_date on or after the start_date, or empty while the subscription is active")]
    EndBeforeStart {
        /// The start date.
        start: NaiveDate,
        /// The end date.
        end: NaiveDate,
    },
    /// The amount is negative or not finite.
    #[error("amount {0} is not a non-negative number; expected the price per unit per interval (0 or more)")]
    InvalidAmount(f64),
    /// The quantity is negative or not finite.
    #[error("quantity {0} is not a non-negative number; expected the seat count (0 or more)")]
    InvalidQuantity(f64),
    /// The interval count is zero.
    #[error("interval_count is 0; expected a whole number of intervals, 1 or more")]
    ZeroIntervalCount,
    /// The row's MRR is beyond [`Mrr::MAX_ROW`].
    #[error("the row's MRR, {0}, is above 1e15; expected a realistic price")]
    TooLarge(f64),
}

/// The MRR of one row: `amount × quantity / (interval_count × months per interval)`.
///
/// ```
/// use northstar_saas::{row_mrr, Interval};
/// assert_eq!(row_mrr(1200.0, Interval::Year, 1, 1.0)?, 100.0);
/// assert_eq!(row_mrr(300.0, Interval::Month, 3, 1.0)?, 100.0); // quarterly
/// assert_eq!(row_mrr(10.0, Interval::Month, 1, 5.0)?, 50.0); // five seats
/// assert!((row_mrr(7.0, Interval::Week, 1, 1.0)? - 30.4375).abs() < 1e-12);
/// # Ok::<(), northstar_saas::PeriodError>(())
/// ```
pub fn row_mrr(
    amount: f64,
    interval: Interval,
    interval_count: u32,
    quantity: f64,
) -> Result<f64, PeriodError> {
    if !amount.is_finite() || amount < 0.0 {
        return Err(PeriodError::InvalidAmount(amount));
    }
    if !quantity.is_finite() || quantity < 0.0 {
        return Err(PeriodError::InvalidQuantity(quantity));
    }
    if interval_count == 0 {
        return Err(PeriodError::ZeroIntervalCount);
    }
    let mrr = amount * quantity / (interval_count as f64 * interval.months());
    if !mrr.is_finite() || mrr > Mrr::MAX_ROW {
        return Err(PeriodError::TooLarge(mrr));
    }
    Ok(mrr)
}

/// One valid priced period of a subscription: active on day `d` when
/// `start ≤ d` and (`end` is `None` or `d < end`).
///
/// ```
/// use chrono::NaiveDate;
/// use northstar_saas::{Interval, PricedPeriod};
/// let date = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let p = PricedPeriod::try_new(date("2024-01-15"), Some(date("2024-03-10")), 30.0, Interval::Month, 1, 2.0)?;
/// assert_eq!(p.mrr(), 60.0);
/// // active at the month-ends of January and February, not March
/// assert!(p.is_active_on(date("2024-02-29")));
/// assert!(!p.is_active_on(date("2024-03-31")));
/// # Ok::<(), northstar_saas::PeriodError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PricedPeriod {
    start: NaiveDate,
    end: Option<NaiveDate>,
    mrr: f64,
}

impl PricedPeriod {
    /// Validates one row: `end ≥ start` when given, `amount ≥ 0`, `quantity ≥ 0`,
    /// `interval_count ≥ 1`.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use northstar_saas::{Interval, PeriodError, PricedPeriod};
    /// let date = |s: &str| s.parse::<NaiveDate>().unwrap();
    /// let err = PricedPeriod::try_new(date("2024-03-01"), Some(date("2024-02-01")), 10.0, Interval::Month, 1, 1.0);
    /// assert!(matches!(err, Err(PeriodError::EndBeforeStart { .. })));
    /// ```
    pub fn try_new(
        start: NaiveDate,
        end: Option<NaiveDate>,
        amount: f64,
        interval: Interval,
        interval_count: u32,
        quantity: f64,
    ) -> Result<PricedPeriod, PeriodError> {
        if let Some(end) = end {
            if end < start {
                return Err(PeriodError::EndBeforeStart { start, end });
            }
        }
        let mrr = row_mrr(amount, interval, interval_count, quantity)?;
        Ok(PricedPeriod { start, end, mrr })
    }

    /// The first day the row applies.
    ///
    /// ```
    /// # use chrono::NaiveDate; use northstar_saas::{Interval, PricedPeriod};
    /// let d = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    /// assert_eq!(PricedPeriod::try_new(d, None, 1.0, Interval::Month, 1, 1.0)?.start(), d);
    /// # Ok::<(), northstar_saas::PeriodError>(())
    /// ```
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// The first day the row no longer applies (`None` while active).
    ///
    /// ```
    /// # use chrono::NaiveDate; use northstar_saas::{Interval, PricedPeriod};
    /// let d = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    /// assert_eq!(PricedPeriod::try_new(d, None, 1.0, Interval::Month, 1, 1.0)?.end(), None);
    /// # Ok::<(), northstar_saas::PeriodError>(())
    /// ```
    pub fn end(&self) -> Option<NaiveDate> {
        self.end
    }

    /// The row's MRR (see [`row_mrr`]).
    ///
    /// ```
    /// # use chrono::NaiveDate; use northstar_saas::{Interval, PricedPeriod};
    /// let d = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    /// assert_eq!(PricedPeriod::try_new(d, None, 240.0, Interval::Year, 1, 1.0)?.mrr(), 20.0);
    /// # Ok::<(), northstar_saas::PeriodError>(())
    /// ```
    pub fn mrr(&self) -> f64 {
        self.mrr
    }

    /// Whether the row applies on `day`.
    ///
    /// ```
    /// # use chrono::NaiveDate; use northstar_saas::{Interval, PricedPeriod};
    /// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    /// let p = PricedPeriod::try_new(d("2024-01-10"), Some(d("2024-01-20")), 9.0, Interval::Month, 1, 1.0)?;
    /// assert!(p.is_active_on(d("2024-01-19")));
    /// assert!(!p.is_active_on(d("2024-01-20"))); // the end date is the first day it no longer applies
    /// # Ok::<(), northstar_saas::PeriodError>(())
    /// ```
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.start <= day && self.end.is_none_or(|end| day < end)
    }

    /// The months at whose month-end the row is active: from the start month up to (not
    /// including) the end month. Empty when the row starts and ends within one month.
    ///
    /// ```
    /// # use chrono::NaiveDate; use northstar_saas::{Interval, PricedPeriod};
    /// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    /// let p = PricedPeriod::try_new(d("2024-01-31"), Some(d("2024-03-01")), 9.0, Interval::Month, 1, 1.0)?;
    /// let (first, end) = p.month_ends();
    /// assert_eq!((first.to_string(), end.unwrap().to_string()), ("2024-01".into(), "2024-03".into()));
    /// # Ok::<(), northstar_saas::PeriodError>(())
    /// ```
    pub fn month_ends(&self) -> (Month, Option<Month>) {
        (Month::of_date(self.start), self.end.map(Month::of_date))
    }
}

/// One row as the metrics see it: active at the month-ends of `[start, end)` (month counts),
/// with its MRR. `end` is `i32::MAX` while active.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub start: i32,
    pub end: i32,
    pub mrr: f64,
}

/// A span with its customer, before the rows are grouped by customer.
#[derive(Debug, Clone, Copy)]
struct RawSpan {
    customer: u32,
    span: Span,
}

/// All subscription rows, grouped by customer, ready for the month-end metrics.
///
/// Rows with no MRR and rows that start and end within one month are kept out (they never show
/// at a month-end); they still count for [`SubscriptionBook::latest_start`].
///
/// ```
/// use chrono::NaiveDate;
/// use northstar_saas::{Interval, PricedPeriod, SubscriptionBook};
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let mut book = SubscriptionBook::builder();
/// book.push("acme", &PricedPeriod::try_new(d("2024-01-05"), None, 100.0, Interval::Month, 1, 1.0)?);
/// book.push("zeta", &PricedPeriod::try_new(d("2024-02-10"), Some(d("2024-02-20")), 50.0, Interval::Month, 1, 1.0)?);
/// let book = book.finish();
/// assert_eq!(book.customers(), 2);
/// assert_eq!(book.first_mrr_month().unwrap().to_string(), "2024-01");
/// assert_eq!(book.latest_start().unwrap().to_string(), "2024-02");
/// # Ok::<(), northstar_saas::PeriodError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionBook {
    ids: Vec<Box<str>>,
    /// `offsets[c]..offsets[c + 1]` are customer `c`'s spans.
    offsets: Vec<usize>,
    spans: Vec<Span>,
    latest_start: Option<Month>,
    first_mrr: Option<Month>,
    rows: u64,
}

impl SubscriptionBook {
    /// A builder to add rows one at a time.
    ///
    /// ```
    /// let book = northstar_saas::SubscriptionBook::builder().finish();
    /// assert_eq!(book.customers(), 0);
    /// ```
    pub fn builder() -> SubscriptionBookBuilder {
        SubscriptionBookBuilder::default()
    }

    /// Number of distinct customers in the rows (including those who never had MRR).
    ///
    /// ```
    /// assert_eq!(northstar_saas::SubscriptionBook::builder().finish().customers(), 0);
    /// ```
    pub fn customers(&self) -> usize {
        self.ids.len()
    }

    /// Number of rows read.
    ///
    /// ```
    /// assert_eq!(northstar_saas::SubscriptionBook::builder().finish().rows(), 0);
    /// ```
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The id of customer `index` (`0..customers()`, in order of first appearance).
    ///
    /// ```
    /// # use chrono::NaiveDate; use northstar_saas::{Interval, PricedPeriod, SubscriptionBook};
    /// let mut b = SubscriptionBook::builder();
    /// b.push("acme", &PricedPeriod::try_new(NaiveDate::MIN, None, 1.0, Interval::Month, 1, 1.0)?);
    /// assert_eq!(b.finish().customer_id(0), "acme");
    /// # Ok::<(), northstar_saas::PeriodError>(())
    /// ```
    pub fn customer_id(&self, index: usize) -> &str {
        &self.ids[index]
    }

    /// The month of the latest `start_date` among all rows.
    ///
    /// ```
    /// assert_eq!(northstar_saas::SubscriptionBook::builder().finish().latest_start(), None);
    /// ```
    pub fn latest_start(&self) -> Option<Month> {
        self.latest_start
    }

    /// The first month whose month-end shows any MRR.
    ///
    /// ```
    /// assert_eq!(northstar_saas::SubscriptionBook::builder().finish().first_mrr_month(), None);
    /// ```
    pub fn first_mrr_month(&self) -> Option<Month> {
        self.first_mrr
    }

    /// Customer `c`'s spans.
    pub(crate) fn spans_of(&self, c: usize) -> &[Span] {
        &self.spans[self.offsets[c]..self.offsets[c + 1]]
    }
}

/// Collects rows into a [`SubscriptionBook`].
#[derive(Debug, Default)]
pub struct SubscriptionBookBuilder {
    index: FxHashMap<Box<str>, u32>,
    spans: Vec<RawSpan>,
    latest_start: Option<i32>,
    first_mrr: Option<i32>,
    rows: u64,
}

impl SubscriptionBookBuilder {
    /// Adds one row of customer `customer_id`.
    ///
    /// ```
    /// # use chrono::NaiveDate; use northstar_saas::{Interval, PricedPeriod, SubscriptionBook};
    /// let mut b = SubscriptionBook::builder();
    /// b.push("acme", &PricedPeriod::try_new(NaiveDate::MIN, None, 1.0, Interval::Month, 1, 1.0)?);
    /// assert_eq!(b.finish().rows(), 1);
    /// # Ok::<(), northstar_saas::PeriodError>(())
    /// ```
    pub fn push(&mut self, customer_id: &str, period: &PricedPeriod) {
        let (start, end) = period.month_ends();
        self.push_span(
            customer_id,
            start.index(),
            end.map_or(i32::MAX, Month::index),
            period.mrr(),
        );
    }

    /// Adds one validated row given as month counts (`end` exclusive, `i32::MAX` if open).
    #[inline]
    pub(crate) fn push_span(&mut self, customer_id: &str, start: i32, end: i32, mrr: f64) {
        self.rows += 1;
        self.latest_start = Some(self.latest_start.map_or(start, |l| l.max(start)));
        let customer = match self.index.get(customer_id) {
            Some(&c) => c,
            None => {
                let c = self.index.len() as u32;
                self.index.insert(customer_id.into(), c);
                c
            }
        };
        if end <= start || mrr <= 0.0 {
            return; // never shows at a month-end
        }
        self.first_mrr = Some(self.first_mrr.map_or(start, |f| f.min(start)));
        self.spans.push(RawSpan {
            customer,
            span: Span { start, end, mrr },
        });
    }

    /// Number of distinct customers so far.
    pub(crate) fn customers(&self) -> usize {
        self.index.len()
    }

    /// Groups the rows by customer (a counting sort, keeping each customer's rows in file order).
    ///
    /// ```
    /// let book = northstar_saas::SubscriptionBook::builder().finish();
    /// assert_eq!(book.first_mrr_month(), None);
    /// ```
    pub fn finish(self) -> SubscriptionBook {
        let n = self.index.len();
        let mut ids: Vec<Box<str>> = vec![Box::from(""); n];
        for (id, c) in self.index {
            ids[c as usize] = id;
        }
        let mut offsets = vec![0usize; n + 1];
        for raw in &self.spans {
            offsets[raw.customer as usize + 1] += 1;
        }
        for c in 0..n {
            offsets[c + 1] += offsets[c];
        }
        let mut next = offsets.clone();
        let mut spans = vec![
            Span {
                start: 0,
                end: 0,
                mrr: 0.0
            };
            self.spans.len()
        ];
        for raw in self.spans {
            let slot = &mut next[raw.customer as usize];
            spans[*slot] = raw.span;
            *slot += 1;
        }
        SubscriptionBook {
            ids,
            offsets,
            spans,
            latest_start: self.latest_start.map(Month::from_index),
            first_mrr: self.first_mrr.map(Month::from_index),
            rows: self.rows,
        }
    }
}
