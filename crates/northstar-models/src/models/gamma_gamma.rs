//! Gamma-Gamma: the model of a customer's average spend per purchase.
//!
//! Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis",
//! *Journal of Marketing Research* 42(4), 415–430, and Fader & Hardie, note 025 ("The
//! Gamma-Gamma Model of Monetary Value", 2013).
//!
//! Each purchase amount is `Gamma(p, ν)`; across customers `ν ~ Gamma(q, v)`. The mean `z̄` of
//! a customer's `x` repeat purchases is then `Gamma(px, νx)`, which gives the likelihood
//! (note 025 eq. 3) and the conditional expectation (eq. 5):
//! `E[M | p, q, v, x, z̄] = p(v + x z̄) / (px + q - 1)`.
//!
//! The model assumes spend is independent of purchase frequency; only customers with at least
//! one repeat purchase (`x > 0`) carry information about it.

use crate::fit::{maximize_likelihood, FitOptions, FitReport, Likelihood};
use crate::models::{check_count, check_positive, ModelParams, SpendModel};
use crate::special::{digamma, ln_gamma};
use crate::{ModelError, Rfm};
use rand::Rng;
use rand_distr::{Distribution, Gamma};
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

/// Gamma-Gamma parameters `p`, `q`, `v` (named as in lifetimes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    p: f64,
    q: f64,
    v: f64,
}

impl GammaGamma {
    /// Builds the model; every parameter must be finite and > 0.
    ///
    /// ```
    /// use northstar_models::GammaGamma;
    /// assert!(GammaGamma::new(6.25, 3.74, 15.45).is_ok());
    /// assert!(GammaGamma::new(0.0, 3.74, 15.45).is_err());
    /// ```
    pub fn new(p: f64, q: f64, v: f64) -> Result<Self, ModelError> {
        Ok(Self {
            p: check_positive("p", p)?,
            q: check_positive("q", q)?,
            v: check_positive("v", v)?,
        })
    }
    /// Shape of each purchase amount's gamma distribution.
    pub fn p(&self) -> f64 {
        self.p
    }
    /// Shape of the spend-rate (`ν`) gamma distribution.
    pub fn q(&self) -> f64 {
        self.q
    }
    /// Rate of the spend-rate (`ν`) gamma distribution.
    pub fn v(&self) -> f64 {
        self.v
    }
}

impl ModelParams for GammaGamma {
    const MODEL: &'static str = "gg";
    const NAMES: &'static [&'static str] = &["p", "q", "v"];
    fn from_values(values: &[f64]) -> Result<Self, ModelError> {
        check_count(values, Self::NAMES)?;
        Self::new(values[0], values[1], values[2])
    }
    fn values(&self) -> Vec<f64> {
        vec![self.p, self.q, self.v]
    }
}

// ---------------------------------------------------------------------------------------------
// Log-likelihood and gradient
// ---------------------------------------------------------------------------------------------

impl GammaGamma {
    /// One repeat customer's log-likelihood of mean spend `m` over `x > 0` purchases (note 025).
    ///
    /// ```
    /// use northstar_models::GammaGamma;
    /// let m = GammaGamma::new(6.25, 3.74, 15.45).unwrap();
    /// assert!(m.log_likelihood(2.0, 22.35).is_finite());
    /// ```
    pub fn log_likelihood(&self, x: f64, m: f64) -> f64 {
        let GammaGamma { p, q, v } = *self;
        let px = p * x;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * v.ln()
            + (px - 1.0) * m.ln()
            + px * x.ln()
            - (px + q) * (x * m + v).ln()
    }
}

/// The repeat customers' `(x, z̄)` pairs, compressed into weights and grouped by frequency.
#[derive(Debug, Clone)]
pub struct SpendData {
    frequencies: Vec<f64>,
    rows: Vec<SpendRow>,
    total_weight: f64,
    excluded: usize,
}

#[derive(Debug, Clone, Copy)]
struct SpendRow {
    x: u32,
    m: f64,
    ln_m: f64,
    weight: f64,
}

impl SpendData {
    /// Keeps the customers with `frequency > 0` (each needs a monetary value) and counts the rest.
    ///
    /// ```
    /// use northstar_models::{gamma_gamma::SpendData, Rfm};
    /// let a = Rfm::try_new(2.0, 5.0, 9.0, Some(20.0)).unwrap();
    /// let b = Rfm::try_new(0.0, 0.0, 9.0, Some(0.0)).unwrap();
    /// let data = SpendData::new(&[a, a, b], None).unwrap();
    /// assert_eq!((data.n_customers(), data.n_excluded()), (2.0, 1));
    /// ```
    pub fn new(customers: &[Rfm], weights: Option<&[f64]>) -> Result<Self, ModelError> {
        let mut freq_index: HashMap<u64, u32> = HashMap::default();
        let mut frequencies = Vec::new();
        let mut row_index: HashMap<(u32, u64), usize> = HashMap::default();
        let mut rows: Vec<SpendRow> = Vec::new();
        let mut total_weight = 0.0;
        let mut excluded = 0;
        for (i, c) in customers.iter().enumerate() {
            let x = c.frequency();
            if x == 0.0 {
                excluded += 1;
                continue;
            }
            let m = c.monetary_value().ok_or_else(|| ModelError::InvalidRfm {
                field: "monetary_value",
                value: f64::NAN,
                expected: "a mean repeat-purchase spend for every customer with frequency > 0 \
                           (the Gamma-Gamma model needs the monetary_value column)"
                    .into(),
            })?;
            let w = weights.map_or(1.0, |w| w[i]);
            total_weight += w;
            let xi = *freq_index.entry(x.to_bits()).or_insert_with(|| {
                frequencies.push(x);
                frequencies.len() as u32 - 1
            });
            match row_index.get(&(xi, m.to_bits())) {
                Some(&r) => rows[r].weight += w,
                None => {
                    row_index.insert((xi, m.to_bits()), rows.len());
                    rows.push(SpendRow {
                        x: xi,
                        m,
                        ln_m: m.ln(),
                        weight: w,
                    });
                }
            }
        }
        Ok(Self {
            frequencies,
            rows,
            total_weight,
            excluded,
        })
    }

    /// Total weight of the repeat customers used (their number when unweighted).
    pub fn n_customers(&self) -> f64 {
        self.total_weight
    }

    /// Number of input customers left out because they made no repeat purchase.
    pub fn n_excluded(&self) -> usize {
        self.excluded
    }
}

/// The Gamma-Gamma log-likelihood of a data set.
pub struct GammaGammaLikelihood<'a> {
    data: &'a SpendData,
}

impl<'a> GammaGammaLikelihood<'a> {
    /// Wraps the data.
    pub fn new(data: &'a SpendData) -> Self {
        Self { data }
    }
}

impl Likelihood for GammaGammaLikelihood<'_> {
    fn param_names(&self) -> &'static [&'static str] {
        GammaGamma::NAMES
    }

    fn n_observations(&self) -> f64 {
        self.data.total_weight
    }

    fn initial_params(&self) -> Vec<f64> {
        // p = 1, q = 2 and v = the mean spend make the implied population mean p·v/(q-1) match it.
        let d = self.data;
        let mean = d.rows.iter().map(|r| r.m * r.weight).sum::<f64>() / d.total_weight;
        vec![1.0, 2.0, mean.max(1e-6)]
    }

    fn value_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let [p, q, v] = [params[0], params[1], params[2]];
        let d = self.data;
        let (ln_gamma_q, psi_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        // Per distinct x: (x, ln x, ln Γ(px+q) - ln Γ(px), ψ(px+q), ψ(px)).
        let per_x: Vec<[f64; 5]> = d
            .frequencies
            .iter()
            .map(|&x| {
                let px = p * x;
                [
                    x,
                    x.ln(),
                    ln_gamma(px + q) - ln_gamma(px),
                    digamma(px + q),
                    digamma(px),
                ]
            })
            .collect();
        let sum = d
            .rows
            .par_chunks(16_384)
            .map(|rows| {
                let mut acc = [0.0f64; 4];
                for row in rows {
                    let [x, ln_x, ln_gamma_ratio, psi_pxq, psi_px] = per_x[row.x as usize];
                    let w = row.weight;
                    let px = p * x;
                    let denominator = x * row.m + v;
                    let ln_denominator = denominator.ln();
                    acc[0] += w
                        * (ln_gamma_ratio - ln_gamma_q
                            + q * ln_v
                            + (px - 1.0) * row.ln_m
                            + px * ln_x
                            - (px + q) * ln_denominator);
                    acc[1] += w * x * (psi_pxq - psi_px + row.ln_m + ln_x - ln_denominator);
                    acc[2] += w * (psi_pxq - psi_q + ln_v - ln_denominator);
                    acc[3] += w * (q / v - (px + q) / denominator);
                }
                acc
            })
            .reduce(|| [0.0; 4], |a, b| std::array::from_fn(|i| a[i] + b[i]));
        (sum[0], sum[1..].to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// Fit
// ---------------------------------------------------------------------------------------------

impl GammaGamma {
    /// Maximum-likelihood fit to the repeat customers.
    ///
    /// ```
    /// use northstar_models::{gamma_gamma::SpendData, FitOptions, GammaGamma, Rfm};
    /// let customers: Vec<Rfm> = (1..300)
    ///     .map(|i| Rfm::try_new((i % 4 + 1) as f64, 1.0, 2.0, Some(10.0 + (i % 17) as f64)).unwrap())
    ///     .collect();
    /// let data = SpendData::new(&customers, None).unwrap();
    /// let (model, report) = GammaGamma::fit(&data, &FitOptions::default()).unwrap();
    /// assert!(report.converged && model.p() > 0.0);
    /// ```
    pub fn fit(data: &SpendData, options: &FitOptions) -> Result<(Self, FitReport), ModelError> {
        if data.rows.is_empty() {
            return Err(ModelError::NoData(
                "no customer has a repeat purchase (frequency > 0), so spend cannot be modelled"
                    .into(),
            ));
        }
        let report = maximize_likelihood(&GammaGammaLikelihood::new(data), options)?;
        Ok((Self::from_values(&report.params)?, report))
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------------------------

impl GammaGamma {
    /// Population mean spend per purchase, `p·v/(q-1)`; infinite when `q ≤ 1`.
    pub fn population_mean_spend(&self) -> f64 {
        if self.q > 1.0 {
            self.p * self.v / (self.q - 1.0)
        } else {
            f64::INFINITY
        }
    }
}

impl SpendModel for GammaGamma {
    /// Note 025 eq. (5), `p(v + x z̄)/(px + q - 1)`: a weighted mean of the population mean
    /// and the customer's own mean. Customers without repeat purchases get the population mean.
    /// The expectation is infinite when `px + q ≤ 1`.
    ///
    /// ```
    /// use northstar_models::{GammaGamma, Rfm, SpendModel};
    /// let gg = GammaGamma::new(6.25, 3.74, 15.44).unwrap();
    /// let c = Rfm::try_new(2.0, 30.43, 38.86, Some(22.35)).unwrap();
    /// assert!((gg.expected_spend(&c) - 24.66).abs() < 0.05);
    /// ```
    #[doc(alias = "conditional_expected_average_profit")]
    fn expected_spend(&self, customer: &Rfm) -> f64 {
        let x = customer.frequency();
        let m = customer.monetary_value().unwrap_or(0.0);
        if x == 0.0 {
            return self.population_mean_spend();
        }
        let denominator = self.p * x + self.q - 1.0;
        if denominator <= 0.0 {
            return f64::INFINITY;
        }
        self.p * (self.v + x * m) / denominator
    }
}

// ---------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------

impl GammaGamma {
    /// Draws a customer's spend rate `ν ~ Gamma(q, v)`.
    pub fn sample_spend_rate<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        Gamma::new(self.q, 1.0 / self.v)
            .expect("parameters are positive by construction")
            .sample(rng)
    }

    /// Draws one purchase amount `Gamma(p, ν)` for a customer with spend rate `nu`.
    ///
    /// ```
    /// use northstar_models::GammaGamma;
    /// use rand::SeedableRng;
    /// let gg = GammaGamma::new(6.25, 3.74, 15.45).unwrap();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    /// let nu = gg.sample_spend_rate(&mut rng);
    /// assert!(gg.sample_amount(&mut rng, nu) > 0.0);
    /// ```
    pub fn sample_amount<R: Rng + ?Sized>(&self, rng: &mut R, nu: f64) -> f64 {
        match Gamma::new(self.p, 1.0 / nu) {
            Ok(d) => d.sample(rng),
            Err(_) => f64::NAN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn gradient_agrees_with_central_differences(
            p in 0.2f64..20.0, q in 0.2f64..20.0, v in 0.5f64..100.0,
            rows in prop::collection::vec((1u32..40, 0.5f64..500.0), 1..20),
        ) {
            let customers: Vec<Rfm> = rows.iter()
                .map(|&(x, m)| Rfm::try_new(x as f64, 0.0, 1.0, Some(m)).unwrap())
                .collect();
            let data = SpendData::new(&customers, None).unwrap();
            let l = GammaGammaLikelihood::new(&data);
            let params = [p, q, v];
            let (_, grad) = l.value_and_gradient(&params);
            let numeric = crate::fit::finite_difference_gradient(&l, &params);
            for (i, &fd) in numeric.iter().enumerate() {
                prop_assert!((grad[i] - fd).abs() <= 1e-5 * (1.0 + fd.abs()), "{} vs {}", grad[i], fd);
            }
        }
    }

    #[test]
    fn compressed_likelihood_equals_sum_of_individual_terms() {
        let gg = GammaGamma::new(6.25, 3.74, 15.45).unwrap();
        let customers = [
            Rfm::try_new(2.0, 1.0, 2.0, Some(22.35)).unwrap(),
            Rfm::try_new(2.0, 1.0, 2.0, Some(22.35)).unwrap(),
            Rfm::try_new(5.0, 1.0, 2.0, Some(11.0)).unwrap(),
        ];
        let data = SpendData::new(&customers, None).unwrap();
        let (ll, _) = GammaGammaLikelihood::new(&data).value_and_gradient(&gg.values());
        let direct = 2.0 * gg.log_likelihood(2.0, 22.35) + gg.log_likelihood(5.0, 11.0);
        assert!((ll - direct).abs() < 1e-10);
    }

    #[test]
    fn customers_without_repeat_purchases_get_the_population_mean() {
        let gg = GammaGamma::new(6.25, 3.74, 15.45).unwrap();
        let c = Rfm::try_new(0.0, 0.0, 10.0, Some(0.0)).unwrap();
        assert!((gg.expected_spend(&c) - 6.25 * 15.45 / 2.74).abs() < 1e-12);
    }
}
