//! BdW: the beta-discrete-Weibull model of contract renewals, with duration dependence.
//!
//! Fader, Hardie, Liu, Davin & Steenburgh (2018), "“How to Project Customer Retention”
//! Revisited: The Role of Duration Dependence", *Journal of Interactive Marketing* 43, 1–16.
//!
//! sBG assumes each customer's churn probability is constant over time. BdW lets it change with
//! tenure: a customer with parameter `θ` survives `t` periods with probability
//! `S(t | θ, c) = (1−θ)^{t^c}` (a discrete Weibull), so their churn probability in period `t`
//! falls over time when `c < 1` and rises when `c > 1`. With `θ ~ Beta(α, β)`:
//!
//! - `S(t) = B(α, β + t^c) / B(α, β)`;
//! - `P(T = t) = S(t−1) − S(t)`, computed without cancellation as
//!   `ln S(t−1) + ln(−expm1(ln S(t) − ln S(t−1)))`;
//! - `r(t) = S(t)/S(t−1)`;
//! - the log-likelihood `Σ_churned ln P(T = t) + Σ_active ln S(t)`, as for sBG;
//! - `c = 1` is exactly sBG.
//!
//! DEL and DERL (Fader & Hardie 2010, as defined in
//! [`contractual`](crate::models::contractual)) have no closed form here; they are summed
//! directly with a convergence check and an integrated tail (see
//! `BetaPowerSurvival::discounted_sum` in the source).

use crate::fit::{maximize_likelihood, FitOptions, FitReport, Likelihood};
use crate::models::contractual::{
    check_discount_rate, digamma_difference, ln_gamma_ratio, BetaPowerSurvival, ContractualData,
    RetentionModel, SimulateTenure, Tenure,
};
use crate::models::{check_count, check_positive, ModelParams};
use crate::ModelError;
use rand::{Rng, RngCore};
use rand_distr::{Beta, Distribution};

/// BdW parameters: churn parameter `θ ~ Beta(alpha, beta)` across customers, and the duration
/// dependence `c` (`c < 1`: churn falls with tenure; `c = 1`: sBG; `c > 1`: churn rises).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaDiscreteWeibull {
    alpha: f64,
    beta: f64,
    c: f64,
}

impl BetaDiscreteWeibull {
    /// Builds the model; every parameter must be finite and > 0.
    ///
    /// ```
    /// use northstar_models::BetaDiscreteWeibull;
    /// assert!(BetaDiscreteWeibull::new(0.7, 1.2, 0.8).is_ok());
    /// assert!(BetaDiscreteWeibull::new(0.7, 1.2, 0.0).is_err());
    /// ```
    pub fn new(alpha: f64, beta: f64, c: f64) -> Result<Self, ModelError> {
        Ok(Self {
            alpha: check_positive("alpha", alpha)?,
            beta: check_positive("beta", beta)?,
            c: check_positive("c", c)?,
        })
    }
    /// First shape of the churn-parameter beta distribution.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// Second shape of the churn-parameter beta distribution.
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// The duration-dependence exponent.
    pub fn c(&self) -> f64 {
        self.c
    }
    fn survival_family(&self) -> BetaPowerSurvival {
        BetaPowerSurvival {
            alpha: self.alpha,
            beta: self.beta,
            c: self.c,
        }
    }
}

impl ModelParams for BetaDiscreteWeibull {
    const MODEL: &'static str = "bdw";
    const NAMES: &'static [&'static str] = &["alpha", "beta", "c"];
    fn from_values(v: &[f64]) -> Result<Self, ModelError> {
        check_count(v, Self::NAMES)?;
        Self::new(v[0], v[1], v[2])
    }
    fn values(&self) -> Vec<f64> {
        vec![self.alpha, self.beta, self.c]
    }
}

// ---------------------------------------------------------------------------------------------
// Log-likelihood and gradient
// ---------------------------------------------------------------------------------------------

/// `[ln S(t), ∂α, ∂β, ∂c]` with `u = t^c`:
/// `ln S(t) = [ln Γ(α+β) − ln Γ(β)] − [ln Γ(α+β+u) − ln Γ(β+u)]`,
/// `∂α = ψ(α+β) − ψ(α+β+u)`, `∂β = [ψ(α+β) − ψ(β)] − [ψ(α+β+u) − ψ(β+u)]`,
/// `∂c = −[ψ(α+β+u) − ψ(β+u)] · u ln t`.
fn ln_survival_terms(alpha: f64, beta: f64, c: f64, t: u32) -> [f64; 4] {
    if t == 0 {
        return [0.0; 4];
    }
    let t = t as f64;
    let u = if c == 1.0 { t } else { t.powf(c) };
    if u.is_infinite() {
        return [f64::NEG_INFINITY, 0.0, 0.0, 0.0];
    }
    let d_u = digamma_difference(beta + u, alpha);
    [
        ln_gamma_ratio(beta, alpha) - ln_gamma_ratio(beta + u, alpha),
        -digamma_difference(alpha + beta, u),
        digamma_difference(beta, alpha) - d_u,
        -d_u * u * t.ln(),
    ]
}

/// `[Δ, ∂α, ∂β]` for `Δ = ln S(t) − ln S(t−1) = ln r(t)`, `t ≥ 1`, computed without
/// cancellation: with `y = β + (t−1)^c` and `δ = t^c − (t−1)^c` (itself from `expm1`),
/// `Δ = [ln Γ(y+δ) − ln Γ(y)] − [ln Γ(y+α+δ) − ln Γ(y+α)]`
/// `  = [ln Γ(y+α) − ln Γ(y)] − [ln Γ(y+δ+α) − ln Γ(y+δ)]`, taking the form whose brackets are
/// smaller (they grow like `min(α, δ)·ln y`), so that little cancels;
/// `∂α = −[ψ(y+α+δ) − ψ(y+α)]` and `∂β = [ψ(y+δ) − ψ(y)] − [ψ(y+α+δ) − ψ(y+α)]` (or the
/// same rearranged).
fn ln_retention_terms(alpha: f64, beta: f64, c: f64, t: u32) -> [f64; 3] {
    let (u_before, step) = if t == 1 {
        (0.0, 1.0)
    } else if c == 1.0 {
        ((t - 1) as f64, 1.0)
    } else {
        let before = (t - 1) as f64;
        let u = before.powf(c);
        (u, u * (c * (1.0 / before).ln_1p()).exp_m1())
    };
    let y = beta + u_before;
    if !(y + step).is_finite() {
        // t^c overflowed: S(t) is 0 to machine precision, and so is the retention rate.
        return [f64::NEG_INFINITY, 0.0, 0.0];
    }
    let d_shifted = digamma_difference(y + alpha, step);
    if alpha <= step {
        // The brackets of the other form grow like δ·ln y; these like α·ln y.
        [
            ln_gamma_ratio(y, alpha) - ln_gamma_ratio(y + step, alpha),
            -d_shifted,
            digamma_difference(y, alpha) - digamma_difference(y + step, alpha),
        ]
    } else {
        [
            ln_gamma_ratio(y, step) - ln_gamma_ratio(y + alpha, step),
            -d_shifted,
            digamma_difference(y, step) - d_shifted,
        ]
    }
}

/// One observation's `[ℓ, ∂α, ∂β, ∂c]`. For a churn in period `t`, with
/// `Δ = ln S(t) − ln S(t−1) < 0` from [`ln_retention_terms`]:
/// `ℓ = ln S(t−1) + ln(−expm1(Δ))` and `∂ℓ = ∂ln S(t−1) − ∂Δ / expm1(−Δ)`.
fn observation_terms(alpha: f64, beta: f64, c: f64, tenure: Tenure) -> [f64; 4] {
    let t = tenure.periods();
    let at_t = ln_survival_terms(alpha, beta, c, t);
    if !tenure.churned() {
        return at_t;
    }
    let before = ln_survival_terms(alpha, beta, c, t - 1);
    let [delta, d_alpha, d_beta] = ln_retention_terms(alpha, beta, c, t);
    let d_c = at_t[3] - before[3];
    let share = 1.0 / (-delta).exp_m1(); // e^Δ / (1 − e^Δ)
    [
        before[0] + (-delta.exp_m1()).ln(),
        before[1] - share * d_alpha,
        before[2] - share * d_beta,
        before[3] - share * d_c,
    ]
}

impl BetaDiscreteWeibull {
    /// One customer's log-likelihood: `ln P(T = t)` if they churned in period `t`, else
    /// `ln S(t)`.
    ///
    /// ```
    /// use northstar_models::{BetaDiscreteWeibull, Tenure};
    /// // α = β = 1, c = 2: S(t) = B(1, 1+t²)/B(1, 1) = 1/(1+t²), so P(T = 2) = 1/2 − 1/5.
    /// let m = BetaDiscreteWeibull::new(1.0, 1.0, 2.0).unwrap();
    /// let ll = m.log_likelihood(Tenure::churned_after(2).unwrap());
    /// assert!((ll - 0.3f64.ln()).abs() < 1e-14);
    /// ```
    pub fn log_likelihood(&self, tenure: Tenure) -> f64 {
        observation_terms(self.alpha, self.beta, self.c, tenure)[0]
    }
}

/// The BdW log-likelihood of a data set (all cohorts pooled), with identical tenures merged.
pub struct BdwLikelihood {
    counts: Vec<(Tenure, f64)>,
    total_weight: f64,
    start: (f64, f64),
}

impl BdwLikelihood {
    /// Compresses the data's tenures.
    pub fn new(data: &ContractualData) -> Self {
        Self {
            counts: data.tenure_counts(),
            total_weight: data.total_weight(),
            start: data.initial_alpha_beta(),
        }
    }
}

impl Likelihood for BdwLikelihood {
    fn param_names(&self) -> &'static [&'static str] {
        BetaDiscreteWeibull::NAMES
    }

    fn n_observations(&self) -> f64 {
        self.total_weight
    }

    fn initial_params(&self) -> Vec<f64> {
        vec![self.start.0, self.start.1, 1.0]
    }

    fn value_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let (alpha, beta, c) = (params[0], params[1], params[2]);
        let mut acc = [0.0f64; 4];
        for &(tenure, w) in &self.counts {
            let terms = observation_terms(alpha, beta, c, tenure);
            for (a, t) in acc.iter_mut().zip(terms) {
                *a += w * t;
            }
        }
        (acc[0], acc[1..].to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// Fit
// ---------------------------------------------------------------------------------------------

impl BetaDiscreteWeibull {
    /// Maximum-likelihood fit to subscription data, all cohorts pooled (split the data with
    /// [`ContractualData::split_by_cohort`] to fit cohorts separately). It starts from the sBG
    /// point `c = 1`.
    ///
    /// ```
    /// use northstar_models::{BetaDiscreteWeibull, ContractualData, FitOptions};
    /// let data = ContractualData::from_cohort_counts(
    ///     &[(0.0, 1000.0), (1.0, 700.0), (2.0, 560.0), (3.0, 480.0), (4.0, 425.0), (5.0, 385.0)],
    /// ).unwrap();
    /// let (model, report) = BetaDiscreteWeibull::fit(&data, &FitOptions::default()).unwrap();
    /// assert!(report.log_likelihood < 0.0 && model.c() > 0.0);
    /// ```
    pub fn fit(
        data: &ContractualData,
        options: &FitOptions,
    ) -> Result<(Self, FitReport), ModelError> {
        data.check_fittable()?;
        let report = maximize_likelihood(&BdwLikelihood::new(data), options)?;
        Ok((Self::from_values(&report.params)?, report))
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------------------------

impl RetentionModel for BetaDiscreteWeibull {
    /// `ln B(α, β + t^c) − ln B(α, β)`.
    ///
    /// ```
    /// use northstar_models::{BetaDiscreteWeibull, RetentionModel};
    /// let m = BetaDiscreteWeibull::new(1.0, 1.0, 2.0).unwrap();
    /// assert!((m.survival(3) - 0.1).abs() < 1e-15); // 1/(1 + 3²)
    /// ```
    fn ln_survival(&self, t: u32) -> f64 {
        ln_survival_terms(self.alpha, self.beta, self.c, t)[0]
    }

    /// `S(t−1) − S(t)`, computed as `S(t−1) · (−expm1(ln S(t) − ln S(t−1)))`.
    ///
    /// ```
    /// use northstar_models::{BetaDiscreteWeibull, RetentionModel};
    /// let m = BetaDiscreteWeibull::new(1.0, 1.0, 2.0).unwrap();
    /// assert!((m.churn_probability(3) - 0.1).abs() < 1e-15); // 1/5 − 1/10
    /// ```
    fn churn_probability(&self, t: u32) -> f64 {
        match Tenure::churned_after(t) {
            Ok(tenure) => self.log_likelihood(tenure).exp(),
            Err(_) => 0.0,
        }
    }

    /// `S(t)/S(t−1)`, from the log-ratio computed without cancellation.
    ///
    /// ```
    /// use northstar_models::{BetaDiscreteWeibull, RetentionModel};
    /// let m = BetaDiscreteWeibull::new(1.0, 1.0, 2.0).unwrap();
    /// assert!((m.retention_rate(2) - 0.4).abs() < 1e-15); // (1/5) / (1/2)
    /// ```
    fn retention_rate(&self, t: u32) -> f64 {
        if t == 0 {
            return 1.0;
        }
        ln_retention_terms(self.alpha, self.beta, self.c, t)[0].exp()
    }

    /// `Σ_{t≥0} S(t)/(1+d)^t`, summed directly (no closed form); `d = 0` gives `E[T]`, finite
    /// only when `cα > 1` (since `S(t) ~ A t^{−cα}`).
    ///
    /// ```
    /// use northstar_models::{BetaDiscreteWeibull, RetentionModel};
    /// let m = BetaDiscreteWeibull::new(0.7, 1.2, 0.8).unwrap();
    /// let del = m.discounted_expected_lifetime(0.1).unwrap();
    /// assert!(del > 1.0 && del < 11.0); // between one payment and a customer who never leaves
    /// ```
    fn discounted_expected_lifetime(&self, d: f64) -> Result<f64, ModelError> {
        let d = check_discount_rate(d)?;
        self.survival_family().discounted_sum(0, d)
    }

    /// `Σ_{k≥0} S(n+1+k)/S(n) · (1+d)^{−k}` for `n = renewals` (FH 2010 eq. 6's definition, with
    /// their `n−1` renewals = `renewals`), summed directly.
    ///
    /// ```
    /// use northstar_models::{BetaDiscreteWeibull, RetentionModel};
    /// let m = BetaDiscreteWeibull::new(0.7, 1.2, 0.8).unwrap();
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
        Ok(self.retention_rate(s) * self.survival_family().discounted_sum(s, d)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------

impl SimulateTenure for BetaDiscreteWeibull {
    /// Draws `θ ~ Beta(α, β)` and `T` with `P(T > t | θ) = (1−θ)^{t^c}` by inversion:
    /// `T = ⌊(ln U / ln(1−θ))^{1/c}⌋ + 1`.
    ///
    /// ```
    /// use northstar_models::{BetaDiscreteWeibull, SimulateTenure};
    /// use rand::SeedableRng;
    /// let m = BetaDiscreteWeibull::new(0.7, 1.2, 0.8).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let t = m.simulate_tenure(&mut rng, 10);
    /// assert!(t.periods() <= 10 && (t.churned() || t.periods() == 10));
    /// ```
    fn simulate_tenure(&self, rng: &mut dyn RngCore, horizon: u32) -> Tenure {
        let theta: f64 = Beta::new(self.alpha, self.beta)
            .expect("parameters are positive by construction")
            .sample(rng);
        // T > t ⇔ U < (1−θ)^{t^c} ⇔ t < (ln U / ln(1−θ))^{1/c}.
        let ln_keep = (-theta).ln_1p();
        let u: f64 = rng.random::<f64>();
        let q = (u.ln() / ln_keep).powf(1.0 / self.c);
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
    use crate::models::shifted_beta_geometric::{SbgLikelihood, ShiftedBetaGeometric};
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn data_from(rows: &[(u32, bool, f64)]) -> ContractualData {
        let mut data = ContractualData::new();
        for &(t, churned, w) in rows {
            let tenure = if churned {
                Tenure::churned_after(t).unwrap()
            } else {
                Tenure::active_after(t)
            };
            data.push(tenure, w, None).unwrap();
        }
        data
    }

    #[test]
    fn log_likelihood_matches_hand_computation() {
        // α = β = 1, c = 2: S(t) = B(1, 1+t²)/B(1, 1) = 1/(1+t²): S(1) = 1/2, S(2) = 1/5.
        // 3 churned in period 1 (P = 1/2), 2 in period 2 (P = 1/2 − 1/5 = 3/10), 5 still
        // active after 2 periods (S = 1/5): LL = 3 ln(1/2) + 2 ln(3/10) + 5 ln(1/5) = −12.5346...
        let data = data_from(&[(1, true, 3.0), (2, true, 2.0), (2, false, 5.0)]);
        let expected = 3.0 * 0.5f64.ln() + 2.0 * 0.3f64.ln() + 5.0 * 0.2f64.ln();
        let (ll, _) = BdwLikelihood::new(&data).value_and_gradient(&[1.0, 1.0, 2.0]);
        assert!((ll - expected).abs() < 1e-13, "{ll} vs {expected}");
        assert!((expected + 12.5346).abs() < 1e-4);
    }

    #[test]
    fn with_c_equal_one_it_is_sbg() {
        let data = data_from(&[
            (1, true, 40.0),
            (2, true, 20.0),
            (3, true, 10.0),
            (7, true, 3.0),
            (3, false, 30.0),
            (9, false, 4.0),
        ]);
        for &(alpha, beta) in &[(0.7, 1.2), (2.0, 3.0), (0.05, 15.0), (30.0, 0.2)] {
            let bdw = BetaDiscreteWeibull::new(alpha, beta, 1.0).unwrap();
            let sbg = ShiftedBetaGeometric::new(alpha, beta).unwrap();
            let (ll_b, g_b) = BdwLikelihood::new(&data).value_and_gradient(&[alpha, beta, 1.0]);
            let (ll_s, g_s) = SbgLikelihood::new(&data).value_and_gradient(&[alpha, beta]);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
            assert!(close(ll_b, ll_s), "{ll_b} vs {ll_s}");
            assert!(
                close(g_b[0], g_s[0]) && close(g_b[1], g_s[1]),
                "{g_b:?} vs {g_s:?}"
            );
            for t in 0..200 {
                assert_eq!(bdw.survival(t), sbg.survival(t));
                assert!(close(bdw.churn_probability(t), sbg.churn_probability(t)));
                assert!(close(bdw.retention_rate(t), sbg.retention_rate(t)));
            }
            for d in [0.01, 0.1, 0.5] {
                let del_b = bdw.discounted_expected_lifetime(d).unwrap();
                let del_s = sbg.discounted_expected_lifetime(d).unwrap();
                assert!((del_b - del_s).abs() < 1e-11 * del_s, "{del_b} vs {del_s}");
                for n in [0, 4, 25] {
                    let b = bdw.discounted_expected_residual_lifetime(d, n).unwrap();
                    let s = sbg.discounted_expected_residual_lifetime(d, n).unwrap();
                    assert!((b - s).abs() < 1e-11 * s, "{b} vs {s}");
                }
            }
            if alpha > 1.0 {
                let b = bdw.expected_lifetime().unwrap();
                let s = sbg.expected_lifetime().unwrap();
                assert!((b - s).abs() < 1e-9 * s, "{b} vs {s}");
            }
        }
    }

    #[test]
    fn del_and_derl_match_direct_summation() {
        for &(alpha, beta, c, d) in &[
            (0.7, 1.2, 0.6, 0.1),
            (1.5, 0.8, 1.7, 0.02),
            (0.3, 4.0, 0.4, 0.05),
        ] {
            let m = BetaDiscreteWeibull::new(alpha, beta, c).unwrap();
            let z: f64 = 1.0 / (1.0 + d);
            let direct: f64 = (0..100_000u32)
                .map(|t| (m.ln_survival(t) + t as f64 * z.ln()).exp())
                .sum();
            let del = m.discounted_expected_lifetime(d).unwrap();
            assert!((del - direct).abs() < 1e-11 * direct, "{del} vs {direct}");
            let n = 6;
            let direct: f64 = (0..100_000u32)
                .map(|k| (m.ln_survival(n + 1 + k) - m.ln_survival(n) + k as f64 * z.ln()).exp())
                .sum();
            let derl = m.discounted_expected_residual_lifetime(d, n).unwrap();
            assert!((derl - direct).abs() < 1e-11 * direct, "{derl} vs {direct}");
        }
    }

    #[test]
    fn expected_lifetime_is_finite_only_when_c_alpha_exceeds_one() {
        let heavy = BetaDiscreteWeibull::new(1.5, 2.0, 0.6).unwrap(); // cα = 0.9
        assert_eq!(heavy.expected_lifetime().unwrap(), f64::INFINITY);
        let light = BetaDiscreteWeibull::new(1.5, 2.0, 2.0).unwrap(); // cα = 3
        let e = light.expected_lifetime().unwrap();
        let direct: f64 = (0..200_000u32).map(|t| light.survival(t)).sum();
        assert!((e - direct).abs() < 1e-9 * direct, "{e} vs {direct}");
        let remaining = light.expected_remaining_lifetime(0).unwrap();
        assert!((e - 1.0 - remaining).abs() < 1e-9 * e);
    }

    #[test]
    fn extreme_parameters_and_long_tenures_stay_finite() {
        for &(alpha, beta, c) in &[
            (1e-3, 1e-3, 0.1),
            (1e-3, 1e4, 3.0),
            (1e4, 1e-3, 0.05),
            (50.0, 50.0, 5.0),
        ] {
            let m = BetaDiscreteWeibull::new(alpha, beta, c).unwrap();
            for t in [1u32, 10, 1000, 100_000] {
                let terms = observation_terms(alpha, beta, c, Tenure::active_after(t));
                assert!(
                    terms.iter().all(|v| v.is_finite()),
                    "{alpha} {beta} {c} {t}"
                );
                let s = m.survival(t);
                assert!((0.0..=1.0).contains(&s));
                let p = m.churn_probability(t);
                assert!((0.0..=1.0).contains(&p), "{p}");
            }
            let del = m.discounted_expected_lifetime(0.05).unwrap();
            assert!(del.is_finite() && del >= 1.0, "{del}");
        }
    }

    #[test]
    fn huge_c_gives_zero_survival_not_nan() {
        // t^c overflows f64 for t ≥ 2 at c = 2000; S(1) = β/(α+β) whatever c is.
        let m = BetaDiscreteWeibull::new(1.0, 3.0, 2000.0).unwrap();
        assert!((m.survival(1) - 0.75).abs() < 1e-15);
        assert_eq!((m.survival(2), m.survival(50)), (0.0, 0.0));
        assert!((m.churn_probability(2) - 0.75).abs() < 1e-15);
        assert_eq!((m.churn_probability(3), m.retention_rate(3)), (0.0, 0.0));
        let del = m.discounted_expected_lifetime(0.1).unwrap();
        assert!((del - (1.0 + 0.75 / 1.1)).abs() < 1e-14, "{del}");
        assert!(m
            .log_likelihood(Tenure::churned_after(2).unwrap())
            .is_finite());
        assert_eq!(m.log_likelihood(Tenure::active_after(2)), f64::NEG_INFINITY);
    }

    #[test]
    fn fit_recovers_simulated_parameters_within_three_standard_errors() {
        let truth = BetaDiscreteWeibull::new(1.2, 2.0, 0.6).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        let tenures: Vec<Tenure> = (0..20_000)
            .map(|_| truth.simulate_tenure(&mut rng, 12))
            .collect();
        let data = ContractualData::from_tenures(&tenures, None).unwrap();
        let (fit, report) = BetaDiscreteWeibull::fit(&data, &FitOptions::default()).unwrap();
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
    fn simulated_cohort_follows_the_survival_curve() {
        let m = BetaDiscreteWeibull::new(1.2, 2.0, 1.6).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let n = 50_000u64;
        let alive = m.simulate_cohort(&mut rng, n, 8);
        for (t, &a) in alive.iter().enumerate() {
            let s = m.survival(t as u32);
            let sd = (s * (1.0 - s) / n as f64).sqrt();
            assert!(
                (a / n as f64 - s).abs() < 4.0 * sd + 1e-12,
                "t={t}: {} vs {s}",
                a / n as f64
            );
        }
    }

    proptest! {
        #[test]
        fn gradient_agrees_with_central_differences(
            alpha in 0.05f64..20.0, beta in 0.05f64..20.0, c in 0.1f64..3.0,
            rows in prop::collection::vec((1u32..40, any::<bool>(), 0.5f64..50.0), 1..15),
        ) {
            let data = data_from(&rows);
            let l = BdwLikelihood::new(&data);
            let p = [alpha, beta, c];
            let (_, grad) = l.value_and_gradient(&p);
            let numeric = crate::fit::finite_difference_gradient(&l, &p);
            for (i, &fd) in numeric.iter().enumerate() {
                prop_assert!((grad[i] - fd).abs() <= 1e-5 * (1.0 + fd.abs()), "param {}: {} vs {}", i, grad[i], fd);
            }
        }

        #[test]
        fn survival_never_increases(
            alpha in 0.01f64..50.0, beta in 0.01f64..50.0, c in 0.05f64..5.0, t in 1u32..5000,
        ) {
            let m = BetaDiscreteWeibull::new(alpha, beta, c).unwrap();
            prop_assert!(m.survival(t) <= m.survival(t - 1));
            let r = m.retention_rate(t);
            prop_assert!((0.0..=1.0).contains(&r));
            prop_assert!(m.churn_probability(t) >= 0.0);
        }
    }
}
