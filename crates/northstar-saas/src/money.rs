//! Exact MRR arithmetic.
//!
//! Every MRR figure is held as an integer number of pico-units (10⁻¹² of the currency unit) in
//! an `i128`. Each subscription row's MRR is computed once in `f64`, exactly as the definition
//! reads (`amount × quantity / (interval_count × months per interval)`), and rounded to the
//! nearest pico-unit; from there on, customer MRRs, movements and totals are integer sums. So
//! `MRR(M) = MRR(M−1) + new + expansion + reactivation − contraction − churn` holds exactly,
//! and the figures differ from a pure-`f64` computation of the same definitions by at most
//! 5 × 10⁻¹³ per row (plus that computation's own rounding), far below 10⁻⁶ relative.
//! An `i128` of pico-units holds up to 1.7 × 10²⁶ currency units, so no realistic sum overflows
//! (rows are limited to [`Mrr::MAX_ROW`]).

use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// An amount of monthly recurring revenue, held exactly in integer pico-units (10⁻¹²) of the
/// currency.
///
/// ```
/// use northstar_saas::Mrr;
/// let a = Mrr::from_f64(499.0 / 12.0).unwrap();
/// let b = Mrr::from_f64(0.1).unwrap();
/// let c = Mrr::from_f64(0.2).unwrap();
/// assert_eq!(b + c, Mrr::from_f64(0.3).unwrap()); // exact, unlike 0.1 + 0.2 in f64
/// assert_eq!(a + b - b, a);
/// assert!((a.to_f64() - 41.583333333333).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mrr(i128);

/// Pico-units per currency unit.
const SCALE: f64 = 1e12;

impl Mrr {
    /// Zero.
    pub const ZERO: Mrr = Mrr(0);

    /// The largest MRR one subscription row may have, 10¹⁵ currency units.
    pub const MAX_ROW: f64 = 1e15;

    /// Rounds a non-negative, finite amount to the nearest pico-unit. A positive amount too
    /// small to show is kept as one pico-unit, so that "has MRR" never depends on rounding.
    /// Returns `None` for a negative or non-finite amount, or one above [`Mrr::MAX_ROW`].
    ///
    /// ```
    /// use northstar_saas::Mrr;
    /// assert_eq!(Mrr::from_f64(1.5).unwrap().pico(), 1_500_000_000_000);
    /// assert!(Mrr::from_f64(1e-20).unwrap().is_positive());
    /// assert!(Mrr::from_f64(-1.0).is_none());
    /// ```
    pub fn from_f64(value: f64) -> Option<Mrr> {
        if !(0.0..=Self::MAX_ROW).contains(&value) {
            return None;
        }
        let pico = (value * SCALE).round() as i128;
        Some(Mrr(if pico == 0 && value > 0.0 { 1 } else { pico }))
    }

    /// From a number of pico-units.
    ///
    /// ```
    /// assert_eq!(northstar_saas::Mrr::from_pico(2_500_000_000_000).to_f64(), 2.5);
    /// ```
    pub fn from_pico(pico: i128) -> Mrr {
        Mrr(pico)
    }

    /// The number of pico-units.
    ///
    /// ```
    /// assert_eq!(northstar_saas::Mrr::from_f64(0.25).unwrap().pico(), 250_000_000_000);
    /// ```
    pub fn pico(self) -> i128 {
        self.0
    }

    /// The amount in currency units, rounded to the nearest `f64`.
    ///
    /// ```
    /// assert_eq!(northstar_saas::Mrr::from_f64(49.99).unwrap().to_f64(), 49.99);
    /// ```
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE
    }

    /// Whether the amount is above zero.
    ///
    /// ```
    /// assert!(!northstar_saas::Mrr::ZERO.is_positive());
    /// ```
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Whether the amount is zero.
    ///
    /// ```
    /// assert!(northstar_saas::Mrr::ZERO.is_zero());
    /// ```
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self / denominator` as `f64`, or `None` when the denominator is zero.
    ///
    /// ```
    /// use northstar_saas::Mrr;
    /// let a = Mrr::from_f64(3.0).unwrap();
    /// assert_eq!(a.ratio(Mrr::from_f64(4.0).unwrap()), Some(0.75));
    /// assert_eq!(a.ratio(Mrr::ZERO), None);
    /// ```
    pub fn ratio(self, denominator: Mrr) -> Option<f64> {
        (denominator.0 != 0).then(|| self.0 as f64 / denominator.0 as f64)
    }

    /// `self × k` exactly.
    ///
    /// ```
    /// use northstar_saas::Mrr;
    /// assert_eq!(Mrr::from_f64(1.25).unwrap().times(12).to_f64(), 15.0);
    /// ```
    pub fn times(self, k: i128) -> Mrr {
        Mrr(self.0 * k)
    }
}

impl Add for Mrr {
    type Output = Mrr;
    fn add(self, rhs: Mrr) -> Mrr {
        Mrr(self.0 + rhs.0)
    }
}

impl Sub for Mrr {
    type Output = Mrr;
    fn sub(self, rhs: Mrr) -> Mrr {
        Mrr(self.0 - rhs.0)
    }
}

impl Neg for Mrr {
    type Output = Mrr;
    fn neg(self) -> Mrr {
        Mrr(-self.0)
    }
}

impl AddAssign for Mrr {
    fn add_assign(&mut self, rhs: Mrr) {
        self.0 += rhs.0;
    }
}

impl SubAssign for Mrr {
    fn sub_assign(&mut self, rhs: Mrr) {
        self.0 -= rhs.0;
    }
}

impl Sum for Mrr {
    fn sum<I: Iterator<Item = Mrr>>(iter: I) -> Mrr {
        iter.fold(Mrr::ZERO, Add::add)
    }
}
