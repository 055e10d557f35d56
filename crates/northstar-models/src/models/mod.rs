//! The models, one file each, all in the same shape: the paper, the parameters (valid by
//! construction), the log-likelihood with its analytic gradient, the fit, the predictions, the
//! simulation, and the tests.

pub mod beta_discrete_weibull;
pub mod bg_bb;
pub mod bg_nbd;
pub mod contractual;
pub mod gamma_gamma;
pub mod mbg_nbd;
pub mod pareto_nbd;
pub mod shifted_beta_geometric;

use crate::{ModelError, Rfm};

/// A model's parameter set, named as in model files.
pub trait ModelParams: Sized {
    /// Short model name used in model files (`bgnbd`, `gg`).
    const MODEL: &'static str;
    /// Parameter names, in order.
    const NAMES: &'static [&'static str];
    /// Builds a validated parameter set from values in the order of [`Self::NAMES`].
    fn from_values(values: &[f64]) -> Result<Self, ModelError>;
    /// The values in the order of [`Self::NAMES`].
    fn values(&self) -> Vec<f64>;
}

/// Predictions shared by the models of non-contractual repeat purchasing (BG/NBD and later
/// Pareto/NBD, MBG/NBD), so that CLV, the CLI and reports treat them alike. Names follow
/// PyMC-Marketing; the lifetimes names are doc aliases.
pub trait PurchaseModel: Sync {
    /// `E[X(t)]`: expected repeat purchases in `(0, t]` of a customer who just made a first purchase.
    fn expected_purchases_new_customer(&self, t: f64) -> f64;
    /// Probability that the customer is still active at the end of observation, `T`.
    fn expected_probability_alive(&self, customer: &Rfm) -> f64;
    /// `E[Y(t) | x, t_x, T]`: expected purchases in `(T, T + t]` given the customer's history.
    fn expected_purchases(&self, customer: &Rfm, t: f64) -> f64;
    /// [`PurchaseModel::expected_purchases`] at several horizons; models override it when the
    /// horizons can share work (CLV asks for a whole schedule per customer).
    fn expected_purchases_at(&self, customer: &Rfm, ts: &[f64]) -> Vec<f64> {
        ts.iter()
            .map(|&t| self.expected_purchases(customer, t))
            .collect()
    }
    /// `P(X(t) = n)`: probability that a new customer makes exactly `n` repeat purchases in `(0, t]`.
    fn probability_of_purchases(&self, n: u32, t: f64) -> f64;
}

/// Purchase models that can generate data, for tests, benchmarks and `northstar simulate`.
pub trait SimulatePurchases {
    /// Draws one customer's repeat-purchase times in `(0, horizon]` (the first purchase is at 0).
    fn simulate_repeat_purchases(&self, rng: &mut dyn rand::RngCore, horizon: f64) -> Vec<f64>;
}

/// A model of the average spend per purchase.
pub trait SpendModel: Sync {
    /// Expected mean spend per future purchase of this customer, given their history.
    fn expected_spend(&self, customer: &Rfm) -> f64;
}

pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<f64, ModelError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ModelError::InvalidParameter {
            name,
            value,
            expected: "a finite number > 0",
        })
    }
}

pub(crate) fn check_count(
    values: &[f64],
    names: &'static [&'static str],
) -> Result<(), ModelError> {
    if values.len() == names.len() {
        Ok(())
    } else {
        Err(ModelError::InvalidParameter {
            name: "params",
            value: values.len() as f64,
            expected: "one value per parameter",
        })
    }
}
