//! BG/NBD: the beta-geometric / negative-binomial model of repeat purchasing.
//!
//! Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
//! Pareto/NBD Model", *Marketing Science* 24(2), 275–284, with the log-likelihood in the form of
//! Hardie's note 027 ("Overcoming the BG/NBD model's #NUM! error problem").
//!
//! While active, a customer buys at Poisson rate `λ ~ Gamma(r, α)`; after each repeat purchase
//! they drop out with probability `p ~ Beta(a, b)`.
//!
//! - log-likelihood: eq. (6), as `A₁ + A₂ + ln(e^{A₃} + δ_{x>0} e^{A₄})` (note 027);
//! - `P(X(t) = n)`: eq. (8); `E[X(t)]`: eq. (9); `E[Y(t) | x, t_x, T]`: eq. (10);
//! - `P(alive | x, t_x, T)`: the note "Computing P(alive) using the BG/NBD model" (2008).

use crate::fit::{maximize_likelihood, FitOptions, FitReport, Likelihood};
use crate::models::{check_count, check_positive, ModelParams, PurchaseModel, SimulatePurchases};
use crate::special::{
    beta_reg, bgnbd_expected_purchases_alive, bgnbd_expected_purchases_alive_at, digamma, ln_beta,
    ln_gamma, log_add_exp, logistic,
};
use crate::{CompressedRfm, ModelError, Rfm};
use rand::{Rng, RngCore};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use rayon::prelude::*;

/// BG/NBD parameters: `r`, `alpha` (purchase rate heterogeneity), `a`, `b` (dropout).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

impl BgNbd {
    /// Builds the model; every parameter must be finite and > 0.
    ///
    /// ```
    /// use northstar_models::BgNbd;
    /// assert!(BgNbd::new(0.24, 4.41, 0.79, 2.43).is_ok());
    /// assert!(BgNbd::new(0.24, -1.0, 0.79, 2.43).is_err());
    /// ```
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self, ModelError> {
        Ok(Self {
            r: check_positive("r", r)?,
            alpha: check_positive("alpha", alpha)?,
            a: check_positive("a", a)?,
            b: check_positive("b", b)?,
        })
    }
    /// Shape of the purchase-rate gamma distribution.
    pub fn r(&self) -> f64 {
        self.r
    }
    /// Rate (inverse scale) of the purchase-rate gamma distribution.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// First shape of the dropout-probability beta distribution.
    pub fn a(&self) -> f64 {
        self.a
    }
    /// Second shape of the dropout-probability beta distribution.
    pub fn b(&self) -> f64 {
        self.b
    }
}

impl ModelParams for BgNbd {
    const MODEL: &'static str = "bgnbd";
    const NAMES: &'static [&'static str] = &["r", "alpha", "a", "b"];
    fn from_values(v: &[f64]) -> Result<Self, ModelError> {
        check_count(v, Self::NAMES)?;
        Self::new(v[0], v[1], v[2], v[3])
    }
    fn values(&self) -> Vec<f64> {
        vec![self.r, self.alpha, self.a, self.b]
    }
}

// ---------------------------------------------------------------------------------------------
// Log-likelihood and gradient
// ---------------------------------------------------------------------------------------------

impl BgNbd {
    /// One customer's log-likelihood (FHL 2005 eq. 6 in the overflow-free form of note 027).
    ///
    /// ```
    /// use northstar_models::BgNbd;
    /// // Hardie, note 027: a=0.8, b=2.5, r=0.25, α=4, T=40.
    /// let m = BgNbd::new(0.25, 4.0, 0.8, 2.5).unwrap();
    /// assert!((m.log_likelihood(0.0, 0.0, 40.0) + 0.59947382).abs() < 1e-7);
    /// ```
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_beta(a, b + x) - ln_beta(a, b);
        let a3 = -(r + x) * (alpha + t).ln();
        if x > 0.0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
            a1 + a2 + log_add_exp(a3, a4)
        } else {
            a1 + a2 + a3
        }
    }
}

/// The BG/NBD log-likelihood of a compressed data set. The same code serves MBG/NBD, where a
/// customer may also drop out right after the first purchase (`ln B(a, b+x+1)` instead of
/// `ln B(a, b+x)`, and the dropout term present for `x = 0` too).
pub struct BgNbdLikelihood<'a> {
    data: &'a CompressedRfm,
    /// 1 for MBG/NBD (a dropout chance at the first purchase too), 0 for BG/NBD.
    first_purchase_dropout: f64,
}

impl<'a> BgNbdLikelihood<'a> {
    /// Wraps the data.
    pub fn new(data: &'a CompressedRfm) -> Self {
        Self {
            data,
            first_purchase_dropout: 0.0,
        }
    }

    /// The MBG/NBD variant (Batislam, Denizel & Filiztekin 2007).
    pub(crate) fn modified(data: &'a CompressedRfm) -> Self {
        Self {
            data,
            first_purchase_dropout: 1.0,
        }
    }
}

/// Per-distinct-frequency terms of the log-likelihood and their derivatives.
struct FrequencyTerms {
    x: f64,
    /// `ln Γ(r+x) - ln Γ(r) + ln B(a, b+x) - ln B(a, b)`.
    base: f64,
    d_base_r: f64,
    d_base_a: f64,
    d_base_b: f64,
    /// Whether the likelihood has the "dropped out after the last purchase" term.
    has_dropout: bool,
    /// `ln a - ln(b+x-1+k)` (k = 1 for MBG/NBD), when it has.
    ln_a_over: f64,
    /// `b+x-1+k`.
    b_shifted: f64,
}

impl Likelihood for BgNbdLikelihood<'_> {
    fn param_names(&self) -> &'static [&'static str] {
        BgNbd::NAMES
    }

    fn n_observations(&self) -> f64 {
        self.data.total_weight
    }

    fn initial_params(&self) -> Vec<f64> {
        // α scales with the time unit; start it at the mean observation length.
        let mean_t = self.data.ts.iter().sum::<f64>() / self.data.ts.len().max(1) as f64;
        vec![1.0, mean_t.max(1e-3), 1.0, 1.0]
    }

    fn value_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let [r, alpha, a, b] = [params[0], params[1], params[2], params[3]];
        let d = self.data;
        let (psi_r, psi_b, psi_ab) = (digamma(r), digamma(b), digamma(a + b));
        let ln_beta_ab = ln_beta(a, b);
        let k = self.first_purchase_dropout;
        let terms: Vec<FrequencyTerms> = d
            .frequencies
            .iter()
            .map(|&x| {
                let psi_abx = digamma(a + b + x + k);
                let has_dropout = x > 0.0 || k > 0.0;
                let b_shifted = b + x - 1.0 + k;
                FrequencyTerms {
                    x,
                    base: ln_gamma(r + x) - ln_gamma(r) + ln_beta(a, b + x + k) - ln_beta_ab,
                    d_base_r: digamma(r + x) - psi_r,
                    d_base_a: psi_ab - psi_abx,
                    d_base_b: digamma(b + x + k) - psi_b + psi_ab - psi_abx,
                    has_dropout,
                    ln_a_over: if has_dropout {
                        a.ln() - b_shifted.ln()
                    } else {
                        0.0
                    },
                    b_shifted,
                }
            })
            .collect();
        // ln(α+T), 1/(α+T) and the same for t_x, once per distinct value.
        let table = |values: &[f64]| -> Vec<(f64, f64)> {
            values
                .iter()
                .map(|v| ((alpha + v).ln(), 1.0 / (alpha + v)))
                .collect()
        };
        let at_t = table(&d.ts);
        let at_tx = table(&d.recencies);
        let ln_alpha = alpha.ln();

        let chunk = |rows: &[crate::CompressedRow]| {
            let mut acc = [0.0f64; 5];
            for row in rows {
                let f = &terms[row.x as usize];
                let w = row.weight;
                let rx = r + f.x;
                let (l_t, inv_t) = at_t[row.t as usize];
                let a3 = -rx * l_t;
                if !f.has_dropout {
                    acc[0] += w * (f.base + r * ln_alpha + a3);
                    acc[1] += w * (f.d_base_r + ln_alpha - l_t);
                    acc[2] += w * (r / alpha - rx * inv_t);
                    acc[3] += w * f.d_base_a;
                    acc[4] += w * f.d_base_b;
                    continue;
                }
                let (l_tx, inv_tx) = at_tx[row.t_x as usize];
                let a4 = f.ln_a_over - rx * l_tx;
                // ln(e^{A3} + e^{A4}) and the share w4 = e^{A4}/(e^{A3} + e^{A4}), from one exp.
                // (ln(1+e) for e ≤ 1 is exact to ~1e-16 absolute, all the sum can use.)
                let e = (-(a4 - a3).abs()).exp();
                let ln_1pe = (1.0 + e).ln();
                let (mix, w4) = if a4 > a3 {
                    (a4 + ln_1pe, 1.0 / (1.0 + e))
                } else {
                    (a3 + ln_1pe, e / (1.0 + e))
                };
                let w3 = 1.0 - w4;
                acc[0] += w * (f.base + r * ln_alpha + mix);
                acc[1] += w * (f.d_base_r + ln_alpha - w3 * l_t - w4 * l_tx);
                acc[2] += w * (r / alpha - rx * (w3 * inv_t + w4 * inv_tx));
                acc[3] += w * (f.d_base_a + w4 / a);
                acc[4] += w * (f.d_base_b - w4 / f.b_shifted);
            }
            acc
        };
        let sum = d
            .rows
            .par_chunks(16_384)
            .map(chunk)
            .reduce(|| [0.0; 5], |x, y| std::array::from_fn(|i| x[i] + y[i]));
        (sum[0], sum[1..].to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// Fit
// ---------------------------------------------------------------------------------------------

impl BgNbd {
    /// Maximum-likelihood fit to compressed customer data.
    ///
    /// ```
    /// use northstar_models::{BgNbd, CompressedRfm, FitOptions, Rfm, SimulatePurchases};
    /// use rand::SeedableRng;
    /// let truth = BgNbd::new(0.5, 5.0, 1.0, 3.0).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    /// let customers: Vec<Rfm> = (0..3000)
    ///     .map(|_| {
    ///         let times = truth.simulate_repeat_purchases(&mut rng, 40.0);
    ///         Rfm::try_new(times.len() as f64, times.last().copied().unwrap_or(0.0), 40.0, None).unwrap()
    ///     })
    ///     .collect();
    /// let (model, report) = BgNbd::fit(&CompressedRfm::new(&customers, None), &FitOptions::default()).unwrap();
    /// assert!(report.converged);
    /// assert!((model.r() - 0.5).abs() < 4.0 * report.std_errors[0].unwrap());
    /// ```
    pub fn fit(
        data: &CompressedRfm,
        options: &FitOptions,
    ) -> Result<(Self, FitReport), ModelError> {
        if data.rows.is_empty() {
            return Err(ModelError::NoData("the RFM table has no customers".into()));
        }
        let report = maximize_likelihood(&BgNbdLikelihood::new(data), options)?;
        Ok((Self::from_values(&report.params)?, report))
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------------------------

impl BgNbd {
    /// `ln` of the odds that an active-looking history comes from a customer who has dropped out.
    fn ln_dropout_odds(&self, customer: &Rfm) -> Option<f64> {
        let x = customer.frequency();
        (x > 0.0).then(|| {
            self.a.ln() - (self.b + x - 1.0).ln()
                + (self.r + x)
                    * ((self.alpha + customer.T()).ln() - (self.alpha + customer.recency()).ln())
        })
    }
}

impl PurchaseModel for BgNbd {
    /// FHL (2005) eq. (9), evaluated without its `a = 1` and `a + b = 1` singularities.
    ///
    /// ```
    /// use northstar_models::{BgNbd, PurchaseModel};
    /// let m = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
    /// assert!((m.expected_purchases_new_customer(78.0) - 1.858).abs() < 5e-4);
    /// ```
    #[doc(alias = "expected_number_of_purchases_up_to_time")]
    fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        bgnbd_expected_purchases_alive(self.r, self.alpha, self.a, self.b, t)
    }

    /// `1 / (1 + δ_{x>0} · a/(b+x-1) · ((α+T)/(α+t_x))^{r+x})`.
    ///
    /// ```
    /// use northstar_models::{BgNbd, PurchaseModel, Rfm};
    /// let m = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
    /// let c = Rfm::try_new(26.0, 30.857143, 31.0, None).unwrap();
    /// assert!((m.expected_probability_alive(&c) - 0.96885).abs() < 1e-5);
    /// ```
    #[doc(alias = "conditional_probability_alive")]
    fn expected_probability_alive(&self, customer: &Rfm) -> f64 {
        self.ln_dropout_odds(customer)
            .map_or(1.0, |odds| logistic(-odds))
    }

    /// FHL (2005) eq. (10): `P(alive) · E[purchases in t | alive]`, where the posterior of an
    /// alive customer is `λ ~ Gamma(r+x, α+T)`, `p ~ Beta(a, b+x)`.
    ///
    /// ```
    /// use northstar_models::{BgNbd, PurchaseModel, Rfm};
    /// let m = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
    /// let c = Rfm::try_new(2.0, 30.43, 38.86, None).unwrap();
    /// assert!((m.expected_purchases(&c, 39.0) - 1.226).abs() < 5e-4);
    /// ```
    #[doc(alias = "conditional_expected_number_of_purchases_up_to_time")]
    fn expected_purchases(&self, customer: &Rfm, t: f64) -> f64 {
        self.expected_purchases_at(customer, &[t])[0]
    }

    fn expected_purchases_at(&self, customer: &Rfm, ts: &[f64]) -> Vec<f64> {
        let x = customer.frequency();
        let p_alive = self.expected_probability_alive(customer);
        let mut out = vec![0.0; ts.len()];
        bgnbd_expected_purchases_alive_at(
            self.r + x,
            self.alpha + customer.T(),
            self.a,
            self.b + x,
            ts,
            &mut out,
        );
        out.iter_mut().for_each(|e| *e *= p_alive);
        out
    }

    /// FHL (2005) eq. (8). The bracket `1 - Σ_{j<n} NBD(j)` is the negative-binomial upper
    /// tail, computed as the regularized incomplete beta `I_{t/(α+t)}(n, r)` so that nothing cancels.
    ///
    /// ```
    /// use northstar_models::{BgNbd, PurchaseModel};
    /// let m = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
    /// let total: f64 = (0..200).map(|n| m.probability_of_purchases(n, 39.0)).sum();
    /// assert!((total - 1.0).abs() < 1e-9);
    /// ```
    #[doc(alias = "probability_of_n_purchases_up_to_time")]
    fn probability_of_purchases(&self, n: u32, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let n = n as f64;
        if t <= 0.0 {
            return if n == 0.0 { 1.0 } else { 0.0 };
        }
        let ln_q = alpha.ln() - (alpha + t).ln();
        let ln_1mq = t.ln() - (alpha + t).ln();
        let nbd = ln_gamma(r + n) - ln_gamma(r) - ln_gamma(n + 1.0) + r * ln_q + n * ln_1mq;
        let first = (ln_beta(a, b + n) - ln_beta(a, b) + nbd).exp();
        if n == 0.0 {
            return first;
        }
        let tail = beta_reg(n, r, t / (alpha + t));
        first + (ln_beta(a + 1.0, b + n - 1.0) - ln_beta(a, b)).exp() * tail
    }
}

// ---------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------

impl SimulatePurchases for BgNbd {
    /// Draws one customer's repeat-purchase times in `(0, horizon]` (the first purchase is at 0).
    ///
    /// ```
    /// use northstar_models::{BgNbd, SimulatePurchases};
    /// use rand::SeedableRng;
    /// let m = BgNbd::new(0.25, 4.0, 0.8, 2.5).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let times = m.simulate_repeat_purchases(&mut rng, 52.0);
    /// assert!(times.windows(2).all(|w| w[0] <= w[1]) && times.iter().all(|&t| t <= 52.0));
    /// ```
    fn simulate_repeat_purchases(&self, rng: &mut dyn RngCore, horizon: f64) -> Vec<f64> {
        let lambda = Gamma::new(self.r, 1.0 / self.alpha)
            .expect("parameters are positive by construction")
            .sample(rng);
        let p = Beta::new(self.a, self.b)
            .expect("parameters are positive by construction")
            .sample(rng);
        let mut times = Vec::new();
        let Ok(gap) = Exp::new(lambda) else {
            return times;
        };
        let mut now = 0.0;
        loop {
            now += gap.sample(rng);
            if now > horizon || !now.is_finite() {
                return times;
            }
            times.push(now);
            if rng.random::<f64>() < p {
                return times;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// FHL (2005) Table/section 5 CDNOW estimates (also lifetimes' test suite).
    fn cdnow() -> BgNbd {
        BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap()
    }

    #[test]
    fn log_likelihood_matches_hardie_note_027_stress_vectors() {
        // Hardie note 027: a=0.8, b=2.5, r=0.25, α=4, T=40; tolerance 1e-6 (values given to 8 digits).
        let m = BgNbd::new(0.25, 4.0, 0.8, 2.5).unwrap();
        assert!((m.log_likelihood(0.0, 0.0, 40.0) - (-0.59947382)).abs() < 1e-6);
        assert!((m.log_likelihood(200.0, 38.0, 40.0) - 100.7957).abs() < 1e-4);
    }

    #[test]
    fn compressed_likelihood_equals_sum_of_individual_terms() {
        let m = cdnow();
        let customers = [
            Rfm::try_new(0.0, 0.0, 38.0, None).unwrap(),
            Rfm::try_new(3.0, 20.0, 38.0, None).unwrap(),
            Rfm::try_new(3.0, 20.0, 38.0, None).unwrap(),
            Rfm::try_new(1.0, 0.5, 30.0, None).unwrap(),
        ];
        let data = CompressedRfm::new(&customers, None);
        let (ll, _) = BgNbdLikelihood::new(&data).value_and_gradient(&m.values());
        let direct: f64 = customers
            .iter()
            .map(|c| m.log_likelihood(c.frequency(), c.recency(), c.T()))
            .sum();
        assert!((ll - direct).abs() < 1e-10);
    }

    #[test]
    fn probability_of_no_purchase_in_39_weeks_matches_lifetimes() {
        // lifetimes 0.11.3 probability_of_n_purchases_up_to_time(39, 0) with the CDNOW fit; ±5e-4.
        assert!((cdnow().probability_of_purchases(0, 39.0) - 0.5743).abs() < 5e-4);
    }

    #[test]
    fn high_frequency_customer_matches_lifetimes() {
        // lifetimes test_conditional_expectation_returns_same_value_as_Hardie_excel_sheet-style
        // check for x=26, t_x=30.857143, T=31, t=52: 25.75659 (tolerance 1e-4 relative).
        let c = Rfm::try_new(26.0, 30.857143, 31.0, None).unwrap();
        let e = cdnow().expected_purchases(&c, 52.0);
        assert!((e - 25.75659).abs() < 25.75659 * 1e-4, "{e}");
    }

    #[test]
    fn no_nan_when_a_plus_b_below_one() {
        let m = BgNbd::new(0.5, 3.0, 0.3, 0.4).unwrap();
        let c = Rfm::try_new(0.0, 0.0, 20.0, None).unwrap();
        for t in [0.5, 1.0, 10.0, 100.0] {
            let e0 = m.expected_purchases_new_customer(t);
            let e1 = m.expected_purchases(&c, t);
            assert!(e0.is_finite() && e0 > 0.0 && e1.is_finite() && e1 > 0.0);
        }
        assert!(m.log_likelihood(0.0, 0.0, 20.0).is_finite());
    }

    proptest! {
        #[test]
        fn gradient_agrees_with_central_differences(
            r in 0.05f64..5.0, alpha in 0.5f64..50.0, a in 0.05f64..5.0, b in 0.05f64..10.0,
            rows in prop::collection::vec((0u32..30, 0.0f64..1.0, 1.0f64..60.0), 1..20),
        ) {
            let customers: Vec<Rfm> = rows.iter().map(|&(x, frac, t)| {
                let tx = if x > 0 { frac * t } else { 0.0 };
                Rfm::try_new(x as f64, tx, t, None).unwrap()
            }).collect();
            let data = CompressedRfm::new(&customers, None);
            let p = [r, alpha, a, b];
            let (_, grad) = BgNbdLikelihood::new(&data).value_and_gradient(&p);
            let fd = crate::fit::finite_difference_gradient(&BgNbdLikelihood::new(&data), &p);
            for (g, f) in grad.iter().zip(&fd) {
                prop_assert!((g - f).abs() <= 1e-5 * (1.0 + f.abs()), "analytic {g} vs numeric {f}");
            }
        }

        #[test]
        fn p_alive_is_a_probability_and_expectations_grow_with_t(
            r in 0.05f64..5.0, alpha in 0.5f64..50.0, a in 0.05f64..5.0, b in 0.05f64..10.0,
            x in 0u32..300, frac in 0.0f64..1.0, t_obs in 0.5f64..100.0, t in 0.1f64..100.0,
        ) {
            let m = BgNbd::new(r, alpha, a, b).unwrap();
            let c = Rfm::try_new(x as f64, if x > 0 { frac * t_obs } else { 0.0 }, t_obs, None).unwrap();
            let p = m.expected_probability_alive(&c);
            prop_assert!((0.0..=1.0).contains(&p));
            let e1 = m.expected_purchases(&c, t);
            let e2 = m.expected_purchases(&c, 2.0 * t);
            prop_assert!(e1.is_finite() && e1 >= 0.0 && e2 >= e1 * (1.0 - 1e-12), "{e1} {e2}");
            let n1 = m.expected_purchases_new_customer(t);
            let n2 = m.expected_purchases_new_customer(2.0 * t);
            prop_assert!(n1 >= 0.0 && n2 >= n1 * (1.0 - 1e-12));
        }
    }
}
