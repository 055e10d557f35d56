//! SaaS subscription analytics for northstar: subscription rows in, month-end metrics, cohorts
//! and calculator figures out.
//!
//! * [`read_subscriptions`] streams a subscriptions CSV (one row per priced period, modeled on
//!   the Baremetrics and ChartMogul imports) into a [`SubscriptionBook`];
//! * [`compute_metrics`] gives MRR, ARR, customers, ARPA, the five MRR movements, logo and MRR
//!   churn, NRR/GRR, 12-month NRR, the quick ratio and formula LTV for each month
//!   ([`MonthMetrics`]); [`compute_segment_metrics`] does the same per value of a customer
//!   attribute; [`add_acquisition`] adds CAC, LTV:CAC and payback from a marketing spend;
//! * [`compute_cohorts`] gives logo and MRR retention by first-MRR cohort;
//! * [`calculate`] is the CLV calculator (formula and discounted LTV, LTV:CAC, payback,
//!   purchase-based LTV, K-factor).
//!
//! MRR is exact: see [`Mrr`] for why the MRR identity holds to the last unit. Every user error
//! names the file, line, column and value and says what was expected ([`InputError`]).
//!
//! ```
//! use northstar_saas::{compute_metrics, read_subscriptions_from, MetricsOptions};
//! let csv = "customer_id,subscription_id,plan,start_date,end_date,amount,interval,interval_count,quantity\n\
//!            acme,s1,team,2024-01-15,2024-03-01,20,month,1,5\n\
//!            acme,s1,team,2024-03-01,,20,month,1,8\n\
//!            zeta,s2,pro,2024-02-10,,1200,year,1,1\n";
//! let book = read_subscriptions_from(csv.as_bytes(), "subs.csv".as_ref())?;
//! let months = compute_metrics(&book, &MetricsOptions::default())?;
//! let march = &months[2];
//! assert_eq!((march.month.to_string(), march.mrr, march.expansion_mrr), ("2024-03".into(), 260.0, 60.0));
//! # Ok::<(), northstar_saas::SaasError>(())
//! ```
#![deny(missing_docs)]

mod calc;
mod cohorts;
mod engine;
mod error;
mod metrics;
mod money;
mod month;
mod reader;
mod subscription;

pub use calc::{
    calculate, CalcError, CalcInputs, CalcResult, LtvCacStatus, Retention, HEALTHY_LTV_CAC,
    HIGH_LTV_CAC,
};
pub use cohorts::{compute_cohorts, Cohort, CohortOptions};
pub use error::{InputError, InputErrorKind, SaasError};
pub use metrics::{
    add_acquisition, add_blended_acquisition, compute_metrics, compute_segment_metrics,
    Acquisition, ExactMonth, MetricsOptions, MonthMetrics, SegmentMetrics,
};
pub use money::Mrr;
pub use month::{Month, ParseMonthError};
pub use reader::{
    read_customer_attribute, read_marketing_spend, read_subscriptions, read_subscriptions_from,
    read_subscriptions_with_progress, CustomerAttribute, MarketingSpend, SUBSCRIPTION_COLUMNS,
};
pub use subscription::{
    row_mrr, Interval, ParseIntervalError, PeriodError, PricedPeriod, SubscriptionBook,
    SubscriptionBookBuilder, DAYS_PER_MONTH,
};
