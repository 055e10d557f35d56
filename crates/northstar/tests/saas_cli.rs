//! End-to-end tests of `northstar saas` and `northstar calc`: the real binary on real files.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn northstar() -> Command {
    Command::cargo_bin("northstar").unwrap()
}

/// Runs northstar, expecting success; returns stdout.
fn run_ok(args: &[&str]) -> String {
    let out = northstar().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "northstar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs northstar, expecting failure (exit code 1, or 2 for a command-line usage error)
/// without a panic; returns stderr.
fn run_err(args: &[&str]) -> String {
    let out = northstar().args(args).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "northstar {args:?} should fail: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&run_ok(args)).unwrap()
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

const KEYS: [&str; 21] = [
    "month",
    "mrr",
    "arr",
    "customers",
    "arpa",
    "new_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "reactivation_mrr",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
    "logo_churn_rate",
    "gross_mrr_churn_rate",
    "net_mrr_churn_rate",
    "nrr",
    "grr",
    "nrr_12m",
    "quick_ratio",
    "ltv",
];

/// The keys of a JSON object, sorted (`serde_json::Value` does not keep the order).
fn keys(object: &Value) -> Vec<String> {
    object.as_object().unwrap().keys().cloned().collect()
}

/// The keys of a JSON object in the order they were written.
struct Ordered(Vec<String>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(Ordered(keys))
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[derive(serde::Deserialize)]
struct MonthsOrder {
    months: Vec<Ordered>,
}

#[derive(serde::Deserialize)]
struct SegmentsOrder {
    segments: Vec<MonthsOrder>,
}

#[derive(serde::Deserialize)]
struct CohortsOrder {
    cohorts: Vec<Ordered>,
}

#[track_caller]
fn close(got: &Value, want: &Value, what: &str) {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 1e-9 * g.abs().max(w.abs()) + 1e-9,
            "{what}: got {g}, want {w}"
        ),
        _ => assert_eq!(got, want, "{what}"),
    }
}

#[test]
fn metrics_json_has_the_issue_keys_in_order_and_hand_computed_values() {
    let text = run_ok(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--json",
    ]);
    let order: MonthsOrder = serde_json::from_str(&text).unwrap();
    assert_eq!(order.months.len(), 6);
    for m in &order.months {
        assert_eq!(m.0, KEYS);
    }
    let out: Value = serde_json::from_str(&text).unwrap();
    let months = out["months"].as_array().unwrap();
    assert_eq!(out.as_object().unwrap().len(), 1);
    // See data/saas_sample_subscriptions.csv and the README's worked example.
    let w = 30.4375;
    let jan = &months[0];
    assert_eq!(jan["month"], "2024-01");
    assert_eq!(
        (jan["mrr"].as_f64(), jan["customers"].as_u64()),
        (Some(240.0), Some(3))
    );
    assert_eq!(jan["logo_churn_rate"], Value::Null);
    assert_eq!(jan["nrr"], Value::Null);
    let mar = &months[2];
    assert_eq!(mar["expansion_mrr"], 100.0);
    assert_eq!(mar["churned_mrr"], 40.0);
    assert_eq!(mar["logo_churn_rate"], 0.25);
    assert_eq!(mar["quick_ratio"], 2.5);
    close(
        &mar["nrr"],
        &Value::from((240.0 + w + 60.0) / (240.0 + w)),
        "nrr",
    );
    let apr = &months[3];
    assert_eq!(apr["contraction_mrr"], 50.0);
    assert_eq!(apr["churned_mrr"], w);
    let jun = &months[5];
    assert_eq!(jun["reactivation_mrr"], 2.0 * w);
    assert_eq!(jun["reactivated_customers"], 1);
    assert_eq!(jun["quick_ratio"], Value::Null);
    // MRR identity (in JSON floats, to rounding).
    for pair in months.windows(2) {
        let f = |k: &str| pair[1][k].as_f64().unwrap();
        let expected = pair[0]["mrr"].as_f64().unwrap()
            + f("new_mrr")
            + f("expansion_mrr")
            + f("reactivation_mrr")
            - f("contraction_mrr")
            - f("churned_mrr");
        assert!((f("mrr") - expected).abs() < 1e-9);
    }
}

#[test]
fn metrics_match_an_independent_implementation_on_a_realistic_file() {
    // bench/reference/saas_reference.py (naive Python, datetime comparisons and float sums) on a
    // file from bench/generate_subscriptions.py --customers 300 --seed 7: monthly, annual,
    // two-year, quarterly, weekly, daily and free plans, seat changes, upgrades, downgrades,
    // cancellations, reactivations and concurrent add-ons. Tolerance 1e-9 relative.
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("saas_realistic_expected.json")).unwrap(),
    )
    .unwrap();
    let got = json(&[
        "saas",
        "metrics",
        &fixture("saas_realistic_subscriptions.csv"),
        "--gross-margin",
        "0.8",
        "--marketing-spend",
        &fixture("saas_realistic_spend.csv"),
        "--json",
    ]);
    let got = got["months"].as_array().unwrap();
    let want = expected["metrics"]["months"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    assert_eq!(got.len(), 36);
    let mut checked = 0;
    for (g, w) in got.iter().zip(want) {
        assert_eq!(keys(g), keys(w));
        for key in keys(w) {
            close(&g[&key], &w[&key], &format!("{} {key}", w["month"]));
            checked += 1;
        }
    }
    assert_eq!(checked, 36 * 24);
    for (metric, key) in [("logos", "cohorts_logos"), ("mrr", "cohorts_mrr")] {
        let got = json(&[
            "saas",
            "cohorts",
            &fixture("saas_realistic_subscriptions.csv"),
            "--metric",
            metric,
            "--json",
        ]);
        let got = got["cohorts"].as_array().unwrap();
        let want = expected[key].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{metric}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(keys(g), keys(w));
            assert_eq!(g["cohort"], w["cohort"]);
            assert_eq!(g["size"], w["size"]);
            close(&g["mrr"], &w["mrr"], "cohort mrr");
            let (gr, wr) = (
                g["retention"].as_array().unwrap(),
                w["retention"].as_array().unwrap(),
            );
            assert_eq!(gr.len(), wr.len());
            for (a, b) in gr.iter().zip(wr) {
                close(a, b, &format!("{metric} retention of {}", w["cohort"]));
            }
        }
    }
    let text = run_ok(&[
        "saas",
        "cohorts",
        &fixture("saas_realistic_subscriptions.csv"),
        "--json",
    ]);
    let order: CohortsOrder = serde_json::from_str(&text).unwrap();
    for c in order.cohorts {
        assert_eq!(c.0, ["cohort", "size", "mrr", "retention"]);
    }
}

#[test]
fn metrics_csv_has_the_same_columns_and_empty_cells_for_undefined_rates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("metrics.csv");
    let stdout = run_ok(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(stdout, "");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), KEYS.join(","));
    let jan: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(jan.len(), 21);
    assert_eq!(&jan[..5], ["2024-01", "240", "2880", "3", "80"]);
    assert!(jan[13..].iter().all(|c| c.is_empty()), "{jan:?}");
    assert_eq!(lines.count(), 5);
    assert!(!text.contains("NaN") && !text.contains("inf"));
}

#[test]
fn metrics_table_is_readable_and_shows_na_for_undefined_rates() {
    let out = run_ok(&["saas", "metrics", &data("saas_sample_subscriptions.csv")]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("month"), "{out}");
    assert!(lines[0].contains("MRR") && lines[0].contains("LTV"));
    assert!(lines[1].starts_with("2024-01") && lines[1].contains("n/a"));
    assert!(out.contains("240.00"));
    assert!(!out.contains("NaN") && !out.contains("inf"));
}

#[test]
fn from_and_to_select_the_months() {
    let out = json(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--from",
        "2024-03",
        "--to",
        "2024-04",
        "--json",
    ]);
    let months: Vec<&str> = out["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["month"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2024-03", "2024-04"]);
    // March's LTV still sees February's churn rate.
    assert!(out["months"][0]["ltv"].as_f64().unwrap() > 0.0);
    let err = run_err(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--from",
        "2024-05",
        "--to",
        "2024-02",
    ]);
    assert!(err.contains("--from 2024-05 is after"), "{err}");
    let err = run_err(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--to",
        "2024-13",
    ]);
    assert!(err.contains("YYYY-MM"), "{err}");
}

#[test]
fn marketing_spend_adds_cac_ltv_cac_and_payback_only_when_given() {
    let text = run_ok(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--marketing-spend",
        &data("saas_sample_spend.csv"),
        "--gross-margin",
        "0.8",
        "--json",
    ]);
    let mut with_spend: Vec<&str> = KEYS.to_vec();
    with_spend.extend(["cac", "ltv_cac", "payback_months"]);
    let order: MonthsOrder = serde_json::from_str(&text).unwrap();
    for m in &order.months {
        assert_eq!(m.0, with_spend);
    }
    let out: Value = serde_json::from_str(&text).unwrap();
    let months = out["months"].as_array().unwrap();
    // January: spend 600, 3 new customers, ARPA 80: CAC 200, payback 200 / 64.
    assert_eq!(months[0]["cac"], 200.0);
    assert_eq!(months[0]["payback_months"], 3.125);
    assert_eq!(months[0]["ltv_cac"], Value::Null);
    // March: spend 150 but no new customer: no CAC.
    assert_eq!(months[2]["cac"], Value::Null);
    // May: spend 50, 1 new customer; LTV 90 × 0.8 / mean(0, 1/4, 1/3, 0).
    let ltv = 72.0 / ((0.25 + 1.0 / 3.0) / 4.0);
    close(&months[4]["ltv"], &Value::from(ltv), "ltv");
    close(&months[4]["ltv_cac"], &Value::from(ltv / 50.0), "ltv_cac");
    close(
        &months[4]["payback_months"],
        &Value::from(50.0 / 72.0),
        "payback",
    );
}

#[test]
fn segment_by_reports_each_attribute_value_side_by_side() {
    let text = run_ok(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--segment-by",
        "onboarding_completed",
        "--customers",
        &data("saas_sample_customers.csv"),
        "--json",
    ]);
    let order: SegmentsOrder = serde_json::from_str(&text).unwrap();
    assert_eq!(order.segments.len(), 2);
    for s in &order.segments {
        for m in &s.months {
            assert_eq!(m.0, KEYS);
        }
    }
    let out: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys(&out), ["segment_by", "segments"]);
    assert_eq!(out["segment_by"], "onboarding_completed");
    let segments = out["segments"].as_array().unwrap();
    let names: Vec<&Value> = segments.iter().map(|s| &s["segment"]).collect();
    assert_eq!(names, [&Value::from("false"), &Value::from("true")]);
    // Not onboarded: C and F (D never shows). Both churn; C comes back in June.
    let not = &segments[0];
    assert_eq!(not["customers_with_mrr"], 2);
    assert_eq!(not["months"][2]["logo_churn_rate"], 0.5);
    assert_eq!(not["months"][3]["logo_churn_rate"], 1.0);
    assert_eq!(not["months"][5]["reactivated_customers"], 1);
    // Onboarded: A, B and E never churn, so their LTV is undefined (null), not infinite.
    let onboarded = &segments[1];
    assert_eq!(onboarded["customers_with_mrr"], 3);
    assert_eq!(onboarded["months"][5]["mrr"], 270.0);
    assert!(onboarded["months"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["ltv"].is_null()));
    // The table lists both segments and a side-by-side summary.
    let table = run_ok(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--segment-by",
        "onboarding_completed",
        "--customers",
        &data("saas_sample_customers.csv"),
    ]);
    assert!(table.contains("== onboarding_completed = false"));
    assert!(table.contains("== onboarding_completed = true"));
    assert!(table.contains("Side by side, 2024-06"));
    // CSV: a leading segment column.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("segments.csv");
    run_ok(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--segment-by",
        "onboarding_completed",
        "--customers",
        &data("saas_sample_customers.csv"),
        "-o",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(csv).unwrap();
    assert!(text.starts_with("segment,month,mrr,"));
    assert_eq!(text.lines().count(), 1 + 2 * 6);
}

#[test]
fn segment_by_names_missing_customers_and_needs_a_customers_file() {
    let dir = tempfile::tempdir().unwrap();
    let customers = write(
        dir.path(),
        "customers.csv",
        "customer_id,onboarding_completed\nA,true\nB,true\n",
    );
    let out = json(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--segment-by",
        "onboarding_completed",
        "--customers",
        &customers,
        "--json",
    ]);
    let segments = out["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[1]["segment"], Value::Null);
    assert_eq!(segments[1]["customers_with_mrr"], 3); // C, E, F
    let err = run_err(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--segment-by",
        "onboarding_completed",
    ]);
    assert!(err.contains("--customers"), "{err}");
    let err = run_err(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--segment-by",
        "plan_tier",
        "--customers",
        &data("saas_sample_customers.csv"),
    ]);
    assert!(err.contains("no 'plan_tier' column"), "{err}");
}

#[test]
fn cohorts_print_json_a_triangle_and_csv() {
    let out = json(&[
        "saas",
        "cohorts",
        &data("saas_sample_subscriptions.csv"),
        "--json",
    ]);
    let cohorts = out["cohorts"].as_array().unwrap();
    assert_eq!(cohorts.len(), 3);
    assert_eq!(cohorts[0]["cohort"], "2024-01");
    assert_eq!(cohorts[0]["size"], 3);
    assert_eq!(cohorts[0]["mrr"], 240.0);
    assert_eq!(cohorts[0]["retention"].as_array().unwrap().len(), 6);
    // C (2024-02) churns in April and returns in June: counted again in its first cohort.
    assert_eq!(
        cohorts[1]["retention"],
        serde_json::json!([1.0, 1.0, 0.0, 0.0, 1.0])
    );
    let mrr = json(&[
        "saas",
        "cohorts",
        &data("saas_sample_subscriptions.csv"),
        "--metric",
        "mrr",
        "--json",
    ]);
    assert_eq!(mrr["cohorts"][0]["retention"][2], 1.25);
    assert_eq!(mrr["cohorts"][1]["retention"][4], 2.0);
    let table = run_ok(&["saas", "cohorts", &data("saas_sample_subscriptions.csv")]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("cohort") && lines[0].contains("M5"));
    assert!(lines[1].starts_with("2024-01") && lines[1].contains("66.7%"));
    assert!(lines[3].starts_with("2024-05"));
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("cohorts.csv");
    run_ok(&[
        "saas",
        "cohorts",
        &data("saas_sample_subscriptions.csv"),
        "--to",
        "2024-03",
        "-o",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(csv).unwrap();
    assert_eq!(
        text,
        "cohort,size,mrr,m0,m1,m2\n2024-01,3,240,1,1,0.6666666666666666\n2024-02,1,30.4375,1,1,\n"
    );
}

#[test]
fn cohorts_fit_projects_retention_and_values_a_customer_with_del() {
    for model in ["sbg", "bdw"] {
        let out = run_ok(&[
            "saas",
            "cohorts",
            &data("saas_sample_subscriptions.csv"),
            "--fit",
            model,
            "--json",
        ]);
        let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let fit = &json["fit"];
        assert_eq!(fit["model"], model);
        let projections = fit["projection"].as_array().unwrap();
        assert_eq!(projections.len(), json["cohorts"].as_array().unwrap().len());
        for p in projections {
            let r: Vec<f64> = p["retention"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(r.len(), 24);
            assert!(
                r.windows(2).all(|w| w[1] <= w[0] + 1e-15),
                "projected retention never rises: {r:?}"
            );
        }
        // subscription CLV = ARPA × margin × DEL, by definition.
        let (arpa, del) = (fit["arpa"].as_f64().unwrap(), fit["del"].as_f64().unwrap());
        let clv = fit["subscription_clv"].as_f64().unwrap();
        assert!(
            (clv - arpa * del).abs() < 1e-9 * clv,
            "{clv} vs {arpa} × {del}"
        );
        assert!(fit["formula_ltv"].as_f64().is_some());
    }
}

#[test]
fn bad_subscription_files_fail_with_file_line_column_value_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let header =
        "customer_id,subscription_id,plan,start_date,end_date,amount,interval,interval_count,quantity\n";
    let good = "a,s1,pro,2024-01-01,,10,month,1,1\n";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "end_before_start.csv",
            format!("{header}{good}b,s2,pro,2024-03-01,2024-02-01,10,month,1,1\n"),
            vec![
                "line 3",
                "column 'end_date' (5)",
                "\"2024-02-01\"",
                "before start_date",
            ],
        ),
        (
            "interval.csv",
            format!("{header}{good}b,s2,pro,2024-03-01,,10,fortnight,1,1\n"),
            vec![
                "line 3",
                "column 'interval' (7)",
                "\"fortnight\"",
                "expected day, week, month or year",
            ],
        ),
        (
            "negative.csv",
            format!("{header}b,s2,pro,2024-03-01,,-5,month,1,1\n"),
            vec!["line 2", "column 'amount' (6)", "\"-5\"", "negative"],
        ),
        (
            "date.csv",
            format!("{header}b,s2,pro,03/01/2024,,5,month,1,1\n"),
            vec![
                "line 2",
                "column 'start_date' (4)",
                "\"03/01/2024\"",
                "YYYY-MM-DD",
            ],
        ),
        (
            "missing_column.csv",
            "customer_id,start_date,amount,interval\na,2024-01-01,10,month\n".to_string(),
            vec![
                "line 1",
                "no 'end_date' column",
                "'customer_id', 'start_date', 'amount', 'interval'",
            ],
        ),
        (
            "ragged.csv",
            format!("{header}{good}b,s2,pro,2024-03-01,,10,month\n"),
            vec!["line 3", "7 fields", "expected 9"],
        ),
        (
            "empty.csv",
            String::new(),
            vec!["empty.csv", "the file is empty"],
        ),
        ("header_only.csv", header.to_string(), vec!["no data rows"]),
        (
            "count.csv",
            format!("{header}b,s2,pro,2024-03-01,,10,month,0,1\n"),
            vec!["line 2", "column 'interval_count' (8)", "\"0\""],
        ),
    ];
    for (name, content, needles) in cases {
        let input = write(dir.path(), name, &content);
        let output = dir.path().join(format!("{name}.out.csv"));
        let err = run_err(&["saas", "metrics", &input, "-o", output.to_str().unwrap()]);
        assert!(err.contains(name), "{name}: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{name}: expected {needle:?} in {err}");
        }
        assert!(!output.exists(), "{name}: no output file");
        // The same errors from `saas cohorts`.
        run_err(&["saas", "cohorts", &input]);
    }
    let err = run_err(&["saas", "metrics", "no/such/file.csv"]);
    assert!(err.contains("cannot read no/such/file.csv"), "{err}");
}

#[test]
fn bad_spend_and_customers_files_fail_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let spend = write(
        dir.path(),
        "spend.csv",
        "month,spend\n2024-01,100\n2024-02,-3\n",
    );
    let output = dir.path().join("out.csv");
    let err = run_err(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--marketing-spend",
        &spend,
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(
        err.contains("spend.csv: line 3, column 'spend' (2)"),
        "{err}"
    );
    assert!(!output.exists());
    let customers = write(
        dir.path(),
        "customers.csv",
        "customer_id,onboarding_completed\nA,true\nA,false\n",
    );
    let err = run_err(&[
        "saas",
        "metrics",
        &data("saas_sample_subscriptions.csv"),
        "--segment-by",
        "onboarding_completed",
        "--customers",
        &customers,
    ]);
    assert!(
        err.contains("line 3") && err.contains("first on line 2"),
        "{err}"
    );
}

#[test]
fn calc_reproduces_the_seed_examples() {
    // ARPA $50 × a 24-month lifetime = $1,200; 36 months = $1,800.
    let r = json(&["calc", "--arpa", "50", "--lifetime-months", "24", "--json"]);
    assert_eq!(r["ltv"], 1200.0);
    assert_eq!(r["lifetime_months"], 24.0);
    let r = json(&["calc", "--arpa", "50", "--lifetime-months", "36", "--json"]);
    assert_eq!(r["ltv"], 1800.0);
    // The same from the churn rate: 1/churn = 25 months.
    let r = json(&["calc", "--arpa", "50", "--churn", "0.04", "--json"]);
    assert_eq!(
        (r["ltv"].as_f64(), r["lifetime_months"].as_f64()),
        (Some(1250.0), Some(25.0))
    );
    // AOV × purchases a year × years: $72 × 4 × 7 = $2,016 (the seeds' figure; with 3 purchases
    // a year, as the seeds' text says, the product is $1,512).
    let r = json(&[
        "calc",
        "--aov",
        "72",
        "--purchases-per-year",
        "4",
        "--lifespan-years",
        "7",
        "--json",
    ]);
    assert_eq!(r["aov_ltv"], 2016.0);
    let r = json(&[
        "calc",
        "--aov",
        "72",
        "--purchases-per-year",
        "3",
        "--lifespan-years",
        "7",
        "--json",
    ]);
    assert_eq!(r["aov_ltv"], 1512.0);
    let text = run_ok(&["calc", "--arpa", "50", "--lifetime-months", "24"]);
    assert!(text.contains("1,200.00"), "{text}");
}

#[test]
fn calc_flags_ltv_cac_below_three_and_notes_above_five() {
    let low = json(&[
        "calc",
        "--arpa",
        "50",
        "--lifetime-months",
        "24",
        "--cac",
        "500",
        "--json",
    ]);
    assert_eq!(low["ltv_cac"], 2.4);
    assert_eq!(low["ltv_cac_status"], "below_healthy");
    assert_eq!(low["payback_months"], 10.0);
    assert!(low["notes"][0]
        .as_str()
        .unwrap()
        .contains("below the healthy 3:1 line"));
    let text = run_ok(&[
        "calc",
        "--arpa",
        "50",
        "--lifetime-months",
        "24",
        "--cac",
        "500",
    ]);
    assert!(text.contains("below the healthy 3:1 line"), "{text}");
    let high = json(&[
        "calc",
        "--arpa",
        "50",
        "--lifetime-months",
        "24",
        "--cac",
        "200",
        "--json",
    ]);
    assert_eq!(high["ltv_cac_status"], "above_five");
    assert!(high["notes"][0]
        .as_str()
        .unwrap()
        .contains("acquisition spend could likely grow"));
    let healthy = json(&[
        "calc",
        "--arpa",
        "50",
        "--lifetime-months",
        "24",
        "--cac",
        "300",
        "--json",
    ]);
    assert_eq!(healthy["ltv_cac_status"], "healthy");
}

#[test]
fn calc_json_has_every_key_and_discounts() {
    let args = [
        "calc",
        "--arpa",
        "100",
        "--churn",
        "0.05",
        "--gross-margin",
        "0.8",
        "--discount-rate",
        "0.1",
        "--expansion-rate",
        "0.01",
        "--invites-per-user",
        "3",
        "--invite-conversion",
        "0.1",
        "--json",
    ];
    let text = run_ok(&args);
    let r: Value = serde_json::from_str(&text).unwrap();
    let order: Ordered = serde_json::from_str(&text).unwrap();
    assert_eq!(
        order.0,
        [
            "churn",
            "lifetime_months",
            "gross_margin",
            "monthly_margin",
            "ltv",
            "monthly_discount_rate",
            "discounted_ltv",
            "ltv_cac",
            "ltv_cac_status",
            "payback_months",
            "aov_ltv",
            "k_factor",
            "notes"
        ]
    );
    let d = 1.1f64.powf(1.0 / 12.0) - 1.0;
    let want = 80.0 / (1.0 - 1.01 * 0.95 / (1.0 + d));
    close(&r["discounted_ltv"], &Value::from(want), "discounted_ltv");
    close(&r["k_factor"], &Value::from(0.3), "k_factor");
    assert_eq!(r["ltv"], 1600.0);
    assert_eq!(r["aov_ltv"], Value::Null);
}

#[test]
fn calc_errors_when_the_discounted_series_diverges_or_inputs_are_incomplete() {
    let err = run_err(&[
        "calc",
        "--arpa",
        "50",
        "--churn",
        "0.02",
        "--expansion-rate",
        "0.03",
    ]);
    assert!(err.contains("diverges"), "{err}");
    let err = run_err(&["calc", "--arpa", "50"]);
    assert!(
        err.contains("--arpa needs --churn or --lifetime-months"),
        "{err}"
    );
    let err = run_err(&["calc", "--aov", "72", "--purchases-per-year", "3"]);
    assert!(err.contains("--lifespan-years"), "{err}");
    let err = run_err(&["calc", "--arpa", "50", "--churn", "3"]);
    assert!(err.contains("--churn 3 is invalid"), "{err}");
    let err = run_err(&["calc"]);
    assert!(err.contains("nothing to compute"), "{err}");
    let err = run_err(&[
        "calc",
        "--arpa",
        "50",
        "--churn",
        "0.1",
        "--lifetime-months",
        "10",
    ]);
    assert!(err.contains("cannot be used with"), "{err}");
}
