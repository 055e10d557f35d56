//! `northstar fit bgnbd|mbgnbd|pnbd|gg|bgbb|sbg|bdw DATA`: maximum-likelihood fit, printed as a
//! table or JSON.

use crate::model_file::{fit_to_json, PurchaseProcess};
use crate::output::write_output;
use crate::period_input::{read_bgbb, read_contractual};
use crate::progress;
use crate::rfm_input::{purchase_key, read_distinct, Monetary};
use anyhow::Result;
use northstar_models::gamma_gamma::SpendData;
use northstar_models::{
    BetaDiscreteWeibull, BgBb, BgNbd, CompressedBgBb, CompressedRfm, ContractualData, FitOptions,
    FitReport, GammaGamma, MbgNbd, ModelError, ModelParams, ParetoNbd, Rfm, ShiftedBetaGeometric,
};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Which model to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// BG/NBD purchase model (Fader, Hardie & Lee 2005).
    Bgnbd,
    /// MBG/NBD purchase model (Batislam, Denizel & Filiztekin 2007).
    Mbgnbd,
    /// Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).
    Pnbd,
    /// Gamma-Gamma spend model (fits the customers with frequency > 0).
    Gg,
    /// BG/BB discrete-time purchase model (Fader, Hardie & Shang 2010); input
    /// frequency,recency,n_periods.
    Bgbb,
    /// Shifted-beta-geometric subscription retention (Fader & Hardie 2007); input period,alive
    /// or tenure,churned.
    Sbg,
    /// Beta-discrete-Weibull subscription retention (Fader et al. 2018); same input as sbg.
    Bdw,
}

/// Arguments of `northstar fit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model to fit.
    pub model: ModelKind,
    /// Input table: RFM (customer_id, frequency, recency, T, [monetary_value], [weight]) for
    /// bgnbd/mbgnbd/pnbd/gg; frequency, recency, n_periods for bgbb; period,alive or
    /// tenure,churned (with an optional cohort column) for sbg/bdw.
    pub rfm: PathBuf,
    /// Print the fit as one JSON object on standard output.
    #[arg(long)]
    pub json: bool,
    /// Also write the fit as a model file for `predict` and `clv`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Name of the customer-id column.
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
    /// sbg/bdw: fit each cohort separately instead of pooling them.
    #[arg(long)]
    pub by_cohort: bool,
}

/// A fitted purchase model with its report and model-file JSON.
pub struct FittedPurchaseModel {
    /// The model, ready for predictions.
    pub model: Box<dyn PurchaseProcess>,
    /// Fit statistics.
    pub report: FitReport,
    /// The model file's JSON object.
    pub json: Value,
    /// Readable model name.
    pub title: &'static str,
    /// Parameter names.
    pub names: &'static [&'static str],
}

/// A model's maximum-likelihood fit function.
type FitFn<M> = fn(&CompressedRfm, &FitOptions) -> Result<(M, FitReport), ModelError>;

/// Fits one of the RFM purchase models (`bgnbd`, `mbgnbd`, `pnbd`) to validated customers.
pub fn fit_purchase_model(
    kind: ModelKind,
    customers: &[Rfm],
    weights: Option<&[f64]>,
) -> Result<FittedPurchaseModel> {
    fit_purchase_model_with(kind, customers, weights, &FitOptions::default())
}

/// [`fit_purchase_model`] with optimizer settings.
pub fn fit_purchase_model_with(
    kind: ModelKind,
    customers: &[Rfm],
    weights: Option<&[f64]>,
    options: &FitOptions,
) -> Result<FittedPurchaseModel> {
    fit_compressed(kind, &CompressedRfm::new(customers, weights), options)
}

/// Fits one of the RFM purchase models to customers already compressed into weighted rows.
pub fn fit_compressed(
    kind: ModelKind,
    data: &CompressedRfm,
    options: &FitOptions,
) -> Result<FittedPurchaseModel> {
    fn fitted<M: ModelParams + PurchaseProcess + 'static>(
        title: &'static str,
        fit: FitFn<M>,
        data: &CompressedRfm,
        options: &FitOptions,
    ) -> Result<FittedPurchaseModel> {
        let bar = progress::spinner(&format!("fitting {title}"), data.rows.len());
        let (model, report) = fit(data, options)?;
        bar.finish_and_clear();
        Ok(FittedPurchaseModel {
            json: fit_to_json(&model, &report, Map::new()),
            model: Box::new(model),
            report,
            title,
            names: M::NAMES,
        })
    }
    match kind {
        ModelKind::Bgnbd => fitted("BG/NBD", BgNbd::fit, data, options),
        ModelKind::Mbgnbd => fitted("MBG/NBD", MbgNbd::fit, data, options),
        ModelKind::Pnbd => fitted("Pareto/NBD", ParetoNbd::fit, data, options),
        other => anyhow::bail!("{other:?} is not a purchase model for RFM data"),
    }
}

/// Fits Gamma-Gamma to the repeat customers of an RFM file; also returns how many customers it
/// left out (frequency 0). Only their frequency and spend matter, so identical pairs are read
/// as one weighted row: the same data, in the same order, as [`SpendData::new`] on every
/// customer.
fn fit_spend_file(path: &Path, id_col: &str) -> Result<(GammaGamma, FitReport, usize)> {
    let spend_key = |c: &Rfm| {
        let m = c.monetary_value()?;
        (c.frequency() > 0.0).then(|| [c.frequency().to_bits(), m.to_bits()])
    };
    let customers = read_distinct(path, id_col, Monetary::Required, spend_key)?;
    let data = SpendData::new(&customers.rfm, Some(&customers.weights))?;
    let bar = progress::spinner("fitting Gamma-Gamma", customers.rows);
    let (model, report) = GammaGamma::fit(&data, &FitOptions::default())?;
    bar.finish_and_clear();
    Ok((model, report, customers.left_out))
}

/// Fits sBG or BdW to subscription data.
fn fit_retention(kind: ModelKind, data: &ContractualData) -> Result<(Value, FitReport)> {
    let options = FitOptions::default();
    Ok(match kind {
        ModelKind::Sbg => {
            let (model, report) = ShiftedBetaGeometric::fit(data, &options)?;
            (fit_to_json(&model, &report, Map::new()), report)
        }
        _ => {
            let (model, report) = BetaDiscreteWeibull::fit(data, &options)?;
            (fit_to_json(&model, &report, Map::new()), report)
        }
    })
}

/// `fit sbg|bdw`: pooled, or one fit per cohort with `--by-cohort`.
fn run_retention(args: &Args) -> Result<()> {
    let data = read_contractual(&args.rfm)?;
    let (title, names) = match args.model {
        ModelKind::Sbg => ("sBG", ShiftedBetaGeometric::NAMES),
        _ => ("BdW", BetaDiscreteWeibull::NAMES),
    };
    if !args.by_cohort {
        let (json, report) = fit_retention(args.model, &data.pooled())?;
        return emit(
            args,
            &format!("{title} (cohorts pooled)"),
            json,
            &report,
            names,
        );
    }
    let mut fits = Vec::new();
    let mut tables = String::new();
    for (label, part) in data.split_by_cohort() {
        let label = label.unwrap_or_else(|| "(unlabelled)".into());
        let (mut json, report) = fit_retention(args.model, &part)?;
        tables += &fit_table(&format!("{title}, cohort {label},"), &json, &report, names);
        json["cohort"] = json!(label);
        fits.push(json);
    }
    let json = json!({ "model": if args.model == ModelKind::Sbg { "sbg" } else { "bdw" }, "cohorts": fits });
    write_model_file(args, &json)?;
    if args.json {
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print!("{tables}");
    }
    Ok(())
}

fn write_model_file(args: &Args, json: &Value) -> Result<()> {
    if let Some(path) = &args.output {
        write_output(Some(path), |out| {
            serde_json::to_writer_pretty(&mut *out, json)?;
            writeln!(out)?;
            Ok(())
        })?;
    }
    Ok(())
}

/// Writes the model file (with `-o`) and prints the fit as JSON or a table.
fn emit(args: &Args, title: &str, json: Value, report: &FitReport, names: &[&str]) -> Result<()> {
    write_model_file(args, &json)?;
    if args.json {
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print!("{}", fit_table(title, &json, report, names));
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let (title, json, report, names) = match args.model {
        ModelKind::Sbg | ModelKind::Bdw => return run_retention(&args),
        ModelKind::Bgbb => {
            let input = read_bgbb(&args.rfm, &args.id_col)?;
            let data = CompressedBgBb::new(&input.customers, input.weights.as_deref())?;
            let (model, report) = BgBb::fit(&data, &FitOptions::default())?;
            let json = fit_to_json(&model, &report, Map::new());
            ("BG/BB".to_string(), json, report, BgBb::NAMES)
        }
        ModelKind::Gg => {
            let (model, report, excluded) = fit_spend_file(&args.rfm, &args.id_col)?;
            let mut extra = Map::new();
            extra.insert("n_excluded".into(), json!(excluded));
            let json = fit_to_json(&model, &report, extra);
            let title =
                format!("Gamma-Gamma (left out {excluded} customers with no repeat purchase)");
            (title, json, report, GammaGamma::NAMES)
        }
        kind => {
            let customers = read_distinct(&args.rfm, &args.id_col, Monetary::Ignore, purchase_key)?;
            let fitted = fit_compressed(kind, &customers.compress(), &FitOptions::default())?;
            (
                fitted.title.to_string(),
                fitted.json,
                fitted.report,
                fitted.names,
            )
        }
    };
    emit(&args, &title, json, &report, names)
}

/// The readable form of a fit: parameters with standard errors, fit statistics, convergence.
pub fn fit_table(title: &str, json: &Value, report: &FitReport, names: &[&str]) -> String {
    let mut s = format!("{title} fit on {} customers\n", report.n_observations);
    s += &format!(
        "  {:<10} {:>14} {:>14}\n",
        "parameter", "estimate", "std. error"
    );
    for name in names {
        let estimate = json["params"][name].as_f64().unwrap_or(f64::NAN);
        let se = json["std_errors"][name]
            .as_f64()
            .map_or("n/a".to_string(), |v| format!("{v:.7}"));
        s += &format!("  {name:<10} {estimate:>14.7} {se:>14}\n");
    }
    s += &format!(
        "  log-likelihood {:.4}   AIC {:.4}   BIC {:.4}\n",
        report.log_likelihood, report.aic, report.bic
    );
    s += &format!(
        "  {} after {} iterations ({})\n",
        if report.converged {
            "converged"
        } else {
            "DID NOT CONVERGE"
        },
        report.iterations,
        report.termination
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfm_input::{read_customers, tests::rfm_file};

    #[test]
    fn fits_from_distinct_rows_equal_fits_on_every_customer() {
        // Expected: the fits on every customer read one by one (what `fit` did before it read
        // the file as distinct weighted rows), bit for bit.
        let (_dir, path) = rfm_file(30_000);
        let all = read_customers(&path, "customer_id", Monetary::Required).unwrap();

        let want = fit_purchase_model(ModelKind::Bgnbd, &all.rfm, None).unwrap();
        let distinct = read_distinct(&path, "customer_id", Monetary::Ignore, purchase_key).unwrap();
        let got = fit_compressed(
            ModelKind::Bgnbd,
            &distinct.compress(),
            &FitOptions::default(),
        )
        .unwrap();
        assert_eq!(got.json, want.json);
        assert_eq!(got.json["n_customers"], json!(30_000.0));

        let data = SpendData::new(&all.rfm, None).unwrap();
        let (want, want_report) = GammaGamma::fit(&data, &FitOptions::default()).unwrap();
        let (got, got_report, excluded) = fit_spend_file(&path, "customer_id").unwrap();
        assert_eq!(excluded, data.n_excluded());
        assert!(excluded > 1000, "{excluded}");
        assert_eq!(
            fit_to_json(&got, &got_report, Map::new()),
            fit_to_json(&want, &want_report, Map::new())
        );
    }
}
