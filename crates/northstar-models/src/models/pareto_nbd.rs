//! Pareto/NBD: the model of repeat purchasing with exponential lifetimes.
//!
//! Schmittlein, Morrison & Colombo (1987), "Counting Your Customers: Who Are They and What Will
//! They Do Next?", *Management Science* 33(1); Fader & Hardie, note 008 ("A Note on Deriving the
//! Pareto/NBD Model and Related Expressions", 2005).
//!
//! While alive, a customer buys at Poisson rate `λ ~ Gamma(r, α)`; they die after an exponential
//! lifetime with rate `μ ~ Gamma(s, β)`.
//!
//! The likelihood (note 008 eq. 19) is `Γ(r+x) α^r β^s / Γ(r) · [(α+T)^{-(r+x)} (β+T)^{-s} +
//! s ∫_{t_x}^{T} (α+τ)^{-(r+x)} (β+τ)^{-(s+1)} dτ]`. Written with 2F1 (note 008 eq. 22) the
//! bracket is a difference of two huge numbers, which is why lifetimes, BTYD and CLVTools
//! overflow or return NaN at high frequency. Here it is the sum of two positive terms: with
//! `m = max(α, β)` and `a = r+s+x`, for `α ≥ β`
//! `(m+t_x)^{-a} [ s/a · 2F1(a, s+1; a+1; z₁) + (r+x)/a · 2F1(a, s; a+1; z₂) · ((m+t_x)/(m+T))^a ]`
//! with `z₁ = (α-β)/(α+t_x)`, `z₂ = (α-β)/(α+T)`; for `β > α` the second parameters become
//! `r+x` and `r+x+1` and `z = (β-α)/(β+t)`. (The first term absorbs the contiguous relation
//! `(1-z)^{-s} = s/a·2F1(a,s+1;a+1;z) + (a-s)/a·2F1(a,s;a+1;z)`.) `ln 2F1` comes from
//! [`ln_hyp2f1_a_a1`], so everything stays in log space.
//!
//! - P(alive): note 008 eq. (18) = the first bracket term over the whole bracket;
//! - `E[Y(t) | x, t_x, T]`: note 008 eq. (21) (SMC 1987 eq. 22);
//! - `E[X(t)]`: SMC (1987) eq. (17).

use crate::fit::{maximize_likelihood, FitOptions, FitReport, Likelihood};
use crate::models::{check_count, check_positive, ModelParams, PurchaseModel, SimulatePurchases};
use crate::special::{digamma, ln_gamma, ln_hyp2f1_a_a1, log_add_exp, logistic};
use crate::{CompressedRfm, ModelError, Rfm};
use rand::RngCore;
use rand_distr::{Distribution, Exp, Gamma};
use rayon::prelude::*;

/// Pareto/NBD parameters: `r`, `alpha` (purchase rate), `s`, `beta` (dropout rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoNbd {
    r: f64,
    alpha: f64,
    s: f64,
    beta: f64,
}

impl ParetoNbd {
    /// Builds the model; every parameter must be finite and > 0.
    ///
    /// ```
    /// use northstar_models::ParetoNbd;
    /// assert!(ParetoNbd::new(0.553, 10.58, 0.606, 11.656).is_ok());
    /// assert!(ParetoNbd::new(0.553, 10.58, 0.0, 11.656).is_err());
    /// ```
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<Self, ModelError> {
        Ok(Self {
            r: check_positive("r", r)?,
            alpha: check_positive("alpha", alpha)?,
            s: check_positive("s", s)?,
            beta: check_positive("beta", beta)?,
        })
    }
    /// Shape of the purchase-rate gamma distribution.
    pub fn r(&self) -> f64 {
        self.r
    }
    /// Rate of the purchase-rate gamma distribution.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// Shape of the dropout-rate gamma distribution.
    pub fn s(&self) -> f64 {
        self.s
    }
    /// Rate of the dropout-rate gamma distribution.
    pub fn beta(&self) -> f64 {
        self.beta
    }
}

impl ModelParams for ParetoNbd {
    const MODEL: &'static str = "pnbd";
    const NAMES: &'static [&'static str] = &["r", "alpha", "s", "beta"];
    fn from_values(v: &[f64]) -> Result<Self, ModelError> {
        check_count(v, Self::NAMES)?;
        Self::new(v[0], v[1], v[2], v[3])
    }
    fn values(&self) -> Vec<f64> {
        vec![self.r, self.alpha, self.s, self.beta]
    }
}

// ---------------------------------------------------------------------------------------------
// Log-likelihood and gradient
// ---------------------------------------------------------------------------------------------

/// `ln` of the likelihood bracket and its gradient with respect to `(r, α, s, β)`.
fn ln_bracket(p: &ParetoNbd, x: f64, t_x: f64, t: f64) -> (f64, [f64; 4]) {
    let ParetoNbd { r, alpha, s, beta } = *p;
    let a = r + s + x;
    let alpha_larger = alpha >= beta;
    let (m, other) = if alpha_larger {
        (alpha, beta)
    } else {
        (beta, alpha)
    };
    let (m_tx, m_t) = (m + t_x, m + t);
    let (ln_m_tx, ln_m_t) = (m_tx.ln(), m_t.ln());
    let (z1, z2) = ((m - other) / m_tx, (m - other) / m_t);
    // 2F1 second parameters: (s+1, s) when α ≥ β, (r+x, r+x+1) otherwise.
    let (b1, b2) = if alpha_larger {
        (s + 1.0, s)
    } else {
        (r + x, r + x + 1.0)
    };
    let f1 = ln_hyp2f1_a_a1(a, b1, z1);
    let f2 = ln_hyp2f1_a_a1(a, b2, z2);
    let u1 = s.ln() - a.ln() + f1.value;
    let u2 = (r + x).ln() - a.ln() + f2.value + a * (ln_m_tx - ln_m_t);
    let value = -a * ln_m_tx + log_add_exp(u1, u2);
    let w2 = logistic(u2 - u1);
    let w1 = 1.0 - w2;

    // ∂z/∂(larger) = (other + t)/(m + t)², ∂z/∂(other) = -1/(m + t).
    let dz1_dm = (other + t_x) / (m_tx * m_tx);
    let dz2_dm = (other + t) / (m_t * m_t);
    let (dz1_do, dz2_do) = (-1.0 / m_tx, -1.0 / m_t);
    let shift = ln_m_tx - ln_m_t;
    let (b_r, b_s) = if alpha_larger { (0.0, 1.0) } else { (1.0, 0.0) };
    let du1 = [
        -1.0 / a + f1.d_a + b_r * f1.d_b,
        1.0 / s - 1.0 / a + f1.d_a + b_s * f1.d_b,
    ];
    let du2 = [
        1.0 / (r + x) - 1.0 / a + f2.d_a + b_r * f2.d_b + shift,
        -1.0 / a + f2.d_a + b_s * f2.d_b + shift,
    ];
    let d_r = -ln_m_tx + w1 * du1[0] + w2 * du2[0];
    let d_s = -ln_m_tx + w1 * du1[1] + w2 * du2[1];
    // Derivatives with respect to the larger rate parameter and the other one.
    let d_m =
        -a / m_tx + w1 * f1.d_z * dz1_dm + w2 * (f2.d_z * dz2_dm + a * (1.0 / m_tx - 1.0 / m_t));
    let d_o = w1 * f1.d_z * dz1_do + w2 * f2.d_z * dz2_do;
    let (d_alpha, d_beta) = if alpha_larger { (d_m, d_o) } else { (d_o, d_m) };
    (value, [d_r, d_alpha, d_s, d_beta])
}

impl ParetoNbd {
    /// One customer's log-likelihood (note 008 eq. 19, in the two-positive-terms form).
    ///
    /// ```
    /// use northstar_models::ParetoNbd;
    /// let m = ParetoNbd::new(0.55, 10.58, 0.61, 11.67).unwrap();
    /// assert!(m.log_likelihood(1000.0, 9000.0, 10000.0).is_finite());
    /// ```
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let (bracket, _) = ln_bracket(self, x, t_x, t);
        ln_gamma(self.r + x) - ln_gamma(self.r)
            + self.r * self.alpha.ln()
            + self.s * self.beta.ln()
            + bracket
    }
}

/// The Pareto/NBD log-likelihood of a compressed data set.
pub struct ParetoNbdLikelihood<'a> {
    data: &'a CompressedRfm,
}

impl<'a> ParetoNbdLikelihood<'a> {
    /// Wraps the data.
    pub fn new(data: &'a CompressedRfm) -> Self {
        Self { data }
    }
}

impl Likelihood for ParetoNbdLikelihood<'_> {
    fn param_names(&self) -> &'static [&'static str] {
        ParetoNbd::NAMES
    }

    fn n_observations(&self) -> f64 {
        self.data.total_weight
    }

    fn initial_params(&self) -> Vec<f64> {
        let mean_t = self.data.ts.iter().sum::<f64>() / self.data.ts.len().max(1) as f64;
        vec![1.0, mean_t.max(1e-3), 1.0, mean_t.max(1e-3)]
    }

    fn value_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let Ok(model) = ParetoNbd::from_values(params) else {
            return (f64::NAN, vec![f64::NAN; 4]);
        };
        let d = self.data;
        let (r, alpha, s, beta) = (model.r, model.alpha, model.s, model.beta);
        let psi_r = digamma(r);
        let per_x: Vec<(f64, f64)> = d
            .frequencies
            .iter()
            .map(|&x| (ln_gamma(r + x) - ln_gamma(r), digamma(r + x) - psi_r))
            .collect();
        let constant = r * alpha.ln() + s * beta.ln();
        let sum = d
            .rows
            .par_chunks(4096)
            .map(|rows| {
                let mut acc = [0.0f64; 5];
                for row in rows {
                    let (x, t_x, t) = (
                        d.frequencies[row.x as usize],
                        d.recencies[row.t_x as usize],
                        d.ts[row.t as usize],
                    );
                    let (ln_gamma_ratio, psi_ratio) = per_x[row.x as usize];
                    let (bracket, g) = ln_bracket(&model, x, t_x, t);
                    let w = row.weight;
                    acc[0] += w * (ln_gamma_ratio + constant + bracket);
                    acc[1] += w * (psi_ratio + alpha.ln() + g[0]);
                    acc[2] += w * (r / alpha + g[1]);
                    acc[3] += w * (beta.ln() + g[2]);
                    acc[4] += w * (s / beta + g[3]);
                }
                acc
            })
            .reduce(|| [0.0; 5], |x, y| std::array::from_fn(|i| x[i] + y[i]));
        (sum[0], sum[1..].to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// Fit
// ---------------------------------------------------------------------------------------------

impl ParetoNbd {
    /// Maximum-likelihood fit to compressed customer data.
    ///
    /// ```
    /// use northstar_models::{CompressedRfm, FitOptions, ParetoNbd, Rfm, SimulatePurchases};
    /// use rand::SeedableRng;
    /// let truth = ParetoNbd::new(0.6, 8.0, 0.8, 10.0).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    /// let customers: Vec<Rfm> = (0..3000)
    ///     .map(|_| {
    ///         let times = truth.simulate_repeat_purchases(&mut rng, 40.0);
    ///         Rfm::try_new(times.len() as f64, times.last().copied().unwrap_or(0.0), 40.0, None).unwrap()
    ///     })
    ///     .collect();
    /// let (model, report) = ParetoNbd::fit(&CompressedRfm::new(&customers, None), &FitOptions::default()).unwrap();
    /// assert!(report.converged);
    /// assert!((model.r() - 0.6).abs() < 4.0 * report.std_errors[0].unwrap());
    /// ```
    pub fn fit(
        data: &CompressedRfm,
        options: &FitOptions,
    ) -> Result<(Self, FitReport), ModelError> {
        if data.rows.is_empty() {
            return Err(ModelError::NoData("the RFM table has no customers".into()));
        }
        let report = maximize_likelihood(&ParetoNbdLikelihood::new(data), options)?;
        Ok((Self::from_values(&report.params)?, report))
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------------------------

/// `(1 - (base/(base+t))^{e}) / e`, continuous through `e = 0` (where it is `ln(1 + t/base)`).
fn power_difference(e: f64, base: f64, t: f64) -> f64 {
    let ln_ratio = -(t / base).ln_1p();
    if e == 0.0 {
        -ln_ratio
    } else {
        -(e * ln_ratio).exp_m1() / e
    }
}

impl PurchaseModel for ParetoNbd {
    /// SMC (1987) eq. (17): `r β / α · (1 - (β/(β+t))^{s-1}) / (s-1)`, continuous at `s = 1`.
    ///
    /// ```
    /// use northstar_models::{ParetoNbd, PurchaseModel};
    /// let m = ParetoNbd::new(0.553, 10.58, 0.606, 11.656).unwrap();
    /// assert!(m.expected_purchases_new_customer(39.0) > 0.0);
    /// ```
    #[doc(alias = "expected_number_of_purchases_up_to_time")]
    fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        self.r * self.beta / self.alpha * power_difference(self.s - 1.0, self.beta, t)
    }

    /// Note 008 eq. (18): the no-death term of the likelihood over the whole likelihood.
    ///
    /// ```
    /// use northstar_models::{ParetoNbd, PurchaseModel, Rfm};
    /// let m = ParetoNbd::new(0.553, 10.580, 0.606, 11.656).unwrap();
    /// let c = Rfm::try_new(26.0, 30.857143, 31.0, None).unwrap();
    /// assert!((m.expected_probability_alive(&c) - 0.997874).abs() < 1e-5);
    /// ```
    #[doc(alias = "conditional_probability_alive")]
    fn expected_probability_alive(&self, customer: &Rfm) -> f64 {
        let (x, t) = (customer.frequency(), customer.T());
        let (bracket, _) = ln_bracket(self, x, customer.recency(), t);
        let alive = -(self.r + x) * (self.alpha + t).ln() - self.s * (self.beta + t).ln();
        (alive - bracket).exp().min(1.0)
    }

    /// Note 008 eq. (21): `P(alive) · (r+x)(β+T)/(α+T) · (1 - ((β+T)/(β+T+t))^{s-1})/(s-1)`.
    ///
    /// ```
    /// use northstar_models::{ParetoNbd, PurchaseModel, Rfm};
    /// let m = ParetoNbd::new(0.553, 10.580, 0.606, 11.656).unwrap();
    /// let c = Rfm::try_new(26.0, 30.857143, 31.0, None).unwrap();
    /// assert!((m.expected_purchases(&c, 52.0) - 25.4546).abs() < 25.4546e-3);
    /// ```
    #[doc(alias = "conditional_expected_number_of_purchases_up_to_time")]
    fn expected_purchases(&self, customer: &Rfm, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let (x, big_t) = (customer.frequency(), customer.T());
        self.expected_probability_alive(customer) * (self.r + x) * (self.beta + big_t)
            / (self.alpha + big_t)
            * power_difference(self.s - 1.0, self.beta + big_t, t)
    }

    fn expected_purchases_at(&self, customer: &Rfm, ts: &[f64]) -> Vec<f64> {
        let (x, big_t) = (customer.frequency(), customer.T());
        let scale = self.expected_probability_alive(customer) * (self.r + x) * (self.beta + big_t)
            / (self.alpha + big_t);
        ts.iter()
            .map(|&t| {
                if t <= 0.0 {
                    0.0
                } else {
                    scale * power_difference(self.s - 1.0, self.beta + big_t, t)
                }
            })
            .collect()
    }

    /// Not available in a numerically stable closed form yet: returns NaN.
    fn probability_of_purchases(&self, _n: u32, _t: f64) -> f64 {
        f64::NAN
    }
}

// ---------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------

impl SimulatePurchases for ParetoNbd {
    /// Draws one customer's repeat-purchase times in `(0, horizon]` (the first purchase is at 0).
    ///
    /// ```
    /// use northstar_models::{ParetoNbd, SimulatePurchases};
    /// use rand::SeedableRng;
    /// let m = ParetoNbd::new(0.55, 10.58, 0.61, 11.67).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let times = m.simulate_repeat_purchases(&mut rng, 52.0);
    /// assert!(times.iter().all(|&t| t > 0.0 && t <= 52.0));
    /// ```
    fn simulate_repeat_purchases(&self, rng: &mut dyn RngCore, horizon: f64) -> Vec<f64> {
        let lambda = Gamma::new(self.r, 1.0 / self.alpha)
            .expect("parameters are positive by construction")
            .sample(rng);
        let mu = Gamma::new(self.s, 1.0 / self.beta)
            .expect("parameters are positive by construction")
            .sample(rng);
        let lifetime = Exp::new(mu).map_or(f64::INFINITY, |d| d.sample(rng));
        let end = horizon.min(lifetime);
        let mut times = Vec::new();
        let Ok(gap) = Exp::new(lambda) else {
            return times;
        };
        let mut now = 0.0;
        loop {
            now += gap.sample(rng);
            if now > end || !now.is_finite() {
                return times;
            }
            times.push(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn two_term_bracket_equals_direct_integration_of_the_likelihood() {
        // Note 008 eq. (19) with the integral done by a fine midpoint rule; 1e-8 relative.
        for &(r, alpha, s, beta, x, t_x, t) in &[
            (0.55, 10.58, 0.61, 11.67, 3.0, 20.0, 38.0),
            (0.55, 12.0, 0.61, 7.0, 3.0, 20.0, 38.0),
            (1.2, 3.0, 0.4, 3.0, 0.0, 0.0, 30.0),
        ] {
            let m = ParetoNbd::new(r, alpha, s, beta).unwrap();
            let (ln_b, _) = ln_bracket(&m, x, t_x, t);
            let n = 200_000;
            let h = (t - t_x) / n as f64;
            let integral: f64 = (0..n)
                .map(|i| {
                    let tau = t_x + (i as f64 + 0.5) * h;
                    (alpha + tau).powf(-(r + x)) * (beta + tau).powf(-(s + 1.0)) * h
                })
                .sum();
            let direct = (alpha + t).powf(-(r + x)) * (beta + t).powf(-s) + s * integral;
            assert!(
                (ln_b - direct.ln()).abs() < 1e-8,
                "{} vs {}",
                ln_b,
                direct.ln()
            );
        }
    }

    #[test]
    fn stress_customers_stay_finite_and_match_published_expectations() {
        // Issue #4 stress cases (values from the BTYD/CLVTools discussions): t = 10, ±1e-3 relative.
        let m = ParetoNbd::new(0.55, 10.58, 0.61, 11.67).unwrap();
        for (x, want) in [(132.0, 6.2061), (133.0, 6.2529)] {
            let c = Rfm::try_new(x, 200.0, 200.0, None).unwrap();
            let got = m.expected_purchases(&c, 10.0);
            assert!((got - want).abs() < want * 1e-3, "x={x}: {got} vs {want}");
        }
        let m = ParetoNbd::new(0.5143, 2.8845, 0.2856, 14.1087).unwrap();
        for (x, t_x, t) in [
            (221.0, 103.42857, 103.57143),
            (254.0, 97.14286, 97.28571),
            (161.0, 94.71429, 98.0),
            (204.0, 98.57143, 99.42857),
        ] {
            let p = m.expected_probability_alive(&Rfm::try_new(x, t_x, t, None).unwrap());
            assert!(p.is_finite() && (0.0..=1.0).contains(&p), "P(alive) = {p}");
        }
    }

    #[test]
    fn likelihood_and_gradient_are_finite_up_to_x_1000_and_t_10000() {
        let m = ParetoNbd::new(0.55, 10.58, 0.61, 11.67).unwrap();
        for &(x, t_x, t) in &[
            (1000.0, 9999.0, 10000.0),
            (1000.0, 50.0, 10000.0),
            (0.0, 0.0, 10000.0),
            (1000.0, 1000.0, 1000.0),
        ] {
            let (v, g) = ln_bracket(&m, x, t_x, t);
            assert!(
                v.is_finite() && g.iter().all(|d| d.is_finite()),
                "{x} {t_x} {t}: {v} {g:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn gradient_agrees_with_central_differences(
            r in 0.1f64..3.0, alpha in 0.5f64..30.0, s in 0.1f64..3.0, beta in 0.5f64..30.0,
            rows in prop::collection::vec((0u32..60, 0.0f64..1.0, 1.0f64..80.0), 1..8),
        ) {
            let customers: Vec<Rfm> = rows.iter().map(|&(x, frac, t)| {
                Rfm::try_new(x as f64, if x > 0 { frac * t } else { 0.0 }, t, None).unwrap()
            }).collect();
            let data = CompressedRfm::new(&customers, None);
            let l = ParetoNbdLikelihood::new(&data);
            let p = [r, alpha, s, beta];
            let (_, grad) = l.value_and_gradient(&p);
            let numeric = crate::fit::finite_difference_gradient(&l, &p);
            for (i, &fd) in numeric.iter().enumerate() {
                prop_assert!((grad[i] - fd).abs() <= 1e-5 * (1.0 + fd.abs()), "param {i}: analytic {} vs numeric {fd}", grad[i]);
            }
        }

        #[test]
        fn p_alive_is_a_probability_and_expectations_grow_with_t(
            r in 0.1f64..3.0, alpha in 0.5f64..30.0, s in 0.1f64..3.0, beta in 0.5f64..30.0,
            x in 0u32..500, frac in 0.0f64..1.0, t_obs in 0.5f64..200.0, t in 0.1f64..100.0,
        ) {
            let m = ParetoNbd::new(r, alpha, s, beta).unwrap();
            let c = Rfm::try_new(x as f64, if x > 0 { frac * t_obs } else { 0.0 }, t_obs, None).unwrap();
            let p = m.expected_probability_alive(&c);
            prop_assert!((0.0..=1.0).contains(&p));
            let (e1, e2) = (m.expected_purchases(&c, t), m.expected_purchases(&c, 2.0 * t));
            prop_assert!(e1.is_finite() && e1 >= 0.0 && e2 >= e1);
        }
    }
}
