//! `northstar simulate bgnbd|mbgnbd|pnbd`: draw a purchase log from a purchase process, with Gamma-Gamma
//! amounts, for tests and benchmarks.

use crate::model_file::purchase_model;
use crate::output::write_output;
use anyhow::{bail, Context, Result};
use chrono::{Days, NaiveDate};
use northstar_data::TimeUnit;
use northstar_models::{GammaGamma, ModelParams};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

/// Which process to simulate.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SimulatedModel {
    /// BG/NBD purchases (params r, alpha, a, b).
    Bgnbd,
    /// MBG/NBD purchases (params r, alpha, a, b).
    Mbgnbd,
    /// Pareto/NBD purchases (params r, alpha, s, beta).
    Pnbd,
}

impl SimulatedModel {
    fn name(self) -> &'static str {
        match self {
            SimulatedModel::Bgnbd => "bgnbd",
            SimulatedModel::Mbgnbd => "mbgnbd",
            SimulatedModel::Pnbd => "pnbd",
        }
    }
}

/// Arguments of `northstar simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Purchase process.
    pub model: SimulatedModel,
    /// Number of customers.
    #[arg(long)]
    pub customers: u64,
    /// Model parameters, e.g. r=0.24,alpha=4.41,a=0.79,b=2.43 (rates per --time-unit).
    #[arg(long)]
    pub params: String,
    /// Gamma-Gamma spend parameters, e.g. p=6.25,q=3.74,v=15.45; without it there is no amount column.
    #[arg(long)]
    pub spend: Option<String>,
    /// First day of the log.
    #[arg(long)]
    pub start: NaiveDate,
    /// Last day of the log.
    #[arg(long)]
    pub end: NaiveDate,
    /// Last day on which customers make their first purchase (default: 12 weeks after --start,
    /// like the CDNOW cohort). First purchases are spread uniformly over the days up to it.
    #[arg(long)]
    pub acquisition_end: Option<NaiveDate>,
    /// Time unit the parameters are expressed in.
    #[arg(long, default_value = "week")]
    pub time_unit: TimeUnit,
    /// Random seed (runs with the same seed give the same log).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output CSV: customer_id,date[,amount] (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Parses `name=value,...` into the values of `names`, in that order.
fn parse_named(flag: &str, text: &str, names: &[&str]) -> Result<Vec<f64>> {
    let mut values = vec![None; names.len()];
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("{flag}: \"{pair}\" is not name=value"))?;
        let Some(i) = names.iter().position(|n| *n == name.trim()) else {
            bail!(
                "{flag}: unknown parameter \"{}\"; expected {}",
                name.trim(),
                names.join(", ")
            );
        };
        let value: f64 = value
            .trim()
            .parse()
            .with_context(|| format!("{flag}: {name}=\"{}\" is not a number", value.trim()))?;
        values[i] = Some(value);
    }
    values
        .into_iter()
        .zip(names)
        .map(|(v, name)| {
            v.with_context(|| format!("{flag}: missing {name} (expected {})", names.join(", ")))
        })
        .collect()
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let model = purchase_model(args.model.name(), &|names| {
        parse_named("--params", &args.params, names)
    })
    .context("--params")?
    .expect("every simulated model is a purchase model");
    let spend: Option<GammaGamma> = args
        .spend
        .as_deref()
        .map(|s| {
            GammaGamma::from_values(&parse_named("--spend", s, GammaGamma::NAMES)?)
                .context("--spend")
        })
        .transpose()?;
    if args.end < args.start {
        bail!("--end {} is before --start {}", args.end, args.start);
    }
    let acquisition_end = args
        .acquisition_end
        .unwrap_or_else(|| args.start + Days::new(83))
        .min(args.end);
    if acquisition_end < args.start {
        bail!(
            "--acquisition-end {acquisition_end} is before --start {}",
            args.start
        );
    }
    let acquisition_days = (acquisition_end - args.start).num_days() as u64;
    let unit_days = args.time_unit.days();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);

    write_output(args.output.as_deref(), |out| {
        let header = if spend.is_some() {
            "customer_id,date,amount"
        } else {
            "customer_id,date"
        };
        writeln!(out, "{header}")?;
        for customer in 1..=args.customers {
            // The first purchase falls at a random time of its day; the log runs to the end of
            // --end. Purchases are then recorded by calendar day, as real logs are.
            let first_day = rng.random_range(0..=acquisition_days);
            let first_time = first_day as f64 + rng.random::<f64>();
            let last_day = (args.end - args.start).num_days() as f64;
            let horizon = (last_day + 1.0 - first_time) / unit_days;
            let repeat = model.simulate_repeat_purchases(&mut rng, horizon);
            let nu = spend.map(|g| g.sample_spend_rate(&mut rng));
            for t in std::iter::once(0.0).chain(repeat) {
                let day = ((first_time + t * unit_days).floor() as u64).min(last_day as u64);
                let date = args.start + Days::new(day);
                match (spend, nu) {
                    (Some(g), Some(nu)) => writeln!(
                        out,
                        "{customer},{date},{:.2}",
                        g.sample_amount(&mut rng, nu).max(0.01)
                    )?,
                    _ => writeln!(out, "{customer},{date}")?,
                }
            }
        }
        Ok(())
    })
}
