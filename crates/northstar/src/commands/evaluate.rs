//! `northstar evaluate`: the holdout report. Fits each purchase model on the calibration period
//! and compares its predictions with what customers actually bought in the holdout period.

use crate::commands::fit::{fit_purchase_model, ModelKind};
use crate::format_args::TransactionFormatArgs;
use crate::progress;
use anyhow::{bail, Result};
use chrono::NaiveDate;
use northstar_data::{summarize_file, Summary, SummaryOptions, TimeUnit};
use northstar_models::evaluation::{evaluate_holdout, HoldoutEvaluation};
use northstar_models::Rfm;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Arguments of `northstar evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Purchase log (one row per purchase).
    pub transactions: PathBuf,
    /// Last day of the calibration period; models are fitted on purchases up to it.
    #[arg(long)]
    pub calibration_end: NaiveDate,
    /// Last day of the holdout period.
    #[arg(long)]
    pub observation_end: NaiveDate,
    /// Models to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "bgnbd,pnbd,mbgnbd")]
    pub models: Vec<ModelKind>,
    /// Time unit for recency, T and the fitted rates.
    #[arg(long, default_value = "week")]
    pub time_unit: TimeUnit,
    #[command(flatten)]
    pub format: TransactionFormatArgs,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

struct ModelResult {
    kind: ModelKind,
    json: Value,
    aic: f64,
    evaluation: HoldoutEvaluation,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    if args.models.contains(&ModelKind::Gg) {
        bail!("--models: gg is a spend model; choose purchase models (bgnbd, mbgnbd, pnbd)");
    }
    let options = SummaryOptions {
        observation_end: Some(args.observation_end),
        calibration_end: Some(args.calibration_end),
        time_unit: args.time_unit,
    };
    let bar = progress::file_bar(&args.transactions);
    let summary = summarize_file(
        &args.transactions,
        &args.format.to_format(),
        &options,
        &mut |b| bar.set_position(b),
    );
    bar.finish_and_clear();
    let Summary::CalibrationHoldout(rows) = summary? else {
        unreachable!("a calibration end was given");
    };
    let calibration = rows
        .iter()
        .map(|r| Rfm::try_new(r.frequency_cal as f64, r.recency_cal, r.t_cal, None))
        .collect::<Result<Vec<Rfm>, _>>()?;
    let actual: Vec<f64> = rows.iter().map(|r| r.frequency_holdout as f64).collect();
    let durations: Vec<f64> = rows.iter().map(|r| r.duration_holdout).collect();

    let mut results = Vec::new();
    for &kind in &args.models {
        let fitted = fit_purchase_model(kind, &calibration, None)?;
        let evaluation = evaluate_holdout(fitted.model.as_ref(), &calibration, &actual, &durations);
        results.push(ModelResult {
            kind,
            json: fitted.json,
            aic: fitted.report.aic,
            evaluation,
        });
    }
    let name = |kind: ModelKind| {
        results
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.json["model"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let best = results
        .iter()
        .min_by(|a, b| a.evaluation.mae.total_cmp(&b.evaluation.mae))
        .map(|r| r.kind);
    let best_aic = results
        .iter()
        .min_by(|a, b| a.aic.total_cmp(&b.aic))
        .map(|r| r.kind);
    let (Some(best), Some(best_aic)) = (best, best_aic) else {
        bail!("--models: no model to evaluate");
    };

    if args.json {
        let models: Vec<Value> = results
            .iter()
            .map(|r| {
                let e = &r.evaluation;
                json!({
                    "model": r.json["model"],
                    "params": r.json["params"],
                    "log_likelihood": r.json["log_likelihood"],
                    "aic": r.json["aic"],
                    "bic": r.json["bic"],
                    "converged": r.json["converged"],
                    "holdout_predicted": e.predicted_total,
                    "holdout_actual": e.actual_total,
                    "mae": e.mae,
                    "rmse": e.rmse,
                    "by_frequency": e.by_frequency.iter().map(|g| json!({
                        "frequency": g.frequency,
                        "customers": g.customers,
                        "predicted": g.predicted,
                        "actual": g.actual,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let report = json!({ "models": models, "best": name(best), "best_by_aic": name(best_aic), "customers": rows.len() });
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }

    println!(
        "Holdout report: {} customers, calibration to {}, holdout to {} (times in {}s)\n",
        rows.len(),
        args.calibration_end,
        args.observation_end,
        args.time_unit.name()
    );
    println!(
        "  {:<8} {:>12} {:>12} {:>12} {:>11} {:>9} {:>8} {:>8}",
        "model", "LL", "AIC", "BIC", "predicted", "actual", "MAE", "RMSE"
    );
    for r in &results {
        let e = &r.evaluation;
        println!(
            "  {:<8} {:>12.3} {:>12.3} {:>12.3} {:>11.1} {:>9.0} {:>8.4} {:>8.4}",
            name(r.kind),
            r.json["log_likelihood"].as_f64().unwrap_or(f64::NAN),
            r.aic,
            r.json["bic"].as_f64().unwrap_or(f64::NAN),
            e.predicted_total,
            e.actual_total,
            e.mae,
            e.rmse
        );
    }
    println!("\nMean holdout purchases by calibration frequency (predicted / actual):");
    print!("  {:<10}", "frequency");
    for r in &results {
        print!(" {:>18}", name(r.kind));
    }
    println!();
    let groups = results[0].evaluation.by_frequency.len();
    for i in 0..groups {
        let g = results[0].evaluation.by_frequency[i];
        let label = if g.frequency as usize == northstar_models::evaluation::FREQUENCY_GROUPS - 1 {
            format!("{}+", g.frequency)
        } else {
            g.frequency.to_string()
        };
        print!("  {:<10}", format!("{label} ({})", g.customers));
        for r in &results {
            let g = r.evaluation.by_frequency[i];
            print!(" {:>18}", format!("{:.3} / {:.3}", g.predicted, g.actual));
        }
        println!();
    }
    println!("\nBest model by holdout MAE: {}", name(best));
    if best_aic != best {
        println!(
            "(by AIC on the calibration period the best is {}: fit and forecast disagree)",
            name(best_aic)
        );
    }
    Ok(())
}
