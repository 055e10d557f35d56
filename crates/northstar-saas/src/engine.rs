//! The one pass over customers that every report is built from.
//!
//! For each customer, the rows are turned into a difference array over the months of the range
//! (`+mrr` at the first month-end a row is active, `−mrr` at the first month-end it no longer
//! is); a running sum then gives the customer's MRR at each month-end exactly once, from their
//! first active month to the month after their last. Each month's figures are sums over
//! customers of values computed from that customer's previous and current MRR, so the work is
//! O(rows + customers × active months) and every movement comes from the same two integers as
//! the MRR totals. Customers are split into chunks processed in parallel; the per-chunk sums
//! are added at the end (integer sums, so the order does not matter).

use crate::money::Mrr;
use crate::month::Month;
use crate::subscription::SubscriptionBook;
use rayon::prelude::*;

/// Sums over the customers of one group, for the months `first ..= first + n − 1`.
/// Month index `i` is `first + i`; the month before `first` has no MRR (see [`Range`]).
#[derive(Debug, Clone)]
pub(crate) struct Accumulator {
    pub mrr: Vec<Mrr>,
    pub customers: Vec<u64>,
    pub new: Vec<Mrr>,
    pub expansion: Vec<Mrr>,
    pub contraction: Vec<Mrr>,
    pub churned: Vec<Mrr>,
    pub reactivation: Vec<Mrr>,
    pub new_customers: Vec<u64>,
    pub churned_customers: Vec<u64>,
    pub reactivated_customers: Vec<u64>,
    /// Σ over customers with MRR at month `i − 12` of their MRR at month `i`.
    pub retained_12m: Vec<Mrr>,
    /// Per cohort month `c` (when requested): customers of cohort `c` with MRR at month
    /// `c + k`, and their MRR, for `k = 0 .. n − c`.
    pub cohorts: Option<Vec<CohortSums>>,
    /// Customers of this group with MRR at some month-end of the range.
    pub ever_active: u64,
}

/// One cohort's counts and MRR by months since the cohort month.
#[derive(Debug, Clone, Default)]
pub(crate) struct CohortSums {
    pub active: Vec<u64>,
    pub mrr: Vec<Mrr>,
}

impl Accumulator {
    fn new(n: usize, cohorts: bool) -> Accumulator {
        Accumulator {
            mrr: vec![Mrr::ZERO; n],
            customers: vec![0; n],
            new: vec![Mrr::ZERO; n],
            expansion: vec![Mrr::ZERO; n],
            contraction: vec![Mrr::ZERO; n],
            churned: vec![Mrr::ZERO; n],
            reactivation: vec![Mrr::ZERO; n],
            new_customers: vec![0; n],
            churned_customers: vec![0; n],
            reactivated_customers: vec![0; n],
            retained_12m: vec![Mrr::ZERO; n],
            cohorts: cohorts.then(|| vec![CohortSums::default(); n]),
            ever_active: 0,
        }
    }

    fn merge(&mut self, other: &Accumulator) {
        fn add<T: Copy + std::ops::AddAssign>(a: &mut [T], b: &[T]) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += *y;
            }
        }
        add(&mut self.mrr, &other.mrr);
        add(&mut self.customers, &other.customers);
        add(&mut self.new, &other.new);
        add(&mut self.expansion, &other.expansion);
        add(&mut self.contraction, &other.contraction);
        add(&mut self.churned, &other.churned);
        add(&mut self.reactivation, &other.reactivation);
        add(&mut self.new_customers, &other.new_customers);
        add(&mut self.churned_customers, &other.churned_customers);
        add(
            &mut self.reactivated_customers,
            &other.reactivated_customers,
        );
        add(&mut self.retained_12m, &other.retained_12m);
        if let (Some(mine), Some(theirs)) = (&mut self.cohorts, &other.cohorts) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                if a.active.is_empty() {
                    a.active.clone_from(&b.active);
                    a.mrr.clone_from(&b.mrr);
                } else if !b.active.is_empty() {
                    add(&mut a.active, &b.active);
                    add(&mut a.mrr, &b.mrr);
                }
            }
        }
        self.ever_active += other.ever_active;
    }

    /// Number of months.
    pub fn len(&self) -> usize {
        self.mrr.len()
    }
}

/// The months a report is computed over: `first ..= last`. `first` is never later than the
/// first month with MRR, so no customer has MRR before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    pub first: Month,
    pub last: Month,
}

impl Range {
    pub fn len(&self) -> usize {
        (self.last.months_since(self.first) + 1).max(0) as usize
    }
}

/// Per-worker scratch space: the difference array and the customer's MRR history.
struct Scratch {
    diff: Vec<Mrr>,
    history: Vec<Mrr>,
}

/// Runs the pass. `groups` maps each customer to a group (`0..n_groups`); without it there is
/// one group.
pub(crate) fn accumulate(
    book: &SubscriptionBook,
    range: Range,
    groups: Option<(&[u32], usize)>,
    cohorts: bool,
) -> Vec<Accumulator> {
    let n = range.len();
    let n_groups = groups.map_or(1, |(_, k)| k);
    let customers = book.customers();
    let threads = rayon::current_num_threads().max(1);
    let chunk = customers.div_ceil(threads * 4).max(4096);
    let starts: Vec<usize> = (0..customers).step_by(chunk).collect();
    let partials: Vec<Vec<Accumulator>> = starts
        .par_iter()
        .map(|&start| {
            let mut accs: Vec<Accumulator> = (0..n_groups)
                .map(|_| Accumulator::new(n, cohorts))
                .collect();
            let mut scratch = Scratch {
                diff: vec![Mrr::ZERO; n + 1],
                history: vec![Mrr::ZERO; n],
            };
            for c in start..(start + chunk).min(customers) {
                let g = groups.map_or(0, |(of, _)| of[c] as usize);
                add_customer(&mut accs[g], book, c, range, &mut scratch);
            }
            accs
        })
        .collect();
    let mut total: Vec<Accumulator> = (0..n_groups)
        .map(|_| Accumulator::new(n, cohorts))
        .collect();
    for part in &partials {
        for (t, p) in total.iter_mut().zip(part) {
            t.merge(p);
        }
    }
    total
}

/// Adds one customer's month-end MRRs and movements to `acc`.
#[inline]
fn add_customer(
    acc: &mut Accumulator,
    book: &SubscriptionBook,
    c: usize,
    range: Range,
    scratch: &mut Scratch,
) {
    let n = acc.len();
    if n == 0 {
        return;
    }
    let first = range.first.index();
    let last = range.last.index();
    let diff = &mut scratch.diff;
    let (mut lo, mut hi) = (n, 0usize);
    for span in book.spans_of(c) {
        if span.start > last {
            continue;
        }
        // `first` is never after the first month with MRR, so `span.start >= first`.
        let a = (span.start.max(first) - first) as usize;
        let b = if span.end > last {
            n
        } else {
            (span.end - first).max(0) as usize
        };
        if b <= a {
            continue;
        }
        let v = Mrr::from_f64(span.mrr).unwrap_or(Mrr::ZERO);
        diff[a] += v;
        diff[b] -= v;
        lo = lo.min(a);
        hi = hi.max(b);
    }
    if lo >= hi {
        diff[n] = Mrr::ZERO;
        return;
    }
    acc.ever_active += 1;
    // Up to and including the month the customer's MRR drops to zero (their churn month).
    let end = hi.min(n - 1);
    let history = &mut scratch.history;
    let mut q = Mrr::ZERO;
    let mut p = Mrr::ZERO;
    let mut had_mrr = false;
    let mut cohort: Option<usize> = None;
    for i in lo..=end {
        q += diff[i];
        diff[i] = Mrr::ZERO;
        history[i] = q;
        let active = q.is_positive();
        if active {
            acc.mrr[i] += q;
            acc.customers[i] += 1;
        }
        match (p.is_positive(), active) {
            (false, true) => {
                if had_mrr {
                    acc.reactivation[i] += q;
                    acc.reactivated_customers[i] += 1;
                } else {
                    acc.new[i] += q;
                    acc.new_customers[i] += 1;
                }
            }
            (true, false) => {
                acc.churned[i] += p;
                acc.churned_customers[i] += 1;
            }
            (true, true) => {
                if q > p {
                    acc.expansion[i] += q - p;
                } else if q < p {
                    acc.contraction[i] += p - q;
                }
            }
            (false, false) => {}
        }
        if i >= lo + 12 && history[i - 12].is_positive() {
            acc.retained_12m[i] += q;
        }
        if active {
            had_mrr = true;
            if let Some(cohorts) = &mut acc.cohorts {
                let c0 = *cohort.get_or_insert(i);
                let sums = &mut cohorts[c0];
                if sums.active.is_empty() {
                    sums.active = vec![0; n - c0];
                    sums.mrr = vec![Mrr::ZERO; n - c0];
                }
                sums.active[i - c0] += 1;
                sums.mrr[i - c0] += q;
            }
        }
        p = q;
    }
    diff[n] = Mrr::ZERO;
}
