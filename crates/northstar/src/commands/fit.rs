//! `northstar fit bgnbd|gg RFM.csv`: maximum-likelihood fit, printed as a table or JSON.

use crate::model_file::fit_to_json;
use crate::output::write_output;
use crate::progress;
use crate::rfm_input::{read_customers, Monetary};
use anyhow::Result;
use northstar_models::gamma_gamma::SpendData;
use northstar_models::{BgNbd, CompressedRfm, FitOptions, FitReport, GammaGamma, ModelParams};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Which model to fit.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModelKind {
    /// BG/NBD purchase model (Fader, Hardie & Lee 2005).
    Bgnbd,
    /// Gamma-Gamma spend model (fits the customers with frequency > 0).
    Gg,
}

/// Arguments of `northstar fit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model to fit.
    pub model: ModelKind,
    /// RFM table: customer_id, frequency, recency, T, [monetary_value], [weight].
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
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let options = FitOptions::default();
    let (title, json, report, names) = match args.model {
        ModelKind::Bgnbd => {
            let customers = read_customers(&args.rfm, &args.id_col, Monetary::Ignore)?;
            let data = CompressedRfm::new(&customers.rfm, customers.weights.as_deref());
            let bar = progress::spinner("fitting BG/NBD", customers.rfm.len());
            let (model, report) = BgNbd::fit(&data, &options)?;
            bar.finish_and_clear();
            let json = fit_to_json(&model, &report, Map::new());
            ("BG/NBD".to_string(), json, report, BgNbd::NAMES)
        }
        ModelKind::Gg => {
            let customers = read_customers(&args.rfm, &args.id_col, Monetary::Required)?;
            let data = SpendData::new(&customers.rfm, customers.weights.as_deref())?;
            let bar = progress::spinner("fitting Gamma-Gamma", customers.rfm.len());
            let (model, report) = GammaGamma::fit(&data, &options)?;
            bar.finish_and_clear();
            let mut extra = Map::new();
            extra.insert("n_excluded".into(), json!(data.n_excluded()));
            let json = fit_to_json(&model, &report, extra);
            let title = format!(
                "Gamma-Gamma (left out {} customers with no repeat purchase)",
                data.n_excluded()
            );
            (title, json, report, GammaGamma::NAMES)
        }
    };
    if let Some(path) = &args.output {
        write_output(Some(path), |out| {
            serde_json::to_writer_pretty(&mut *out, &json)?;
            writeln!(out)?;
            Ok(())
        })?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print!("{}", fit_table(&title, &json, &report, names));
    }
    Ok(())
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
