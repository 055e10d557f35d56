//! `northstar tasks [--open] [--json] [--done ID]`: the customer-success tasks triggers created,
//! and the webhook actions that could not be delivered (dead).

use crate::store_path::StoreArgs;
use anyhow::Result;
use northstar_store::{ActionStatus, Store};
use serde_json::json;

/// Arguments of `northstar tasks`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only the open tasks.
    #[arg(long)]
    pub open: bool,
    /// Print one JSON object: {"tasks":[{"id","customer_id","trigger","as_of","created_at","status"}],
    /// "dead_webhooks":[...]}.
    #[arg(long)]
    pub json: bool,
    /// Mark this task done first.
    #[arg(long, value_name = "ID")]
    pub done: Option<i64>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let mut store = args.store.open()?;
    if let Some(id) = args.done {
        store.set_task_status(id, true)?;
    }
    let tasks = store.tasks(args.open)?;
    let dead = store.actions(Some(ActionStatus::Dead))?;
    if args.json {
        let out = json!({
            "tasks": tasks.iter().map(|t| json!({
                "id": t.id,
                "customer_id": t.customer_id,
                "trigger": t.trigger,
                "as_of": t.as_of.to_string(),
                "created_at": t.created_at,
                "status": t.status.name(),
            })).collect::<Vec<_>>(),
            "dead_webhooks": dead.iter().map(|a| json!({
                "id": a.id,
                "idempotency_key": a.idempotency_key,
                "customer_id": a.customer_id,
                "trigger": a.trigger,
                "as_of": a.as_of.to_string(),
                "attempts": a.attempts,
                "last_error": a.last_error,
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
        return Ok(());
    }
    if tasks.is_empty() {
        println!("no {}tasks", if args.open { "open " } else { "" });
    } else {
        println!(
            "{:>6}  {:<24} {:<24} {:<10} {:<20} status",
            "id", "customer", "trigger", "as of", "created"
        );
        for t in &tasks {
            println!(
                "{:>6}  {:<24} {:<24} {:<10} {:<20} {}",
                t.id,
                t.customer_id,
                t.trigger,
                t.as_of,
                t.created_at,
                t.status.name()
            );
        }
    }
    if !dead.is_empty() {
        println!("\ndead webhooks (gave up after their attempts; see northstar customer ID):");
        for a in &dead {
            println!(
                "  #{} {} {} after {} attempts: {}",
                a.id,
                a.idempotency_key,
                a.as_of,
                a.attempts,
                a.last_error.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}
