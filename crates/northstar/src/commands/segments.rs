//! `northstar segments [--as-of DATE] [--json]`: the customers of each segment in a snapshot.

use crate::store_path::StoreArgs;
use anyhow::{Context, Result};
use chrono::NaiveDate;
use northstar_store::Store;
use serde_json::json;
use std::collections::BTreeMap;

/// Arguments of `northstar segments`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot (default: the latest).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Default)]
struct Segment<'a> {
    customers: Vec<&'a str>,
    health_sum: f64,
    health_count: usize,
    clv_sum: f64,
    entered: usize,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let store = args.store.open()?;
    let snapshot = match args.as_of {
        Some(day) => store.snapshot_at(day)?.with_context(|| {
            format!("no snapshot as of {day}; run northstar refresh --as-of {day}")
        })?,
        None => store
            .latest_snapshot()?
            .context("no snapshot yet; run northstar refresh")?,
    };
    let scores = store.scores_at(snapshot.as_of)?;
    let mut segments: BTreeMap<&str, Segment> = BTreeMap::new();
    for score in &scores {
        let s = segments.entry(score.segment.as_str()).or_default();
        s.customers.push(&score.customer_id);
        if let Some(h) = score.health {
            s.health_sum += h;
            s.health_count += 1;
        }
        s.clv_sum += score.fields.to_value()?["clv"].as_f64().unwrap_or(0.0);
        if score.segment_before.as_deref() != Some(score.segment.as_str()) {
            s.entered += 1;
        }
    }
    // Config order first (the order rules are tried), then any other name.
    let order: Vec<String> = snapshot.config["segment"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| r["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut names: Vec<&str> = segments.keys().copied().collect();
    names.sort_by_key(|n| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
    let total = scores.len().max(1) as f64;
    let mean_health =
        |s: &Segment| (s.health_count > 0).then(|| s.health_sum / s.health_count as f64);

    if args.json {
        let list: Vec<_> = names
            .iter()
            .map(|name| {
                let s = &segments[name];
                json!({
                    "name": name,
                    "customers": s.customers.len(),
                    "share": s.customers.len() as f64 / total,
                    "entered": s.entered,
                    "mean_health": mean_health(s),
                    "total_clv": s.clv_sum,
                    "customer_ids": s.customers,
                })
            })
            .collect();
        println!(
            "{}",
            json!({"as_of": snapshot.as_of.to_string(), "customers": scores.len(), "segments": list})
        );
        return Ok(());
    }
    println!(
        "Segments as of {} ({} customers)\n",
        snapshot.as_of,
        scores.len()
    );
    println!(
        "{:<28} {:>10} {:>7} {:>8} {:>12} {:>14}",
        "segment", "customers", "share", "entered", "mean health", "total CLV"
    );
    for name in names {
        let s = &segments[name];
        println!(
            "{:<28} {:>10} {:>6.1}% {:>8} {:>12} {:>14.2}",
            name,
            s.customers.len(),
            100.0 * s.customers.len() as f64 / total,
            s.entered,
            mean_health(s).map_or("-".to_string(), |h| format!("{h:.1}")),
            s.clv_sum
        );
    }
    Ok(())
}
