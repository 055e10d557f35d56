//! `northstar retention MODEL.json --periods N`: the survival curve, retention rates and
//! discounted lifetimes of a fitted subscription model (sBG, BdW).

use crate::model_file::{self, LoadedModel};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Arguments of `northstar retention`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model file from `northstar fit sbg|bdw -o` (or hand-written with `model` and `params`).
    pub model: PathBuf,
    /// Number of periods of the survival curve (periods 0..=N).
    #[arg(long, default_value_t = 12)]
    pub periods: u32,
    /// Discount rate per period for DEL and DERL (e.g. 0.01 a month).
    #[arg(long, default_value_t = 0.0)]
    pub discount_rate: f64,
    /// Renewals already made by the customer whose DERL is reported.
    #[arg(long, default_value_t = 0)]
    pub renewals: u32,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// A JSON number, or `null` when infinite (a lifetime whose series diverges).
fn number(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let LoadedModel::Retention(model) = model_file::load(&args.model)? else {
        bail!(
            "{}: not a subscription retention model (expected sbg or bdw)",
            args.model.display()
        );
    };
    if !(args.discount_rate.is_finite() && args.discount_rate >= 0.0) {
        bail!(
            "--discount-rate {} is invalid: expected a rate ≥ 0 per period",
            args.discount_rate
        );
    }
    let periods: Vec<u32> = (0..=args.periods).collect();
    let survival = model.survival_curve(args.periods);
    let retention: Vec<Value> = periods
        .iter()
        .map(|&t| {
            if t == 0 {
                Value::Null
            } else {
                number(model.retention_rate(t))
            }
        })
        .collect();
    let del = model.discounted_expected_lifetime(args.discount_rate)?;
    let derl = model.discounted_expected_residual_lifetime(args.discount_rate, args.renewals)?;
    let remaining = model.expected_remaining_lifetime(args.renewals)?;
    if args.json {
        let report = json!({
            "periods": periods,
            "survival": survival,
            "retention_rate": retention,
            "del": number(del),
            "derl": number(derl),
            "discount_rate": args.discount_rate,
            "renewals": args.renewals,
            "expected_remaining_lifetime": number(remaining),
        });
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("  {:>6} {:>10} {:>10}", "period", "survival", "retention");
    for (i, &t) in periods.iter().enumerate() {
        let r = retention[i]
            .as_f64()
            .map_or("-".to_string(), |r| format!("{r:.4}"));
        println!("  {t:>6} {:>10.4} {r:>10}", survival[i]);
    }
    let show = |v: f64| {
        if v.is_finite() {
            format!("{v:.4}")
        } else {
            "infinite".into()
        }
    };
    println!(
        "\nDEL at {} per period (payments expected from a new customer, discounted): {}",
        args.discount_rate,
        show(del)
    );
    println!(
        "DERL after {} renewals (discounted future payments of such a customer): {}",
        args.renewals,
        show(derl)
    );
    println!(
        "expected remaining periods after {} renewals: {}",
        args.renewals,
        show(remaining)
    );
    println!("(multiply DEL/DERL by the margin per period for a subscription CLV)");
    Ok(())
}
