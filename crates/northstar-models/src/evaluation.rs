//! The holdout report: how well a fitted purchase model predicts each customer's purchases in a
//! period it has not seen.

use crate::models::PurchaseModel;
use crate::Rfm;
use rayon::prelude::*;

/// Calibration frequencies are grouped 0, 1, …, 6 and "7 or more" in the conditional-expectation table.
pub const FREQUENCY_GROUPS: usize = 8;

/// One row of the conditional-expectation table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrequencyGroup {
    /// Calibration frequency; the last group (7) holds every customer with 7 or more.
    pub frequency: u32,
    /// Customers in the group.
    pub customers: usize,
    /// Mean predicted holdout purchases.
    pub predicted: f64,
    /// Mean actual holdout purchases.
    pub actual: f64,
}

/// Predicted against actual holdout purchases.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldoutEvaluation {
    /// Sum of the predicted holdout purchases.
    pub predicted_total: f64,
    /// Sum of the actual holdout purchases.
    pub actual_total: f64,
    /// Mean absolute error per customer.
    pub mae: f64,
    /// Root mean squared error per customer.
    pub rmse: f64,
    /// Mean predicted and actual holdout purchases by calibration frequency (groups with no
    /// customers are left out).
    pub by_frequency: Vec<FrequencyGroup>,
}

/// Compares `model`'s conditional expectations over each customer's holdout duration with
/// the purchases they actually made.
///
/// ```
/// use northstar_models::{evaluation::evaluate_holdout, BgNbd, Rfm};
/// let model = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
/// let customers = [Rfm::try_new(2.0, 30.43, 38.86, None).unwrap(), Rfm::try_new(0.0, 0.0, 38.86, None).unwrap()];
/// let report = evaluate_holdout(&model, &customers, &[1.0, 0.0], &[39.0, 39.0]);
/// assert_eq!(report.actual_total, 1.0);
/// assert_eq!(report.by_frequency.len(), 2);
/// ```
pub fn evaluate_holdout<M: PurchaseModel + ?Sized>(
    model: &M,
    calibration: &[Rfm],
    holdout_purchases: &[f64],
    holdout_durations: &[f64],
) -> HoldoutEvaluation {
    let predicted: Vec<f64> = calibration
        .par_iter()
        .zip(holdout_durations)
        .map(|(c, &duration)| model.expected_purchases(c, duration))
        .collect();
    let n = calibration.len().max(1) as f64;
    let mut groups = [(0usize, 0.0, 0.0); FREQUENCY_GROUPS];
    let (mut abs, mut sq) = (0.0, 0.0);
    for ((c, p), a) in calibration.iter().zip(&predicted).zip(holdout_purchases) {
        abs += (p - a).abs();
        sq += (p - a) * (p - a);
        let g = &mut groups[(c.frequency() as usize).min(FREQUENCY_GROUPS - 1)];
        g.0 += 1;
        g.1 += p;
        g.2 += a;
    }
    HoldoutEvaluation {
        predicted_total: predicted.iter().sum(),
        actual_total: holdout_purchases.iter().sum(),
        mae: abs / n,
        rmse: (sq / n).sqrt(),
        by_frequency: groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.0 > 0)
            .map(|(i, &(count, p, a))| FrequencyGroup {
                frequency: i as u32,
                customers: count,
                predicted: p / count as f64,
                actual: a / count as f64,
            })
            .collect(),
    }
}
