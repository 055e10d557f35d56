//! `northstar predict MODEL.json RFM.csv --horizon T`: per-customer predictions.

use crate::model_file::{self, LoadedModel};
use crate::output::{write_output, write_table};
use crate::period_input::read_bgbb;
use crate::rfm_input::{read_customers, Monetary};
use anyhow::{bail, Result};
use northstar_models::{CompressedRfm, PurchaseModel, SpendModel};
use rayon::prelude::*;
use std::path::PathBuf;

/// Arguments of `northstar predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model file from `northstar fit -o` (or hand-written with `model` and `params`).
    pub model: PathBuf,
    /// RFM table of the customers to score.
    pub rfm: PathBuf,
    /// Prediction horizon, in the RFM table's time unit (purchase models).
    #[arg(long)]
    pub horizon: Option<f64>,
    /// Output CSV (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Name of the customer-id column.
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    match model_file::load(&args.model)? {
        LoadedModel::Purchase(model) => {
            let horizon = match args.horizon {
                Some(h) if h.is_finite() && h >= 0.0 => h,
                Some(h) => bail!("--horizon {h} is invalid: expected a number ≥ 0 (in the RFM table's time unit)"),
                None => bail!("--horizon is required for a purchase model (e.g. --horizon 52 for a year in weeks)"),
            };
            let customers = read_customers(&args.rfm, &args.id_col, Monetary::Ignore)?;
            let (p_alive, expected) = purchase_predictions(model.as_ref(), &customers.rfm, horizon);
            write_output(args.output.as_deref(), |out| {
                write_table(
                    out,
                    &["customer_id", "p_alive", "expected_purchases"],
                    customers.ids.iter(),
                    &[&p_alive, &expected],
                )
            })
        }
        LoadedModel::BgBb(model) => {
            let periods = match args.horizon {
                Some(h) if h.is_finite() && h >= 0.0 && h.fract() == 0.0 => h as u32,
                Some(h) => bail!("--horizon {h} is invalid: a BG/BB horizon is a whole number of transaction opportunities"),
                None => bail!("--horizon is required: the number of future transaction opportunities"),
            };
            let input = read_bgbb(&args.rfm, &args.id_col)?;
            let (p_alive, expected): (Vec<f64>, Vec<f64>) = input
                .customers
                .par_iter()
                .map(|c| (model.expected_probability_alive(c, 0), model.expected_purchases(c, periods)))
                .unzip();
            write_output(args.output.as_deref(), |out| {
                write_table(out, &["customer_id", "p_alive", "expected_purchases"], input.ids.iter().map(String::as_str), &[&p_alive, &expected])
            })
        }
        LoadedModel::Retention(_) => bail!(
            "{}: a subscription retention model has no per-customer scores; use `northstar retention`",
            args.model.display()
        ),
        LoadedModel::GammaGamma(model) => {
            let customers = read_customers(&args.rfm, &args.id_col, Monetary::Required)?;
            let spend: Vec<f64> = customers
                .rfm
                .iter()
                .map(|c| model.expected_spend(c))
                .collect();
            write_output(args.output.as_deref(), |out| {
                write_table(
                    out,
                    &["customer_id", "expected_spend"],
                    customers.ids.iter(),
                    &[&spend],
                )
            })
        }
    }
}

/// P(alive) and expected purchases over `horizon`, computed once per distinct summary.
pub fn purchase_predictions<M: PurchaseModel + ?Sized>(
    model: &M,
    customers: &[northstar_models::Rfm],
    horizon: f64,
) -> (Vec<f64>, Vec<f64>) {
    let (data, rows) = CompressedRfm::with_customer_rows(customers, None);
    let per_row: Vec<(f64, f64)> = (0..data.rows.len())
        .into_par_iter()
        .map(|i| {
            let c = data.row_rfm(i);
            (
                model.expected_probability_alive(&c),
                model.expected_purchases(&c, horizon),
            )
        })
        .collect();
    rows.iter().map(|&r| per_row[r as usize]).unzip()
}
