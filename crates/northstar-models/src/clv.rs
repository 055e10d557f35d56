//! Discounted customer lifetime value: expected future purchases × expected spend, discounted.

use crate::models::PurchaseModel;
use crate::{ModelError, Rfm};

/// Days in a month (365.25 / 12).
pub const DAYS_PER_MONTH: f64 = 30.4375;
/// Days in a year.
pub const DAYS_PER_YEAR: f64 = 365.25;

/// How future cash flows are discounted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Discounting {
    /// lifetimes' scheme: purchases expected in month `k` are discounted by `(1 + rate)^k`,
    /// with `rate` a monthly rate.
    Monthly {
        /// Monthly discount rate, e.g. 0.01.
        rate: f64,
    },
    /// Continuous discounting at an annual rate: a purchase at time `t` is worth
    /// `(1 + rate)^{-t / year}` (FHL 2005 "RFM and CLV" use 15% a year).
    ContinuousAnnual {
        /// Annual discount rate, e.g. 0.15.
        rate: f64,
    },
}

/// CLV settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvOptions {
    /// Horizon in months.
    pub months: u32,
    /// Discounting scheme.
    pub discounting: Discounting,
    /// Length of the data's time unit in days (7 for weeks), so a month is
    /// `30.4375 / days_per_time_unit` time units.
    pub days_per_time_unit: f64,
}

impl ClvOptions {
    /// Validates the settings.
    pub fn validate(&self) -> Result<(), ModelError> {
        let rate = match self.discounting {
            Discounting::Monthly { rate } | Discounting::ContinuousAnnual { rate } => rate,
        };
        if !(rate.is_finite() && rate > -1.0) {
            return Err(ModelError::InvalidParameter {
                name: "discount_rate",
                value: rate,
                expected: "a finite rate > -1 (0.01 means 1%)",
            });
        }
        if !(self.days_per_time_unit.is_finite() && self.days_per_time_unit > 0.0) {
            return Err(ModelError::InvalidParameter {
                name: "time_unit",
                value: self.days_per_time_unit,
                expected: "a positive number of days",
            });
        }
        Ok(())
    }
}

/// Sub-steps per month for continuous discounting; the midpoint rule on each is accurate to
/// about `(δh)²/24`, i.e. < 1e-6 for any usual rate.
const CONTINUOUS_STEPS_PER_MONTH: u32 = 8;

/// Discounted CLV of one customer over the horizon, given their expected spend per purchase.
///
/// With monthly discounting this is lifetimes' `customer_lifetime_value`:
/// `Σ_{k=1..months} spend · (E[Y(k·m)] - E[Y((k-1)·m)]) / (1 + d)^k`, where `m` is one month in
/// the data's time unit. lifetimes takes a month as 4.345 weeks; northstar uses 30.4375/7 =
/// 4.3482 weeks, which changes results by well under 0.5%.
///
/// ```
/// use northstar_models::{clv::*, BgNbd, Rfm};
/// let model = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
/// let c = Rfm::try_new(2.0, 30.43, 38.86, None).unwrap();
/// let options = ClvOptions { months: 12, discounting: Discounting::Monthly { rate: 0.01 }, days_per_time_unit: 7.0 };
/// let clv = customer_lifetime_value(&model, &c, 24.66, &options);
/// assert!(clv > 0.0 && clv < 24.66 * 2.0);
/// ```
pub fn customer_lifetime_value<M: PurchaseModel + ?Sized>(
    model: &M,
    customer: &Rfm,
    expected_spend: f64,
    options: &ClvOptions,
) -> f64 {
    discounted_expected_purchases(model, customer, options) * expected_spend
}

/// The discounted number of purchases expected over the horizon; CLV is this times the
/// expected spend. It depends only on `(frequency, recency, T)`, so it can be computed once per
/// distinct summary.
///
/// ```
/// use northstar_models::{clv::*, BgNbd, PurchaseModel, Rfm};
/// let model = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
/// let c = Rfm::try_new(2.0, 30.43, 38.86, None).unwrap();
/// let o = ClvOptions { months: 12, discounting: Discounting::Monthly { rate: 0.0 }, days_per_time_unit: 7.0 };
/// let undiscounted = model.expected_purchases(&c, 12.0 * DAYS_PER_MONTH / 7.0);
/// assert!((discounted_expected_purchases(&model, &c, &o) - undiscounted).abs() < 1e-12);
/// ```
pub fn discounted_expected_purchases<M: PurchaseModel + ?Sized>(
    model: &M,
    customer: &Rfm,
    options: &ClvOptions,
) -> f64 {
    let month = DAYS_PER_MONTH / options.days_per_time_unit;
    let (steps, step, factor): (u32, f64, Box<dyn Fn(u32) -> f64>) = match options.discounting {
        Discounting::Monthly { rate } => (
            options.months,
            month,
            Box::new(move |k| (1.0 + rate).powi(-(k as i32))),
        ),
        Discounting::ContinuousAnnual { rate } => {
            let per_step = month / CONTINUOUS_STEPS_PER_MONTH as f64;
            let ln_discount_per_unit =
                (1.0 + rate).ln() * options.days_per_time_unit / DAYS_PER_YEAR;
            (
                options.months * CONTINUOUS_STEPS_PER_MONTH,
                per_step,
                Box::new(move |k| (-(k as f64 - 0.5) * per_step * ln_discount_per_unit).exp()),
            )
        }
    };
    let horizons: Vec<f64> = (1..=steps).map(|k| k as f64 * step).collect();
    let cumulative = model.expected_purchases_at(customer, &horizons);
    let mut previous = 0.0;
    let mut value = 0.0;
    for (k, cumulative) in (1..=steps).zip(cumulative) {
        value += (cumulative - previous) * factor(k);
        previous = cumulative;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BgNbd;

    #[test]
    fn zero_rate_continuous_and_monthly_both_equal_undiscounted_purchases_times_spend() {
        let model = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
        let c = Rfm::try_new(3.0, 20.0, 38.0, None).unwrap();
        let undiscounted = model.expected_purchases(&c, 12.0 * DAYS_PER_MONTH / 7.0) * 30.0;
        for discounting in [
            Discounting::Monthly { rate: 0.0 },
            Discounting::ContinuousAnnual { rate: 0.0 },
        ] {
            let o = ClvOptions {
                months: 12,
                discounting,
                days_per_time_unit: 7.0,
            };
            assert!((customer_lifetime_value(&model, &c, 30.0, &o) - undiscounted).abs() < 1e-9);
        }
    }

    #[test]
    fn continuous_annual_rate_is_close_to_equivalent_monthly_rate() {
        // (1+0.12683)^(1/12) = 1.01: the two schemes differ only by when in the month cash arrives.
        let model = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
        let c = Rfm::try_new(3.0, 20.0, 38.0, None).unwrap();
        let monthly = ClvOptions {
            months: 12,
            discounting: Discounting::Monthly { rate: 0.01 },
            days_per_time_unit: 7.0,
        };
        let annual = ClvOptions {
            discounting: Discounting::ContinuousAnnual {
                rate: 1.01f64.powi(12) - 1.0,
            },
            ..monthly
        };
        let a = customer_lifetime_value(&model, &c, 30.0, &monthly);
        let b = customer_lifetime_value(&model, &c, 30.0, &annual);
        assert!(b > a && (b - a) / a < 0.006, "{a} {b}");
    }
}
