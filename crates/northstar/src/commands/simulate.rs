//! `northstar simulate bgnbd|mbgnbd|pnbd|bgbb|sbg|bdw`: draw data from a model, for tests and
//! benchmarks: a purchase log with Gamma-Gamma amounts (purchase models), BG/BB summaries, or
//! subscription tenures (sBG, BdW).

use crate::model_file::purchase_model;
use crate::output::write_output;
use anyhow::{bail, Context, Result};
use chrono::{Days, NaiveDate};
use northstar_data::TimeUnit;
use northstar_models::{
    BetaDiscreteWeibull, BgBb, GammaGamma, ModelParams, ShiftedBetaGeometric, SimulateTenure,
};
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
    /// BG/BB discrete-time purchases (params alpha, beta, gamma, delta; --periods); writes
    /// customer_id,frequency,recency,n_periods.
    Bgbb,
    /// sBG subscription tenures (params alpha, beta; --periods); writes customer_id,tenure,churned.
    Sbg,
    /// BdW subscription tenures (params alpha, beta, c; --periods); writes customer_id,tenure,churned.
    Bdw,
}

impl SimulatedModel {
    fn name(self) -> &'static str {
        match self {
            SimulatedModel::Bgnbd => "bgnbd",
            SimulatedModel::Mbgnbd => "mbgnbd",
            SimulatedModel::Pnbd => "pnbd",
            SimulatedModel::Bgbb => "bgbb",
            SimulatedModel::Sbg => "sbg",
            SimulatedModel::Bdw => "bdw",
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
    /// First day of the log (purchase models).
    #[arg(long)]
    pub start: Option<NaiveDate>,
    /// Last day of the log (purchase models).
    #[arg(long)]
    pub end: Option<NaiveDate>,
    /// Number of periods observed (bgbb: transaction opportunities; sbg/bdw: renewal periods).
    #[arg(long)]
    pub periods: Option<u32>,
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

/// `simulate bgbb|sbg|bdw`: one summary or tenure row per customer over `--periods`.
fn run_periods(args: &Args) -> Result<()> {
    let Some(periods) = args.periods else {
        bail!(
            "--periods is required for {} (the number of periods observed)",
            args.model.name()
        );
    };
    let params = |names: &'static [&'static str]| parse_named("--params", &args.params, names);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    if let SimulatedModel::Bgbb = args.model {
        let model = BgBb::from_values(&params(BgBb::NAMES)?).context("--params")?;
        return write_output(args.output.as_deref(), |out| {
            writeln!(out, "customer_id,frequency,recency,n_periods")?;
            for customer in 1..=args.customers {
                let c = model.simulate_customer(&mut rng, periods);
                writeln!(
                    out,
                    "{customer},{},{},{}",
                    c.frequency(),
                    c.recency(),
                    c.n_periods()
                )?;
            }
            Ok(())
        });
    }
    let model: Box<dyn SimulateTenure> = if let SimulatedModel::Sbg = args.model {
        Box::new(
            ShiftedBetaGeometric::from_values(&params(ShiftedBetaGeometric::NAMES)?)
                .context("--params")?,
        )
    } else {
        Box::new(
            BetaDiscreteWeibull::from_values(&params(BetaDiscreteWeibull::NAMES)?)
                .context("--params")?,
        )
    };
    write_output(args.output.as_deref(), |out| {
        writeln!(out, "customer_id,tenure,churned")?;
        for customer in 1..=args.customers {
            let tenure = model.simulate_tenure(&mut rng, periods);
            writeln!(
                out,
                "{customer},{},{}",
                tenure.periods(),
                u8::from(tenure.churned())
            )?;
        }
        Ok(())
    })
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    if matches!(
        args.model,
        SimulatedModel::Bgbb | SimulatedModel::Sbg | SimulatedModel::Bdw
    ) {
        return run_periods(&args);
    }
    let (Some(start), Some(end)) = (args.start, args.end) else {
        bail!(
            "--start and --end are required for {} (the first and last day of the log)",
            args.model.name()
        );
    };
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
    if end < start {
        bail!("--end {end} is before --start {start}");
    }
    let acquisition_end = args
        .acquisition_end
        .unwrap_or_else(|| start + Days::new(83))
        .min(end);
    if acquisition_end < start {
        bail!("--acquisition-end {acquisition_end} is before --start {start}");
    }
    let acquisition_days = (acquisition_end - start).num_days() as u64;
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
            let last_day = (end - start).num_days() as f64;
            let horizon = (last_day + 1.0 - first_time) / unit_days;
            let repeat = model.simulate_repeat_purchases(&mut rng, horizon);
            let nu = spend.map(|g| g.sample_spend_rate(&mut rng));
            for t in std::iter::once(0.0).chain(repeat) {
                let day = ((first_time + t * unit_days).floor() as u64).min(last_day as u64);
                let date = start + Days::new(day);
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
