//! The contractual (subscription) setting shared by sBG and BdW: the validated input
//! ([`Tenure`], [`ContractualData`]), the prediction trait ([`RetentionModel`]) and simulation
//! trait ([`SimulateTenure`]), and the numerics of the survival family both models belong to.
//!
//! A customer is acquired at time 0 and makes a payment at the start of each period while
//! subscribed. `T ≥ 1` is the period at whose end the customer leaves (does not renew), so the
//! customer pays at times `0, 1, …, T−1` and `S(t) = P(T > t)` is the probability of still being
//! a customer at time `t` (`S(0) = 1`). Fader & Hardie (2007) call `P(T = t)` the probability of
//! churning in period `t`, and `r(t) = S(t)/S(t−1)` the retention rate.
//!
//! Both models mix a per-period churn probability `θ ~ Beta(α, β)` over customers: sBG with a
//! constant churn probability (`S(t | θ) = (1−θ)^t`), BdW with duration dependence
//! (`S(t | θ) = (1−θ)^{t^c}`), so that `S(t) = B(α, β + t^c) / B(α, β)` with `c = 1` for sBG.
//!
//! Fader & Hardie (2010), "Customer-Base Valuation in a Contractual Setting: The Perils of
//! Ignoring Heterogeneity", *Marketing Science* 29(1), 85–93, define the discounted expected
//! lifetime `DEL(d) = Σ_{t≥0} S(t)/(1+d)^t` (the first payment, at `t = 0`, is not discounted)
//! and, for a customer who has made `n−1` renewals and stands just before the `n`-th,
//! `DERL(d | n−1 renewals) = Σ_{t≥n} S(t)/S(n−1) · (1+d)^{−(t−n)}` (their eq. 6). Here the
//! argument is the number of renewals made, see
//! [`RetentionModel::discounted_expected_residual_lifetime`].

use crate::special::gauss_legendre_16;
use crate::{validate_weight, ModelError};
use rand::RngCore;
use rustc_hash::FxHashMap as HashMap;

// ---------------------------------------------------------------------------------------------
// Input data
// ---------------------------------------------------------------------------------------------

/// One customer's subscription history: the number of periods subscribed, and whether they have
/// left (`churned`) or are still subscribed (right-censored).
///
/// - churned with tenure `t ≥ 1`: the customer paid for periods `1..=t` and did not renew at the
///   end of period `t` (`T = t`; the likelihood is `P(T = t)`);
/// - not churned with tenure `t ≥ 0`: the customer has been subscribed for `t` periods and is
///   still a customer (`T > t`; the likelihood is `S(t)`).
///
/// ```
/// use northstar_models::Tenure;
/// let t = Tenure::try_new(3.0, 1.0).unwrap();
/// assert_eq!((t.periods(), t.churned()), (3, true));
/// assert!(Tenure::try_new(2.5, 0.0).is_err()); // whole periods only
/// assert!(Tenure::try_new(0.0, 1.0).is_err()); // churning needs at least one period
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenure {
    periods: u32,
    churned: bool,
}

impl Tenure {
    /// Validates a `(tenure, churned)` pair as read from a file: `tenure` a whole number of
    /// periods (≥ 1 when churned), `churned` 0 or 1.
    pub fn try_new(tenure: f64, churned: f64) -> Result<Self, ModelError> {
        if !(tenure.is_finite() && tenure >= 0.0 && tenure.fract() == 0.0)
            || tenure > u32::MAX as f64
        {
            return Err(ModelError::InvalidRfm {
                field: "tenure",
                value: tenure,
                expected: "a whole number of periods ≥ 0".into(),
            });
        }
        let churned = if churned == 0.0 {
            false
        } else if churned == 1.0 {
            true
        } else {
            return Err(ModelError::InvalidRfm {
                field: "churned",
                value: churned,
                expected: "0 (still subscribed) or 1 (churned)".into(),
            });
        };
        if churned {
            Self::churned_after(tenure as u32)
        } else {
            Ok(Self::active_after(tenure as u32))
        }
    }

    /// A customer who left at the end of period `periods` (`T = periods`, which must be ≥ 1).
    ///
    /// ```
    /// use northstar_models::Tenure;
    /// assert!(Tenure::churned_after(1).unwrap().churned());
    /// assert!(Tenure::churned_after(0).is_err());
    /// ```
    pub fn churned_after(periods: u32) -> Result<Self, ModelError> {
        if periods == 0 {
            return Err(ModelError::InvalidRfm {
                field: "tenure",
                value: 0.0,
                expected: "≥ 1 for a churned customer (the period in which they left)".into(),
            });
        }
        Ok(Self {
            periods,
            churned: true,
        })
    }

    /// A customer still subscribed after `periods` periods (right-censored: `T > periods`).
    ///
    /// ```
    /// use northstar_models::Tenure;
    /// assert!(!Tenure::active_after(4).churned());
    /// ```
    pub fn active_after(periods: u32) -> Self {
        Self {
            periods,
            churned: false,
        }
    }

    /// Number of periods subscribed.
    pub fn periods(&self) -> u32 {
        self.periods
    }

    /// Whether the customer has left (otherwise the tenure is right-censored).
    pub fn churned(&self) -> bool {
        self.churned
    }
}

/// One distinct `(cohort, tenure)` combination with its total weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContractualRow {
    /// Index into [`ContractualData::cohort_labels`]; `None` for unlabelled observations.
    pub cohort: Option<u32>,
    /// The tenure.
    pub tenure: Tenure,
    /// Total weight (number of customers when unweighted).
    pub weight: f64,
}

/// Subscription data for sBG and BdW: tenures with weights, optionally labelled by cohort.
/// Identical observations are compressed into weights as they are added.
///
/// Two input forms, which may be mixed:
/// - individual: one [`Tenure`] per customer ([`ContractualData::push`],
///   [`ContractualData::from_tenures`]);
/// - cohort counts: the number of customers still subscribed at periods `0, 1, …, k`
///   ([`ContractualData::push_cohort_counts`]). These become `alive[t−1] − alive[t]` customers
///   churned in period `t` for `t = 1..=k`, and `alive[k]` customers still subscribed after `k`
///   periods.
///
/// Fitting uses all rows pooled; [`ContractualData::split_by_cohort`] gives one data set per
/// cohort for separate fits.
///
/// ```
/// use northstar_models::ContractualData;
/// let data = ContractualData::from_cohort_counts(&[(0.0, 100.0), (1.0, 60.0), (2.0, 45.0)]).unwrap();
/// assert_eq!(data.total_weight(), 100.0);
/// assert_eq!(data.rows().len(), 3); // 40 churned in period 1, 15 in period 2, 45 still active
/// ```
#[derive(Debug, Clone, Default)]
pub struct ContractualData {
    cohorts: Vec<String>,
    rows: Vec<ContractualRow>,
    index: HashMap<(Option<u32>, Tenure), usize>,
    total_weight: f64,
}

impl ContractualData {
    /// An empty data set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `weight` customers (finite, > 0) with this tenure, optionally labelled by cohort.
    ///
    /// ```
    /// use northstar_models::{ContractualData, Tenure};
    /// let mut data = ContractualData::new();
    /// data.push(Tenure::churned_after(2).unwrap(), 1.0, Some("2024-01")).unwrap();
    /// data.push(Tenure::churned_after(2).unwrap(), 1.0, Some("2024-01")).unwrap();
    /// data.push(Tenure::active_after(5), 1.0, Some("2024-02")).unwrap();
    /// assert_eq!((data.rows().len(), data.cohort_labels().len()), (2, 2));
    /// assert!(data.push(Tenure::active_after(5), -1.0, None).is_err());
    /// ```
    pub fn push(
        &mut self,
        tenure: Tenure,
        weight: f64,
        cohort: Option<&str>,
    ) -> Result<(), ModelError> {
        let weight = validate_weight(weight)?;
        let cohort = cohort.map(|label| self.intern_cohort(label));
        self.push_row(cohort, tenure, weight);
        Ok(())
    }

    fn intern_cohort(&mut self, label: &str) -> u32 {
        match self.cohorts.iter().position(|c| c == label) {
            Some(i) => i as u32,
            None => {
                self.cohorts.push(label.to_string());
                self.cohorts.len() as u32 - 1
            }
        }
    }

    fn push_row(&mut self, cohort: Option<u32>, tenure: Tenure, weight: f64) {
        let next = self.rows.len();
        let at = *self.index.entry((cohort, tenure)).or_insert(next);
        if at == next {
            self.rows.push(ContractualRow {
                cohort,
                tenure,
                weight: 0.0,
            });
        }
        self.rows[at].weight += weight;
        self.total_weight += weight;
    }

    /// Builds the data from one tenure per customer; `weights` (one per customer) default to 1.
    ///
    /// ```
    /// use northstar_models::{ContractualData, Tenure};
    /// let t = [Tenure::churned_after(1).unwrap(), Tenure::active_after(3)];
    /// let data = ContractualData::from_tenures(&t, Some(&[2.0, 5.0])).unwrap();
    /// assert_eq!(data.total_weight(), 7.0);
    /// ```
    pub fn from_tenures(tenures: &[Tenure], weights: Option<&[f64]>) -> Result<Self, ModelError> {
        if let Some(w) = weights {
            if w.len() != tenures.len() {
                return Err(ModelError::InvalidRfm {
                    field: "weight",
                    value: w.len() as f64,
                    expected: format!("one weight per customer ({} customers)", tenures.len()),
                });
            }
        }
        let mut data = Self::new();
        for (i, &tenure) in tenures.iter().enumerate() {
            data.push(tenure, weights.map_or(1.0, |w| w[i]), None)?;
        }
        Ok(data)
    }

    /// Adds a cohort given as `(period, alive)` rows: the number of its customers still
    /// subscribed at periods `0, 1, 2, …`, in that order, with no gaps. Counts must be finite,
    /// ≥ 0, never increasing, and > 0 at period 0. Fractional counts (e.g. percentages retained)
    /// are accepted and act as weights, but standard errors are only meaningful for counts.
    ///
    /// ```
    /// use northstar_models::ContractualData;
    /// let mut data = ContractualData::new();
    /// data.push_cohort_counts(&[(0.0, 50.0), (1.0, 30.0)], Some("2023")).unwrap();
    /// data.push_cohort_counts(&[(0.0, 80.0), (1.0, 60.0), (2.0, 55.0)], Some("2024")).unwrap();
    /// assert_eq!(data.total_weight(), 130.0);
    /// // A count that grows is rejected:
    /// assert!(data.push_cohort_counts(&[(0.0, 10.0), (1.0, 12.0)], None).is_err());
    /// ```
    pub fn push_cohort_counts(
        &mut self,
        counts: &[(f64, f64)],
        cohort: Option<&str>,
    ) -> Result<(), ModelError> {
        if counts.is_empty() {
            return Err(ModelError::NoData(
                "the cohort table has no rows (it needs the count at period 0)".into(),
            ));
        }
        for (i, &(period, alive)) in counts.iter().enumerate() {
            if period != i as f64 {
                return Err(ModelError::InvalidRfm {
                    field: "period",
                    value: period,
                    expected: format!(
                        "{i}: periods must be 0, 1, 2, … in order with no gaps (row {})",
                        i + 1
                    ),
                });
            }
            if !(alive.is_finite() && alive >= 0.0) {
                return Err(ModelError::InvalidRfm {
                    field: "alive",
                    value: alive,
                    expected: format!("a finite count ≥ 0 at period {i}"),
                });
            }
            if i == 0 && alive == 0.0 {
                return Err(ModelError::InvalidRfm {
                    field: "alive",
                    value: alive,
                    expected: "a count > 0 at period 0 (the cohort's size)".into(),
                });
            }
            if i > 0 && alive > counts[i - 1].1 {
                return Err(ModelError::InvalidRfm {
                    field: "alive",
                    value: alive,
                    expected: format!(
                        "at most {} at period {i}: the number still subscribed cannot grow",
                        counts[i - 1].1
                    ),
                });
            }
        }
        if counts.len() - 1 > u32::MAX as usize {
            return Err(ModelError::InvalidRfm {
                field: "period",
                value: (counts.len() - 1) as f64,
                expected: format!("at most {}", u32::MAX),
            });
        }
        let cohort = cohort.map(|label| self.intern_cohort(label));
        for t in 1..counts.len() {
            let churned = counts[t - 1].1 - counts[t].1;
            if churned > 0.0 {
                self.push_row(
                    cohort,
                    Tenure {
                        periods: t as u32,
                        churned: true,
                    },
                    churned,
                );
            }
        }
        let last = counts.len() - 1;
        let survivors = counts[last].1;
        if survivors > 0.0 {
            self.push_row(cohort, Tenure::active_after(last as u32), survivors);
        }
        Ok(())
    }

    /// A single, unlabelled cohort; see [`ContractualData::push_cohort_counts`].
    ///
    /// ```
    /// use northstar_models::ContractualData;
    /// assert!(ContractualData::from_cohort_counts(&[(0.0, 10.0), (1.0, 8.0)]).is_ok());
    /// assert!(ContractualData::from_cohort_counts(&[(1.0, 10.0)]).is_err()); // must start at 0
    /// ```
    pub fn from_cohort_counts(counts: &[(f64, f64)]) -> Result<Self, ModelError> {
        let mut data = Self::new();
        data.push_cohort_counts(counts, None)?;
        Ok(data)
    }

    /// The distinct rows, in the order first seen.
    pub fn rows(&self) -> &[ContractualRow] {
        &self.rows
    }

    /// Cohort labels, indexed by [`ContractualRow::cohort`].
    pub fn cohort_labels(&self) -> &[String] {
        &self.cohorts
    }

    /// Total weight (the number of customers when unweighted).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// Whether there are no observations.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Total weight of the churned customers.
    pub fn churned_weight(&self) -> f64 {
        self.rows
            .iter()
            .filter(|r| r.tenure.churned)
            .map(|r| r.weight)
            .sum()
    }

    /// The same observations with the cohort labels dropped (what the fit uses).
    ///
    /// ```
    /// use northstar_models::ContractualData;
    /// let mut data = ContractualData::new();
    /// data.push_cohort_counts(&[(0.0, 10.0), (1.0, 8.0)], Some("a")).unwrap();
    /// data.push_cohort_counts(&[(0.0, 20.0), (1.0, 15.0)], Some("b")).unwrap();
    /// assert_eq!(data.pooled().rows().len(), 2);
    /// ```
    pub fn pooled(&self) -> Self {
        let mut out = Self::new();
        for row in &self.rows {
            out.push_row(None, row.tenure, row.weight);
        }
        out
    }

    /// One data set per cohort label, in the order the labels were first seen; unlabelled
    /// observations, if any, come last under `None`.
    ///
    /// ```
    /// use northstar_models::ContractualData;
    /// let mut data = ContractualData::new();
    /// data.push_cohort_counts(&[(0.0, 10.0), (1.0, 8.0)], Some("a")).unwrap();
    /// data.push_cohort_counts(&[(0.0, 20.0), (1.0, 15.0)], Some("b")).unwrap();
    /// let parts = data.split_by_cohort();
    /// assert_eq!(parts[1].0.as_deref(), Some("b"));
    /// assert_eq!(parts[1].1.total_weight(), 20.0);
    /// ```
    pub fn split_by_cohort(&self) -> Vec<(Option<String>, Self)> {
        let mut parts: Vec<Self> = vec![Self::new(); self.cohorts.len()];
        let mut unlabelled = Self::new();
        for row in &self.rows {
            let part = match row.cohort {
                Some(c) => &mut parts[c as usize],
                None => &mut unlabelled,
            };
            part.push_row(None, row.tenure, row.weight);
        }
        let mut out: Vec<(Option<String>, Self)> =
            self.cohorts.iter().cloned().map(Some).zip(parts).collect();
        if !unlabelled.is_empty() {
            out.push((None, unlabelled));
        }
        out
    }

    /// Distinct tenures over all cohorts with their total weights, sorted by tenure.
    pub(crate) fn tenure_counts(&self) -> Vec<(Tenure, f64)> {
        let mut merged: HashMap<Tenure, f64> = HashMap::default();
        for row in &self.rows {
            *merged.entry(row.tenure).or_insert(0.0) += row.weight;
        }
        let mut out: Vec<(Tenure, f64)> = merged.into_iter().collect();
        out.sort_by_key(|(t, _)| *t);
        out
    }

    /// A starting point `(α, β)` for the fit: `α = 1` and `β` such that the mean churn
    /// probability `1/(1+β)` equals the churned weight over the periods at risk.
    pub(crate) fn initial_alpha_beta(&self) -> (f64, f64) {
        let (mut churned, mut exposure) = (0.0, 0.0);
        for row in &self.rows {
            exposure += row.weight * row.tenure.periods as f64;
            if row.tenure.churned {
                churned += row.weight;
            }
        }
        let theta = if exposure > 0.0 {
            (churned / exposure).clamp(1e-3, 0.9)
        } else {
            0.5
        };
        (1.0, 1.0 / theta - 1.0)
    }

    /// The error for data a contractual model cannot be fitted to, if any.
    pub(crate) fn check_fittable(&self) -> Result<(), ModelError> {
        if self.is_empty() {
            return Err(ModelError::NoData("no subscription observations".into()));
        }
        if self.churned_weight() <= 0.0 {
            return Err(ModelError::NoData(
                "no customer has churned, so the churn distribution cannot be estimated".into(),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The shared prediction and simulation traits
// ---------------------------------------------------------------------------------------------

/// Predictions shared by the contractual models (sBG, BdW), so that the CLI's `retention`
/// command, CLV and reports treat them alike. Periods are whole numbers; see the
/// [module docs](self) for the timing conventions.
pub trait RetentionModel: Sync {
    /// `ln S(t)`.
    fn ln_survival(&self, t: u32) -> f64;

    /// `S(t) = P(T > t)`: the probability that a new customer is still subscribed at time `t`
    /// (has renewed `t` times). `S(0) = 1`.
    #[doc(alias = "expected_probability_alive")]
    fn survival(&self, t: u32) -> f64 {
        self.ln_survival(t).exp()
    }

    /// `P(T = t)` for `t ≥ 1`: the probability that a new customer leaves at the end of period
    /// `t`; 0 for `t = 0`.
    fn churn_probability(&self, t: u32) -> f64;

    /// `r(t) = S(t)/S(t−1)` for `t ≥ 1`: the share of the customers subscribed at `t−1` who
    /// renew at `t`. Returns 1 for `t = 0`.
    #[doc(alias = "expected_retention_rate")]
    fn retention_rate(&self, t: u32) -> f64 {
        if t == 0 {
            1.0
        } else {
            (self.ln_survival(t) - self.ln_survival(t - 1)).exp()
        }
    }

    /// `S(0), S(1), …, S(periods)`.
    fn survival_curve(&self, periods: u32) -> Vec<f64> {
        (0..=periods).map(|t| self.survival(t)).collect()
    }

    /// `DEL(d) = Σ_{t≥0} S(t)/(1+d)^t`, the expected discounted number of payments of a new
    /// customer, the first (at acquisition) undiscounted (Fader & Hardie 2010). `d` must be
    /// finite and ≥ 0; `d = 0` gives the expected lifetime `E[T]`, which may be infinite
    /// (`f64::INFINITY`).
    fn discounted_expected_lifetime(&self, d: f64) -> Result<f64, ModelError>;

    /// DERL for a customer who has made `renewals` renewals (paid `renewals + 1` times, so
    /// `T > renewals`) and stands just before the next renewal decision:
    /// `Σ_{k≥0} S(renewals+1+k)/S(renewals) · (1+d)^{−k}`, the expected discounted number of
    /// future payments, the next one undiscounted. This is Fader & Hardie (2010) eq. (6)
    /// with their `n − 1` renewals equal to `renewals`. Times the margin per period, it is the
    /// customer's expected residual lifetime value. `renewals = 0` is a customer who just made
    /// the first payment: `DEL(d) = 1 + DERL(d, 0)/(1+d)`.
    #[doc(alias = "expected_residual_lifetime")]
    fn discounted_expected_residual_lifetime(
        &self,
        d: f64,
        renewals: u32,
    ) -> Result<f64, ModelError>;

    /// `E[T] = Σ_{t≥0} S(t)`: the expected number of payments (periods subscribed) of a new
    /// customer; `f64::INFINITY` when the sum diverges.
    fn expected_lifetime(&self) -> Result<f64, ModelError> {
        self.discounted_expected_lifetime(0.0)
    }

    /// `E[T − renewals − 1 | T > renewals]`: the expected number of further payments
    /// (renewals) of a customer who has made `renewals` renewals; the undiscounted DERL.
    /// `f64::INFINITY` when the sum diverges.
    fn expected_remaining_lifetime(&self, renewals: u32) -> Result<f64, ModelError> {
        self.discounted_expected_residual_lifetime(0.0, renewals)
    }
}

/// Contractual models that can generate data, for tests, benchmarks and `northstar simulate`.
pub trait SimulateTenure {
    /// Draws one new customer's tenure, observed for `horizon` periods: churned at `T` when
    /// `T ≤ horizon`, else still active after `horizon` periods.
    fn simulate_tenure(&self, rng: &mut dyn RngCore, horizon: u32) -> Tenure;

    /// Simulates a cohort of `size` customers and returns the number still subscribed at
    /// periods `0..=periods` (the cohort form of the input).
    fn simulate_cohort(&self, rng: &mut dyn RngCore, size: u64, periods: u32) -> Vec<f64> {
        let mut churned_in = vec![0u64; periods as usize + 1];
        for _ in 0..size {
            let tenure = self.simulate_tenure(rng, periods);
            if tenure.churned() {
                churned_in[tenure.periods() as usize] += 1;
            }
        }
        let mut alive = size;
        (0..=periods as usize)
            .map(|t| {
                alive -= churned_in[t];
                alive as f64
            })
            .collect()
    }
}

/// Checks a discount rate: finite and ≥ 0.
pub(crate) fn check_discount_rate(d: f64) -> Result<f64, ModelError> {
    if d.is_finite() && d >= 0.0 {
        Ok(d)
    } else {
        Err(ModelError::InvalidParameter {
            name: "discount_rate",
            value: d,
            expected: "a finite rate ≥ 0 per period",
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Numerics: stable gamma-function ratios and the beta-power survival family
// ---------------------------------------------------------------------------------------------

/// Below this the gamma ratios are shifted up with the recurrence before the asymptotic series.
const ASYMPTOTIC_MIN: f64 = 10.0;

/// `B_{2k} / (2k(2k−1))`, `k = 1..7`: Stirling's series for `ln Γ`.
const LN_GAMMA_SERIES: [f64; 7] = [
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360360.0,
    1.0 / 156.0,
];

/// `B_{2k} / (2k)`, `k = 1..7`: the asymptotic series of the digamma function.
const DIGAMMA_SERIES: [f64; 7] = [
    1.0 / 12.0,
    -1.0 / 120.0,
    1.0 / 252.0,
    -1.0 / 240.0,
    1.0 / 132.0,
    -691.0 / 32760.0,
    1.0 / 12.0,
];

/// `ln Γ(x + a) − ln Γ(x)` for `x > 0`, `a ≥ 0`, accurate to a few ulps of the result even when
/// `x` is huge (where `ln_gamma(x + a) − ln_gamma(x)` loses all its digits) or `a` is tiny.
///
/// For `x < 10` the recurrence `Γ(y+1) = yΓ(y)` shifts `x` up (`Σ ln(1 + a/(x+j))`); then
/// Stirling's series is differenced term by term: `(y−½)·ln(1+a/y) + a·ln(y+a) − a +
/// Σ_k c_k y^{1−2k}·expm1((1−2k)·ln(1+a/y))`.
pub(crate) fn ln_gamma_ratio(x: f64, a: f64) -> f64 {
    if a == 0.0 {
        return 0.0;
    }
    if x.is_infinite() || a.is_infinite() {
        return f64::INFINITY;
    }
    let mut y = x;
    let mut shift = 0.0;
    while y < ASYMPTOTIC_MIN {
        shift += (a / y).ln_1p();
        y += 1.0;
    }
    let l = (a / y).ln_1p();
    let inv_y2 = 1.0 / (y * y);
    let mut power = 1.0 / y; // y^{1−2k}
    let mut series = 0.0;
    for (k, c) in LN_GAMMA_SERIES.iter().enumerate() {
        let m = 1.0 - 2.0 * (k as f64 + 1.0);
        series += c * power * (m * l).exp_m1();
        power *= inv_y2;
    }
    (y - 0.5) * l + a * (y + a).ln() - a + series - shift
}

/// `ψ(x + a) − ψ(x)` for `x > 0`, `a ≥ 0`, accurate when `x` is huge or `a` is tiny: the same
/// shift-then-asymptotic scheme as [`ln_gamma_ratio`] (of which it is the derivative in `x`).
pub(crate) fn digamma_difference(x: f64, a: f64) -> f64 {
    if a == 0.0 || x.is_infinite() {
        return 0.0;
    }
    if a.is_infinite() {
        return f64::INFINITY;
    }
    let mut y = x;
    let mut shift = 0.0;
    while y < ASYMPTOTIC_MIN {
        // ψ(y+1) = ψ(y) + 1/y, so ψ(x+a) − ψ(x) gains 1/(x+j) − 1/(x+a+j) per step.
        shift += a / (y * (y + a));
        y += 1.0;
    }
    let l = (a / y).ln_1p();
    let inv_y2 = 1.0 / (y * y);
    let mut power = inv_y2; // y^{−2k}
    let mut series = 0.0;
    for (k, c) in DIGAMMA_SERIES.iter().enumerate() {
        let m = -2.0 * (k as f64 + 1.0);
        series += c * power * (m * l).exp_m1();
        power *= inv_y2;
    }
    l + 0.5 * a / (y * (y + a)) - series + shift
}

/// The survival function `S(t) = B(α, β + t^c) / B(α, β)` of a beta mixture of discrete
/// Weibull (`c = 1`: geometric) lifetimes, for real `t ≥ 0`; used for the sums behind DEL and
/// DERL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BetaPowerSurvival {
    pub alpha: f64,
    pub beta: f64,
    pub c: f64,
}

/// Terms summed one by one before the tail is integrated.
const DIRECT_TERMS: u32 = 20_000;

impl BetaPowerSurvival {
    /// `ln S(t) = [ln Γ(α+β) − ln Γ(β)] − [ln Γ(α+β+u) − ln Γ(β+u)]`, `u = t^c`.
    pub fn ln_survival(&self, t: f64) -> f64 {
        let u = if self.c == 1.0 { t } else { t.powf(self.c) };
        ln_gamma_ratio(self.beta, self.alpha) - ln_gamma_ratio(self.beta + u, self.alpha)
    }

    /// `d ln S / dt`.
    fn d_ln_survival(&self, t: f64) -> f64 {
        let u = t.powf(self.c);
        -digamma_difference(self.beta + u, self.alpha) * self.c * u / t
    }

    /// `Σ_{k≥0} S(s+k)/S(s) · z^k` with `z = 1/(1+d)`, or `+∞` when it diverges (`d = 0` and
    /// `cα ≤ 1`, since `S(t) ~ A t^{−cα}`).
    ///
    /// The first 20 000 terms are summed directly; the sum stops early once the geometric bound
    /// on the rest (`term · z/(1−z)`, valid because `S` falls) is below 1e-16 of the total.
    /// Past that, the tail `Σ_{k≥K} f(s+k)` is `∫_{s+K−½}^∞ f + f'(s+K−½)/24` (midpoint rule with
    /// its first correction, relative error `O(K⁻⁴)`), the integral by 16-point Gauss–Legendre
    /// on panels that double in width (at most `4/ln(1+d)` wide); with `d = 0` the integration
    /// stops once `t^c` exceeds `10⁷(1 + α + β)`, and the rest uses the asymptotic form
    /// `S(t) ≈ A (t^c + h)^{−α}`, `h = β + (α−1)/2`.
    pub fn discounted_sum(&self, start: u32, d: f64) -> Result<f64, ModelError> {
        let BetaPowerSurvival { alpha, beta, c } = *self;
        let p = c * alpha;
        if d == 0.0 && p <= 1.0 {
            return Ok(f64::INFINITY);
        }
        let lambda = d.ln_1p(); // z^k = e^{−λk}
        let s = start as f64;
        let ln_s0 = self.ln_survival(s);
        let term = |t: f64| (self.ln_survival(t) - ln_s0 - lambda * (t - s)).exp();
        let ratio_bound = if d > 0.0 {
            (-lambda).exp() / -(-lambda).exp_m1() // z/(1−z) = 1/d
        } else {
            f64::INFINITY
        };
        let mut sum = 0.0;
        for k in 0..DIRECT_TERMS {
            let f = term(s + k as f64);
            sum += f;
            if f * ratio_bound < 1e-16 * sum || f == 0.0 {
                return Ok(sum);
            }
        }
        let x0 = s + DIRECT_TERMS as f64 - 0.5;
        let f_x0 = term(x0);
        let mut tail = f_x0 * (self.d_ln_survival(x0) - lambda) / 24.0;
        let nodes = gauss_legendre_16();
        let asymptotic_u = 1e7 * (1.0 + alpha + beta);
        let mut from = x0;
        let mut width = x0;
        if lambda > 0.0 {
            width = width.min(4.0 / lambda);
        }
        loop {
            let half = 0.5 * width;
            let middle = from + half;
            let panel: f64 = nodes
                .iter()
                .map(|&(x, w)| w * half * term(middle + half * x))
                .sum();
            tail += panel;
            from += width;
            if !from.is_finite() || from > 1e300 {
                return Err(ModelError::InvalidParameter {
                    name: "discount_rate",
                    value: d,
                    expected: "a rate at which the discounted lifetime converges numerically \
                               (the sum was still growing at t = 1e300)",
                });
            }
            let f_from = term(from);
            if lambda > 0.0 {
                // S falls, so what is left is below f(from)·∫ e^{−λ(t−from)} dt.
                if f_from / lambda < 1e-16 * (sum + tail) {
                    return Ok(sum + tail);
                }
            } else if from.powf(c) > asymptotic_u {
                // ∫_Y^∞ A(t^c + h)^{−α} dt ≈ A[Y^{1−p}/(p−1) − αh·Y^{1−p−c}/(p+c−1)].
                let h = beta + 0.5 * (alpha - 1.0);
                let ln_a = ln_gamma_ratio(beta, alpha) - ln_s0;
                let y = from;
                let rest = (ln_a + (1.0 - p) * y.ln()).exp()
                    * (1.0 / (p - 1.0) - alpha * h * y.powf(-c) / (p + c - 1.0));
                return Ok(sum + tail + rest);
            }
            width = if lambda > 0.0 {
                (2.0 * width).min(4.0 / lambda)
            } else {
                2.0 * width
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::special::{digamma, ln_gamma};

    #[test]
    fn gamma_ratios_match_direct_evaluation_where_that_is_accurate() {
        for &(x, a) in &[
            (0.3, 0.7),
            (1.0, 1.0),
            (2.5, 40.0),
            (9.99, 0.5),
            (10.0, 3.0),
            (55.0, 2.2),
            (0.01, 1000.0),
        ] {
            let direct = ln_gamma(x + a) - ln_gamma(x);
            let got = ln_gamma_ratio(x, a);
            assert!(
                (got - direct).abs() < 1e-12 * direct.abs().max(1.0),
                "ln Γ ratio at x={x}, a={a}: {got} vs {direct}"
            );
            let direct = digamma(x + a) - digamma(x);
            let got = digamma_difference(x, a);
            assert!(
                (got - direct).abs() < 1e-12 * direct.abs().max(1.0),
                "ψ difference at x={x}, a={a}: {got} vs {direct}"
            );
        }
    }

    #[test]
    fn gamma_ratios_keep_their_digits_for_huge_x_and_tiny_a() {
        // ln Γ(x+1) − ln Γ(x) = ln x exactly; ψ(x+1) − ψ(x) = 1/x.
        for x in [0.5, 3.0, 1e3, 1e8, 1e15] {
            assert!((ln_gamma_ratio(x, 1.0) - x.ln()).abs() < 1e-14 * x.ln().abs().max(1.0));
            assert!((digamma_difference(x, 1.0) - 1.0 / x).abs() < 1e-14 / x);
        }
        // a → 0: ln Γ(x+a) − ln Γ(x) ≈ a ψ(x); ψ(2) = 1 − γ_E.
        let psi2 = 1.0 - 0.577_215_664_901_532_9;
        let a = 1e-12;
        assert!((ln_gamma_ratio(2.0, a) / a - psi2).abs() < 1e-9);
        assert!((ln_gamma_ratio(1e6, 0.5) - 0.5 * (1e6f64 - 0.25).ln()).abs() < 1e-12);
    }

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let nodes = gauss_legendre_16();
        let total: f64 = nodes.iter().map(|&(_, w)| w).sum();
        assert!((total - 2.0).abs() < 1e-14);
        // ∫_{-1}^{1} x^30 dx = 2/31.
        let x30: f64 = nodes.iter().map(|&(x, w)| w * x.powi(30)).sum();
        assert!((x30 - 2.0 / 31.0).abs() < 1e-14);
    }

    #[test]
    fn discounted_sum_with_integrated_tail_matches_long_direct_sum() {
        // d = 1e-4 needs ~400 000 terms directly; the integrated tail starts at 20 000.
        let s = BetaPowerSurvival {
            alpha: 0.8,
            beta: 2.0,
            c: 1.3,
        };
        let d: f64 = 1e-4;
        let z = 1.0 / (1.0 + d);
        let direct: f64 = (0..2_000_000u32)
            .map(|t| (s.ln_survival(t as f64) + t as f64 * z.ln()).exp())
            .sum();
        let got = s.discounted_sum(0, d).unwrap();
        assert!((got - direct).abs() < 1e-10 * direct, "{got} vs {direct}");
    }

    #[test]
    fn undiscounted_sum_uses_the_asymptotic_tail_and_matches_the_sbg_closed_form() {
        // sBG (c = 1): Σ_{t≥0} S(t) = (α+β−1)/(α−1); α = 1.05 makes the tail fall like t^{-1.05}.
        for &(alpha, beta) in &[(1.05, 2.0), (3.0, 0.5), (1.5, 40.0)] {
            let s = BetaPowerSurvival {
                alpha,
                beta,
                c: 1.0,
            };
            let exact = (alpha + beta - 1.0) / (alpha - 1.0);
            let got = s.discounted_sum(0, 0.0).unwrap();
            assert!(
                (got - exact).abs() < 1e-9 * exact,
                "α={alpha} β={beta}: {got} vs {exact}"
            );
        }
        let divergent = BetaPowerSurvival {
            alpha: 2.0,
            beta: 1.0,
            c: 0.5,
        };
        assert_eq!(divergent.discounted_sum(0, 0.0).unwrap(), f64::INFINITY);
    }

    #[test]
    fn cohort_counts_become_churned_and_censored_rows() {
        let data = ContractualData::from_cohort_counts(&[
            (0.0, 100.0),
            (1.0, 60.0),
            (2.0, 60.0),
            (3.0, 30.0),
        ])
        .unwrap();
        let counts = data.tenure_counts();
        assert_eq!(
            counts,
            vec![
                (Tenure::churned_after(1).unwrap(), 40.0),
                (Tenure::active_after(3), 30.0),
                (Tenure::churned_after(3).unwrap(), 30.0),
            ]
        );
    }

    #[test]
    fn rejects_bad_cohort_tables_naming_the_period() {
        let gap = ContractualData::from_cohort_counts(&[(0.0, 10.0), (2.0, 5.0)]).unwrap_err();
        assert!(gap.to_string().contains("period"), "{gap}");
        let grows = ContractualData::from_cohort_counts(&[(0.0, 10.0), (1.0, 11.0)]).unwrap_err();
        assert!(grows.to_string().contains("at period 1"), "{grows}");
        assert!(ContractualData::from_cohort_counts(&[(0.0, 0.0)]).is_err());
        assert!(ContractualData::from_cohort_counts(&[(0.0, f64::NAN)]).is_err());
        assert!(ContractualData::from_cohort_counts(&[]).is_err());
    }

    #[test]
    fn rejects_bad_tenures() {
        assert!(Tenure::try_new(-1.0, 0.0).is_err());
        assert!(Tenure::try_new(f64::INFINITY, 0.0).is_err());
        assert!(Tenure::try_new(3.0, 0.5).is_err());
        assert!(Tenure::try_new(1e10, 1.0).is_err());
        assert_eq!(Tenure::try_new(0.0, 0.0).unwrap(), Tenure::active_after(0));
        assert!(
            ContractualData::from_tenures(&[Tenure::active_after(1)], Some(&[1.0, 2.0])).is_err()
        );
    }

    #[test]
    fn split_by_cohort_keeps_unlabelled_rows_apart() {
        let mut data = ContractualData::new();
        data.push(Tenure::active_after(2), 3.0, None).unwrap();
        data.push(Tenure::active_after(2), 1.0, Some("x")).unwrap();
        let parts = data.split_by_cohort();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].0.as_deref(), Some("x"));
        assert_eq!((parts[1].0.clone(), parts[1].1.total_weight()), (None, 3.0));
        assert_eq!(data.pooled().rows().len(), 1);
    }
}
