//! End-to-end tests of the period-based models: BG/BB, sBG and BdW, and `retention`.

use assert_cmd::Command;
use serde_json::Value;

fn run_ok(args: &[&str]) -> String {
    let out = Command::cargo_bin("northstar")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "northstar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn run_err(args: &[&str]) -> String {
    let out = Command::cargo_bin("northstar")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "northstar {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

/// Simulates with `model`, fits it back, and checks each estimate is within 3 standard errors.
fn simulate_and_recover(model: &str, params: &[(&str, f64)], extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    let spec: Vec<String> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let spec = spec.join(",");
    let mut args = vec![
        "simulate",
        model,
        "--customers",
        "20000",
        "--params",
        &spec,
        "--seed",
        "5",
        "-o",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
    let fit: Value =
        serde_json::from_str(run_ok(&["fit", model, data.to_str().unwrap(), "--json"]).trim())
            .unwrap();
    assert_eq!(fit["model"], model);
    assert_eq!(fit["converged"], true, "{fit}");
    for (name, truth) in params {
        let got = fit["params"][name].as_f64().unwrap();
        let se = fit["std_errors"][name].as_f64().unwrap();
        assert!(
            (got - truth).abs() < 3.0 * se,
            "{model} {name}: {got} vs {truth} (se {se})"
        );
    }
    fit
}

#[test]
fn bgbb_sbg_and_bdw_fits_recover_simulated_parameters() {
    simulate_and_recover(
        "bgbb",
        &[
            ("alpha", 1.2),
            ("beta", 0.75),
            ("gamma", 0.66),
            ("delta", 2.78),
        ],
        &["--periods", "6"],
    );
    simulate_and_recover(
        "sbg",
        &[("alpha", 0.7), ("beta", 1.3)],
        &["--periods", "12"],
    );
    simulate_and_recover(
        "bdw",
        &[("alpha", 0.7), ("beta", 1.3), ("c", 0.8)],
        &["--periods", "12"],
    );
}

#[test]
fn retention_json_follows_the_sbg_closed_form() {
    // sBG: S(t) = B(α, β+t)/B(α, β); r(t) = (β+t-1)/(α+β+t-1) (Fader & Hardie 2007 eq. 6-7).
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sbg.json");
    std::fs::write(
        &model,
        r#"{"model":"sbg","params":{"alpha":0.7,"beta":1.3}}"#,
    )
    .unwrap();
    let out: Value = serde_json::from_str(
        run_ok(&[
            "retention",
            model.to_str().unwrap(),
            "--periods",
            "4",
            "--discount-rate",
            "0.1",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(out["periods"].as_array().unwrap().len(), 5);
    let (a, b) = (0.7, 1.3);
    let mut survival = 1.0;
    for t in 1..=4 {
        let r = (b + t as f64 - 1.0) / (a + b + t as f64 - 1.0);
        survival *= r;
        assert!((out["retention_rate"][t].as_f64().unwrap() - r).abs() < 1e-12);
        assert!((out["survival"][t].as_f64().unwrap() - survival).abs() < 1e-12);
    }
    assert!(out["retention_rate"][0].is_null());
    // DEL = Σ_t S(t)/(1+d)^t, summed directly (2000 terms are enough at d = 0.1).
    let mut direct = 0.0;
    let mut s = 1.0;
    for t in 0..2000 {
        if t > 0 {
            s *= (b + t as f64 - 1.0) / (a + b + t as f64 - 1.0);
        }
        direct += s / 1.1f64.powi(t);
    }
    assert!((out["del"].as_f64().unwrap() - direct).abs() < 1e-8 * direct);
    assert!(out["derl"].as_f64().unwrap() > 0.0);
}

#[test]
fn cohort_input_fits_pooled_or_by_cohort() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cohorts.csv");
    std::fs::write(&data, "cohort,period,alive\n2024-01,0,1000\n2024-01,1,631\n2024-01,2,468\n2024-01,3,382\n2024-02,0,800\n2024-02,1,520\n2024-02,2,390\n").unwrap();
    let pooled: Value =
        serde_json::from_str(run_ok(&["fit", "sbg", data.to_str().unwrap(), "--json"]).trim())
            .unwrap();
    assert_eq!(pooled["n_customers"].as_f64(), Some(1800.0));
    let split: Value = serde_json::from_str(
        run_ok(&[
            "fit",
            "sbg",
            data.to_str().unwrap(),
            "--json",
            "--by-cohort",
        ])
        .trim(),
    )
    .unwrap();
    let cohorts = split["cohorts"].as_array().unwrap();
    assert_eq!(cohorts.len(), 2);
    assert_eq!(cohorts[0]["cohort"], "2024-01");
    assert_eq!(cohorts[1]["n_customers"].as_f64(), Some(800.0));
}

#[test]
fn bad_period_inputs_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.csv");
    std::fs::write(&data, "period,alive\n0,100\n1,120\n").unwrap();
    let err = run_err(&["fit", "sbg", data.to_str().unwrap()]);
    assert!(err.contains("bad.csv"), "{err}");
    std::fs::write(&data, "customer_id,frequency,recency,n_periods\na,2,1,6\n").unwrap();
    let err = run_err(&["fit", "bgbb", data.to_str().unwrap()]);
    assert!(err.contains("line 2") && err.contains("recency"), "{err}");
    std::fs::write(&data, "tenure,churned\n3,1\n2.5,0\n").unwrap();
    let err = run_err(&["fit", "bdw", data.to_str().unwrap()]);
    assert!(err.contains("line 3"), "{err}");
}
