//! Simulate → fit recovers the parameters that generated the data.

use northstar_models::gamma_gamma::SpendData;
use northstar_models::{
    BgNbd, CompressedRfm, FitOptions, FitReport, GammaGamma, ModelParams, Rfm, SimulatePurchases,
};
use rand::SeedableRng;

#[test]
fn bg_nbd_and_gamma_gamma_fits_recover_simulated_parameters_within_three_standard_errors() {
    let truth = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
    let spend = GammaGamma::new(6.2488, 3.7446, 15.4478).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let customers: Vec<Rfm> = (0..100_000)
        .map(|i| {
            let t = 66.0 + (i % 13) as f64;
            let times = truth.simulate_repeat_purchases(&mut rng, t);
            let nu = spend.sample_spend_rate(&mut rng);
            let x = times.len();
            let mean = if x > 0 {
                (0..x)
                    .map(|_| spend.sample_amount(&mut rng, nu))
                    .sum::<f64>()
                    / x as f64
            } else {
                0.0
            };
            Rfm::try_new(
                x as f64,
                times.last().copied().unwrap_or(0.0),
                t,
                Some(mean),
            )
            .unwrap()
        })
        .collect();
    let (fit, report) = BgNbd::fit(
        &CompressedRfm::new(&customers, None),
        &FitOptions::default(),
    )
    .unwrap();
    assert_within_three_standard_errors("BG/NBD", &fit.values(), &truth.values(), &report);
    let data = SpendData::new(&customers, None).unwrap();
    let (fit, report) = GammaGamma::fit(&data, &FitOptions::default()).unwrap();
    assert_within_three_standard_errors("Gamma-Gamma", &fit.values(), &spend.values(), &report);
}

fn assert_within_three_standard_errors(
    model: &str,
    estimates: &[f64],
    truth: &[f64],
    report: &FitReport,
) {
    assert!(report.converged, "{model}: {}", report.termination);
    for ((got, want), se) in estimates.iter().zip(truth).zip(&report.std_errors) {
        let se = se.unwrap();
        assert!(
            (got - want).abs() < 3.0 * se,
            "{model}: estimate {got}, truth {want}, se {se}"
        );
    }
}
