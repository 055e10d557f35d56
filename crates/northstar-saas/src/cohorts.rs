//! Cohort retention: logos and MRR by months since a customer's first month with MRR.
//!
//! A customer's cohort is the first month whose month-end shows them with MRR. A customer who
//! comes back stays in that first cohort and counts again while active. Logo retention at month
//! `k` is the share of the cohort with MRR at the month-end `cohort + k`; MRR retention is the
//! cohort's MRR at `cohort + k` over its MRR at the cohort month (it exceeds 1 with expansion).

use crate::engine::accumulate;
use crate::error::SaasError;
use crate::metrics::resolve_range;
use crate::money::Mrr;
use crate::month::Month;
use crate::subscription::SubscriptionBook;

/// Options of [`compute_cohorts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CohortOptions {
    /// Last month of the retention curves (default: the month of the latest `start_date`).
    pub to: Option<Month>,
}

/// One cohort's retention, for `k = 0 ..= to − cohort`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    /// The cohort month.
    pub cohort: Month,
    /// Customers in the cohort.
    pub size: u64,
    /// The cohort's MRR at the end of the cohort month.
    pub mrr: f64,
    /// Customers of the cohort with MRR at month-end `cohort + k`.
    pub active: Vec<u64>,
    /// The cohort's MRR at month-end `cohort + k`.
    pub active_mrr: Vec<f64>,
    /// `active[k] / size`.
    pub logo_retention: Vec<f64>,
    /// `active_mrr[k] / mrr`.
    pub mrr_retention: Vec<f64>,
}

/// The cohorts from the first month with MRR to `to`, oldest first; months in which no customer
/// started have no cohort.
///
/// ```
/// use northstar_saas::{compute_cohorts, read_subscriptions_from, CohortOptions};
/// let csv = "customer_id,start_date,end_date,amount,interval\n\
///            a,2024-01-10,,100,month\n\
///            b,2024-01-20,2024-02-05,50,month\n\
///            c,2024-02-03,,80,month\n";
/// let book = read_subscriptions_from(csv.as_bytes(), "subs.csv".as_ref())?;
/// let cohorts = compute_cohorts(&book, &CohortOptions::default())?;
/// assert_eq!(cohorts.len(), 2);
/// assert_eq!((cohorts[0].size, cohorts[0].mrr), (2, 150.0));
/// assert_eq!(cohorts[0].logo_retention, vec![1.0, 0.5]);
/// assert_eq!(cohorts[0].mrr_retention, vec![1.0, 100.0 / 150.0]);
/// assert_eq!(cohorts[1].logo_retention, vec![1.0]);
/// # Ok::<(), northstar_saas::SaasError>(())
/// ```
pub fn compute_cohorts(
    book: &SubscriptionBook,
    options: &CohortOptions,
) -> Result<Vec<Cohort>, SaasError> {
    let (range, _) = resolve_range(book, None, options.to)?;
    let acc = accumulate(book, range, None, true);
    let sums = acc[0].cohorts.as_ref().map_or(&[][..], |c| &c[..]);
    Ok(sums
        .iter()
        .enumerate()
        .filter(|(_, s)| s.active.first().is_some_and(|&n| n > 0))
        .map(|(c, s)| {
            let size = s.active[0];
            let base: Mrr = s.mrr[0];
            Cohort {
                cohort: range.first.offset(c as i32),
                size,
                mrr: base.to_f64(),
                active: s.active.clone(),
                active_mrr: s.mrr.iter().map(|m| m.to_f64()).collect(),
                logo_retention: s.active.iter().map(|&a| a as f64 / size as f64).collect(),
                mrr_retention: s.mrr.iter().map(|m| m.ratio(base).unwrap_or(0.0)).collect(),
            }
        })
        .collect())
}
