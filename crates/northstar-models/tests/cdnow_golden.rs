//! Published CDNOW results, reproduced from the bundled summaries.

use northstar_models::gamma_gamma::SpendData;
use northstar_models::{
    BgNbd, CompressedRfm, FitOptions, GammaGamma, MbgNbd, ParetoNbd, PurchaseModel, Rfm, SpendModel,
};

/// Rows of `data/cdnow_customers_summary_with_transactions.csv`: ID, x, t_x, T, zbar.
fn cdnow_summary() -> Vec<Rfm> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/cdnow_customers_summary_with_transactions.csv"
    );
    let text = std::fs::read_to_string(path).expect("bundled CDNOW summary");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<f64> = line.split(',').map(|v| v.trim().parse().unwrap()).collect();
            Rfm::try_new(f[1], f[2], f[3], Some(f[4])).unwrap()
        })
        .collect()
}

fn relative_error(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

#[test]
fn fit_reproduces_fader_hardie_lee_2005_cdnow_estimates() {
    // FHL (2005) section 5: r=0.2425945, α=4.4136019, a=0.7929199, b=2.4258881, LL=-9582.429.
    // Tolerance: 1e-4 relative on each parameter, 0.01 on LL (from the acceptance list).
    let customers = cdnow_summary();
    assert_eq!(customers.len(), 2357);
    let (model, report) = BgNbd::fit(
        &CompressedRfm::new(&customers, None),
        &FitOptions::default(),
    )
    .unwrap();
    assert!(report.converged, "{}", report.termination);
    for (got, want) in [
        (model.r(), 0.2425945),
        (model.alpha(), 4.4136019),
        (model.a(), 0.7929199),
        (model.b(), 2.4258881),
    ] {
        assert!(
            relative_error(got, want) < 1e-4,
            "got {got}, published {want}"
        );
    }
    assert!(
        (report.log_likelihood - (-9582.429)).abs() < 0.01,
        "LL {}",
        report.log_likelihood
    );
    assert_eq!(report.n_observations, 2357.0);
    assert!(report.std_errors.iter().all(|s| s.is_some_and(|s| s > 0.0)));
}

#[test]
fn gamma_gamma_reproduces_cdnow_estimates_on_946_repeat_customers() {
    // FHL (2005) "RFM and CLV"; lifetimes' test suite: p=6.2488, q=3.7446, v=15.4478 (1e-3
    // relative), LL ≈ -4055.92 (±0.01).
    let customers = cdnow_summary();
    let data = SpendData::new(&customers, None).unwrap();
    assert_eq!(data.n_customers(), 946.0);
    assert_eq!(data.n_excluded(), 2357 - 946);
    let (model, report) = GammaGamma::fit(&data, &FitOptions::default()).unwrap();
    assert!(report.converged, "{}", report.termination);
    for (got, want) in [
        (model.p(), 6.2488),
        (model.q(), 3.7446),
        (model.v(), 15.4478),
    ] {
        assert!(
            relative_error(got, want) < 1e-3,
            "got {got}, published {want}"
        );
    }
    assert!(
        (report.log_likelihood - (-4055.92)).abs() < 0.01,
        "LL {}",
        report.log_likelihood
    );
}

#[test]
fn gamma_gamma_conditional_spend_matches_lifetimes_for_first_ten_customers() {
    // lifetimes test_conditional_expected_average_profit (published parameters), ±0.01.
    let gg = GammaGamma::new(6.2488, 3.7446, 15.4478).unwrap();
    let expected = [
        24.66, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17,
    ];
    for (c, want) in cdnow_summary().iter().zip(expected) {
        let got = gg.expected_spend(c);
        assert!((got - want).abs() < 0.01, "got {got}, want {want}");
    }
}

#[test]
fn bg_nbd_predictions_match_published_values() {
    let m = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
    // E[X(t)] from Hardie's spreadsheet / lifetimes tests, ±5e-4.
    for (t, want) in [(1.0, 0.0532), (3.0, 0.1506), (32.0, 1.0437), (78.0, 1.858)] {
        let got = m.expected_purchases_new_customer(t);
        assert!((got - want).abs() < 5e-4, "E[X({t})] = {got}, want {want}");
    }
    // FHL (2005) p. 280: customer x=2, t_x=30.43, T=38.86 expects 1.226 purchases in 39 weeks.
    let c = Rfm::try_new(2.0, 30.43, 38.86, None).unwrap();
    assert!((m.expected_purchases(&c, 39.0) - 1.226).abs() < 5e-4);
    // lifetimes 0.11.3: P(X(39) = 0) = 0.5743, ±5e-4.
    assert!((m.probability_of_purchases(0, 39.0) - 0.5743).abs() < 5e-4);
    // lifetimes tests: x=26, t_x=30.857143, T=31 over 52 weeks: 25.75659 (±1e-4 relative).
    let c = Rfm::try_new(26.0, 30.857143, 31.0, None).unwrap();
    assert!(relative_error(m.expected_purchases(&c, 52.0), 25.75659) < 1e-4);
}

#[test]
fn bg_nbd_predictions_agree_with_lifetimes_to_many_digits_at_the_published_parameters() {
    // lifetimes 0.11.3 with the FHL (2005) parameters set (bench/reference/lifetimes_cdnow.py,
    // crates/northstar/tests/fixtures/lifetimes_cdnow_reference.json, "published_params").
    // Tolerance 1e-6 relative: both evaluate the same closed forms.
    let m = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
    for (t, lifetimes) in [
        (1.0, 0.05318428168974862),
        (3.0, 0.15063078397773366),
        (32.0, 1.0437308814404351),
        (78.0, 1.8579560091180436),
    ] {
        assert!(relative_error(m.expected_purchases_new_customer(t), lifetimes) < 1e-6);
    }
    assert!(relative_error(m.probability_of_purchases(0, 39.0), 0.5743071945576518) < 1e-6);
    let c = Rfm::try_new(2.0, 30.43, 38.86, None).unwrap();
    assert!(relative_error(m.expected_purchases(&c, 39.0), 1.2259057045100354) < 1e-6);
    assert!(relative_error(m.expected_probability_alive(&c), 0.726608610768208) < 1e-6);
    let c = Rfm::try_new(26.0, 30.857143, 31.0, None).unwrap();
    assert!(relative_error(m.expected_purchases(&c, 52.0), 25.75735791570726) < 1e-6);
    // The issue quotes P(alive) = 0.9688523 for this customer; lifetimes and northstar both give
    // 0.96885450 at the published parameters (the quoted value likely used rounded inputs).
    assert!(relative_error(m.expected_probability_alive(&c), 0.9688545046210736) < 1e-6);
}

#[test]
fn pareto_nbd_fit_reproduces_published_cdnow_estimates_and_standard_errors() {
    // Fader, Hardie & Lee (2005) / BTYD manual: r=0.55315, α=10.57633, s=0.60625, β=11.67150,
    // LL=-9594.976. Tolerances (issue #4): 1e-3 relative on r, α, s; 1e-2 on β (weakly
    // identified); LL ±0.01; standard errors within 2% of r 0.0476, α 0.843, s 0.187, β 6.21.
    let customers = cdnow_summary();
    let (model, report) = ParetoNbd::fit(
        &CompressedRfm::new(&customers, None),
        &FitOptions::default(),
    )
    .unwrap();
    assert!(report.converged, "{}", report.termination);
    for (got, want, tolerance) in [
        (model.r(), 0.55315, 1e-3),
        (model.alpha(), 10.57633, 1e-3),
        (model.s(), 0.60625, 1e-3),
        (model.beta(), 11.67150, 1e-2),
    ] {
        assert!(
            relative_error(got, want) < tolerance,
            "got {got}, published {want}"
        );
    }
    assert!(
        (report.log_likelihood - (-9594.976)).abs() < 0.01,
        "LL {}",
        report.log_likelihood
    );
    for (se, want) in report.std_errors.iter().zip([0.0476, 0.843, 0.187, 6.21]) {
        let se = se.unwrap();
        assert!(
            relative_error(se, want) < 0.02,
            "standard error {se}, published {want}"
        );
    }
}

#[test]
fn pareto_nbd_high_frequency_customer_matches_published_values() {
    // Issue #4 (from lifetimes' tests): r=0.553, α=10.580, s=0.606, β=11.656; x=26, t_x=30.857143,
    // T=31: E[Y(52)] = 25.4546, P(alive) = 0.997874, 1e-3 relative.
    let m = ParetoNbd::new(0.553, 10.580, 0.606, 11.656).unwrap();
    let c = Rfm::try_new(26.0, 30.857143, 31.0, None).unwrap();
    assert!(relative_error(m.expected_purchases(&c, 52.0), 25.4546) < 1e-3);
    assert!(relative_error(m.expected_probability_alive(&c), 0.997874) < 1e-3);
}

#[test]
fn mbg_nbd_fit_reproduces_published_cdnow_estimates() {
    // Batislam, Denizel & Filiztekin (2007) on CDNOW (as reported by lifetimes' tests):
    // r=0.5248, α=6.183, a=0.8914, b=1.614 (1e-3 relative), LL=-9582.13 (±0.02).
    let customers = cdnow_summary();
    let (model, report) = MbgNbd::fit(
        &CompressedRfm::new(&customers, None),
        &FitOptions::default(),
    )
    .unwrap();
    assert!(report.converged, "{}", report.termination);
    for (got, want) in [
        (model.r(), 0.5248),
        (model.alpha(), 6.183),
        (model.a(), 0.8914),
        (model.b(), 1.614),
    ] {
        assert!(
            relative_error(got, want) < 1e-3,
            "got {got}, published {want}"
        );
    }
    assert!(
        (report.log_likelihood - (-9582.13)).abs() < 0.02,
        "LL {}",
        report.log_likelihood
    );
}
