//! The customer summary every purchase model consumes, validated at construction, and its
//! compressed form for fitting.

use crate::ModelError;
use rustc_hash::FxHashMap as HashMap;

/// One customer's recency-frequency-monetary summary (times in the data's time unit).
///
/// Only valid records can be built: `frequency` is a whole number ≥ 0, `0 ≤ recency ≤ T`,
/// `recency = 0` when `frequency = 0`, and `monetary_value`, when given, is finite, ≥ 0 and
/// > 0 when `frequency > 0`.
///
/// ```
/// use northstar_models::Rfm;
/// let c = Rfm::try_new(2.0, 30.43, 38.86, Some(22.35)).unwrap();
/// assert_eq!(c.frequency(), 2.0);
/// assert!(Rfm::try_new(2.0, 40.0, 38.86, None).is_err()); // recency > T
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rfm {
    frequency: f64,
    recency: f64,
    t: f64,
    monetary_value: Option<f64>,
}

impl Rfm {
    /// Validates and builds a record.
    pub fn try_new(
        frequency: f64,
        recency: f64,
        t: f64,
        monetary_value: Option<f64>,
    ) -> Result<Self, ModelError> {
        let bad = |field, value, expected: String| {
            Err(ModelError::InvalidRfm {
                field,
                value,
                expected,
            })
        };
        if !(frequency.is_finite() && frequency >= 0.0 && frequency.fract() == 0.0) {
            return bad("frequency", frequency, "a whole number ≥ 0".into());
        }
        if !(t.is_finite() && t >= 0.0) {
            return bad("T", t, "a finite number ≥ 0".into());
        }
        if !(recency.is_finite() && recency >= 0.0 && recency <= t) {
            return bad(
                "recency",
                recency,
                format!("a number between 0 and T = {t}"),
            );
        }
        if frequency == 0.0 && recency != 0.0 {
            return bad(
                "recency",
                recency,
                "0 when frequency is 0 (recency is the time from the first to the last purchase)"
                    .into(),
            );
        }
        if let Some(m) = monetary_value {
            if !(m.is_finite() && m >= 0.0) {
                return bad("monetary_value", m, "a finite number ≥ 0".into());
            }
            if frequency > 0.0 && m == 0.0 {
                return bad(
                    "monetary_value",
                    m,
                    "> 0 when frequency > 0 (the mean spend of the repeat purchases)".into(),
                );
            }
        }
        Ok(Self {
            frequency,
            recency,
            t,
            monetary_value,
        })
    }

    /// Number of repeat purchases (`x`).
    pub fn frequency(&self) -> f64 {
        self.frequency
    }
    /// Time from the first to the last purchase (`t_x`).
    pub fn recency(&self) -> f64 {
        self.recency
    }
    /// Time from the first purchase to the end of observation (`T`).
    #[allow(non_snake_case)]
    pub fn T(&self) -> f64 {
        self.t
    }
    /// Mean spend of the repeat purchases, when known.
    pub fn monetary_value(&self) -> Option<f64> {
        self.monetary_value
    }
}

/// Checks a row weight: finite and > 0.
pub fn validate_weight(weight: f64) -> Result<f64, ModelError> {
    if weight.is_finite() && weight > 0.0 {
        Ok(weight)
    } else {
        Err(ModelError::InvalidRfm {
            field: "weight",
            value: weight,
            expected: "a finite number > 0".into(),
        })
    }
}

/// Identical `(frequency, recency, T)` rows compressed into weights, with the distinct values of
/// each column listed once so that per-value work (`ln Γ(r+x)`, `ln(α+T)`) is done once.
#[derive(Debug, Clone)]
pub struct CompressedRfm {
    /// Distinct frequencies.
    pub frequencies: Vec<f64>,
    /// Distinct recencies.
    pub recencies: Vec<f64>,
    /// Distinct `T` values.
    pub ts: Vec<f64>,
    /// Rows as indices into the three tables, with their total weight.
    pub rows: Vec<CompressedRow>,
    /// Sum of all weights (the number of customers when unweighted).
    pub total_weight: f64,
}

/// One distinct `(frequency, recency, T)` combination.
#[derive(Debug, Clone, Copy)]
pub struct CompressedRow {
    /// Index into [`CompressedRfm::frequencies`].
    pub x: u32,
    /// Index into [`CompressedRfm::recencies`].
    pub t_x: u32,
    /// Index into [`CompressedRfm::ts`].
    pub t: u32,
    /// Total weight of the customers with these values.
    pub weight: f64,
}

/// Maps each distinct value (by bit pattern) to a dense index.
struct Interner {
    index: HashMap<u64, u32>,
    values: Vec<f64>,
}

impl Interner {
    fn new() -> Self {
        Self {
            index: HashMap::default(),
            values: Vec::new(),
        }
    }
    fn intern(&mut self, v: f64) -> u32 {
        let next = self.values.len() as u32;
        let id = *self.index.entry(v.to_bits()).or_insert(next);
        if id == next {
            self.values.push(v);
        }
        id
    }
}

impl CompressedRfm {
    /// Compresses customers; `weights` (one per customer) default to 1.
    ///
    /// ```
    /// use northstar_models::{CompressedRfm, Rfm};
    /// let c = Rfm::try_new(1.0, 2.0, 5.0, None).unwrap();
    /// let data = CompressedRfm::new(&[c, c, c], None);
    /// assert_eq!(data.rows.len(), 1);
    /// assert_eq!(data.total_weight, 3.0);
    /// ```
    pub fn new(customers: &[Rfm], weights: Option<&[f64]>) -> Self {
        Self::with_customer_rows(customers, weights).0
    }

    /// Like [`CompressedRfm::new`], also returning each customer's row index, so that
    /// predictions computed once per distinct row can be mapped back to customers.
    ///
    /// ```
    /// use northstar_models::{CompressedRfm, Rfm};
    /// let a = Rfm::try_new(1.0, 2.0, 5.0, None).unwrap();
    /// let b = Rfm::try_new(0.0, 0.0, 5.0, None).unwrap();
    /// let (data, rows) = CompressedRfm::with_customer_rows(&[a, b, a], None);
    /// assert_eq!(rows, vec![0, 1, 0]);
    /// assert_eq!(data.row_rfm(0), a);
    /// ```
    pub fn with_customer_rows(customers: &[Rfm], weights: Option<&[f64]>) -> (Self, Vec<u32>) {
        let mut xs = Interner::new();
        let mut txs = Interner::new();
        let mut ts = Interner::new();
        let mut row_index: HashMap<[u64; 3], u32> = HashMap::default();
        let mut rows: Vec<CompressedRow> = Vec::new();
        let mut customer_rows = Vec::with_capacity(customers.len());
        let mut total_weight = 0.0;
        for (i, c) in customers.iter().enumerate() {
            let w = weights.map_or(1.0, |w| w[i]);
            total_weight += w;
            let key = [c.frequency.to_bits(), c.recency.to_bits(), c.t.to_bits()];
            let r = *row_index.entry(key).or_insert_with(|| {
                rows.push(CompressedRow {
                    x: xs.intern(c.frequency),
                    t_x: txs.intern(c.recency),
                    t: ts.intern(c.t),
                    weight: 0.0,
                });
                rows.len() as u32 - 1
            });
            rows[r as usize].weight += w;
            customer_rows.push(r);
        }
        let data = Self {
            frequencies: xs.values,
            recencies: txs.values,
            ts: ts.values,
            rows,
            total_weight,
        };
        (data, customer_rows)
    }

    /// The summary (without monetary value) of distinct row `index`.
    pub fn row_rfm(&self, index: usize) -> Rfm {
        let row = self.rows[index];
        // The values were taken from valid records, so they still satisfy every rule.
        Rfm {
            frequency: self.frequencies[row.x as usize],
            recency: self.recencies[row.t_x as usize],
            t: self.ts[row.t as usize],
            monetary_value: None,
        }
    }
}
