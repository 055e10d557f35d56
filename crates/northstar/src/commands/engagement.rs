//! `northstar engagement EVENTS.csv --as-of DATE [--json]`: DAU/WAU/MAU, stickiness, feature
//! adoption, sessions and per-account usage from a product-usage events file.

use anyhow::Result;
use chrono::NaiveDate;
use northstar_data::for_each_event;
use northstar_engagement::{EngagementBuilder, EngagementReport, Event, WINDOW_DAYS};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `northstar engagement`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events CSV: customer_id,user_id,timestamp,event plus optional feature, session_id,
    /// duration_seconds. Timestamps are ISO date-times (UTC unless an offset is given) or dates.
    pub events: PathBuf,
    /// The last day of the 30-day window (UTC, YYYY-MM-DD); later events are ignored.
    #[arg(long)]
    pub as_of: NaiveDate,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let report = compute(&args)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_summary(&mut out, &report)?;
    }
    out.flush()?;
    Ok(())
}

/// Reads the events file into the report.
fn compute(args: &Args) -> Result<EngagementReport> {
    let mut builder = EngagementBuilder::new(args.as_of);
    for_each_event(&args.events, |e| {
        builder.push(&Event {
            customer_id: e.customer_id,
            user_id: e.user_id,
            timestamp_ms: e.timestamp_ms,
            feature: e.feature,
            session_id: e.session_id,
        });
        Ok(())
    })?;
    Ok(builder.finish())
}

fn show_ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn print_summary(out: &mut dyn Write, r: &EngagementReport) -> Result<()> {
    let first = r.as_of - chrono::Days::new(WINDOW_DAYS as u64 - 1);
    writeln!(
        out,
        "Engagement as of {} (window {first} to {}, UTC days)",
        r.as_of, r.as_of
    )?;
    write!(out, "events used: {}", r.events_used)?;
    if r.events_after_as_of > 0 {
        write!(
            out,
            "; {} after the as-of date ignored",
            r.events_after_as_of
        )?;
    }
    writeln!(out)?;
    writeln!(out)?;
    writeln!(
        out,
        "DAU {}   WAU {}   MAU {}   stickiness (mean DAU / MAU) {}",
        r.dau,
        r.wau,
        r.mau,
        show_ratio(r.stickiness)
    )?;
    let active = r.accounts.iter().filter(|a| a.active_users_30d > 0).count();
    writeln!(
        out,
        "accounts: {} listed, {active} with active users in the window",
        r.accounts.len()
    )?;

    writeln!(out)?;
    if r.feature_adoption.is_empty() {
        writeln!(out, "Feature adoption: no feature used in the window")?;
    } else {
        writeln!(
            out,
            "Feature adoption (share of the accounts active in the window)"
        )?;
        let width = r.feature_adoption.keys().map(|f| f.chars().count()).max();
        let width = width.unwrap_or(0).max(7);
        for (feature, share) in &r.feature_adoption {
            writeln!(out, "  {feature:<width$}  {:>6.1}%", share * 100.0)?;
        }
    }

    writeln!(out)?;
    let id_width = r
        .accounts
        .iter()
        .map(|a| a.customer_id.chars().count())
        .max()
        .unwrap_or(0)
        .max("customer_id".len());
    writeln!(
        out,
        "{:<id_width$}  {:>12}  {:>7}  {:>8}  {:>11}  {:>8}  {:>11}  {:>10}",
        "customer_id",
        "active_users",
        "dau_mau",
        "sessions",
        "avg_session",
        "features",
        "usage_trend",
        "days_quiet"
    )?;
    for a in &r.accounts {
        let minutes = a
            .avg_session_minutes
            .map_or_else(|| "-".to_string(), |m| format!("{m:.1} min"));
        writeln!(
            out,
            "{:<id_width$}  {:>12}  {:>7}  {:>8}  {:>11}  {:>8}  {:>+11.3}  {:>10}",
            a.customer_id,
            a.active_users_30d,
            show_ratio(a.dau_mau),
            a.sessions_30d,
            minutes,
            a.features_used_30d,
            a.usage_trend,
            a.days_since_last_activity
        )?;
    }
    Ok(())
}
