//! `northstar saas metrics|cohorts SUBS.csv`: month-end SaaS metrics and cohort retention from a
//! subscriptions file (one row per priced period).

use crate::model_file::fit_to_json;
use crate::output::write_output;
use crate::progress;
use anyhow::{bail, Result};
use northstar_models::{
    BetaDiscreteWeibull, ContractualData, FitOptions, RetentionModel, ShiftedBetaGeometric,
};
use northstar_saas::{
    add_acquisition, add_blended_acquisition, compute_cohorts, compute_metrics,
    compute_segment_metrics, read_customer_attribute, read_marketing_spend,
    read_subscriptions_with_progress, Cohort, CohortOptions, MetricsOptions, Month, MonthMetrics,
    SegmentMetrics, SubscriptionBook,
};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `northstar saas`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: SaasCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SaasCommand {
    /// MRR, its movements, churn, NRR/GRR, ARPA and formula LTV for each month.
    Metrics(MetricsArgs),
    /// Logo or MRR retention by cohort (the first month with MRR).
    Cohorts(CohortsArgs),
}

/// Arguments of `northstar saas metrics`.
#[derive(Debug, clap::Args)]
struct MetricsArgs {
    /// Subscriptions CSV: customer_id,subscription_id,plan,start_date,end_date,amount,interval,interval_count,quantity.
    subscriptions: PathBuf,
    /// First month reported, YYYY-MM (default: the first month with MRR).
    #[arg(long)]
    from: Option<Month>,
    /// Last month reported, YYYY-MM (default: the month of the latest start_date).
    #[arg(long)]
    to: Option<Month>,
    /// Gross margin as a fraction, for LTV and payback.
    #[arg(long, default_value_t = 1.0)]
    gross_margin: f64,
    /// CSV with columns month,spend: adds cac, ltv_cac and payback_months.
    #[arg(long)]
    marketing_spend: Option<PathBuf>,
    /// Report the metrics for each value of this column of --customers.
    #[arg(long, requires = "customers")]
    segment_by: Option<String>,
    /// Customers CSV: customer_id plus attribute columns (used with --segment-by).
    #[arg(long, requires = "segment_by")]
    customers: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Write the same columns as CSV to this file (nothing else is printed unless --json).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Which retention the cohort table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CohortMetric {
    /// Share of the cohort's customers with MRR.
    Logos,
    /// The cohort's MRR over its MRR in the cohort month.
    Mrr,
}

/// Subscription models for `--fit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FitModel {
    /// shifted Beta-Geometric.
    Sbg,
    /// Beta-discrete-Weibull.
    Bdw,
}

/// Arguments of `northstar saas cohorts`.
#[derive(Debug, clap::Args)]
struct CohortsArgs {
    /// Subscriptions CSV (as for `saas metrics`).
    subscriptions: PathBuf,
    /// Retention shown: logos (customers) or mrr.
    #[arg(long, value_enum, default_value = "logos")]
    metric: CohortMetric,
    /// Last month of the retention curves, YYYY-MM (default: the month of the latest start_date).
    #[arg(long)]
    to: Option<Month>,
    /// Fit sBG or BdW to the pooled logo retention, project each cohort 24 months ahead, and
    /// compare the model-based subscription CLV (ARPA × margin × DEL) with the formula LTV.
    #[arg(long, value_enum)]
    fit: Option<FitModel>,
    /// With --fit: gross margin for the CLV figures (0 < margin ≤ 1).
    #[arg(long, default_value_t = 1.0)]
    gross_margin: f64,
    /// With --fit: monthly discount rate for DEL.
    #[arg(long, default_value_t = 0.01)]
    discount_rate: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Write the retention triangle as CSV to this file (nothing else is printed unless --json).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        SaasCommand::Metrics(args) => metrics(args),
        SaasCommand::Cohorts(args) => cohorts(args),
    }
}

fn read_book(path: &Path) -> Result<SubscriptionBook> {
    let bar = progress::file_bar(path);
    let book = read_subscriptions_with_progress(path, &mut |bytes| bar.set_position(bytes));
    bar.finish_and_clear();
    Ok(book?)
}

#[derive(Serialize)]
struct MonthsJson<'a> {
    months: &'a [MonthMetrics],
}

#[derive(Serialize)]
struct SegmentsJson<'a> {
    segment_by: &'a str,
    segments: &'a [SegmentMetrics],
}

fn metrics(args: MetricsArgs) -> Result<()> {
    // Check the options and read every input before any output is written.
    let g = args.gross_margin;
    if !(g.is_finite() && g > 0.0 && g <= 1.0) {
        bail!("--gross-margin {g} is not a fraction in (0, 1]; expected for example 0.8 for 80%");
    }
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from > to {
            bail!("--from {from} is after --to {to}; expected --from on or before --to");
        }
    }
    let options = MetricsOptions {
        from: args.from,
        to: args.to,
        gross_margin: args.gross_margin,
    };
    let spend = args
        .marketing_spend
        .as_deref()
        .map(read_marketing_spend)
        .transpose()?;
    let attribute = match (&args.segment_by, &args.customers) {
        (Some(column), Some(path)) => Some(read_customer_attribute(path, column)?),
        _ => None,
    };
    let book = read_book(&args.subscriptions)?;
    let with_spend = spend.is_some();

    if let Some(attribute) = attribute {
        let mut segments = compute_segment_metrics(&book, &attribute, &options)?;
        if let Some(spend) = &spend {
            add_blended_acquisition(&mut segments, spend, options.gross_margin);
        }
        if let Some(path) = &args.output {
            write_output(Some(path), |out| {
                write_metrics_csv(out, &segments, Some(attribute.column()), with_spend)
            })?;
        }
        if args.json {
            let json = SegmentsJson {
                segment_by: attribute.column(),
                segments: &segments,
            };
            write_output(None, |out| {
                serde_json::to_writer(&mut *out, &json)?;
                writeln!(out)?;
                Ok(())
            })?;
        } else if args.output.is_none() {
            write_output(None, |out| {
                print_segments(out, attribute.column(), &segments, with_spend)
            })?;
        }
        return Ok(());
    }

    let mut months = compute_metrics(&book, &options)?;
    if let Some(spend) = &spend {
        add_acquisition(&mut months, spend, options.gross_margin);
    }
    let whole = [SegmentMetrics {
        segment: None,
        customers_with_mrr: 0,
        months,
    }];
    if let Some(path) = &args.output {
        write_output(Some(path), |out| {
            write_metrics_csv(out, &whole, None, with_spend)
        })?;
    }
    if args.json {
        let json = MonthsJson {
            months: &whole[0].months,
        };
        write_output(None, |out| {
            serde_json::to_writer(&mut *out, &json)?;
            writeln!(out)?;
            Ok(())
        })?;
    } else if args.output.is_none() {
        write_output(None, |out| {
            print_metrics_table(out, &whole[0].months, with_spend)?;
            print_metrics_note(out)
        })?;
    }
    Ok(())
}

/// The CSV (and JSON) columns, in order.
const METRIC_COLUMNS: [&str; 21] = [
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
const SPEND_COLUMNS: [&str; 3] = ["cac", "ltv_cac", "payback_months"];

/// Shortest round-trip form of a number; empty for `None`.
fn number(value: Option<f64>) -> String {
    match value {
        None => String::new(),
        Some(v) => {
            let mut buffer = ryu::Buffer::new();
            let text = buffer.format(v);
            text.strip_suffix(".0").unwrap_or(text).to_string()
        }
    }
}

fn write_metrics_csv(
    out: &mut dyn Write,
    segments: &[SegmentMetrics],
    segment_by: Option<&str>,
    with_spend: bool,
) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let mut header: Vec<&str> = Vec::new();
    if segment_by.is_some() {
        header.push("segment");
    }
    header.extend(METRIC_COLUMNS);
    if with_spend {
        header.extend(SPEND_COLUMNS);
    }
    writer.write_record(&header)?;
    for segment in segments {
        for m in &segment.months {
            let mut row: Vec<String> = Vec::with_capacity(header.len());
            if segment_by.is_some() {
                row.push(segment.segment.clone().unwrap_or_default());
            }
            row.push(m.month.to_string());
            for v in [m.mrr, m.arr] {
                row.push(number(Some(v)));
            }
            row.push(m.customers.to_string());
            row.push(number(m.arpa));
            for v in [
                m.new_mrr,
                m.expansion_mrr,
                m.contraction_mrr,
                m.churned_mrr,
                m.reactivation_mrr,
            ] {
                row.push(number(Some(v)));
            }
            for n in [
                m.new_customers,
                m.churned_customers,
                m.reactivated_customers,
            ] {
                row.push(n.to_string());
            }
            for v in [
                m.logo_churn_rate,
                m.gross_mrr_churn_rate,
                m.net_mrr_churn_rate,
                m.nrr,
                m.grr,
                m.nrr_12m,
                m.quick_ratio,
                m.ltv,
            ] {
                row.push(number(v));
            }
            if with_spend {
                let a = m.acquisition.unwrap_or_default();
                for v in [a.cac, a.ltv_cac, a.payback_months] {
                    row.push(number(v));
                }
            }
            writer.write_record(&row)?;
        }
    }
    writer.flush()?;
    Ok(())
}

const NA: &str = "n/a";

/// `1234567.891` → `1,234,567.89`.
fn money(value: f64) -> String {
    let text = format!("{:.2}", value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 { "-" } else { "" };
    format!("{sign}{grouped}.{frac}")
}

fn money_opt(value: Option<f64>) -> String {
    value.map_or_else(|| NA.to_string(), money)
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| NA.to_string(), |v| format!("{:.1}%", 100.0 * v))
}

fn plain(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| NA.to_string(), |v| format!("{v:.decimals$}"))
}

/// Writes rows of cells with right-aligned columns (the first column left-aligned).
fn write_aligned(out: &mut dyn Write, rows: &[Vec<String>]) -> Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 0 {
                line.push_str(&format!("{cell:<w$}", w = widths[0]));
            } else {
                line.push_str(&format!("  {cell:>w$}", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn print_metrics_table(
    out: &mut dyn Write,
    months: &[MonthMetrics],
    with_spend: bool,
) -> Result<()> {
    let mut header: Vec<String> = [
        "month",
        "MRR",
        "customers",
        "ARPA",
        "new",
        "expansion",
        "contraction",
        "churned",
        "reactivation",
        "logo churn",
        "gross churn",
        "net churn",
        "NRR",
        "GRR",
        "NRR 12m",
        "quick",
        "LTV",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if with_spend {
        header.extend(["CAC", "LTV:CAC", "payback"].map(String::from));
    }
    let mut rows = vec![header];
    for m in months {
        let mut row = vec![
            m.month.to_string(),
            money(m.mrr),
            m.customers.to_string(),
            money_opt(m.arpa),
            format!("{} ({})", money(m.new_mrr), m.new_customers),
            money(m.expansion_mrr),
            money(m.contraction_mrr),
            format!("{} ({})", money(m.churned_mrr), m.churned_customers),
            format!(
                "{} ({})",
                money(m.reactivation_mrr),
                m.reactivated_customers
            ),
            percent(m.logo_churn_rate),
            percent(m.gross_mrr_churn_rate),
            percent(m.net_mrr_churn_rate),
            percent(m.nrr),
            percent(m.grr),
            percent(m.nrr_12m),
            plain(m.quick_ratio, 2),
            money_opt(m.ltv),
        ];
        if with_spend {
            let a = m.acquisition.unwrap_or_default();
            row.push(money_opt(a.cac));
            row.push(plain(a.ltv_cac, 2));
            row.push(plain(a.payback_months, 1));
        }
        rows.push(row);
    }
    write_aligned(out, &rows)
}

fn print_metrics_note(out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "\nnew, churned and reactivation MRR show their customer counts in brackets. Rates whose \
         denominator is zero show {NA}; so does LTV while the six-month mean logo churn is zero \
         or undefined. --json or -o FILE.csv give every column."
    )?;
    Ok(())
}

fn segment_name(segment: &Option<String>) -> String {
    match segment {
        Some(v) if v.is_empty() => "(empty)".to_string(),
        Some(v) => v.clone(),
        None => "(not in the customers file)".to_string(),
    }
}

fn print_segments(
    out: &mut dyn Write,
    column: &str,
    segments: &[SegmentMetrics],
    with_spend: bool,
) -> Result<()> {
    for s in segments {
        writeln!(
            out,
            "== {column} = {} ({} customer{} with MRR) ==",
            segment_name(&s.segment),
            s.customers_with_mrr,
            if s.customers_with_mrr == 1 { "" } else { "s" }
        )?;
        print_metrics_table(out, &s.months, with_spend)?;
        writeln!(out)?;
    }
    let Some(last) = segments.first().and_then(|s| s.months.last()) else {
        return Ok(());
    };
    writeln!(out, "Side by side, {}:", last.month)?;
    let mut rows = vec![[
        column,
        "customers",
        "MRR",
        "ARPA",
        "logo churn",
        "NRR",
        "NRR 12m",
        "LTV",
    ]
    .map(String::from)
    .to_vec()];
    for s in segments {
        let Some(m) = s.months.last() else { continue };
        rows.push(vec![
            segment_name(&s.segment),
            m.customers.to_string(),
            money(m.mrr),
            money_opt(m.arpa),
            percent(m.logo_churn_rate),
            percent(m.nrr),
            percent(m.nrr_12m),
            money_opt(m.ltv),
        ]);
    }
    write_aligned(out, &rows)?;
    print_metrics_note(out)
}

#[derive(Serialize)]
struct CohortsJson {
    cohorts: Vec<CohortJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fit: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct CohortJson {
    cohort: Month,
    size: u64,
    mrr: f64,
    retention: Vec<f64>,
}

fn retention(c: &Cohort, metric: CohortMetric) -> &[f64] {
    match metric {
        CohortMetric::Logos => &c.logo_retention,
        CohortMetric::Mrr => &c.mrr_retention,
    }
}

fn cohorts(args: CohortsArgs) -> Result<()> {
    if !(args.gross_margin > 0.0 && args.gross_margin <= 1.0) {
        bail!(
            "--gross-margin {} is invalid: expected a fraction in (0, 1]",
            args.gross_margin
        );
    }
    if !(args.discount_rate.is_finite() && args.discount_rate >= 0.0) {
        bail!(
            "--discount-rate {} is invalid: expected a monthly rate ≥ 0",
            args.discount_rate
        );
    }
    let book = read_book(&args.subscriptions)?;
    let cohorts = compute_cohorts(&book, &CohortOptions { to: args.to })?;
    let fit = match args.fit {
        Some(model) => Some(fit_cohorts(model, &cohorts, &book, &args)?),
        None => None,
    };
    if let Some(path) = &args.output {
        write_output(Some(path), |out| {
            write_cohorts_csv(out, &cohorts, args.metric)
        })?;
    }
    if args.json {
        let cohorts = cohorts
            .iter()
            .map(|c| CohortJson {
                cohort: c.cohort,
                size: c.size,
                mrr: c.mrr,
                retention: retention(c, args.metric).to_vec(),
            })
            .collect();
        let json = CohortsJson { cohorts, fit };
        write_output(None, |out| {
            serde_json::to_writer(&mut *out, &json)?;
            writeln!(out)?;
            Ok(())
        })?;
    } else if args.output.is_none() {
        write_output(None, |out| {
            print_cohorts(out, &cohorts, args.metric)?;
            if let Some(fit) = fit.as_ref() {
                print_cohort_fit(out, fit)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Months the fitted model projects each cohort ahead.
const PROJECTION_MONTHS: u32 = 24;

/// Fits sBG/BdW to the cohorts' logo counts (pooled), projects each cohort, and values a new
/// customer: ARPA × margin × DEL beside the formula LTV of the last month.
fn fit_cohorts(
    kind: FitModel,
    cohorts: &[Cohort],
    book: &SubscriptionBook,
    args: &CohortsArgs,
) -> Result<serde_json::Value> {
    let mut data = ContractualData::new();
    for c in cohorts.iter().filter(|c| c.size > 0) {
        // Returning customers count again in their cohort, but the models describe first
        // lifetimes only: a count never exceeds the one before it.
        let mut alive = f64::INFINITY;
        let counts: Vec<(f64, f64)> = c
            .active
            .iter()
            .enumerate()
            .map(|(k, &a)| {
                alive = alive.min(a as f64);
                (k as f64, alive)
            })
            .collect();
        data.push_cohort_counts(&counts, Some(&c.cohort.to_string()))?;
    }
    let pooled = data.pooled();
    let options = FitOptions::default();
    let (mut fit, model): (serde_json::Value, Box<dyn RetentionModel>) = match kind {
        FitModel::Sbg => {
            let (m, report) = ShiftedBetaGeometric::fit(&pooled, &options)?;
            (fit_to_json(&m, &report, Default::default()), Box::new(m))
        }
        FitModel::Bdw => {
            let (m, report) = BetaDiscreteWeibull::fit(&pooled, &options)?;
            (fit_to_json(&m, &report, Default::default()), Box::new(m))
        }
    };
    let projections: Vec<serde_json::Value> = cohorts
        .iter()
        .filter(|c| c.size > 0)
        .map(|c| {
            let last = c.logo_retention.len().saturating_sub(1) as u32;
            let observed = c.logo_retention.last().copied().unwrap_or(1.0);
            let ln_s = model.ln_survival(last);
            let projected: Vec<f64> = (1..=PROJECTION_MONTHS)
                .map(|j| observed * (model.ln_survival(last + j) - ln_s).exp())
                .collect();
            serde_json::json!({ "cohort": c.cohort, "from_month": last + 1, "retention": projected })
        })
        .collect();
    let months = compute_metrics(
        book,
        &MetricsOptions {
            from: None,
            to: args.to,
            gross_margin: args.gross_margin,
        },
    )?;
    let last = months.last();
    let arpa = last.and_then(|m| m.arpa);
    let del = model.discounted_expected_lifetime(args.discount_rate)?;
    let finite = |v: f64| v.is_finite().then_some(v);
    fit["projection"] = serde_json::json!(projections);
    fit["arpa"] = serde_json::json!(arpa);
    fit["gross_margin"] = serde_json::json!(args.gross_margin);
    fit["discount_rate"] = serde_json::json!(args.discount_rate);
    fit["del"] = serde_json::json!(finite(del));
    fit["subscription_clv"] =
        serde_json::json!(arpa.and_then(|a| finite(a * args.gross_margin * del)));
    fit["formula_ltv"] = serde_json::json!(last.and_then(|m| m.ltv));
    Ok(fit)
}

fn print_cohort_fit(out: &mut dyn Write, fit: &serde_json::Value) -> Result<()> {
    let model = fit["model"].as_str().unwrap_or("");
    let params: Vec<String> = fit["params"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(k, v)| format!("{k}={:.4}", v.as_f64().unwrap_or(f64::NAN)))
                .collect()
        })
        .unwrap_or_default();
    let value = |key: &str| {
        fit[key]
            .as_f64()
            .map_or("n/a".to_string(), |v| format!("{v:.2}"))
    };
    writeln!(
        out,
        "
{model} fitted to the pooled cohorts: {} (log-likelihood {:.3})",
        params.join(", "),
        fit["log_likelihood"].as_f64().unwrap_or(f64::NAN)
    )?;
    writeln!(
        out,
        "Projected logo retention, months after the last observed one:"
    )?;
    for p in fit["projection"].as_array().into_iter().flatten() {
        let r: Vec<String> = p["retention"]
            .as_array()
            .into_iter()
            .flatten()
            .step_by(6)
            .map(|v| format!("{:.1}%", 100.0 * v.as_f64().unwrap_or(f64::NAN)))
            .collect();
        writeln!(
            out,
            "  {}  from month {}: {} (every 6 months)",
            p["cohort"].as_str().unwrap_or(""),
            p["from_month"],
            r.join("  ")
        )?;
    }
    writeln!(
        out,
        "
A new customer's value: model-based ARPA × margin × DEL = {} (DEL {} at {} a month)\n  vs formula LTV ARPA × margin / churn = {}",
        value("subscription_clv"),
        value("del"),
        fit["discount_rate"],
        value("formula_ltv")
    )?;
    Ok(())
}

fn write_cohorts_csv(out: &mut dyn Write, cohorts: &[Cohort], metric: CohortMetric) -> Result<()> {
    let width = cohorts.first().map_or(0, |c| c.logo_retention.len());
    let mut writer = csv::Writer::from_writer(out);
    let mut header = vec!["cohort".to_string(), "size".into(), "mrr".into()];
    header.extend((0..width).map(|k| format!("m{k}")));
    writer.write_record(&header)?;
    for c in cohorts {
        let mut row = vec![
            c.cohort.to_string(),
            c.size.to_string(),
            number(Some(c.mrr)),
        ];
        let values = retention(c, metric);
        row.extend((0..width).map(|k| number(values.get(k).copied())));
        writer.write_record(&row)?;
    }
    writer.flush()?;
    Ok(())
}

fn print_cohorts(out: &mut dyn Write, cohorts: &[Cohort], metric: CohortMetric) -> Result<()> {
    let width = cohorts.first().map_or(0, |c| c.logo_retention.len());
    let mut header = vec!["cohort".to_string(), "size".into(), "MRR".into()];
    header.extend((0..width).map(|k| format!("M{k}")));
    let mut rows = vec![header];
    for c in cohorts {
        let mut row = vec![c.cohort.to_string(), c.size.to_string(), money(c.mrr)];
        row.extend(
            retention(c, metric)
                .iter()
                .map(|&v| format!("{:.1}%", 100.0 * v)),
        );
        rows.push(row);
    }
    write_aligned(out, &rows)?;
    let what = match metric {
        CohortMetric::Logos => "the share of the cohort's customers with MRR",
        CohortMetric::Mrr => "the cohort's MRR, over its MRR in the cohort month,",
    };
    writeln!(
        out,
        "\nMk: {what} at the end of the k-th month after the cohort month (a customer's cohort is \
         their first month with MRR; returning customers count again in it)."
    )?;
    Ok(())
}
