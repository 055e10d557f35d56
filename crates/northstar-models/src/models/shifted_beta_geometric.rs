//! sBG: the shifted-beta-geometric model of contract renewals.
//!
//! Fader & Hardie (2007), "How to Project Customer Retention", *Journal of Interactive
//! Marketing* 21(1), 76–90; discounted lifetimes from Fader & Hardie (2010), "Customer-Base
//! Valuation in a Contractual Setting: The Perils of Ignoring Heterogeneity", *Marketing
//! Science* 29(1), 85–93.
//!
//! At the end of each period a customer leaves with a churn probability `θ` that is constant
//! over their lifetime; across customers `θ ~ Beta(α, β)`. With `T ≥ 1` the period in which the
//! customer leaves (timing conventions in [`contractual`](crate::models::contractual)):
//!
//! - `P(T = t) = B(α+1, β+t−1) / B(α, β)` and `S(t) = P(T > t) = B(α, β+t) / B(α, β)`
//!   (FH 2007, the sBG pmf and survivor function; its recursions
//!   `P(T=1) = α/(α+β)`, `P(T=t) = (β+t−2)/(α+β+t−1) · P(T=t−1)` are the same numbers);
//! - the retention rate `r(t) = S(t)/S(t−1) = (β+t−1)/(α+β+t−1)` rises with `t`: the
//!   heterogeneity alone makes a cohort's retention improve over time (FH 2007);
//! - the log-likelihood of churned and still-active customers is
//!   `Σ_churned ln P(T = t) + Σ_active ln S(t)` (FH 2007);
//! - `DEL(d) = 2F1(1, β; α+β; 1/(1+d))` (FH 2010, the sBG DEL) and, for a customer who has made
//!   `n` renewals, `DERL(d, n) = (β+n)/(α+β+n) · 2F1(1, β+n+1; α+β+n+1; 1/(1+d))` (FH 2010
//!   eq. 6, which counts `n−1` renewals: their `n` is our `n+1`).
//!
//! Everything is computed in log space with [`ln Γ` ratios](crate::models::contractual) that keep
//! their digits for large `t`.

use crate::fit::{maximize_likelihood, FitOptions, FitReport, Likelihood};
use crate::models::contractual::{
    check_discount_rate, digamma_difference, ln_gamma_ratio, BetaPowerSurvival, ContractualData,
    RetentionModel, SimulateTenure, Tenure,
};
use crate::models::{check_count, check_positive, ModelParams};
use crate::ModelError;
use rand::{Rng, RngCore};
use rand_distr::{Beta, Distribution};

/// sBG parameters: the churn probability is `θ ~ Beta(alpha, beta)` across customers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftedBetaGeometric {
    alpha: f64,
    beta: f64,
}

impl ShiftedBetaGeometric {
    /// Builds the model; both parameters must be finite and > 0.
    ///
    /// ```
    /// use northstar_models::ShiftedBetaGeometric;
    /// assert!(ShiftedBetaGeometric::new(0.7, 1.2).is_ok());
    /// assert!(ShiftedBetaGeometric::new(0.0, 1.2).is_err());
    /// ```
    pub fn new(alpha: f64, beta: f64) -> Result<Self, ModelError> {
        Ok(Self {
            alpha: check_positive("alpha", alpha)?,
            beta: check_positive("beta", beta)?,
        })
    }
    /// First shape of the churn-probability beta distribution.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// Second shape of the churn-probability beta distribution.
    pub fn beta(&self) -> f64 {
        self.beta
    }
    fn survival_family(&self) -> BetaPowerSurvival {
        BetaPowerSurvival {
            alpha: self.alpha,
            beta: self.beta,
            c: 1.0,
        }
    }
}

impl ModelParams for ShiftedBetaGeometric {
    const MODEL: &'static str = "sbg";
    const NAMES: &'static [&'static str] = &["alpha", "beta"];
    fn from_values(v: &[f64]) -> Result<Self, ModelError> {
        check_count(v, Self::NAMES)?;
        Self::new(v[0], v[1])
    }
    fn values(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
}

// ---------------------------------------------------------------------------------------------
// Log-likelihood and gradient
// ---------------------------------------------------------------------------------------------

/// `ln S(t)` and its derivatives in `α` and `β`:
/// `ln S(t) = [ln Γ(α+β) − ln Γ(β)] − [ln Γ(α+β+t) − ln Γ(β+t)]`,
/// `∂α = ψ(α+β) − ψ(α+β+t)`, `∂β = [ψ(α+β) − ψ(β)] − [ψ(α+β+t) − ψ(β+t)]`.
fn ln_survival_and_gradient(alpha: f64, beta: f64, t: f64) -> (f64, f64, f64) {
    let value = ln_gamma_ratio(beta, alpha) - ln_gamma_ratio(beta + t, alpha);
    let d_alpha = -digamma_difference(alpha + beta, t);
    let d_beta = digamma_difference(beta, alpha) - digamma_difference(beta + t, alpha);
    (value, d_alpha, d_beta)
}

/// One observation's log-likelihood and gradient `(ℓ, ∂α, ∂β)`:
/// `ln S(t)` when still active; when churned in period `t`,
/// `ln P(T = t) = ln α − ln(α+β+t−1) + ln S(t−1)` (since `B(α+1, b) = α/(α+b) · B(α, b)`).
fn observation_terms(alpha: f64, beta: f64, tenure: Tenure) -> (f64, f64, f64) {
    let t = tenure.periods() as f64;
    if !tenure.churned() {
        return ln_survival_and_gradient(alpha, beta, t);
    }
    let (ln_s, d_alpha, d_beta) = ln_survival_and_gradient(alpha, beta, t - 1.0);
    let inv = 1.0 / (alpha + beta + t - 1.0);
    (
        alpha.ln() - (alpha + beta + t - 1.0).ln() + ln_s,
        1.0 / alpha - inv + d_alpha,
        -inv + d_beta,
    )
}

impl ShiftedBetaGeometric {
    /// One customer's log-likelihood: `ln P(T = t)` if they churned in period `t`, else
    /// `ln S(t)`.
    ///
    /// ```
    /// use northstar_models::{ShiftedBetaGeometric, Tenure};
    /// // α = β = 1: P(T = 2) = B(2, 2)/B(1, 1) = 1/6.
    /// let m = ShiftedBetaGeometric::new(1.0, 1.0).unwrap();
    /// let ll = m.log_likelihood(Tenure::churned_after(2).unwrap());
    /// assert!((ll - (1.0f64 / 6.0).ln()).abs() < 1e-14);
    /// ```
    pub fn log_likelihood(&self, tenure: Tenure) -> f64 {
        observation_terms(self.alpha, self.beta, tenure).0
    }
}

/// The sBG log-likelihood of a data set (all cohorts pooled), with identical tenures merged.
pub struct SbgLikelihood {
    counts: Vec<(Tenure, f64)>,
    total_weight: f64,
    start: (f64, f64),
}

impl SbgLikelihood {
    /// Compresses the data's tenures.
    pub fn new(data: &ContractualData) -> Self {
        Self {
            counts: data.tenure_counts(),
            total_weight: data.total_weight(),
            start: data.initial_alpha_beta(),
        }
    }
}

impl Likelihood for SbgLikelihood {
    fn param_names(&self) -> &'static [&'static str] {
        ShiftedBetaGeometric::NAMES
    }

    fn n_observations(&self) -> f64 {
        self.total_weight
    }

    fn initial_params(&self) -> Vec<f64> {
        vec![self.start.0, self.start.1]
    }

    fn value_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let (alpha, beta) = (params[0], params[1]);
        let mut acc = [0.0f64; 3];
        for &(tenure, w) in &self.counts {
            let (l, da, db) = observation_terms(alpha, beta, tenure);
            acc[0] += w * l;
            acc[1] += w * da;
            acc[2] += w * db;
        }
        (acc[0], vec![acc[1], acc[2]])
    }
}

// ---------------------------------------------------------------------------------------------
// Fit
// ---------------------------------------------------------------------------------------------

impl ShiftedBetaGeometric {
    /// Maximum-likelihood fit to subscription data, all cohorts pooled (split the data with
    /// [`ContractualData::split_by_cohort`] to fit cohorts separately).
    ///
    /// ```
    /// use northstar_models::{ContractualData, FitOptions, ShiftedBetaGeometric};
    /// let data = ContractualData::from_cohort_counts(
    ///     &[(0.0, 1000.0), (1.0, 700.0), (2.0, 560.0), (3.0, 480.0), (4.0, 425.0)],
    /// ).unwrap();
    /// let (model, report) = ShiftedBetaGeometric::fit(&data, &FitOptions::default()).unwrap();
    /// assert!(report.converged && model.alpha() > 0.0);
    /// ```
    pub fn fit(
        data: &ContractualData,
        options: &FitOptions,
    ) -> Result<(Self, FitReport), ModelError> {
        data.check_fittable()?;
        let report = maximize_likelihood(&SbgLikelihood::new(data), options)?;
        Ok((Self::from_values(&report.params)?, report))
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------------------------

/// Most terms the `2F1(1, b; c; z)` series may take before the general summation with an
/// integrated tail takes over (only for discount rates below about 1e-4 per period).
const MAX_SERIES_TERMS: u32 = 1_000_000;

/// `2F1(1, b; c; z) = Σ_k (b)_k/(c)_k z^k` for `0 < b < c`, `0 ≤ z < 1`, summed with the term
/// ratio `(b+k)/(c+k)·z`; since that ratio stays below `z`, the rest after a term is below
/// `term·z/(1−z)`, and the sum stops when that is under 1e-16 of the total. `None` if that takes
/// more than [`MAX_SERIES_TERMS`].
fn hyp2f1_one_b_c(b: f64, c: f64, z: f64) -> Option<f64> {
    let tail_factor = z / (1.0 - z);
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 0..MAX_SERIES_TERMS {
        let k = k as f64;
        term *= (b + k) / (c + k) * z;
        sum += term;
        if term * tail_factor < 1e-16 * sum {
            return Some(sum);
        }
    }
    None
}

impl ShiftedBetaGeometric {
    /// `Σ_{k≥0} S(s+k)/S(s) · z^k = 2F1(1, β+s; α+β+s; z)`, with the `z = 1` limit
    /// `(α+β+s−1)/(α−1)` (Gauss's theorem; infinite when `α ≤ 1`).
    fn discounted_sum_from(&self, s: u32, d: f64) -> Result<f64, ModelError> {
        let (b, c) = (self.beta + s as f64, self.alpha + self.beta + s as f64);
        if d == 0.0 {
            return Ok(if self.alpha > 1.0 {
                (c - 1.0) / (self.alpha - 1.0)
            } else {
                f64::INFINITY
            });
        }
        match hyp2f1_one_b_c(b, c, 1.0 / (1.0 + d)) {
            Some(value) => Ok(value),
            None => self.survival_family().discounted_sum(s, d),
        }
    }
}

impl RetentionModel for ShiftedBetaGeometric {
    /// `ln B(α, β+t) − ln B(α, β)`.
    ///
    /// ```
    /// use northstar_models::{RetentionModel, ShiftedBetaGeometric};
    /// let m = ShiftedBetaGeometric::new(2.0, 3.0).unwrap();
    /// // S(2) = (β/(α+β)) · ((β+1)/(α+β+1)) = 3/5 · 4/6
    /// assert!((m.survival(2) - 0.4).abs() < 1e-15);
    /// ```
    fn ln_survival(&self, t: u32) -> f64 {
        ln_survival_and_gradient(self.alpha, self.beta, t as f64).0
    }

    /// `B(α+1, β+t−1) / B(α, β)`.
    ///
    /// ```
    /// use northstar_models::{RetentionModel, ShiftedBetaGeometric};
    /// let m = ShiftedBetaGeometric::new(2.0, 3.0).unwrap();
    /// assert!((m.churn_probability(1) - 0.4).abs() < 1e-15); // α/(α+β)
    /// ```
    fn churn_probability(&self, t: u32) -> f64 {
        if t == 0 {
            return 0.0;
        }
        match Tenure::churned_after(t) {
            Ok(tenure) => self.log_likelihood(tenure).exp(),
            Err(_) => 0.0,
        }
    }

    /// `(β+t−1)/(α+β+t−1)`.
    ///
    /// ```
    /// use northstar_models::{RetentionModel, ShiftedBetaGeometric};
    /// let m = ShiftedBetaGeometric::new(2.0, 3.0).unwrap();
    /// assert!((m.retention_rate(3) - 5.0 / 7.0).abs() < 1e-15);
    /// ```
    fn retention_rate(&self, t: u32) -> f64 {
        if t == 0 {
            return 1.0;
        }
        let t = t as f64;
        (self.beta + t - 1.0) / (self.alpha + self.beta + t - 1.0)
    }

    /// `2F1(1, β; α+β; 1/(1+d))`; at `d = 0`, `E[T] = (α+β−1)/(α−1)` (infinite for `α ≤ 1`).
    ///
    /// ```
    /// use northstar_models::{RetentionModel, ShiftedBetaGeometric};
    /// // α = β = 1: S(t) = 1/(t+1), so DEL = Σ z^t/(t+1) = −ln(1−z)/z with z = 1/(1+d).
    /// let m = ShiftedBetaGeometric::new(1.0, 1.0).unwrap();
    /// let del = m.discounted_expected_lifetime(0.1).unwrap();
    /// assert!((del - 1.1 * 11f64.ln()).abs() < 1e-12);
    /// ```
    fn discounted_expected_lifetime(&self, d: f64) -> Result<f64, ModelError> {
        let d = check_discount_rate(d)?;
        self.discounted_sum_from(0, d)
    }

    /// `(β+n)/(α+β+n) · 2F1(1, β+n+1; α+β+n+1; 1/(1+d))` for `n = renewals` (FH 2010 eq. 6
    /// with their `n−1` renewals = `renewals`).
    ///
    /// ```
    /// use northstar_models::{RetentionModel, ShiftedBetaGeometric};
    /// let m = ShiftedBetaGeometric::new(0.7, 1.2).unwrap();
    /// let (d, del) = (0.1, m.discounted_expected_lifetime(0.1).unwrap());
    /// let derl = m.discounted_expected_residual_lifetime(d, 0).unwrap();
    /// assert!((del - (1.0 + derl / (1.0 + d))).abs() < 1e-12);
    /// ```
    fn discounted_expected_residual_lifetime(
        &self,
        d: f64,
        renewals: u32,
    ) -> Result<f64, ModelError> {
        let d = check_discount_rate(d)?;
        let s = renewals
            .checked_add(1)
            .ok_or(ModelError::InvalidParameter {
                name: "renewals",
                value: renewals as f64,
                expected: "fewer than 4294967295 renewals",
            })?;
        Ok(self.retention_rate(s) * self.discounted_sum_from(s, d)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------

impl SimulateTenure for ShiftedBetaGeometric {
    /// Draws `θ ~ Beta(α, β)` and a geometric `T` with `P(T > t | θ) = (1−θ)^t`.
    ///
    /// ```
    /// use northstar_models::{ShiftedBetaGeometric, SimulateTenure};
    /// use rand::SeedableRng;
    /// let m = ShiftedBetaGeometric::new(0.7, 1.2).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let alive = m.simulate_cohort(&mut rng, 1000, 5);
    /// assert!(alive[0] == 1000.0 && alive.windows(2).all(|w| w[1] <= w[0]));
    /// ```
    fn simulate_tenure(&self, rng: &mut dyn RngCore, horizon: u32) -> Tenure {
        let theta: f64 = Beta::new(self.alpha, self.beta)
            .expect("parameters are positive by construction")
            .sample(rng);
        // T > t ⇔ U < (1−θ)^t ⇔ t < ln U / ln(1−θ), so T = ⌊ln U / ln(1−θ)⌋ + 1.
        let ln_keep = (-theta).ln_1p();
        let u: f64 = rng.random::<f64>();
        let q = u.ln() / ln_keep;
        // θ = 0 (ln_keep = 0) never churns.
        if ln_keep.is_nan() || ln_keep >= 0.0 || q.is_nan() || q >= horizon as f64 {
            Tenure::active_after(horizon)
        } else {
            Tenure::churned_after(q.floor() as u32 + 1).expect("T ≥ 1")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::special::ln_beta;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn log_likelihood_of_a_three_period_cohort_matches_hand_computation() {
        // Cohort alive at periods 0..3: 100, 60, 40, 30 → 40 churned in period 1, 20 in period 2,
        // 10 in period 3, and 30 still active after 3 periods. With α = 2, β = 3:
        // P(T=1) = α/(α+β) = 2/5; P(T=2) = 3/5 · 2/6 = 1/5; P(T=3) = 3/5 · 4/6 · 2/7 = 4/35;
        // S(3) = 3/5 · 4/6 · 5/7 = 2/7 (and 2/5 + 1/5 + 4/35 + 2/7 = 1).
        // LL = 40 ln(2/5) + 20 ln(1/5) + 10 ln(4/35) + 30 ln(2/7) = −128.1138...
        let data = ContractualData::from_cohort_counts(&[
            (0.0, 100.0),
            (1.0, 60.0),
            (2.0, 40.0),
            (3.0, 30.0),
        ])
        .unwrap();
        let expected = 40.0 * (2.0f64 / 5.0).ln()
            + 20.0 * (1.0f64 / 5.0).ln()
            + 10.0 * (4.0f64 / 35.0).ln()
            + 30.0 * (2.0f64 / 7.0).ln();
        let (ll, _) = SbgLikelihood::new(&data).value_and_gradient(&[2.0, 3.0]);
        assert!((ll - expected).abs() < 1e-12, "{ll} vs {expected}");
        assert!((expected + 128.1138).abs() < 1e-4);
    }

    #[test]
    fn survival_equals_beta_ratio_and_product_of_retention_rates() {
        // FH 2007: S(t) = B(α, β+t)/B(α, β) = Π_{i=1}^{t} r(i).
        for &(alpha, beta) in &[(0.7, 1.2), (3.0, 0.4), (25.0, 80.0)] {
            let m = ShiftedBetaGeometric::new(alpha, beta).unwrap();
            let mut product = 1.0;
            for t in 0..60u32 {
                if t > 0 {
                    product *= m.retention_rate(t);
                }
                let beta_ratio = (ln_beta(alpha, beta + t as f64) - ln_beta(alpha, beta)).exp();
                let s = m.survival(t);
                assert!((s - beta_ratio).abs() < 1e-12 * beta_ratio, "t={t}");
                assert!((s - product).abs() < 1e-12 * product, "t={t}");
                if t > 0 {
                    let pmf =
                        (ln_beta(alpha + 1.0, beta + t as f64 - 1.0) - ln_beta(alpha, beta)).exp();
                    assert!((m.churn_probability(t) - pmf).abs() < 1e-12 * pmf);
                    assert!((m.survival(t - 1) - s - pmf).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn del_closed_form_equals_direct_summation() {
        for &(alpha, beta, d) in &[
            (0.7, 1.2, 0.1),
            (3.0, 0.4, 0.01),
            (1.0, 1.0, 0.25),
            (0.3, 5.0, 0.001),
        ] {
            let m = ShiftedBetaGeometric::new(alpha, beta).unwrap();
            let z: f64 = 1.0 / (1.0 + d);
            // Direct: Σ_k S(s+k)/S(s) z^k term by term, stopped once the terms are below 1e-18
            // of the sum (they fall at least geometrically).
            let direct_from = |s: u32| {
                let mut sum = 0.0;
                for k in 0..1_000_000u32 {
                    let term = (m.ln_survival(s + k) - m.ln_survival(s) + k as f64 * z.ln()).exp();
                    sum += term;
                    if term < 1e-18 * sum {
                        break;
                    }
                }
                sum
            };
            let direct = direct_from(0);
            let del = m.discounted_expected_lifetime(d).unwrap();
            assert!((del - direct).abs() < 1e-11 * direct, "{del} vs {direct}");
            for n in [0u32, 1, 5, 30] {
                let ratio = (m.ln_survival(n + 1) - m.ln_survival(n)).exp();
                let direct = ratio * direct_from(n + 1);
                let derl = m.discounted_expected_residual_lifetime(d, n).unwrap();
                assert!(
                    (derl - direct).abs() < 1e-11 * direct,
                    "n={n}: {derl} vs {direct}"
                );
            }
        }
    }

    #[test]
    fn tiny_discount_rates_fall_back_to_the_integrated_tail() {
        // d = 1e-6 needs ~4·10⁷ series terms; the general summation takes over and must agree
        // with the d → 0 limit (α+β−1)/(α−1) to first order in d.
        let m = ShiftedBetaGeometric::new(3.0, 2.0).unwrap();
        let del = m.discounted_expected_lifetime(1e-6).unwrap();
        let limit = m.expected_lifetime().unwrap();
        assert!((limit - 2.0).abs() < 1e-15);
        assert!(del < limit && limit - del < 1e-4, "{del} vs {limit}");
    }

    #[test]
    fn remaining_lifetime_has_its_closed_form_and_rejects_bad_rates() {
        let m = ShiftedBetaGeometric::new(2.5, 4.0).unwrap();
        // E[T − n − 1 | T > n] = (β+n)/(α−1).
        for n in [0u32, 3, 10] {
            let got = m.expected_remaining_lifetime(n).unwrap();
            assert!((got - (4.0 + n as f64) / 1.5).abs() < 1e-12);
        }
        let heavy = ShiftedBetaGeometric::new(0.9, 4.0).unwrap();
        assert_eq!(heavy.expected_lifetime().unwrap(), f64::INFINITY);
        assert!(m.discounted_expected_lifetime(-0.1).is_err());
        assert!(m.discounted_expected_lifetime(f64::NAN).is_err());
    }

    #[test]
    fn extreme_parameters_and_long_horizons_stay_finite() {
        for &(alpha, beta) in &[(1e-3, 1e-3), (1e-3, 1e4), (1e4, 1e-3), (1e5, 1e5)] {
            let m = ShiftedBetaGeometric::new(alpha, beta).unwrap();
            for t in [1u32, 10, 1000, 1_000_000] {
                let (l, da, db) = observation_terms(alpha, beta, Tenure::churned_after(t).unwrap());
                assert!(
                    l.is_finite() && da.is_finite() && db.is_finite(),
                    "{alpha} {beta} {t}"
                );
                let s = m.survival(t);
                assert!((0.0..=1.0).contains(&s));
            }
            let del = m.discounted_expected_lifetime(0.05).unwrap();
            assert!(del.is_finite() && del >= 1.0);
        }
    }

    #[test]
    fn fit_recovers_simulated_parameters_within_three_standard_errors() {
        let truth = ShiftedBetaGeometric::new(0.8, 2.5).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let tenures: Vec<Tenure> = (0..20_000)
            .map(|_| truth.simulate_tenure(&mut rng, 12))
            .collect();
        let data = ContractualData::from_tenures(&tenures, None).unwrap();
        let (fit, report) = ShiftedBetaGeometric::fit(&data, &FitOptions::default()).unwrap();
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

    #[test]
    fn fit_refuses_data_without_churn() {
        let data = ContractualData::from_cohort_counts(&[(0.0, 10.0), (1.0, 10.0)]).unwrap();
        assert!(matches!(
            ShiftedBetaGeometric::fit(&data, &FitOptions::default()),
            Err(ModelError::NoData(_))
        ));
    }

    proptest! {
        #[test]
        fn gradient_agrees_with_central_differences(
            alpha in 0.05f64..20.0, beta in 0.05f64..20.0,
            rows in prop::collection::vec((1u32..60, any::<bool>(), 0.5f64..50.0), 1..15),
        ) {
            let mut data = ContractualData::new();
            for &(t, churned, w) in &rows {
                let tenure = if churned { Tenure::churned_after(t).unwrap() } else { Tenure::active_after(t) };
                data.push(tenure, w, None).unwrap();
            }
            let l = SbgLikelihood::new(&data);
            let p = [alpha, beta];
            let (_, grad) = l.value_and_gradient(&p);
            let numeric = crate::fit::finite_difference_gradient(&l, &p);
            for (i, &fd) in numeric.iter().enumerate() {
                prop_assert!((grad[i] - fd).abs() <= 1e-5 * (1.0 + fd.abs()), "{} vs {}", grad[i], fd);
            }
        }

        #[test]
        fn survival_never_increases_and_retention_is_a_rate(
            alpha in 0.01f64..50.0, beta in 0.01f64..50.0, t in 1u32..5000,
        ) {
            let m = ShiftedBetaGeometric::new(alpha, beta).unwrap();
            prop_assert!(m.survival(t) <= m.survival(t - 1));
            let r = m.retention_rate(t);
            prop_assert!((0.0..=1.0).contains(&r));
            prop_assert!(m.retention_rate(t + 1) >= r);
        }
    }
}
