//! Hand-computed fixtures: every figure below was worked out by hand from the definitions in
//! the SaaS issue (month-end snapshots), and is checked to 1e-12 relative.

use northstar_saas::{
    add_acquisition, add_blended_acquisition, compute_cohorts, compute_metrics,
    compute_segment_metrics, read_subscriptions_from, CohortOptions, CustomerAttribute,
    MarketingSpend, MetricsOptions, Month, MonthMetrics, SubscriptionBook,
};

/// Fixture A, 2024-01 … 2024-06 (W = 7 × 30.4375 / 7 = 30.4375, the MRR of $7 a week):
///
/// | customer | rows | MRR Jan Feb Mar Apr May Jun |
/// |---|---|---|
/// | A | $100/month, 1 seat from 01-10, 2 seats from 03-01 | 100 100 200 200 200 200 |
/// | B | $1200/year from 01-15; $150 per 3 months from 04-01 | 100 100 100 50 50 50 |
/// | C | $7/week 02-05 → 04-20; $14/week from 06-02 | 0 W W 0 0 2W |
/// | D | $500/month 02-03 → 02-25 (within one month: never shows) | 0 0 0 0 0 0 |
/// | E | free from 01-01; $20/month from 05-10 | 0 0 0 0 20 20 |
/// | F | $40/month 01-31 → 03-31 (end date = first day not active) | 40 40 0 0 0 0 |
pub const FIXTURE_A: &str = "\
customer_id,subscription_id,plan,start_date,end_date,amount,interval,interval_count,quantity
A,a1,team,2024-01-10,2024-03-01,100,month,1,1
B,b1,pro-annual,2024-01-15,2024-04-01,1200,year,1,1
F,f1,basic,2024-01-31,2024-03-31,40,month,1,1
E,e1,free,2024-01-01,2024-05-10,0,month,1,1
C,c1,weekly,2024-02-05,2024-04-20,7,week,1,1
D,d1,big,2024-02-03,2024-02-25,500,month,1,1
A,a1,team,2024-03-01,,100,month,1,2
B,b1,pro-quarterly,2024-04-01,,150,month,3,1
E,e1,starter,2024-05-10,,20,month,1,
C,c2,weekly,2024-06-02,,14,week,1,1
";

const W: f64 = 30.4375;

fn book(csv: &str) -> SubscriptionBook {
    read_subscriptions_from(csv.as_bytes(), "fixture.csv".as_ref()).unwrap()
}

fn month(s: &str) -> Month {
    s.parse().unwrap()
}

#[track_caller]
fn close(got: f64, want: f64) {
    let scale = want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= 1e-12 * scale,
        "got {got}, want {want}"
    );
}

#[track_caller]
fn close_opt(got: Option<f64>, want: Option<f64>) {
    match (got, want) {
        (Some(g), Some(w)) => close(g, w),
        (None, None) => {}
        _ => panic!("got {got:?}, want {want:?}"),
    }
}

fn metrics_a() -> Vec<MonthMetrics> {
    compute_metrics(&book(FIXTURE_A), &MetricsOptions::default()).unwrap()
}

#[test]
fn default_range_runs_from_first_mrr_month_to_latest_start_month() {
    let months = metrics_a();
    let names: Vec<String> = months.iter().map(|m| m.month.to_string()).collect();
    assert_eq!(
        names,
        ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
    );
}

#[test]
fn mrr_and_customers_at_each_month_end() {
    let months = metrics_a();
    let mrr: Vec<f64> = months.iter().map(|m| m.mrr).collect();
    let want = [240.0, 240.0 + W, 300.0 + W, 250.0, 270.0, 270.0 + 2.0 * W];
    for (g, w) in mrr.iter().zip(want) {
        close(*g, w);
    }
    let customers: Vec<u64> = months.iter().map(|m| m.customers).collect();
    assert_eq!(customers, [3, 4, 3, 2, 3, 4]);
    close(months[0].arr, 12.0 * 240.0);
    close_opt(months[0].arpa, Some(80.0));
    close_opt(months[3].arpa, Some(125.0));
}

#[test]
fn every_movement_type_with_its_amount_and_count() {
    let m = metrics_a();
    // January: the first month, nothing before it: A, B, F are new.
    assert_eq!((m[0].new_mrr, m[0].new_customers), (240.0, 3));
    // February: C is new (weekly plan); D starts and ends within February and never shows.
    assert_eq!((m[1].new_mrr, m[1].new_customers), (W, 1));
    // March: A goes to 2 seats (expansion 100); F's end date is March 31, so it churns in March.
    assert_eq!(m[2].expansion_mrr, 100.0);
    assert_eq!((m[2].churned_mrr, m[2].churned_customers), (40.0, 1));
    // April: B moves from annual $1200 to quarterly $150 (contraction 100 − 50); C churns.
    assert_eq!(m[3].contraction_mrr, 50.0);
    assert_eq!((m[3].churned_mrr, m[3].churned_customers), (W, 1));
    // May: E leaves the free plan; it never had MRR, so it is new, not a reactivation.
    assert_eq!(
        (m[4].new_mrr, m[4].new_customers, m[4].reactivated_customers),
        (20.0, 1, 0)
    );
    // June: C comes back at $14 a week: a reactivation.
    assert_eq!(
        (m[5].reactivation_mrr, m[5].reactivated_customers),
        (2.0 * W, 1)
    );
    assert_eq!(m[5].new_customers, 0);
    // Months with no movement of a kind have zero of it.
    assert_eq!(
        (m[0].expansion_mrr, m[0].churned_mrr, m[1].contraction_mrr),
        (0.0, 0.0, 0.0)
    );
}

#[test]
fn mrr_identity_holds_exactly_on_every_month() {
    let months = metrics_a();
    let mut previous = northstar_saas::Mrr::ZERO;
    for m in &months {
        assert!(m.exact.identity_holds(), "{}", m.month);
        assert_eq!(m.exact.previous_mrr, previous, "{}", m.month);
        previous = m.exact.mrr;
    }
    // The first month's previous MRR is zero.
    assert!(months[0].exact.previous_mrr.is_zero());
}

#[test]
fn first_month_has_null_rates_and_later_months_hand_computed_rates() {
    let m = metrics_a();
    // January: MRR(M−1) = 0 and customers(M−1) = 0: every rate is undefined.
    for rate in [
        m[0].logo_churn_rate,
        m[0].gross_mrr_churn_rate,
        m[0].net_mrr_churn_rate,
        m[0].nrr,
        m[0].grr,
        m[0].nrr_12m,
        m[0].quick_ratio,
        m[0].ltv,
    ] {
        assert_eq!(rate, None);
    }
    // February: nothing lost: churn 0, NRR = GRR = 1, quick ratio undefined (0 lost).
    close_opt(m[1].logo_churn_rate, Some(0.0));
    close_opt(m[1].nrr, Some(1.0));
    close_opt(m[1].grr, Some(1.0));
    assert_eq!(m[1].quick_ratio, None);
    // February's mean churn is 0, so the LTV is undefined (not infinite).
    assert_eq!(m[1].ltv, None);
    // March: previous MRR 240 + W, previous customers 4.
    let p = 240.0 + W;
    close_opt(m[2].logo_churn_rate, Some(0.25));
    close_opt(m[2].gross_mrr_churn_rate, Some(40.0 / p));
    close_opt(m[2].net_mrr_churn_rate, Some((40.0 - 100.0) / p));
    close_opt(m[2].nrr, Some((p + 100.0 - 40.0) / p));
    close_opt(m[2].grr, Some((p - 40.0) / p));
    close_opt(m[2].quick_ratio, Some(100.0 / 40.0));
    // April: previous MRR 300 + W, 3 customers; lost W (churn) + 50 (contraction), gained 0.
    let p = 300.0 + W;
    close_opt(m[3].logo_churn_rate, Some(1.0 / 3.0));
    close_opt(m[3].gross_mrr_churn_rate, Some((W + 50.0) / p));
    close_opt(m[3].nrr, Some(250.0 / p));
    close_opt(m[3].grr, Some(250.0 / p));
    close_opt(m[3].quick_ratio, Some(0.0));
    // June: reactivation counts in the quick ratio and net churn, not in NRR.
    close_opt(m[5].nrr, Some(1.0));
    close_opt(m[5].net_mrr_churn_rate, Some(-2.0 * W / 270.0));
    assert_eq!(m[5].quick_ratio, None);
}

#[test]
fn ltv_uses_the_mean_logo_churn_of_the_last_six_months_skipping_undefined_ones() {
    let m = metrics_a();
    // Logo churn: Jan undefined, Feb 0, Mar 1/4, Apr 1/3, May 0, Jun 0.
    // March: mean(0, 1/4) = 1/8; ARPA (300 + W)/3.
    close_opt(m[2].ltv, Some((300.0 + W) / 3.0 / 0.125));
    // April: mean(0, 1/4, 1/3); ARPA 125.
    close_opt(m[3].ltv, Some(125.0 / ((0.25 + 1.0 / 3.0) / 3.0)));
    // June: Jan (undefined) skipped, mean of the five others; ARPA (270 + 2W)/4.
    close_opt(
        m[5].ltv,
        Some((270.0 + 2.0 * W) / 4.0 / ((0.25 + 1.0 / 3.0) / 5.0)),
    );
    // With a gross margin, LTV scales with it.
    let with_margin = compute_metrics(
        &book(FIXTURE_A),
        &MetricsOptions {
            gross_margin: 0.8,
            ..Default::default()
        },
    )
    .unwrap();
    close_opt(with_margin[3].ltv, Some(0.8 * m[3].ltv.unwrap()));
}

/// Fixture C: one customer K, $10 a month from 2024-01-01 to 2024-02-10, back from 2024-03-05.
/// Logo churn: Jan undefined (first month), Feb 1/1, Mar undefined (no customers in Feb),
/// Apr 0/1.
const FIXTURE_C: &str = "\
customer_id,start_date,end_date,amount,interval
K,2024-01-01,2024-02-10,10,month
K,2024-03-05,,10,month
L,2024-04-20,2024-04-28,99,month
";

#[test]
fn ltv_window_skips_an_undefined_month_in_the_middle() {
    let m = compute_metrics(&book(FIXTURE_C), &MetricsOptions::default()).unwrap();
    assert_eq!(m.len(), 4);
    assert_eq!(m[1].customers, 0);
    assert_eq!(m[1].arpa, None); // zero customers: no ARPA
    close_opt(m[1].logo_churn_rate, Some(1.0));
    assert_eq!(m[2].logo_churn_rate, None);
    assert_eq!(
        (m[2].nrr, m[2].grr, m[2].gross_mrr_churn_rate),
        (None, None, None)
    );
    assert_eq!(
        (m[2].reactivation_mrr, m[2].reactivated_customers),
        (10.0, 1)
    );
    close_opt(m[3].logo_churn_rate, Some(0.0));
    // mean(1, 0) = 0.5, not mean(1, 0, 0) = 1/3.
    close_opt(m[3].ltv, Some(10.0 / 0.5));
    assert!(m.iter().all(|m| m.exact.identity_holds()));
}

#[test]
fn from_before_the_first_mrr_month_lists_empty_months_with_null_rates() {
    let m = compute_metrics(
        &book(FIXTURE_C),
        &MetricsOptions {
            from: Some(month("2023-11")),
            to: Some(month("2024-01")),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        (m[0].mrr, m[0].customers, m[0].arpa, m[0].nrr),
        (0.0, 0, None, None)
    );
    assert_eq!(m[2].new_customers, 1);
}

#[test]
fn from_after_the_first_month_keeps_the_earlier_months_in_ltv_and_nrr_12m() {
    let all = metrics_a();
    let tail = compute_metrics(
        &book(FIXTURE_A),
        &MetricsOptions {
            from: Some(month("2024-04")),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(tail.len(), 3);
    assert_eq!(tail[0], all[3]);
    assert_eq!(tail[2], all[5]);
}

/// Fixture B, 2023-01 … 2024-06: G $100 from 2023-01 (3 seats from 2024-01); H $50 2023-01-01 →
/// 2023-07-15, back at $25 from 2024-02-01; I $200 from 2023-06-01; J $80 from 2023-12-10.
const FIXTURE_B: &str = "\
customer_id,start_date,end_date,amount,interval,quantity
G,2023-01-01,2024-01-01,100,month,1
G,2024-01-01,,100,month,3
H,2023-01-01,2023-07-15,50,month,1
I,2023-06-01,,200,month,1
J,2023-12-10,,80,month,1
H,2024-02-01,,25,month,1
";

#[test]
fn nrr_12m_follows_the_customers_with_mrr_twelve_months_earlier() {
    let m = compute_metrics(
        &book(FIXTURE_B),
        &MetricsOptions {
            to: Some(month("2024-06")),
            ..Default::default()
        },
    )
    .unwrap();
    let at = |s: &str| m.iter().find(|x| x.month == month(s)).unwrap();
    // Before 2024-01 there is no month-end twelve months earlier with MRR.
    assert_eq!(at("2023-12").nrr_12m, None);
    // 2024-01: G and H had 150 at 2023-01; now G 300, H 0.
    close_opt(at("2024-01").nrr_12m, Some(300.0 / 150.0));
    // 2024-02: H is back at 25 (J is not in the base).
    close_opt(at("2024-02").nrr_12m, Some(325.0 / 150.0));
    // 2024-06: the base at 2023-06 is G 100 + H 50 + I 200 = 350; now 300 + 25 + 200.
    close_opt(at("2024-06").nrr_12m, Some(525.0 / 350.0));
    // The LTV window reaches back five months: 2023-12 still sees July's churn (1/3) …
    close_opt(at("2023-07").logo_churn_rate, Some(1.0 / 3.0));
    close_opt(at("2023-12").ltv, Some(380.0 / 3.0 / (1.0 / 3.0 / 6.0)));
    // … and 2024-01 no longer does: zero mean churn, undefined LTV.
    assert_eq!(at("2024-01").ltv, None);
    assert!(m.iter().all(|m| m.exact.identity_holds()));
}

#[test]
fn cohorts_give_logo_and_mrr_retention_and_count_returning_customers_again() {
    let cohorts = compute_cohorts(&book(FIXTURE_A), &CohortOptions::default()).unwrap();
    let names: Vec<String> = cohorts.iter().map(|c| c.cohort.to_string()).collect();
    assert_eq!(names, ["2024-01", "2024-02", "2024-05"]);
    // 2024-01: A, B, F (MRR 240). F churns in March; A expands; B contracts in April.
    let jan = &cohorts[0];
    assert_eq!((jan.size, jan.mrr), (3, 240.0));
    assert_eq!(jan.active, [3, 3, 2, 2, 2, 2]);
    assert_eq!(jan.active_mrr, [240.0, 240.0, 300.0, 250.0, 250.0, 250.0]);
    for (g, w) in
        jan.logo_retention
            .iter()
            .zip([1.0, 1.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0])
    {
        close(*g, w);
    }
    for (g, w) in
        jan.mrr_retention
            .iter()
            .zip([1.0, 1.0, 1.25, 250.0 / 240.0, 250.0 / 240.0, 250.0 / 240.0])
    {
        close(*g, w);
    }
    // 2024-02: C alone; gone in April and May, back in June at twice the MRR, still in its
    // first cohort.
    let feb = &cohorts[1];
    assert_eq!(feb.logo_retention, [1.0, 1.0, 0.0, 0.0, 1.0]);
    assert_eq!(feb.mrr_retention, [1.0, 1.0, 0.0, 0.0, 2.0]);
    // 2024-05: E, whose free months do not count.
    assert_eq!((cohorts[2].size, cohorts[2].mrr), (1, 20.0));
    assert_eq!(cohorts[2].logo_retention, [1.0, 1.0]);
}

#[test]
fn cohorts_stop_at_to() {
    let cohorts = compute_cohorts(
        &book(FIXTURE_A),
        &CohortOptions {
            to: Some(month("2024-03")),
        },
    )
    .unwrap();
    assert_eq!(cohorts.len(), 2);
    assert_eq!(cohorts[0].logo_retention.len(), 3);
    assert_eq!(cohorts[1].logo_retention.len(), 2);
}

#[test]
fn marketing_spend_gives_cac_ltv_cac_and_payback() {
    let mut m = compute_metrics(
        &book(FIXTURE_A),
        &MetricsOptions {
            gross_margin: 0.8,
            ..Default::default()
        },
    )
    .unwrap();
    let spend = MarketingSpend::new([
        (month("2024-01"), 600.0),
        (month("2024-02"), 300.0),
        (month("2024-03"), 100.0),
        (month("2024-05"), 50.0),
    ]);
    add_acquisition(&mut m, &spend, 0.8);
    let acq = |i: usize| m[i].acquisition.unwrap();
    // January: 3 new customers, CAC 200; no LTV yet; payback 200 / (80 × 0.8).
    close_opt(acq(0).cac, Some(200.0));
    assert_eq!(acq(0).ltv_cac, None);
    close_opt(acq(0).payback_months, Some(200.0 / 64.0));
    // March: spend but no new customer: no CAC.
    assert_eq!(acq(2), Default::default());
    // April: no spend row: no CAC.
    assert_eq!(acq(3).cac, None);
    // May: 1 new customer, CAC 50; LTV = 90 × 0.8 / mean(0, 1/4, 1/3, 0).
    let ltv = 90.0 * 0.8 / ((0.25 + 1.0 / 3.0) / 4.0);
    close_opt(m[4].ltv, Some(ltv));
    close_opt(acq(4).cac, Some(50.0));
    close_opt(acq(4).ltv_cac, Some(ltv / 50.0));
    close_opt(acq(4).payback_months, Some(50.0 / 72.0));
}

#[test]
fn segments_split_the_metrics_by_customer_attribute() {
    let b = book(FIXTURE_A);
    // F (and D, which never shows) are missing from the customers file.
    let attr = CustomerAttribute::new(
        "onboarding_completed",
        [("A", "true"), ("B", "false"), ("C", "true"), ("E", "false")],
    );
    let segments = compute_segment_metrics(&b, &attr, &MetricsOptions::default()).unwrap();
    let names: Vec<Option<&str>> = segments.iter().map(|s| s.segment.as_deref()).collect();
    assert_eq!(names, [Some("false"), Some("true"), None]);
    let with_mrr: Vec<u64> = segments.iter().map(|s| s.customers_with_mrr).collect();
    assert_eq!(with_mrr, [2, 2, 1]);
    let onboarded = &segments[1].months;
    // A and C: March expansion 100, April C churns (1 of 2).
    assert_eq!(onboarded[2].expansion_mrr, 100.0);
    close_opt(onboarded[3].logo_churn_rate, Some(0.5));
    close(onboarded[5].reactivation_mrr, 2.0 * W);
    // B and E: April contraction 50; no churn ever, so no LTV.
    let not_onboarded = &segments[0].months;
    assert_eq!(not_onboarded[3].contraction_mrr, 50.0);
    assert!(not_onboarded.iter().all(|m| m.ltv.is_none()));
    // The segments add up to the whole.
    let total = compute_metrics(&b, &MetricsOptions::default()).unwrap();
    for (i, t) in total.iter().enumerate() {
        let mrr: northstar_saas::Mrr = segments.iter().map(|s| s.months[i].exact.mrr).sum();
        assert_eq!(mrr, t.exact.mrr);
        let customers: u64 = segments.iter().map(|s| s.months[i].customers).sum();
        assert_eq!(customers, t.customers);
        assert!(segments.iter().all(|s| s.months[i].exact.identity_holds()));
    }
    // Blended CAC: January spend 600 over all 3 new customers, whatever their segment.
    let mut segments = segments;
    add_blended_acquisition(
        &mut segments,
        &MarketingSpend::new([(month("2024-01"), 600.0)]),
        1.0,
    );
    for s in &segments {
        close_opt(s.months[0].acquisition.unwrap().cac, Some(200.0));
    }
    // Payback uses the segment's own ARPA: "true" has A alone in January (100).
    close_opt(
        segments[1].months[0].acquisition.unwrap().payback_months,
        Some(2.0),
    );
}

#[test]
fn options_errors_are_clear() {
    let b = book(FIXTURE_A);
    let err = compute_metrics(
        &b,
        &MetricsOptions {
            from: Some(month("2024-05")),
            to: Some(month("2024-02")),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("--from 2024-05 is after"), "{err}");
    let err = compute_metrics(
        &b,
        &MetricsOptions {
            gross_margin: 80.0,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("0.8 for 80%"), "{err}");
    let only_free =
        book("customer_id,start_date,end_date,amount,interval\nx,2024-01-01,,0,month\n");
    let err = compute_metrics(&only_free, &MetricsOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no subscription has MRR"), "{err}");
}
