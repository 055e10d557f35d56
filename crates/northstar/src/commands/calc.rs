//! `northstar calc`: the CLV calculator (formula and discounted LTV, LTV:CAC, payback,
//! purchase-based LTV, K-factor), as text or as one JSON object for the dashboard.

use anyhow::Result;
use northstar_saas::{calculate, CalcInputs, CalcResult, Retention};
use std::io::Write;

/// Arguments of `northstar calc`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Average revenue per account per month.
    #[arg(long)]
    arpa: Option<f64>,
    /// Monthly churn rate as a fraction (0.04 for 4%).
    #[arg(long, conflicts_with = "lifetime_months")]
    churn: Option<f64>,
    /// Expected customer lifetime in months (churn = 1 / lifetime).
    #[arg(long)]
    lifetime_months: Option<f64>,
    /// Gross margin as a fraction (default 1).
    #[arg(long)]
    gross_margin: Option<f64>,
    /// Customer acquisition cost: adds LTV:CAC and payback months.
    #[arg(long)]
    cac: Option<f64>,
    /// Annual discount rate as a fraction, for the discounted LTV (default 0).
    #[arg(long, allow_negative_numbers = true)]
    discount_rate: Option<f64>,
    /// Monthly expansion of a surviving customer's revenue, as a fraction (default 0).
    #[arg(long, allow_negative_numbers = true)]
    expansion_rate: Option<f64>,
    /// Average order value (purchase-based LTV, with --purchases-per-year and --lifespan-years).
    #[arg(long)]
    aov: Option<f64>,
    /// Purchases per customer per year.
    #[arg(long)]
    purchases_per_year: Option<f64>,
    /// Customer lifespan in years.
    #[arg(long)]
    lifespan_years: Option<f64>,
    /// Invitations sent per user (K-factor, with --invite-conversion).
    #[arg(long)]
    invites_per_user: Option<f64>,
    /// Share of invitations that convert, as a fraction.
    #[arg(long)]
    invite_conversion: Option<f64>,
    /// Print one JSON object (every key present; null where the inputs give no figure).
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let retention = match (args.churn, args.lifetime_months) {
        (Some(c), _) => Some(Retention::Churn(c)),
        (None, Some(n)) => Some(Retention::LifetimeMonths(n)),
        (None, None) => None,
    };
    let inputs = CalcInputs {
        arpa: args.arpa,
        retention,
        gross_margin: args.gross_margin,
        cac: args.cac,
        discount_rate: args.discount_rate,
        expansion_rate: args.expansion_rate,
        aov: args.aov,
        purchases_per_year: args.purchases_per_year,
        lifespan_years: args.lifespan_years,
        invites_per_user: args.invites_per_user,
        invite_conversion: args.invite_conversion,
    };
    let result = calculate(&inputs)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer(&mut out, &result)?;
        writeln!(out)?;
    } else {
        print_result(&mut out, &inputs, &result)?;
    }
    out.flush()?;
    Ok(())
}

/// `1234.5` → `1,234.50`.
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

/// A number without trailing zeros: `24`, `0.5`, `3.125`.
fn short(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

fn pct(value: f64) -> String {
    format!("{}%", short(100.0 * value))
}

fn print_result(out: &mut dyn Write, inputs: &CalcInputs, r: &CalcResult) -> Result<()> {
    if let (Some(lifetime), Some(churn)) = (r.lifetime_months, r.churn) {
        writeln!(
            out,
            "{:<16}{} months (churn {} a month)",
            "Lifetime",
            short(lifetime),
            pct(churn)
        )?;
    }
    if let (Some(ltv), Some(arpa), Some(lifetime)) = (r.ltv, inputs.arpa, r.lifetime_months) {
        writeln!(
            out,
            "{:<16}{}  = ARPA {} × gross margin {} × {} months",
            "LTV",
            money(ltv),
            money(arpa),
            pct(r.gross_margin),
            short(lifetime)
        )?;
    }
    if let (Some(dltv), Some(d)) = (r.discounted_ltv, r.monthly_discount_rate) {
        writeln!(
            out,
            "{:<16}{}  (paid at the start of each month; discount {} a year = {} a month, expansion {} a month)",
            "Discounted LTV",
            money(dltv),
            pct(inputs.discount_rate.unwrap_or(0.0)),
            pct(d),
            pct(inputs.expansion_rate.unwrap_or(0.0))
        )?;
    }
    if let Some(ratio) = r.ltv_cac {
        writeln!(out, "{:<16}{:.2}:1", "LTV:CAC", ratio)?;
    }
    if let Some(payback) = r.payback_months {
        writeln!(
            out,
            "{:<16}{} months (CAC / (ARPA × gross margin))",
            "CAC payback",
            short(payback)
        )?;
    }
    if let (Some(aov_ltv), Some(aov), Some(f), Some(years)) = (
        r.aov_ltv,
        inputs.aov,
        inputs.purchases_per_year,
        inputs.lifespan_years,
    ) {
        writeln!(
            out,
            "{:<16}{}  = AOV {} × {} purchases a year × {} years",
            "Purchase LTV",
            money(aov_ltv),
            money(aov),
            short(f),
            short(years)
        )?;
    }
    if let Some(k) = r.k_factor {
        writeln!(
            out,
            "{:<16}{}  (invites per user × invite conversion)",
            "K-factor",
            short(k)
        )?;
    }
    for note in &r.notes {
        writeln!(out, "\n{note}.")?;
    }
    Ok(())
}
