//! `northstar clv`: discounted customer lifetime value per customer.

use crate::model_file::{self, LoadedModel};
use crate::output::{write_output, write_table};
use crate::rfm_input::{read_customers, Monetary};
use anyhow::{bail, Context, Result};
use northstar_data::TimeUnit;
use northstar_models::clv::{discounted_expected_purchases, ClvOptions, Discounting};
use northstar_models::{CompressedRfm, GammaGamma, PurchaseModel, Rfm, SpendModel};
use rayon::prelude::*;
use std::path::PathBuf;

/// How to discount.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DiscountingKind {
    /// lifetimes' scheme: month k's purchases discounted by (1 + rate)^k, rate monthly.
    Monthly,
    /// Continuous discounting; --discount-rate is then an annual rate.
    Continuous,
}

/// Arguments of `northstar clv`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Purchase model file (bgnbd, mbgnbd or pnbd).
    #[arg(long)]
    pub purchase_model: PathBuf,
    /// Spend model file (gg).
    #[arg(long)]
    pub spend_model: PathBuf,
    /// RFM table with monetary_value.
    pub rfm: PathBuf,
    /// Horizon in months.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Discount rate: monthly (default scheme) or annual (--discounting continuous).
    #[arg(long, default_value_t = 0.01)]
    pub discount_rate: f64,
    /// Discounting scheme.
    #[arg(long, value_enum, default_value = "monthly")]
    pub discounting: DiscountingKind,
    /// Time unit of the RFM table's recency and T (as given to `summarize`).
    #[arg(long, default_value = "week")]
    pub time_unit: TimeUnit,
    /// Output CSV (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Name of the customer-id column.
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let LoadedModel::Purchase(purchase) = model_file::load(&args.purchase_model)? else {
        bail!(
            "{}: --purchase-model must be a purchase model (bgnbd, mbgnbd or pnbd)",
            args.purchase_model.display()
        );
    };
    let LoadedModel::GammaGamma(spend) = model_file::load(&args.spend_model)? else {
        bail!(
            "{}: --spend-model must be a spend model (gg)",
            args.spend_model.display()
        );
    };
    let options = ClvOptions {
        months: args.months,
        discounting: match args.discounting {
            DiscountingKind::Monthly => Discounting::Monthly {
                rate: args.discount_rate,
            },
            DiscountingKind::Continuous => Discounting::ContinuousAnnual {
                rate: args.discount_rate,
            },
        },
        days_per_time_unit: args.time_unit.days(),
    };
    options.validate()?;
    let customers = read_customers(&args.rfm, &args.id_col, Monetary::Required)?;
    let clv = customer_values(purchase.as_ref(), &spend, &customers.rfm, &options)
        .with_context(|| format!("{}", args.rfm.display()))?;
    write_output(args.output.as_deref(), |out| {
        write_table(out, &["customer_id", "clv"], customers.ids.iter(), &[&clv])
    })
}

/// CLV per customer: discounted expected purchases (once per distinct summary) × expected spend.
pub fn customer_values<M: PurchaseModel + ?Sized>(
    purchase: &M,
    spend: &GammaGamma,
    customers: &[Rfm],
    options: &ClvOptions,
) -> Result<Vec<f64>> {
    let (data, rows) = CompressedRfm::with_customer_rows(customers, None);
    let discounted: Vec<f64> = (0..data.rows.len())
        .into_par_iter()
        .map(|i| discounted_expected_purchases(purchase, &data.row_rfm(i), options))
        .collect();
    customers
        .iter()
        .zip(&rows)
        .map(|(c, &r)| {
            let s = spend.expected_spend(c);
            if !s.is_finite() {
                bail!(
                    "the spend model's expected spend is infinite for frequency {} (p·x + q ≤ 1); \
                     refit Gamma-Gamma or check its parameters",
                    c.frequency()
                );
            }
            Ok(discounted[r as usize] * s)
        })
        .collect()
}
