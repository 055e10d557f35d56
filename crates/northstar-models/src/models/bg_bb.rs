//! BG/BB: the beta-geometric / beta-Bernoulli model of repeat transactions at discrete
//! opportunities.
//!
//! Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time Noncontractual
//! Setting", *Marketing Science* 29(6), 1086–1108.
//!
//! After the first transaction (at opportunity 0), a customer has transaction opportunities
//! `1, 2, …, n`. At the start of each opportunity a living customer dies with probability `θ`;
//! while alive they transact at each opportunity with probability `p`. Across customers
//! `p ~ Beta(α, β)` and `θ ~ Beta(γ, δ)`, independently. A customer's history over `n`
//! opportunities is summarised by `x` (the number of repeat transactions) and `t_x` (the
//! opportunity of the last one, 0 when `x = 0`).
//!
//! - log-likelihood: eq. (5),
//!   `L = B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
//!      + Σ_{i=0}^{n−t_x−1} B(α+x, β+t_x−x+i)/B(α,β) · B(γ+1, δ+t_x+i)/B(γ,δ)`,
//!   summed in log space (the sum's terms fall with `i`, so the largest is known);
//! - `P(X(n) = x)`: eq. (6); `E[X(n)]`: eq. (7);
//! - `P(alive at opportunity n+1 | x, t_x, n)`: eq. (11) (here with any look-ahead `m`, eq. 11
//!   being `m = 1`);
//! - `E[X(n, n+n*) | x, t_x, n]`, the expected transactions in the next `n*` opportunities:
//!   eq. (13).
//!
//! Beta-function ratios are evaluated as stable `ln Γ` differences
//! ([`contractual`](crate::models::contractual)'s helpers), so `n` in the thousands is fine.

use crate::fit::{maximize_likelihood, FitOptions, FitReport, Likelihood};
use crate::models::contractual::{digamma_difference, ln_gamma_ratio};
use crate::models::{check_count, check_positive, ModelParams, SimulatePurchases};
use crate::special::ln_gamma;
use crate::{validate_weight, ModelError};
use rand::{Rng, RngCore};
use rand_distr::{Beta, Distribution};
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

/// BG/BB parameters: `alpha`, `beta` (transaction probability `p ~ Beta(α, β)`) and `gamma`,
/// `delta` (dropout probability `θ ~ Beta(γ, δ)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgBb {
    alpha: f64,
    beta: f64,
    gamma: f64,
    delta: f64,
}

impl BgBb {
    /// Builds the model; every parameter must be finite and > 0.
    ///
    /// ```
    /// use northstar_models::BgBb;
    /// assert!(BgBb::new(1.2, 0.75, 0.66, 2.78).is_ok());
    /// assert!(BgBb::new(1.2, 0.75, -0.66, 2.78).is_err());
    /// ```
    pub fn new(alpha: f64, beta: f64, gamma: f64, delta: f64) -> Result<Self, ModelError> {
        Ok(Self {
            alpha: check_positive("alpha", alpha)?,
            beta: check_positive("beta", beta)?,
            gamma: check_positive("gamma", gamma)?,
            delta: check_positive("delta", delta)?,
        })
    }
    /// First shape of the transaction-probability beta distribution.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// Second shape of the transaction-probability beta distribution.
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// First shape of the dropout-probability beta distribution.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
    /// Second shape of the dropout-probability beta distribution.
    pub fn delta(&self) -> f64 {
        self.delta
    }
}

impl ModelParams for BgBb {
    const MODEL: &'static str = "bgbb";
    const NAMES: &'static [&'static str] = &["alpha", "beta", "gamma", "delta"];
    fn from_values(v: &[f64]) -> Result<Self, ModelError> {
        check_count(v, Self::NAMES)?;
        Self::new(v[0], v[1], v[2], v[3])
    }
    fn values(&self) -> Vec<f64> {
        vec![self.alpha, self.beta, self.gamma, self.delta]
    }
}

// ---------------------------------------------------------------------------------------------
// Input data
// ---------------------------------------------------------------------------------------------

/// One customer's BG/BB summary: `frequency` (`x`, repeat transactions), `recency` (`t_x`, the
/// opportunity of the last one) and `n_periods` (`n`, the opportunities observed), all whole
/// numbers with `0 ≤ x ≤ t_x ≤ n` and `t_x = 0` exactly when `x = 0`.
///
/// ```
/// use northstar_models::BgBbCustomer;
/// let c = BgBbCustomer::try_new(3.0, 5.0, 6.0).unwrap();
/// assert_eq!((c.frequency(), c.recency(), c.n_periods()), (3, 5, 6));
/// assert!(BgBbCustomer::try_new(3.0, 2.0, 6.0).is_err()); // 3 transactions by opportunity 2
/// assert!(BgBbCustomer::try_new(0.0, 2.0, 6.0).is_err()); // recency without transactions
/// assert!(BgBbCustomer::try_new(1.0, 1.5, 6.0).is_err()); // periods are whole numbers
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BgBbCustomer {
    frequency: u32,
    recency: u32,
    n_periods: u32,
}

fn whole(field: &'static str, value: f64) -> Result<u32, ModelError> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= u32::MAX as f64 {
        Ok(value as u32)
    } else {
        Err(ModelError::InvalidRfm {
            field,
            value,
            expected: "a whole number ≥ 0 (a count of transaction opportunities)".into(),
        })
    }
}

impl BgBbCustomer {
    /// Validates and builds a summary from file values.
    pub fn try_new(frequency: f64, recency: f64, n_periods: f64) -> Result<Self, ModelError> {
        let x = whole("frequency", frequency)?;
        let t_x = whole("recency", recency)?;
        let n = whole("n_periods", n_periods)?;
        if t_x > n {
            return Err(ModelError::InvalidRfm {
                field: "recency",
                value: recency,
                expected: format!("at most n_periods = {n}"),
            });
        }
        if x == 0 && t_x != 0 {
            return Err(ModelError::InvalidRfm {
                field: "recency",
                value: recency,
                expected: "0 when frequency is 0 (recency is the opportunity of the last \
                           repeat transaction)"
                    .into(),
            });
        }
        if x > t_x {
            return Err(ModelError::InvalidRfm {
                field: "frequency",
                value: frequency,
                expected: format!(
                    "at most recency = {t_x}: one transaction per opportunity, the last at the \
                     recency"
                ),
            });
        }
        Ok(Self {
            frequency: x,
            recency: t_x,
            n_periods: n,
        })
    }

    /// Summarises a transaction vector over opportunities `1..=transactions.len()`.
    ///
    /// ```
    /// use northstar_models::BgBbCustomer;
    /// let c = BgBbCustomer::from_transactions(&[true, false, true, false]).unwrap();
    /// assert_eq!(c, BgBbCustomer::try_new(2.0, 3.0, 4.0).unwrap());
    /// ```
    pub fn from_transactions(transactions: &[bool]) -> Result<Self, ModelError> {
        let n = whole("n_periods", transactions.len() as f64)?;
        let x = transactions.iter().filter(|&&b| b).count() as u32;
        let t_x = transactions
            .iter()
            .rposition(|&b| b)
            .map_or(0, |i| i as u32 + 1);
        Ok(Self {
            frequency: x,
            recency: t_x,
            n_periods: n,
        })
    }

    /// Number of repeat transactions (`x`).
    pub fn frequency(&self) -> u32 {
        self.frequency
    }
    /// Opportunity of the last repeat transaction (`t_x`), 0 when there is none.
    pub fn recency(&self) -> u32 {
        self.recency
    }
    /// Number of transaction opportunities observed (`n`).
    pub fn n_periods(&self) -> u32 {
        self.n_periods
    }
}

/// One distinct customer summary with its total weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgBbRow {
    /// The summary.
    pub customer: BgBbCustomer,
    /// Total weight (number of customers when unweighted).
    pub weight: f64,
}

/// BG/BB data with identical `(x, t_x, n)` rows compressed into weights.
#[derive(Debug, Clone)]
pub struct CompressedBgBb {
    rows: Vec<BgBbRow>,
    total_weight: f64,
}

impl CompressedBgBb {
    /// Compresses customers; `weights` (one per customer, finite and > 0) default to 1.
    ///
    /// ```
    /// use northstar_models::{BgBbCustomer, CompressedBgBb};
    /// let c = BgBbCustomer::try_new(1.0, 2.0, 6.0).unwrap();
    /// let data = CompressedBgBb::new(&[c, c], Some(&[1.0, 2.5])).unwrap();
    /// assert_eq!((data.rows().len(), data.total_weight()), (1, 3.5));
    /// ```
    pub fn new(customers: &[BgBbCustomer], weights: Option<&[f64]>) -> Result<Self, ModelError> {
        Ok(Self::with_customer_rows(customers, weights)?.0)
    }

    /// Like [`CompressedBgBb::new`], also returning each customer's row index, so that
    /// predictions computed once per distinct row can be mapped back to customers.
    ///
    /// ```
    /// use northstar_models::{BgBbCustomer, CompressedBgBb};
    /// let a = BgBbCustomer::try_new(1.0, 2.0, 6.0).unwrap();
    /// let b = BgBbCustomer::try_new(0.0, 0.0, 6.0).unwrap();
    /// let (data, rows) = CompressedBgBb::with_customer_rows(&[a, b, a], None).unwrap();
    /// assert_eq!(rows, vec![0, 1, 0]);
    /// assert_eq!(data.rows()[1].customer, b);
    /// ```
    pub fn with_customer_rows(
        customers: &[BgBbCustomer],
        weights: Option<&[f64]>,
    ) -> Result<(Self, Vec<u32>), ModelError> {
        if let Some(w) = weights {
            if w.len() != customers.len() {
                return Err(ModelError::InvalidRfm {
                    field: "weight",
                    value: w.len() as f64,
                    expected: format!("one weight per customer ({} customers)", customers.len()),
                });
            }
        }
        let mut index: HashMap<BgBbCustomer, u32> = HashMap::default();
        let mut rows: Vec<BgBbRow> = Vec::new();
        let mut customer_rows = Vec::with_capacity(customers.len());
        let mut total_weight = 0.0;
        for (i, &customer) in customers.iter().enumerate() {
            let w = validate_weight(weights.map_or(1.0, |w| w[i]))?;
            let r = *index.entry(customer).or_insert_with(|| {
                rows.push(BgBbRow {
                    customer,
                    weight: 0.0,
                });
                rows.len() as u32 - 1
            });
            rows[r as usize].weight += w;
            total_weight += w;
            customer_rows.push(r);
        }
        Ok((Self { rows, total_weight }, customer_rows))
    }

    /// The distinct rows, in the order first seen.
    pub fn rows(&self) -> &[BgBbRow] {
        &self.rows
    }

    /// Sum of all weights (the number of customers when unweighted).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }
}

// ---------------------------------------------------------------------------------------------
// Log-likelihood and gradient
// ---------------------------------------------------------------------------------------------

/// `ln[B(a+k, b+j)/B(a, b)]` for whole `k, j ≥ 0`, as
/// `[ln Γ(a+k) − ln Γ(a)] − [ln Γ(a+b+j+k) − ln Γ(a+b+j)] + [ln Γ(a+b) − ln Γ(b)] −
/// [ln Γ(a+b+j) − ln Γ(b+j)]`, every bracket a stable gamma ratio.
fn ln_beta_shift(a: f64, b: f64, k: f64, j: f64) -> f64 {
    ln_gamma_ratio(a, k) - ln_gamma_ratio(a + b + j, k) + ln_gamma_ratio(b, a)
        - ln_gamma_ratio(b + j, a)
}

/// Gradient `(∂a, ∂b)` of [`ln_beta_shift`]:
/// `∂a = [ψ(a+k) − ψ(a)] − [ψ(a+b+j+k) − ψ(a+b)]`, `∂b = [ψ(b+j) − ψ(b)] − [ψ(a+b+j+k) − ψ(a+b)]`.
fn ln_beta_shift_gradient(a: f64, b: f64, k: f64, j: f64) -> (f64, f64) {
    let common = digamma_difference(a + b, j + k);
    (
        digamma_difference(a, k) - common,
        digamma_difference(b, j) - common,
    )
}

/// One customer's `ln L` (eq. 5) and, when asked, its gradient in `(α, β, γ, δ)`.
///
/// With `A` the "alive at n" term and `B_i` the "died at opportunity t_x+i+1" terms,
/// `ln B_0 = ln[B(α+x, β+t_x−x)/B(α,β)] + ln γ − ln(γ+δ+t_x) + ln[B(γ, δ+t_x)/B(γ,δ)]` and
/// `B_{i+1}/B_i = (β+k−x)/(α+β+k) · (δ+k)/(γ+δ+1+k)` with `k = t_x+i`, a ratio below 1: the
/// largest term is `A` or `B_0`, and once the remaining terms together are below 1e-17 of the
/// sum the loop stops. The gradients follow the same recursion.
fn customer_terms(m: &BgBb, c: BgBbCustomer, with_gradient: bool) -> (f64, [f64; 4]) {
    let BgBb {
        alpha,
        beta,
        gamma,
        delta,
    } = *m;
    let (x, t_x, n) = (c.frequency as f64, c.recency as f64, c.n_periods as f64);
    let ln_a = ln_beta_shift(alpha, beta, x, n - x) + ln_beta_shift(gamma, delta, 0.0, n);
    let d_a = if with_gradient {
        let (da, db) = ln_beta_shift_gradient(alpha, beta, x, n - x);
        let (dg, dd) = ln_beta_shift_gradient(gamma, delta, 0.0, n);
        [da, db, dg, dd]
    } else {
        [0.0; 4]
    };
    let terms = c.n_periods - c.recency;
    if terms == 0 {
        return (ln_a, d_a);
    }
    let mut ln_b = ln_beta_shift(alpha, beta, x, t_x - x) + gamma.ln() - (gamma + delta + t_x).ln()
        + ln_beta_shift(gamma, delta, 0.0, t_x);
    let mut d_b = if with_gradient {
        let (da, db) = ln_beta_shift_gradient(alpha, beta, x, t_x - x);
        let (dg, dd) = ln_beta_shift_gradient(gamma, delta, 0.0, t_x);
        let inv = 1.0 / (gamma + delta + t_x);
        [da, db, dg + 1.0 / gamma - inv, dd - inv]
    } else {
        [0.0; 4]
    };
    let top = ln_a.max(ln_b);
    let e_a = (ln_a - top).exp();
    let mut sum = e_a;
    let mut grad = d_a.map(|g| g * e_a);
    for i in 0..terms {
        let e = (ln_b - top).exp();
        sum += e;
        if with_gradient {
            for (g, d) in grad.iter_mut().zip(&d_b) {
                *g += e * d;
            }
        }
        let remaining = (terms - 1 - i) as f64;
        if remaining * e <= 1e-17 * sum {
            break;
        }
        let k = t_x + i as f64;
        let (a1, a2, a3, a4) = (
            beta + k - x,
            alpha + beta + k,
            delta + k,
            gamma + delta + 1.0 + k,
        );
        ln_b += ((a1 * a3) / (a2 * a4)).ln();
        if with_gradient {
            d_b[0] -= 1.0 / a2;
            d_b[1] += 1.0 / a1 - 1.0 / a2;
            d_b[2] -= 1.0 / a4;
            d_b[3] += 1.0 / a3 - 1.0 / a4;
        }
    }
    (top + sum.ln(), grad.map(|g| g / sum))
}

impl BgBb {
    /// One customer's log-likelihood (FHS 2010 eq. 5).
    ///
    /// ```
    /// use northstar_models::{BgBb, BgBbCustomer};
    /// // α = 2, β = 3, γ = δ = 1, one opportunity with a transaction:
    /// // E[p]·E[1−θ] = 2/5 · 1/2 = 1/5.
    /// let m = BgBb::new(2.0, 3.0, 1.0, 1.0).unwrap();
    /// let c = BgBbCustomer::try_new(1.0, 1.0, 1.0).unwrap();
    /// assert!((m.log_likelihood(&c) - 0.2f64.ln()).abs() < 1e-14);
    /// ```
    pub fn log_likelihood(&self, customer: &BgBbCustomer) -> f64 {
        customer_terms(self, *customer, false).0
    }
}

/// The BG/BB log-likelihood of a compressed data set.
pub struct BgBbLikelihood<'a> {
    data: &'a CompressedBgBb,
}

impl<'a> BgBbLikelihood<'a> {
    /// Wraps the data.
    pub fn new(data: &'a CompressedBgBb) -> Self {
        Self { data }
    }
}

impl Likelihood for BgBbLikelihood<'_> {
    fn param_names(&self) -> &'static [&'static str] {
        BgBb::NAMES
    }

    fn n_observations(&self) -> f64 {
        self.data.total_weight
    }

    fn initial_params(&self) -> Vec<f64> {
        vec![1.0, 1.0, 1.0, 1.0]
    }

    fn value_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>) {
        // The optimizer only proposes positive parameters; `new` would reject anything else.
        let m = BgBb {
            alpha: params[0],
            beta: params[1],
            gamma: params[2],
            delta: params[3],
        };
        let sum = self
            .data
            .rows
            .par_chunks(4096)
            .map(|rows| {
                let mut acc = [0.0f64; 5];
                for row in rows {
                    let (l, g) = customer_terms(&m, row.customer, true);
                    acc[0] += row.weight * l;
                    for (a, gi) in acc[1..].iter_mut().zip(g) {
                        *a += row.weight * gi;
                    }
                }
                acc
            })
            .reduce(|| [0.0; 5], |a, b| std::array::from_fn(|i| a[i] + b[i]));
        (sum[0], sum[1..].to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// Fit
// ---------------------------------------------------------------------------------------------

impl BgBb {
    /// Maximum-likelihood fit to compressed customer data.
    ///
    /// ```
    /// use northstar_models::{BgBb, BgBbCustomer, CompressedBgBb, FitOptions};
    /// use rand::SeedableRng;
    /// let truth = BgBb::new(1.2, 0.8, 0.6, 2.5).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    /// let customers: Vec<BgBbCustomer> =
    ///     (0..2000).map(|_| truth.simulate_customer(&mut rng, 8)).collect();
    /// let data = CompressedBgBb::new(&customers, None).unwrap();
    /// let (model, report) = BgBb::fit(&data, &FitOptions::default()).unwrap();
    /// assert!(report.converged && model.alpha() > 0.0);
    /// ```
    pub fn fit(
        data: &CompressedBgBb,
        options: &FitOptions,
    ) -> Result<(Self, FitReport), ModelError> {
        if data.rows.is_empty() {
            return Err(ModelError::NoData(
                "the BG/BB table has no customers".into(),
            ));
        }
        let report = maximize_likelihood(&BgBbLikelihood::new(data), options)?;
        Ok((Self::from_values(&report.params)?, report))
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------------------------

/// Horizons up to this are summed term by term; longer ones use the closed form.
const DIRECT_SURVIVAL_TERMS: u32 = 10_000;

/// `Σ_{t=1}^{m} B(γ, δ+t)/B(γ, δ)`: the expected number of the next `m` opportunities at which
/// a customer alive now, with `θ ~ Beta(γ, δ)`, is still alive.
///
/// Summed with the ratio `(δ+t−1)/(γ+δ+t−1)` up to 10 000 terms; beyond, the closed form behind
/// FHS (2010) eq. (7), `δ/(γ−1) · [1 − Γ(γ+δ)Γ(1+δ+m)/(Γ(1+δ)Γ(γ+δ+m))]`, with the log of the
/// gamma ratio as a difference of stable ratios (so `γ → 1` loses nothing) and the `γ = 1`
/// limit `δ[ψ(1+δ+m) − ψ(1+δ)]`.
fn expected_alive_opportunities(gamma: f64, delta: f64, m: u32) -> f64 {
    if m <= DIRECT_SURVIVAL_TERMS {
        let (mut term, mut sum) = (1.0, 0.0);
        for t in 0..m {
            let t = t as f64;
            term *= (delta + t) / (gamma + delta + t);
            sum += term;
        }
        return sum;
    }
    let m = m as f64;
    if gamma == 1.0 {
        return delta * digamma_difference(1.0 + delta, m);
    }
    let ln_ratio = if gamma > 1.0 {
        ln_gamma_ratio(1.0 + delta, gamma - 1.0) - ln_gamma_ratio(1.0 + delta + m, gamma - 1.0)
    } else {
        ln_gamma_ratio(gamma + delta + m, 1.0 - gamma) - ln_gamma_ratio(gamma + delta, 1.0 - gamma)
    };
    delta * -ln_ratio.exp_m1() / (gamma - 1.0)
}

impl BgBb {
    /// `ln P(alive at opportunity n + m, and history (x, n))`: the first term of eq. (5) with the
    /// dropout part carried `m` opportunities further.
    fn ln_alive_joint(&self, c: &BgBbCustomer, m: u32) -> f64 {
        let (x, n) = (c.frequency as f64, c.n_periods as f64);
        ln_beta_shift(self.alpha, self.beta, x, n - x)
            + ln_beta_shift(self.gamma, self.delta, 0.0, n + m as f64)
    }

    /// `P(alive at opportunity n + future_periods | x, t_x, n)`. `future_periods = 1` is
    /// FHS (2010) eq. (11), the probability of being alive at the next opportunity;
    /// `future_periods = 0` is alive at the last observed opportunity (the default of lifetimes
    /// and PyMC-Marketing).
    ///
    /// ```
    /// use northstar_models::{BgBb, BgBbCustomer};
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
    /// let active = BgBbCustomer::try_new(5.0, 6.0, 6.0).unwrap();
    /// let lapsed = BgBbCustomer::try_new(1.0, 1.0, 6.0).unwrap();
    /// assert!(m.expected_probability_alive(&active, 0) > 0.99);
    /// assert!(m.expected_probability_alive(&lapsed, 1) < 0.5);
    /// ```
    #[doc(alias = "conditional_probability_alive")]
    pub fn expected_probability_alive(&self, customer: &BgBbCustomer, future_periods: u32) -> f64 {
        (self.ln_alive_joint(customer, future_periods) - self.log_likelihood(customer))
            .exp()
            .min(1.0)
    }

    /// `E[X(n, n+n*) | x, t_x, n]`, the expected transactions at the next `future_periods`
    /// (`n*`) opportunities (FHS 2010 eq. 13), as
    /// `P(alive at n) · (α+x)/(α+β+n) · Σ_{t=1}^{n*} B(γ, δ+n+t)/B(γ, δ+n)`: given alive at `n`,
    /// `p ~ Beta(α+x, β+n−x)` and `θ ~ Beta(γ, δ+n)`.
    ///
    /// ```
    /// use northstar_models::{BgBb, BgBbCustomer};
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
    /// let c = BgBbCustomer::try_new(4.0, 6.0, 6.0).unwrap();
    /// let (e5, e10) = (m.expected_purchases(&c, 5), m.expected_purchases(&c, 10));
    /// assert!(e5 > 0.0 && e10 > e5 && e5 <= 5.0);
    /// ```
    #[doc(alias = "conditional_expected_number_of_purchases_up_to_time")]
    pub fn expected_purchases(&self, customer: &BgBbCustomer, future_periods: u32) -> f64 {
        let (x, n) = (customer.frequency as f64, customer.n_periods as f64);
        self.expected_probability_alive(customer, 0) * (self.alpha + x)
            / (self.alpha + self.beta + n)
            * expected_alive_opportunities(self.gamma, self.delta + n, future_periods)
    }

    /// `E[X(n)]`, the expected repeat transactions of a new customer in the first `n`
    /// opportunities (FHS 2010 eq. 7): `α/(α+β) · Σ_{t=1}^{n} B(γ, δ+t)/B(γ, δ)`.
    ///
    /// ```
    /// use northstar_models::BgBb;
    /// let m = BgBb::new(2.0, 3.0, 1.0, 1.0).unwrap();
    /// // n = 1: E[p]·E[1−θ] = 2/5 · 1/2.
    /// assert!((m.expected_purchases_new_customer(1) - 0.2).abs() < 1e-15);
    /// ```
    #[doc(alias = "expected_number_of_purchases_up_to_time")]
    pub fn expected_purchases_new_customer(&self, n: u32) -> f64 {
        self.alpha / (self.alpha + self.beta)
            * expected_alive_opportunities(self.gamma, self.delta, n)
    }

    /// `P(X(n) = x)`: the probability that a new customer makes exactly `x` repeat transactions
    /// in the first `n` opportunities (FHS 2010 eq. 6):
    /// `C(n,x) B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
    ///  + Σ_{i=x}^{n−1} C(i,x) B(α+x, β+i−x)/B(α,β) · B(γ+1, δ+i)/B(γ,δ)`,
    /// summed in log space with the term ratio
    /// `(i+1)/(i+1−x) · (β+i−x)/(α+β+i) · (δ+i)/(γ+δ+1+i)`. Costs `O(n − x)`.
    ///
    /// ```
    /// use northstar_models::BgBb;
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
    /// let total: f64 = (0..=6).map(|x| m.probability_of_purchases(x, 6)).sum();
    /// assert!((total - 1.0).abs() < 1e-13);
    /// ```
    #[doc(alias = "probability_of_n_purchases_up_to_time")]
    pub fn probability_of_purchases(&self, x: u32, n: u32) -> f64 {
        if x > n {
            return 0.0;
        }
        let BgBb {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let ln_choose =
            |n: f64, k: f64| ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0);
        let (xf, nf) = (x as f64, n as f64);
        let first = ln_choose(nf, xf)
            + ln_beta_shift(alpha, beta, xf, nf - xf)
            + ln_beta_shift(gamma, delta, 0.0, nf);
        // Online log-sum-exp over the i-terms (they rise, then fall, with C(i, x)).
        let (mut top, mut sum) = (first, 1.0);
        let mut ln_term = ln_beta_shift(alpha, beta, xf, 0.0) + gamma.ln()
            - (gamma + delta + xf).ln()
            + ln_beta_shift(gamma, delta, 0.0, xf);
        for i in x..n {
            if ln_term > top {
                sum = sum * (top - ln_term).exp() + 1.0;
                top = ln_term;
            } else {
                sum += (ln_term - top).exp();
            }
            let i = i as f64;
            ln_term += ((i + 1.0) * (beta + i - xf) * (delta + i)
                / ((i + 1.0 - xf) * (alpha + beta + i) * (gamma + delta + 1.0 + i)))
                .ln();
        }
        (top + sum.ln()).exp()
    }

    /// `P(X(n) = x)` for `x = 0..=n` (FHS 2010 eq. 6); costs `O(n²)`.
    ///
    /// ```
    /// use northstar_models::BgBb;
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
    /// let p = m.purchase_count_distribution(6);
    /// assert_eq!(p.len(), 7);
    /// assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-13);
    /// ```
    pub fn purchase_count_distribution(&self, n: u32) -> Vec<f64> {
        (0..=n)
            .map(|x| self.probability_of_purchases(x, n))
            .collect()
    }

    /// The expected number of customers, out of `customers` new ones, with `x = 0..=n` repeat
    /// transactions in the first `n` opportunities: `customers · P(X(n) = x)`.
    ///
    /// ```
    /// use northstar_models::BgBb;
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
    /// let counts = m.expected_customers_by_purchases(6, 11_104.0);
    /// assert!((counts.iter().sum::<f64>() - 11_104.0).abs() < 1e-8);
    /// ```
    #[doc(alias = "expected_number_of_transactions_in_first_n_periods")]
    pub fn expected_customers_by_purchases(&self, n: u32, customers: f64) -> Vec<f64> {
        self.purchase_count_distribution(n)
            .into_iter()
            .map(|p| customers * p)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------

impl BgBb {
    /// Draws a new customer's transactions at opportunities `1..=n`: `p ~ Beta(α, β)`,
    /// `θ ~ Beta(γ, δ)`; at each opportunity the customer first dies with probability `θ`, and
    /// if alive transacts with probability `p`.
    ///
    /// ```
    /// use northstar_models::BgBb;
    /// use rand::SeedableRng;
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// assert_eq!(m.simulate_transactions(&mut rng, 6).len(), 6);
    /// ```
    pub fn simulate_transactions(&self, rng: &mut dyn RngCore, n: u32) -> Vec<bool> {
        let p: f64 = Beta::new(self.alpha, self.beta)
            .expect("parameters are positive by construction")
            .sample(rng);
        let theta: f64 = Beta::new(self.gamma, self.delta)
            .expect("parameters are positive by construction")
            .sample(rng);
        let mut out = vec![false; n as usize];
        for slot in out.iter_mut() {
            if rng.random::<f64>() < theta {
                break;
            }
            *slot = rng.random::<f64>() < p;
        }
        out
    }

    /// Draws a new customer's summary over `n` opportunities.
    ///
    /// ```
    /// use northstar_models::BgBb;
    /// use rand::SeedableRng;
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let c = m.simulate_customer(&mut rng, 6);
    /// assert!(c.frequency() <= c.recency() && c.recency() <= 6);
    /// ```
    pub fn simulate_customer(&self, rng: &mut dyn RngCore, n: u32) -> BgBbCustomer {
        BgBbCustomer::from_transactions(&self.simulate_transactions(rng, n))
            .expect("n fits in u32 by construction")
    }
}

impl SimulatePurchases for BgBb {
    /// The opportunities `1..=⌊horizon⌋` at which the customer transacts, as times.
    ///
    /// ```
    /// use northstar_models::{BgBb, SimulatePurchases};
    /// use rand::SeedableRng;
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let times = m.simulate_repeat_purchases(&mut rng, 6.5);
    /// assert!(times.iter().all(|t| t.fract() == 0.0 && (1.0..=6.0).contains(t)));
    /// ```
    fn simulate_repeat_purchases(&self, rng: &mut dyn RngCore, horizon: f64) -> Vec<f64> {
        let n = if horizon.is_nan() || horizon < 1.0 {
            0
        } else {
            horizon.min(u32::MAX as f64) as u32
        };
        self.simulate_transactions(rng, n)
            .iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(i, _)| (i + 1) as f64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::special::ln_beta;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn customer(x: u32, t_x: u32, n: u32) -> BgBbCustomer {
        BgBbCustomer::try_new(x as f64, t_x as f64, n as f64).unwrap()
    }

    /// Every possible history `(x, t_x)` over `n` opportunities with the number of transaction
    /// vectors that produce it: `C(t_x−1, x−1)` for `x ≥ 1`, 1 for `x = 0`.
    fn all_histories(n: u32) -> Vec<(BgBbCustomer, f64)> {
        let choose = |n: u32, k: u32| -> f64 {
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        };
        let mut out = vec![(customer(0, 0, n), 1.0)];
        for t_x in 1..=n {
            for x in 1..=t_x {
                out.push((customer(x, t_x, n), choose(t_x - 1, x - 1)));
            }
        }
        out
    }

    #[test]
    fn log_likelihood_of_two_customers_matches_hand_computation() {
        // α = β = γ = δ = 1: p and θ uniform, so E[p^a (1−p)^b] = a! b!/(a+b+1)!.
        // Customer 1, (x, t_x, n) = (1, 1, 2), i.e. transactions (yes, no):
        //   alive throughout: E[p(1−p)] E[(1−θ)²] = 1/6 · 1/3 = 1/18;
        //   died at the start of opportunity 2: E[p] E[θ(1−θ)] = 1/2 · 1/6 = 1/12;
        //   L₁ = 1/18 + 1/12 = 5/36.
        // Customer 2, (0, 0, 2): alive throughout: E[(1−p)²] E[(1−θ)²] = 1/3 · 1/3 = 1/9;
        //   died at opportunity 1: E[θ] = 1/2; died at opportunity 2: E[1−p] E[θ(1−θ)] = 1/12;
        //   L₂ = 1/9 + 1/2 + 1/12 = 25/36.
        // LL = ln(5/36) + ln(25/36) = −2.3387...
        let m = BgBb::new(1.0, 1.0, 1.0, 1.0).unwrap();
        let data = CompressedBgBb::new(&[customer(1, 1, 2), customer(0, 0, 2)], None).unwrap();
        let (ll, _) = BgBbLikelihood::new(&data).value_and_gradient(&m.values());
        let expected = (5.0f64 / 36.0).ln() + (25.0f64 / 36.0).ln();
        assert!((ll - expected).abs() < 1e-14, "{ll} vs {expected}");
        assert!((expected + 2.3387).abs() < 1e-4);
    }

    #[test]
    fn likelihood_is_a_distribution_over_histories() {
        // Σ over all 2ⁿ transaction vectors of L = 1 (eq. 5 is a probability).
        for &(a, b, g, d) in &[
            (1.2, 0.75, 0.66, 2.78),
            (0.3, 4.0, 5.0, 0.2),
            (7.0, 7.0, 0.05, 9.0),
        ] {
            let m = BgBb::new(a, b, g, d).unwrap();
            for n in [1u32, 2, 5, 9] {
                let total: f64 = all_histories(n)
                    .iter()
                    .map(|(c, k)| k * m.log_likelihood(c).exp())
                    .sum();
                assert!((total - 1.0).abs() < 1e-13, "n={n}: {total}");
            }
        }
    }

    #[test]
    fn probability_of_x_transactions_agrees_with_the_likelihood_and_sums_to_one() {
        // Eq. (6) against eq. (5) summed over the histories with x transactions, and
        // Σ_x P(X(n)=x) = 1, Σ_x x P(X(n)=x) = E[X(n)] (eq. 7).
        let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
        for n in [0u32, 1, 4, 8] {
            let histories = all_histories(n);
            let dist = m.purchase_count_distribution(n);
            for (x, p) in dist.iter().enumerate() {
                let from_ll: f64 = histories
                    .iter()
                    .filter(|(c, _)| c.frequency() == x as u32)
                    .map(|(c, k)| k * m.log_likelihood(c).exp())
                    .sum();
                assert!((p - from_ll).abs() < 1e-14, "n={n} x={x}: {p} vs {from_ll}");
            }
            assert!((dist.iter().sum::<f64>() - 1.0).abs() < 1e-13);
            let mean: f64 = dist.iter().enumerate().map(|(x, p)| x as f64 * p).sum();
            assert!((mean - m.expected_purchases_new_customer(n)).abs() < 1e-13);
        }
        for n in [50u32, 1000] {
            let total: f64 = m.purchase_count_distribution(n).iter().sum();
            assert!((total - 1.0).abs() < 1e-11, "n={n}: {total}");
        }
    }

    #[test]
    fn conditional_predictions_obey_the_laws_of_total_probability_and_expectation() {
        // Σ_h P(h) P(alive at n+m | h) = B(γ, δ+n+m)/B(γ, δ) and
        // Σ_h P(h) E[X(n, n+n*) | h] = E[X(n+n*)] − E[X(n)] (eqs. 5, 7, 11, 13 together).
        let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
        let n = 6;
        let histories = all_histories(n);
        for future in [0u32, 1, 5] {
            let p_alive: f64 = histories
                .iter()
                .map(|(c, k)| {
                    k * m.log_likelihood(c).exp() * m.expected_probability_alive(c, future)
                })
                .sum();
            let prior = (ln_beta(0.66, 2.78 + (n + future) as f64) - ln_beta(0.66, 2.78)).exp();
            assert!(
                (p_alive - prior).abs() < 1e-12 * prior,
                "{p_alive} vs {prior}"
            );
            let e: f64 = histories
                .iter()
                .map(|(c, k)| k * m.log_likelihood(c).exp() * m.expected_purchases(c, future))
                .sum();
            let want = m.expected_purchases_new_customer(n + future)
                - m.expected_purchases_new_customer(n);
            assert!((e - want).abs() <= 1e-12 * want, "{e} vs {want}");
        }
    }

    #[test]
    fn expected_purchases_new_customer_matches_closed_form_of_eq_7() {
        // E[X(n)] = α/(α+β) · δ/(γ−1) · [1 − Γ(γ+δ)Γ(1+δ+n)/(Γ(γ+δ+n)Γ(1+δ))].
        let (a, b, g, d) = (1.2, 0.75, 0.66, 2.78);
        let m = BgBb::new(a, b, g, d).unwrap();
        for n in [1u32, 6, 100] {
            let nf = n as f64;
            let ratio = (ln_gamma(g + d) + ln_gamma(1.0 + d + nf)
                - ln_gamma(g + d + nf)
                - ln_gamma(1.0 + d))
            .exp();
            let closed = a / (a + b) * d / (g - 1.0) * (1.0 - ratio);
            let got = m.expected_purchases_new_customer(n);
            assert!((got - closed).abs() < 1e-12 * closed, "{got} vs {closed}");
        }
    }

    #[test]
    fn alive_opportunities_closed_form_continues_the_direct_sum() {
        for &(g, d) in &[
            (0.66, 2.78),
            (1.0, 3.0),
            (1.0 + 1e-9, 3.0),
            (4.0, 0.5),
            (0.01, 100.0),
        ] {
            let m = DIRECT_SURVIVAL_TERMS;
            let direct = expected_alive_opportunities(g, d, m);
            let next_term = (ln_beta(g, d + (m + 1) as f64) - ln_beta(g, d)).exp();
            let closed = expected_alive_opportunities(g, d, m + 1);
            assert!(
                (closed - (direct + next_term)).abs() < 1e-11 * closed,
                "γ={g} δ={d}: {closed} vs {}",
                direct + next_term
            );
        }
    }

    #[test]
    fn compressed_likelihood_equals_sum_of_individual_terms() {
        let m = BgBb::new(1.2, 0.75, 0.66, 2.78).unwrap();
        let customers = [
            customer(0, 0, 6),
            customer(3, 5, 6),
            customer(3, 5, 6),
            customer(1, 1, 4),
        ];
        let data = CompressedBgBb::new(&customers, Some(&[1.0, 2.0, 0.5, 1.0])).unwrap();
        let (ll, _) = BgBbLikelihood::new(&data).value_and_gradient(&m.values());
        let direct = m.log_likelihood(&customers[0])
            + 2.5 * m.log_likelihood(&customers[1])
            + m.log_likelihood(&customers[3]);
        assert!((ll - direct).abs() < 1e-12);
    }

    #[test]
    fn large_n_and_extreme_parameters_stay_finite() {
        let cases = [
            (1.2, 0.75, 0.66, 2.78),
            (1e-3, 1e-3, 1e-3, 1e-3),
            (1e3, 1e-2, 1e-2, 1e3),
            (1e-2, 1e4, 1e4, 1e-2),
        ];
        let customers = [
            customer(900, 950, 1000),
            customer(0, 0, 1000),
            customer(1000, 1000, 1000),
            customer(1, 1, 1000),
        ];
        for &(a, b, g, d) in &cases {
            let m = BgBb::new(a, b, g, d).unwrap();
            let data = CompressedBgBb::new(&customers, None).unwrap();
            let (ll, grad) = BgBbLikelihood::new(&data).value_and_gradient(&m.values());
            assert!(
                ll.is_finite() && grad.iter().all(|g| g.is_finite()),
                "{a} {b} {g} {d}"
            );
            for c in &customers {
                let p = m.expected_probability_alive(c, 1);
                assert!((0.0..=1.0).contains(&p), "{p}");
                let e = m.expected_purchases(c, 500);
                assert!((0.0..=500.0).contains(&e), "{e}");
            }
            let fd = finite_difference_gradient(&data, &m.values());
            for (g, f) in grad.iter().zip(&fd) {
                assert!((g - f).abs() <= 1e-5 * (1.0 + f.abs()), "{g} vs {f}");
            }
            let e = m.expected_purchases_new_customer(1_000_000);
            assert!(e.is_finite() && e >= 0.0);
            let p = m.probability_of_purchases(900, 1000);
            assert!((0.0..=1.0).contains(&p));
        }
    }

    #[test]
    fn rejects_invalid_summaries() {
        assert!(BgBbCustomer::try_new(-1.0, 0.0, 5.0).is_err());
        assert!(BgBbCustomer::try_new(1.0, 6.0, 5.0).is_err());
        assert!(BgBbCustomer::try_new(1.0, 0.0, 5.0).is_err());
        assert!(BgBbCustomer::try_new(0.0, 0.0, f64::NAN).is_err());
        assert!(BgBbCustomer::try_new(0.0, 0.0, 0.0).is_ok());
        let c = customer(1, 1, 2);
        assert!(CompressedBgBb::new(&[c], Some(&[0.0])).is_err());
        assert!(CompressedBgBb::new(&[c], Some(&[1.0, 1.0])).is_err());
        assert!(matches!(
            BgBb::fit(
                &CompressedBgBb::new(&[], None).unwrap(),
                &FitOptions::default()
            ),
            Err(ModelError::NoData(_))
        ));
    }

    #[test]
    fn fit_recovers_simulated_parameters_within_three_standard_errors() {
        let truth = BgBb::new(1.0, 0.8, 0.6, 2.5).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(29);
        let customers: Vec<BgBbCustomer> = (0..20_000)
            .map(|_| truth.simulate_customer(&mut rng, 10))
            .collect();
        let data = CompressedBgBb::new(&customers, None).unwrap();
        let (fit, report) = BgBb::fit(&data, &FitOptions::default()).unwrap();
        assert!(report.converged, "{}", report.termination);
        for ((got, want), se) in fit
            .values()
            .iter()
            .zip(truth.values())
            .zip(&report.std_errors)
        {
            let se = se.unwrap();
            assert!(
                (got - want).abs() < 3.0 * se,
                "estimate {got}, truth {want}, se {se}"
            );
        }
    }

    fn finite_difference_gradient(data: &CompressedBgBb, p: &[f64]) -> Vec<f64> {
        let l = BgBbLikelihood::new(data);
        (0..p.len())
            .map(|i| {
                let h = 1e-6 * p[i];
                let mut up = p.to_vec();
                let mut down = p.to_vec();
                up[i] += h;
                down[i] -= h;
                (l.value_and_gradient(&up).0 - l.value_and_gradient(&down).0) / (2.0 * h)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn gradient_agrees_with_central_differences(
            a in 0.05f64..20.0, b in 0.05f64..20.0, g in 0.05f64..20.0, d in 0.05f64..20.0,
            rows in prop::collection::vec((0u32..40, 0.0f64..1.0, 0.0f64..1.0), 1..20),
        ) {
            let customers: Vec<BgBbCustomer> = rows.iter().map(|&(n, f1, f2)| {
                let t_x = (f1 * (n as f64 + 1.0)).floor().min(n as f64) as u32;
                let x = if t_x == 0 { 0 } else { 1 + (f2 * t_x as f64).floor().min(t_x as f64 - 1.0) as u32 };
                customer(x, t_x, n)
            }).collect();
            let data = CompressedBgBb::new(&customers, None).unwrap();
            let p = [a, b, g, d];
            let (_, grad) = BgBbLikelihood::new(&data).value_and_gradient(&p);
            let fd = finite_difference_gradient(&data, &p);
            for (gr, f) in grad.iter().zip(&fd) {
                prop_assert!((gr - f).abs() <= 1e-5 * (1.0 + f.abs()), "analytic {gr} vs numeric {f}");
            }
        }

        #[test]
        fn p_alive_is_a_probability_and_expectations_grow_with_the_horizon(
            a in 0.01f64..50.0, b in 0.01f64..50.0, g in 0.01f64..50.0, d in 0.01f64..50.0,
            n in 0u32..300, f1 in 0.0f64..1.0, f2 in 0.0f64..1.0, horizon in 0u32..200,
        ) {
            let m = BgBb::new(a, b, g, d).unwrap();
            let t_x = (f1 * (n as f64 + 1.0)).floor().min(n as f64) as u32;
            let x = if t_x == 0 { 0 } else { 1 + (f2 * t_x as f64).floor().min(t_x as f64 - 1.0) as u32 };
            let c = customer(x, t_x, n);
            for future in [0u32, 1, 10] {
                let p = m.expected_probability_alive(&c, future);
                prop_assert!((0.0..=1.0).contains(&p), "{p}");
            }
            prop_assert!(m.expected_probability_alive(&c, 1) <= m.expected_probability_alive(&c, 0));
            let e1 = m.expected_purchases(&c, horizon);
            let e2 = m.expected_purchases(&c, horizon + 1);
            prop_assert!(e1.is_finite() && e1 >= 0.0 && e2 >= e1, "{e1} {e2}");
            let n1 = m.expected_purchases_new_customer(horizon);
            let n2 = m.expected_purchases_new_customer(horizon + 1);
            prop_assert!(n1 >= 0.0 && n2 >= n1);
        }
    }
}
