//! Property tests: on random subscription books, the month-end engine agrees exactly with a
//! naive evaluation of the definitions (every row checked against every month-end with
//! `PricedPeriod::is_active_on`), the MRR identity holds, segments add up to the whole, and
//! cohorts account for every new customer.

use chrono::NaiveDate;
use northstar_saas::{
    compute_cohorts, compute_metrics, compute_segment_metrics, CohortOptions, CustomerAttribute,
    Interval, MetricsOptions, Month, Mrr, PricedPeriod, SubscriptionBook,
};
use proptest::prelude::*;

/// (customer, start day offset, length in days or open, amount, interval, count, quantity)
type RawRow = (u8, u16, Option<u16>, u16, u8, u8, u8);

fn row_strategy() -> impl Strategy<Value = RawRow> {
    (
        0u8..6,
        0u16..700,
        prop::option::weighted(0.7, 0u16..400),
        0u16..300,
        0u8..4,
        1u8..4,
        0u8..5,
    )
}

fn period(row: &RawRow) -> PricedPeriod {
    let base = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    let start = base + chrono::Days::new(row.1 as u64);
    let end = row.2.map(|len| start + chrono::Days::new(len as u64));
    let interval = [
        Interval::Day,
        Interval::Week,
        Interval::Month,
        Interval::Year,
    ][row.4 as usize];
    PricedPeriod::try_new(
        start,
        end,
        row.3 as f64 * 0.25,
        interval,
        row.5 as u32,
        row.6 as f64,
    )
    .unwrap()
}

fn build(rows: &[RawRow]) -> (SubscriptionBook, Vec<(String, PricedPeriod)>) {
    let mut builder = SubscriptionBook::builder();
    let mut list = Vec::new();
    for r in rows {
        let id = format!("c{}", r.0);
        let p = period(r);
        builder.push(&id, &p);
        list.push((id, p));
    }
    (builder.finish(), list)
}

/// A customer's MRR at the end of `month`, straight from the definition.
fn naive_mrr(list: &[(String, PricedPeriod)], customer: &str, month: Month) -> Mrr {
    let day = month.last_day();
    list.iter()
        .filter(|(id, p)| id == customer && p.is_active_on(day))
        .map(|(_, p)| Mrr::from_f64(p.mrr()).unwrap())
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_matches_the_naive_definition_exactly(rows in prop::collection::vec(row_strategy(), 1..25)) {
        let (book, list) = build(&rows);
        let Some(first) = book.first_mrr_month() else { return Ok(()); };
        let to = book.latest_start().unwrap().offset(3);
        let months = compute_metrics(&book, &MetricsOptions { to: Some(to), ..Default::default() }).unwrap();
        let customers: Vec<String> = (0..book.customers()).map(|c| book.customer_id(c).to_string()).collect();
        // Every customer's MRR at every month-end from well before the first month.
        let history_start = first.offset(-2);
        let n = to.months_since(history_start) as usize + 1;
        let snap: Vec<Vec<Mrr>> = customers
            .iter()
            .map(|c| (0..n).map(|k| naive_mrr(&list, c, history_start.offset(k as i32))).collect())
            .collect();
        let at = |c: usize, m: Month| snap[c][m.months_since(history_start) as usize];
        for m in &months {
            let mut expect = (Mrr::ZERO, 0u64, Mrr::ZERO, Mrr::ZERO, Mrr::ZERO, Mrr::ZERO, Mrr::ZERO);
            let (mut new_c, mut churn_c, mut react_c) = (0u64, 0u64, 0u64);
            for (c, history) in snap.iter().enumerate() {
                let p = at(c, m.month.offset(-1));
                let q = at(c, m.month);
                if q.is_positive() { expect.0 += q; expect.1 += 1; }
                let before = m.month.offset(-1).months_since(history_start) as usize;
                let had = history[..before].iter().any(|v| v.is_positive());
                match (p.is_positive(), q.is_positive()) {
                    (false, true) if had => { expect.6 += q; react_c += 1; }
                    (false, true) => { expect.2 += q; new_c += 1; }
                    (true, false) => { expect.5 += p; churn_c += 1; }
                    (true, true) if q > p => expect.3 += q - p,
                    (true, true) if q < p => expect.4 += p - q,
                    _ => {}
                }
            }
            // nrr_12m from the customers with MRR twelve month-ends earlier.
            let year_ago = m.month.offset(-12);
            let (mut base, mut retained) = (Mrr::ZERO, Mrr::ZERO);
            if year_ago >= history_start {
                for c in 0..customers.len() {
                    if at(c, year_ago).is_positive() {
                        base += at(c, year_ago);
                        retained += at(c, m.month);
                    }
                }
            }
            prop_assert_eq!(m.nrr_12m, retained.ratio(base), "{}", m.month);
            let e = &m.exact;
            prop_assert_eq!(e.mrr, expect.0, "{}", m.month);
            prop_assert_eq!(m.customers, expect.1);
            prop_assert_eq!((e.new, e.expansion, e.contraction, e.churned, e.reactivation),
                (expect.2, expect.3, expect.4, expect.5, expect.6), "{}", m.month);
            prop_assert_eq!((m.new_customers, m.churned_customers, m.reactivated_customers), (new_c, churn_c, react_c));
            prop_assert!(e.identity_holds());
            for rate in [m.arpa, m.logo_churn_rate, m.gross_mrr_churn_rate, m.net_mrr_churn_rate, m.nrr, m.grr, m.nrr_12m, m.quick_ratio, m.ltv].into_iter().flatten() {
                prop_assert!(rate.is_finite());
            }
        }
    }

    #[test]
    fn segments_add_up_and_cohorts_account_for_new_customers(rows in prop::collection::vec(row_strategy(), 1..25)) {
        let (book, _) = build(&rows);
        if book.first_mrr_month().is_none() { return Ok(()); }
        let options = MetricsOptions::default();
        let total = compute_metrics(&book, &options).unwrap();
        let attr = CustomerAttribute::new("parity", [("c0", "even"), ("c2", "even"), ("c4", "even"), ("c1", "odd")]);
        let segments = compute_segment_metrics(&book, &attr, &options).unwrap();
        for (i, t) in total.iter().enumerate() {
            let mrr: Mrr = segments.iter().map(|s| s.months[i].exact.mrr).sum();
            prop_assert_eq!(mrr, t.exact.mrr);
            let churned: Mrr = segments.iter().map(|s| s.months[i].exact.churned).sum();
            prop_assert_eq!(churned, t.exact.churned);
            let new: u64 = segments.iter().map(|s| s.months[i].new_customers).sum();
            prop_assert_eq!(new, t.new_customers);
        }
        let cohorts = compute_cohorts(&book, &CohortOptions::default()).unwrap();
        for t in &total {
            let size = cohorts.iter().find(|c| c.cohort == t.month).map_or(0, |c| c.size);
            prop_assert_eq!(size, t.new_customers);
            let active: u64 = cohorts
                .iter()
                .filter(|c| c.cohort <= t.month)
                .map(|c| c.active[t.month.months_since(c.cohort) as usize])
                .sum();
            prop_assert_eq!(active, t.customers);
        }
    }
}
