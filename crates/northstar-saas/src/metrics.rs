//! Month-end SaaS metrics: MRR and its movements, churn and retention rates, ARPA, formula
//! LTV, and (with a marketing spend) CAC, LTV:CAC and payback.
//!
//! Definitions (month-end snapshots; `M−1` is the previous calendar month):
//!
//! * a customer's MRR for month `M` is the sum of the MRR of their rows active on the last day
//!   of `M`; customers with MRR 0 do not count as customers;
//! * movements compare `p = mrr_c(M−1)` with `q = mrr_c(M)`: **new** `p = 0 < q` and never had
//!   MRR before (amount `q`); **reactivation** `p = 0 < q` after having had MRR (amount `q`);
//!   **churn** `p > 0 = q` (amount `p`); **expansion** `0 < p < q` (`q − p`);
//!   **contraction** `0 < q < p` (`p − q`);
//! * `logo_churn_rate` = churned customers / customers(M−1); `gross_mrr_churn_rate` =
//!   (churned + contraction) / MRR(M−1); `net_mrr_churn_rate` = (churned + contraction −
//!   expansion − reactivation) / MRR(M−1); `nrr` = (MRR(M−1) + expansion − contraction −
//!   churned) / MRR(M−1); `grr` = (MRR(M−1) − contraction − churned) / MRR(M−1);
//!   `nrr_12m` = MRR at `M` of the customers with MRR at `M−12`, over their MRR at `M−12`;
//!   `quick_ratio` = (new + expansion + reactivation) / (churned + contraction);
//!   `ltv` = arpa × gross margin / mean(logo_churn_rate over `M−5 … M`, skipping undefined);
//! * a rate whose denominator is zero is `None` (`null` in JSON).

use crate::engine::{accumulate, Accumulator, Range};
use crate::error::SaasError;
use crate::money::Mrr;
use crate::month::Month;
use crate::reader::{CustomerAttribute, MarketingSpend};
use crate::subscription::SubscriptionBook;

/// The longest range a report may span (100 years), to catch mistyped dates.
const MAX_MONTHS: i32 = 1200;

/// Options of [`compute_metrics`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricsOptions {
    /// First month reported (default: the first month with MRR).
    pub from: Option<Month>,
    /// Last month reported (default: the month of the latest `start_date`).
    pub to: Option<Month>,
    /// Gross margin as a fraction, `0 < g ≤ 1` (default 1).
    pub gross_margin: f64,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            from: None,
            to: None,
            gross_margin: 1.0,
        }
    }
}

/// The exact MRR figures of one month, in integer pico-units (see [`Mrr`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactMonth {
    /// MRR at the end of the previous month.
    pub previous_mrr: Mrr,
    /// MRR at the end of the month.
    pub mrr: Mrr,
    /// New MRR.
    pub new: Mrr,
    /// Expansion MRR.
    pub expansion: Mrr,
    /// Contraction MRR.
    pub contraction: Mrr,
    /// Churned MRR.
    pub churned: Mrr,
    /// Reactivation MRR.
    pub reactivation: Mrr,
}

impl ExactMonth {
    /// Whether `MRR(M) = MRR(M−1) + new + expansion + reactivation − contraction − churn`
    /// holds exactly (it always does; this is what tests check).
    ///
    /// ```
    /// assert!(northstar_saas::ExactMonth::default().identity_holds());
    /// ```
    pub fn identity_holds(&self) -> bool {
        self.mrr
            == self.previous_mrr + self.new + self.expansion + self.reactivation
                - self.contraction
                - self.churned
    }
}

/// CAC, LTV:CAC and payback of one month, from a marketing spend.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Acquisition {
    /// spend / new customers (`None` without new customers or without a spend for the month).
    pub cac: Option<f64>,
    /// ltv / cac.
    pub ltv_cac: Option<f64>,
    /// cac / (arpa × gross margin), in months.
    pub payback_months: Option<f64>,
}

/// The metrics of one month. Field order is the JSON key order. Rates are fractions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonthMetrics {
    /// The month (`YYYY-MM`).
    pub month: Month,
    /// MRR at the month-end.
    pub mrr: f64,
    /// 12 × MRR.
    pub arr: f64,
    /// Customers with MRR at the month-end.
    pub customers: u64,
    /// mrr / customers.
    pub arpa: Option<f64>,
    /// MRR of customers new this month.
    pub new_mrr: f64,
    /// MRR increase of customers whose MRR grew.
    pub expansion_mrr: f64,
    /// MRR decrease of customers whose MRR shrank (but not to zero).
    pub contraction_mrr: f64,
    /// Previous MRR of customers whose MRR dropped to zero.
    pub churned_mrr: f64,
    /// MRR of customers back after a month-end without MRR.
    pub reactivation_mrr: f64,
    /// Customers with MRR for the first time.
    pub new_customers: u64,
    /// Customers whose MRR dropped to zero.
    pub churned_customers: u64,
    /// Customers back after a month-end without MRR.
    pub reactivated_customers: u64,
    /// churned_customers / customers(M−1).
    pub logo_churn_rate: Option<f64>,
    /// (churned + contraction) / MRR(M−1).
    pub gross_mrr_churn_rate: Option<f64>,
    /// (churned + contraction − expansion − reactivation) / MRR(M−1).
    pub net_mrr_churn_rate: Option<f64>,
    /// (MRR(M−1) + expansion − contraction − churned) / MRR(M−1).
    pub nrr: Option<f64>,
    /// (MRR(M−1) − contraction − churned) / MRR(M−1).
    pub grr: Option<f64>,
    /// MRR at M of the customers with MRR at M−12, over their MRR at M−12.
    pub nrr_12m: Option<f64>,
    /// (new + expansion + reactivation) / (churned + contraction).
    pub quick_ratio: Option<f64>,
    /// arpa × gross margin / mean logo churn rate of M−5 … M (undefined months skipped).
    pub ltv: Option<f64>,
    /// CAC, LTV:CAC and payback, when a marketing spend was given.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<Acquisition>,
    /// The exact MRR figures behind the `f64` ones.
    #[serde(skip)]
    pub exact: ExactMonth,
}

/// The metrics of one segment of customers (one value of a customer attribute).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentMetrics {
    /// The attribute value; `None` for customers missing from the customers file.
    pub segment: Option<String>,
    /// Customers of this segment with MRR at some month-end from the first month with MRR to
    /// the last month reported.
    pub customers_with_mrr: u64,
    /// The segment's metrics, month by month.
    pub months: Vec<MonthMetrics>,
}

fn check_gross_margin(g: f64) -> Result<(), SaasError> {
    if g.is_finite() && g > 0.0 && g <= 1.0 {
        Ok(())
    } else {
        Err(SaasError::Options(format!(
            "gross margin {g} is not a fraction in (0, 1]; expected for example 0.8 for 80%"
        )))
    }
}

/// Resolves the reported months and the computed range (which may start earlier, at the first
/// month with MRR, so that LTV and 12-month NRR see the months before `from`).
pub(crate) fn resolve_range(
    book: &SubscriptionBook,
    from: Option<Month>,
    to: Option<Month>,
) -> Result<(Range, Month), SaasError> {
    let last = match to.or(book.latest_start()) {
        Some(m) => m,
        None => {
            return Err(SaasError::Options(
                "the subscriptions file has no rows".into(),
            ))
        }
    };
    let shown_from = match (from, book.first_mrr_month()) {
        (Some(f), _) => f,
        (None, Some(f)) => f,
        (None, None) => {
            return Err(SaasError::Options(
                "no subscription has MRR at any month-end (every row is free, or starts and ends within one month); give --from to list the months anyway".into(),
            ))
        }
    };
    if shown_from > last {
        return Err(SaasError::Options(match (from, to) {
            (Some(f), _) => format!("--from {f} is after the last month {last}; expected --from on or before --to"),
            (None, Some(t)) => format!("the first month with MRR, {shown_from}, is after --to {t}; give a later --to or an earlier --from"),
            (None, None) => format!("the first month with MRR, {shown_from}, is after the latest start_date's month {last}"),
        }));
    }
    let first = match book.first_mrr_month() {
        Some(f) if f < shown_from => f,
        _ => shown_from,
    };
    if last.months_since(first) >= MAX_MONTHS {
        return Err(SaasError::Options(format!(
            "the months {first} to {last} span more than 100 years; check the file for mistyped dates, or give --from/--to"
        )));
    }
    Ok((Range { first, last }, shown_from))
}

/// Month-end metrics of all customers, one entry per month from `from` to `to`.
///
/// ```
/// use northstar_saas::{compute_metrics, read_subscriptions_from, MetricsOptions};
/// let csv = "customer_id,start_date,end_date,amount,interval,quantity\n\
///            a,2024-01-10,,100,month,1\n\
///            b,2024-01-20,2024-03-05,50,month,1\n\
///            a,2024-02-01,,100,month,1\n";
/// let book = read_subscriptions_from(csv.as_bytes(), "subs.csv".as_ref())?;
/// let months = compute_metrics(&book, &MetricsOptions { to: Some("2024-03".parse().unwrap()), ..Default::default() })?;
/// assert_eq!(months.len(), 3);
/// assert_eq!((months[0].mrr, months[0].new_mrr, months[0].new_customers), (150.0, 150.0, 2));
/// assert_eq!(months[1].expansion_mrr, 100.0); // a added a second subscription
/// assert_eq!((months[2].churned_mrr, months[2].logo_churn_rate), (50.0, Some(0.5)));
/// assert_eq!(months[0].logo_churn_rate, None); // no customers the month before
/// assert!(months.iter().all(|m| m.exact.identity_holds()));
/// # Ok::<(), northstar_saas::SaasError>(())
/// ```
pub fn compute_metrics(
    book: &SubscriptionBook,
    options: &MetricsOptions,
) -> Result<Vec<MonthMetrics>, SaasError> {
    check_gross_margin(options.gross_margin)?;
    let (range, shown_from) = resolve_range(book, options.from, options.to)?;
    let acc = accumulate(book, range, None, false);
    Ok(month_metrics(
        &acc[0],
        range,
        shown_from,
        options.gross_margin,
    ))
}

/// Month-end metrics of each segment of customers, by the value of a customer attribute.
///
/// Segments are ordered by value; customers missing from the attribute file form a last
/// segment with value `None`. Every segment covers the same months.
///
/// ```
/// use northstar_saas::{compute_segment_metrics, read_subscriptions_from, CustomerAttribute, MetricsOptions};
/// let csv = "customer_id,start_date,end_date,amount,interval\n\
///            a,2024-01-10,,100,month\nb,2024-01-20,2024-02-05,50,month\n";
/// let book = read_subscriptions_from(csv.as_bytes(), "subs.csv".as_ref())?;
/// let onboarded = CustomerAttribute::new("onboarding_completed", [("a", "true"), ("b", "false")]);
/// let options = MetricsOptions { to: Some("2024-02".parse().unwrap()), ..Default::default() };
/// let segments = compute_segment_metrics(&book, &onboarded, &options)?;
/// assert_eq!(segments[0].segment.as_deref(), Some("false"));
/// assert_eq!(segments[0].months[1].logo_churn_rate, Some(1.0));
/// assert_eq!(segments[1].months[1].logo_churn_rate, Some(0.0));
/// # Ok::<(), northstar_saas::SaasError>(())
/// ```
pub fn compute_segment_metrics(
    book: &SubscriptionBook,
    attribute: &CustomerAttribute,
    options: &MetricsOptions,
) -> Result<Vec<SegmentMetrics>, SaasError> {
    check_gross_margin(options.gross_margin)?;
    let (range, shown_from) = resolve_range(book, options.from, options.to)?;
    let (names, group_of) = segment_customers(book, attribute);
    let accs = accumulate(book, range, Some((&group_of, names.len())), false);
    Ok(names
        .into_iter()
        .zip(&accs)
        .map(|(segment, acc)| SegmentMetrics {
            segment,
            customers_with_mrr: acc.ever_active,
            months: month_metrics(acc, range, shown_from, options.gross_margin),
        })
        .collect())
}

/// The segment names (sorted values, then `None` if some customer is missing) and each
/// customer's segment index.
fn segment_customers(
    book: &SubscriptionBook,
    attribute: &CustomerAttribute,
) -> (Vec<Option<String>>, Vec<u32>) {
    let mut values: Vec<&str> = (0..book.customers())
        .filter_map(|c| attribute.get(book.customer_id(c)))
        .collect();
    values.sort_unstable();
    values.dedup();
    let missing = values.len() as u32;
    let group_of: Vec<u32> = (0..book.customers())
        .map(|c| match attribute.get(book.customer_id(c)) {
            Some(v) => values.binary_search(&v).map_or(missing, |i| i as u32),
            None => missing,
        })
        .collect();
    let mut names: Vec<Option<String>> = values.iter().map(|v| Some(v.to_string())).collect();
    if group_of.contains(&missing) {
        names.push(None);
    }
    (names, group_of)
}

/// Adds CAC, LTV:CAC and payback to each month from the month's marketing spend.
/// A month missing from the spend has no CAC (`None`), nor does one without new customers.
///
/// ```
/// use northstar_saas::{add_acquisition, compute_metrics, read_subscriptions_from, MarketingSpend, MetricsOptions};
/// let csv = "customer_id,start_date,end_date,amount,interval\na,2024-01-10,,100,month\nb,2024-01-20,,100,month\n";
/// let book = read_subscriptions_from(csv.as_bytes(), "subs.csv".as_ref())?;
/// let mut months = compute_metrics(&book, &MetricsOptions::default())?;
/// add_acquisition(&mut months, &MarketingSpend::new([("2024-01".parse().unwrap(), 500.0)]), 1.0);
/// let acq = months[0].acquisition.unwrap();
/// assert_eq!((acq.cac, acq.payback_months), (Some(250.0), Some(2.5)));
/// assert_eq!(acq.ltv_cac, None); // no churn yet, so no LTV
/// # Ok::<(), northstar_saas::SaasError>(())
/// ```
pub fn add_acquisition(months: &mut [MonthMetrics], spend: &MarketingSpend, gross_margin: f64) {
    for m in months {
        let cac = spend
            .spend(m.month)
            .and_then(|s| (m.new_customers > 0).then(|| s / m.new_customers as f64));
        m.acquisition = Some(acquisition(cac, m, gross_margin));
    }
}

/// Adds CAC, LTV:CAC and payback to each segment's months using the blended CAC of all
/// segments together (the month's spend over all new customers, since the spend is not split
/// by segment); LTV:CAC and payback use each segment's own LTV and ARPA.
///
/// ```
/// use northstar_saas::{add_blended_acquisition, compute_segment_metrics, read_subscriptions_from, CustomerAttribute, MarketingSpend, MetricsOptions};
/// let csv = "customer_id,start_date,end_date,amount,interval\na,2024-01-10,,100,month\nb,2024-01-20,,50,month\n";
/// let book = read_subscriptions_from(csv.as_bytes(), "subs.csv".as_ref())?;
/// let attr = CustomerAttribute::new("tier", [("a", "gold"), ("b", "silver")]);
/// let mut segments = compute_segment_metrics(&book, &attr, &MetricsOptions::default())?;
/// add_blended_acquisition(&mut segments, &MarketingSpend::new([("2024-01".parse().unwrap(), 300.0)]), 1.0);
/// let gold = segments[0].months[0].acquisition.unwrap();
/// let silver = segments[1].months[0].acquisition.unwrap();
/// assert_eq!((gold.cac, silver.cac), (Some(150.0), Some(150.0)));
/// assert_eq!((gold.payback_months, silver.payback_months), (Some(1.5), Some(3.0)));
/// # Ok::<(), northstar_saas::SaasError>(())
/// ```
pub fn add_blended_acquisition(
    segments: &mut [SegmentMetrics],
    spend: &MarketingSpend,
    gross_margin: f64,
) {
    let Some(first) = segments.first() else {
        return;
    };
    let months: Vec<(Month, u64)> = (0..first.months.len())
        .map(|i| {
            let new: u64 = segments.iter().map(|s| s.months[i].new_customers).sum();
            (first.months[i].month, new)
        })
        .collect();
    for segment in segments {
        for (m, &(month, new)) in segment.months.iter_mut().zip(&months) {
            let cac = spend
                .spend(month)
                .and_then(|s| (new > 0).then(|| s / new as f64));
            m.acquisition = Some(acquisition(cac, m, gross_margin));
        }
    }
}

fn acquisition(cac: Option<f64>, m: &MonthMetrics, gross_margin: f64) -> Acquisition {
    let ltv_cac = match (m.ltv, cac) {
        (Some(ltv), Some(cac)) if cac > 0.0 => Some(ltv / cac),
        _ => None,
    };
    let payback_months = match (cac, m.arpa) {
        (Some(cac), Some(arpa)) if arpa * gross_margin > 0.0 => Some(cac / (arpa * gross_margin)),
        _ => None,
    };
    Acquisition {
        cac,
        ltv_cac,
        payback_months,
    }
}

/// Divides, or `None` when the denominator is zero.
fn rate(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

/// Turns the sums of one group into month metrics, for the months `shown_from ..= range.last`.
fn month_metrics(
    acc: &Accumulator,
    range: Range,
    shown_from: Month,
    gross_margin: f64,
) -> Vec<MonthMetrics> {
    let n = range.len();
    let logo_churn: Vec<Option<f64>> = (0..n)
        .map(|i| {
            let before = if i == 0 { 0 } else { acc.customers[i - 1] };
            rate(acc.churned_customers[i] as f64, before as f64)
        })
        .collect();
    let skip = shown_from.months_since(range.first).max(0) as usize;
    (skip..n)
        .map(|i| {
            let previous = if i == 0 { Mrr::ZERO } else { acc.mrr[i - 1] };
            let exact = ExactMonth {
                previous_mrr: previous,
                mrr: acc.mrr[i],
                new: acc.new[i],
                expansion: acc.expansion[i],
                contraction: acc.contraction[i],
                churned: acc.churned[i],
                reactivation: acc.reactivation[i],
            };
            let customers = acc.customers[i];
            let mrr = exact.mrr.to_f64();
            let arpa = rate(mrr, customers as f64);
            let lost = exact.churned + exact.contraction;
            let gained = exact.new + exact.expansion + exact.reactivation;
            let mrr_12m_ago = if i >= 12 { acc.mrr[i - 12] } else { Mrr::ZERO };
            let window = &logo_churn[i.saturating_sub(5)..=i];
            let defined: Vec<f64> = window.iter().flatten().copied().collect();
            let mean_churn =
                (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
            let ltv = match (arpa, mean_churn) {
                (Some(arpa), Some(churn)) if churn > 0.0 => Some(arpa * gross_margin / churn),
                _ => None,
            };
            MonthMetrics {
                month: range.first.offset(i as i32),
                mrr,
                arr: exact.mrr.times(12).to_f64(),
                customers,
                arpa,
                new_mrr: exact.new.to_f64(),
                expansion_mrr: exact.expansion.to_f64(),
                contraction_mrr: exact.contraction.to_f64(),
                churned_mrr: exact.churned.to_f64(),
                reactivation_mrr: exact.reactivation.to_f64(),
                new_customers: acc.new_customers[i],
                churned_customers: acc.churned_customers[i],
                reactivated_customers: acc.reactivated_customers[i],
                logo_churn_rate: logo_churn[i],
                gross_mrr_churn_rate: lost.ratio(previous),
                net_mrr_churn_rate: (lost - exact.expansion - exact.reactivation).ratio(previous),
                nrr: (previous + exact.expansion - exact.contraction - exact.churned)
                    .ratio(previous),
                grr: (previous - exact.contraction - exact.churned).ratio(previous),
                nrr_12m: acc.retained_12m[i].ratio(mrr_12m_ago),
                quick_ratio: gained.ratio(lost),
                ltv,
                acquisition: None,
                exact,
            }
        })
        .collect()
}
