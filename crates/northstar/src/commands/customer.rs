//! `northstar customer ID [--json]`: one customer's latest scores, with the health score
//! explained measure by measure, their segment history, tasks and actions.

use crate::store_path::StoreArgs;
use anyhow::{bail, Result};
use northstar_store::{ActionKind, Store};
use serde_json::{json, Value};

/// Arguments of `northstar customer`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The customer id.
    pub id: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let store = args.store.open()?;
    let history = store.customer_history(&args.id)?;
    let Some((as_of, latest)) = history.first() else {
        bail!(
            "customer {:?} is in no snapshot; run northstar refresh, or check the id",
            args.id
        );
    };
    let tasks: Vec<_> = store
        .tasks(false)?
        .into_iter()
        .filter(|t| t.customer_id == args.id)
        .collect();
    let actions: Vec<_> = store
        .actions(None)?
        .into_iter()
        .filter(|a| a.customer_id == args.id)
        .collect();
    let fields = latest.fields.to_value()?;
    let measures = latest.explanation.to_value()?["measures"]
        .as_array()
        .cloned()
        .unwrap_or_default();

    if args.json {
        let out = json!({
            "customer_id": args.id,
            "as_of": as_of.to_string(),
            "health": latest.health,
            "tier": latest.tier,
            "segment": latest.segment,
            "segment_before": latest.segment_before,
            "measures": measures,
            "fields": fields,
            "history": history.iter().map(|(day, s)| json!({
                "as_of": day.to_string(), "health": s.health, "tier": s.tier, "segment": s.segment,
            })).collect::<Vec<_>>(),
            "tasks": tasks.iter().map(|t| json!({
                "id": t.id, "trigger": t.trigger, "as_of": t.as_of.to_string(),
                "created_at": t.created_at, "status": t.status.name(),
            })).collect::<Vec<_>>(),
            "actions": actions.iter().map(|a| json!({
                "id": a.id, "idempotency_key": a.idempotency_key, "trigger": a.trigger,
                "kind": kind_name(&a.kind), "status": a.status.name(), "attempts": a.attempts,
                "last_error": a.last_error,
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
        return Ok(());
    }

    let number = |v: &Value, digits: usize| match v.as_f64() {
        Some(x) => format!("{x:.digits$}"),
        None => "null".to_string(),
    };
    println!("Customer {} as of {as_of}", args.id);
    println!(
        "  health {} ({}), segment {} (before: {})",
        latest.health.map_or("-".to_string(), |h| format!("{h:.1}")),
        latest.tier.as_deref().unwrap_or("no tier"),
        latest.segment,
        latest.segment_before.as_deref().unwrap_or("none")
    );
    println!(
        "\n  {:<28} {:>14} {:>8} {:>8} {:>10}",
        "measure", "value", "score", "weight", "share"
    );
    for m in &measures {
        println!(
            "  {:<28} {:>14} {:>8} {:>8} {:>10}",
            m["field"].as_str().unwrap_or(""),
            number(&m["value"], 4),
            number(&m["score"], 1),
            number(&m["weight"], 1),
            match (m["value"].as_f64(), m["effective_weight"].as_f64()) {
                (Some(_), Some(w)) => format!("{:.1}%", 100.0 * w),
                _ => "dropped".to_string(),
            },
        );
    }
    println!("\n  fields:");
    if let Some(fields) = fields.as_object() {
        for (name, value) in fields {
            println!("    {name:<28} {value}");
        }
    }
    if history.len() > 1 {
        println!("\n  history:");
        for (day, s) in &history {
            println!(
                "    {day}  {:<20} health {}",
                s.segment,
                s.health.map_or("-".to_string(), |h| format!("{h:.1}"))
            );
        }
    }
    if !tasks.is_empty() || !actions.is_empty() {
        println!("\n  actions:");
        for a in &actions {
            println!(
                "    #{} {} {} {} ({} attempts)",
                a.id,
                kind_name(&a.kind),
                a.trigger,
                a.status.name(),
                a.attempts
            );
        }
    }
    Ok(())
}

fn kind_name(kind: &ActionKind) -> &'static str {
    match kind {
        ActionKind::Task => "task",
        ActionKind::Webhook { .. } => "webhook",
    }
}
