//! MBG/NBD: the modified BG/NBD, where a customer may also drop out right after the first
//! purchase.
//!
//! Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models for
//! customer base analysis", *International Journal of Research in Marketing* 24(3), 201–209;
//! the same model as Hoppe & Wagner's (2007) CBG/NBD.
//!
//! Purchases follow Poisson(λ), `λ ~ Gamma(r, α)`; at the first purchase and after each repeat
//! purchase the customer drops out with probability `p ~ Beta(a, b)`.
//!
//! - log-likelihood: BG/NBD's with `B(a, b+x+1)` and the dropout term present for every `x`;
//!   it shares [`BgNbdLikelihood`]'s code;
//! - `P(alive) = 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^{r+x})`;
//! - `E[Y(t) | x, t_x, T] = P(alive) · (a+b+x)/(a-1) · [1 - ((α+T)/(α+T+t))^{r+x} ·
//!   2F1(r+x, b+x+1; a+b+x; t/(α+T+t))]`, evaluated without the `a = 1` singularity by
//!   [`bgnbd_expected_purchases_alive_at`];
//! - `E[X(t)] = b/(a-1) · [1 - (α/(α+t))^r · 2F1(r, b+1; a+b; t/(α+t))]`
//!   = `b/(a+b)` (survives the first purchase) × the same function with `B = b+1`.

use crate::fit::{maximize_likelihood, FitOptions, FitReport};
use crate::models::bg_nbd::BgNbdLikelihood;
use crate::models::{check_count, check_positive, ModelParams, PurchaseModel, SimulatePurchases};
use crate::special::{
    beta_reg, bgnbd_expected_purchases_alive, bgnbd_expected_purchases_alive_at, ln_beta, ln_gamma,
    log_add_exp, logistic,
};
use crate::{CompressedRfm, ModelError, Rfm};
use rand::{Rng, RngCore};
use rand_distr::{Beta, Distribution, Exp, Gamma};

/// MBG/NBD parameters: `r`, `alpha` (purchase rate), `a`, `b` (dropout).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MbgNbd {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

impl MbgNbd {
    /// Builds the model; every parameter must be finite and > 0.
    ///
    /// ```
    /// use northstar_models::MbgNbd;
    /// assert!(MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).is_ok());
    /// assert!(MbgNbd::new(0.5248, 6.183, f64::NAN, 1.614).is_err());
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
    /// Rate of the purchase-rate gamma distribution.
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

impl ModelParams for MbgNbd {
    const MODEL: &'static str = "mbgnbd";
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

impl MbgNbd {
    /// One customer's log-likelihood.
    ///
    /// ```
    /// use northstar_models::MbgNbd;
    /// let m = MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).unwrap();
    /// assert!(m.log_likelihood(200.0, 38.0, 40.0).is_finite());
    /// ```
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let MbgNbd { r, alpha, a, b } = *self;
        let base = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_beta(a, b + x + 1.0)
            - ln_beta(a, b);
        let alive = -(r + x) * (alpha + t).ln();
        let dropped = a.ln() - (b + x).ln() - (r + x) * (alpha + t_x).ln();
        base + log_add_exp(alive, dropped)
    }
}

// ---------------------------------------------------------------------------------------------
// Fit
// ---------------------------------------------------------------------------------------------

impl MbgNbd {
    /// Maximum-likelihood fit to compressed customer data.
    ///
    /// ```
    /// use northstar_models::{CompressedRfm, FitOptions, MbgNbd, Rfm, SimulatePurchases};
    /// use rand::SeedableRng;
    /// let truth = MbgNbd::new(0.5, 6.0, 0.9, 1.6).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    /// let customers: Vec<Rfm> = (0..3000)
    ///     .map(|_| {
    ///         let times = truth.simulate_repeat_purchases(&mut rng, 40.0);
    ///         Rfm::try_new(times.len() as f64, times.last().copied().unwrap_or(0.0), 40.0, None).unwrap()
    ///     })
    ///     .collect();
    /// let (model, report) = MbgNbd::fit(&CompressedRfm::new(&customers, None), &FitOptions::default()).unwrap();
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
        let report = maximize_likelihood(&BgNbdLikelihood::modified(data), options)?;
        Ok((Self::from_values(&report.params)?, report))
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------------------------

impl PurchaseModel for MbgNbd {
    /// `b/(a+b)` × BG/NBD's alive-customer expectation with `B = b+1`.
    ///
    /// ```
    /// use northstar_models::{MbgNbd, PurchaseModel};
    /// let m = MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).unwrap();
    /// assert!(m.expected_purchases_new_customer(39.0) > 0.0);
    /// ```
    #[doc(alias = "expected_number_of_purchases_up_to_time")]
    fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        self.b / (self.a + self.b)
            * bgnbd_expected_purchases_alive(self.r, self.alpha, self.a, self.b + 1.0, t)
    }

    /// `1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^{r+x})`.
    ///
    /// ```
    /// use northstar_models::{MbgNbd, PurchaseModel, Rfm};
    /// let m = MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).unwrap();
    /// let p = m.expected_probability_alive(&Rfm::try_new(0.0, 0.0, 38.0, None).unwrap());
    /// assert!(p < 1.0); // unlike BG/NBD, a one-time buyer may already be gone
    /// ```
    #[doc(alias = "conditional_probability_alive")]
    fn expected_probability_alive(&self, customer: &Rfm) -> f64 {
        let x = customer.frequency();
        let ln_odds = self.a.ln() - (self.b + x).ln()
            + (self.r + x)
                * ((self.alpha + customer.T()).ln() - (self.alpha + customer.recency()).ln());
        logistic(-ln_odds)
    }

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
            self.b + x + 1.0,
            ts,
            &mut out,
        );
        out.iter_mut().for_each(|e| *e *= p_alive);
        out
    }

    /// `P(X(t)=n) = B(a, b+n+1)/B(a,b) · NBD(n) + B(a+1, b+n)/B(a,b) · P(NBD ≥ n)`: alive after
    /// `n+1` dropout chances with `n` purchases, or dropped right after the `n`-th purchase.
    ///
    /// ```
    /// use northstar_models::{MbgNbd, PurchaseModel};
    /// let m = MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).unwrap();
    /// let total: f64 = (0..300).map(|n| m.probability_of_purchases(n, 39.0)).sum();
    /// assert!((total - 1.0).abs() < 1e-9);
    /// ```
    fn probability_of_purchases(&self, n: u32, t: f64) -> f64 {
        let MbgNbd { r, alpha, a, b } = *self;
        let n = n as f64;
        let ln_b = ln_beta(a, b);
        let dropped_weight = (ln_beta(a + 1.0, b + n) - ln_b).exp();
        if t <= 0.0 {
            // No time to buy: X = 0 for sure.
            return if n == 0.0 { 1.0 } else { 0.0 };
        }
        let ln_q = alpha.ln() - (alpha + t).ln();
        let ln_1mq = t.ln() - (alpha + t).ln();
        let nbd = ln_gamma(r + n) - ln_gamma(r) - ln_gamma(n + 1.0) + r * ln_q + n * ln_1mq;
        let tail = if n == 0.0 {
            1.0
        } else {
            beta_reg(n, r, t / (alpha + t))
        };
        (ln_beta(a, b + n + 1.0) - ln_b + nbd).exp() + dropped_weight * tail
    }
}

// ---------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------

impl SimulatePurchases for MbgNbd {
    /// Draws one customer's repeat-purchase times in `(0, horizon]` (the first purchase is at 0).
    ///
    /// ```
    /// use northstar_models::{MbgNbd, SimulatePurchases};
    /// use rand::SeedableRng;
    /// let m = MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let times = m.simulate_repeat_purchases(&mut rng, 52.0);
    /// assert!(times.iter().all(|&t| t > 0.0 && t <= 52.0));
    /// ```
    fn simulate_repeat_purchases(&self, rng: &mut dyn RngCore, horizon: f64) -> Vec<f64> {
        let lambda = Gamma::new(self.r, 1.0 / self.alpha)
            .expect("parameters are positive by construction")
            .sample(rng);
        let p = Beta::new(self.a, self.b)
            .expect("parameters are positive by construction")
            .sample(rng);
        let mut times = Vec::new();
        if rng.random::<f64>() < p {
            return times;
        }
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
    use crate::fit::Likelihood;
    use proptest::prelude::*;

    #[test]
    fn compressed_likelihood_equals_sum_of_individual_terms() {
        let m = MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).unwrap();
        let customers = [
            Rfm::try_new(0.0, 0.0, 38.0, None).unwrap(),
            Rfm::try_new(3.0, 20.0, 38.0, None).unwrap(),
            Rfm::try_new(1.0, 0.5, 30.0, None).unwrap(),
        ];
        let data = CompressedRfm::new(&customers, None);
        let (ll, _) = BgNbdLikelihood::modified(&data).value_and_gradient(&m.values());
        let direct: f64 = customers
            .iter()
            .map(|c| m.log_likelihood(c.frequency(), c.recency(), c.T()))
            .sum();
        assert!((ll - direct).abs() < 1e-10);
    }

    #[test]
    fn zero_time_expectation_is_zero_and_matches_sum_of_probabilities() {
        let m = MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).unwrap();
        assert_eq!(m.expected_purchases_new_customer(0.0), 0.0);
        // E[X(t)] = Σ n P(X(t) = n); 1e-8 relative.
        let mean: f64 = (0..2000)
            .map(|n| n as f64 * m.probability_of_purchases(n, 39.0))
            .sum();
        let e = m.expected_purchases_new_customer(39.0);
        assert!((mean - e).abs() < 1e-8 * e, "{mean} vs {e}");
    }

    proptest! {
        #[test]
        fn gradient_agrees_with_central_differences(
            r in 0.05f64..5.0, alpha in 0.5f64..50.0, a in 0.05f64..5.0, b in 0.05f64..10.0,
            rows in prop::collection::vec((0u32..30, 0.0f64..1.0, 1.0f64..60.0), 1..20),
        ) {
            let customers: Vec<Rfm> = rows.iter().map(|&(x, frac, t)| {
                Rfm::try_new(x as f64, if x > 0 { frac * t } else { 0.0 }, t, None).unwrap()
            }).collect();
            let data = CompressedRfm::new(&customers, None);
            let l = BgNbdLikelihood::modified(&data);
            let p = [r, alpha, a, b];
            let (_, grad) = l.value_and_gradient(&p);
            let numeric = crate::fit::finite_difference_gradient(&l, &p);
            for (i, &fd) in numeric.iter().enumerate() {
                prop_assert!((grad[i] - fd).abs() <= 1e-5 * (1.0 + fd.abs()), "{} vs {fd}", grad[i]);
            }
        }

        #[test]
        fn p_alive_is_a_probability_and_expectations_grow_with_t(
            r in 0.05f64..5.0, alpha in 0.5f64..50.0, a in 0.05f64..5.0, b in 0.05f64..10.0,
            x in 0u32..300, frac in 0.0f64..1.0, t_obs in 0.5f64..100.0, t in 0.1f64..100.0,
        ) {
            let m = MbgNbd::new(r, alpha, a, b).unwrap();
            let c = Rfm::try_new(x as f64, if x > 0 { frac * t_obs } else { 0.0 }, t_obs, None).unwrap();
            let p = m.expected_probability_alive(&c);
            prop_assert!((0.0..=1.0).contains(&p));
            let (e1, e2) = (m.expected_purchases(&c, t), m.expected_purchases(&c, 2.0 * t));
            prop_assert!(e1.is_finite() && e1 >= 0.0 && e2 >= e1 * (1.0 - 1e-12));
        }
    }
}
