//! `northstar deliver [--once]`: sends the pending webhook actions of the outbox.
//!
//! Each action is POSTed with its stored JSON body and an `X-Northstar-Signature:
//! sha256=<hex HMAC-SHA256 of the body>` header, the secret read from the environment variable
//! the trigger names. A 2xx answer marks it delivered; anything else schedules a retry with
//! exponential backoff and jitter, until `max_attempts` failures mark it dead (`northstar
//! tasks` lists those). Every state change is its own transaction: a `kill -9` at any moment
//! leaves each action delivered or still pending, so it is sent again (at least once; the
//! receiver de-duplicates on the `idempotency_key` in the body and the
//! `X-Northstar-Idempotency-Key` header).

use crate::store_path::StoreArgs;
use anyhow::Result;
use northstar_act::{backoff_delay_ms, sign, SIGNATURE_HEADER};
use northstar_store::{ActionKind, ActionStatus, OutboxRow, SqliteStore, Store};
use rand::Rng;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many due actions one pass reads at a time.
const BATCH: usize = 100;
/// Without `--once`, how often the outbox is checked for new actions.
const POLL: Duration = Duration::from_millis(500);

/// Arguments of `northstar deliver`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Deliver what is due now, then exit (default: keep running and retry as scheduled).
    #[arg(long)]
    pub once: bool,
    /// First retry delay in milliseconds; it doubles per attempt (with jitter).
    #[arg(long, default_value_t = 1000)]
    pub retry_base_ms: u64,
    /// Longest retry delay in milliseconds.
    #[arg(long, default_value_t = 3_600_000)]
    pub retry_cap_ms: u64,
    /// Timeout of one POST, in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let mut store = args.store.open()?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(args.timeout_secs.max(1))))
        .http_status_as_error(false)
        .user_agent(concat!("northstar/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut totals = [0usize; 3]; // delivered, failed (will retry), dead
    loop {
        loop {
            let due = store.due_webhooks(now_ms(), BATCH)?;
            if due.is_empty() {
                break;
            }
            for action in &due {
                match attempt(&agent, &mut store, action, &args)? {
                    ActionStatus::Delivered => totals[0] += 1,
                    ActionStatus::Dead => totals[2] += 1,
                    _ => totals[1] += 1,
                }
            }
        }
        if args.once {
            break;
        }
        let wait = match store.next_webhook_due()? {
            Some(due) => {
                Duration::from_millis((due - now_ms()).clamp(0, POLL.as_millis() as i64) as u64)
            }
            None => POLL,
        };
        std::thread::sleep(wait);
    }
    let pending = store.actions(Some(ActionStatus::Pending))?.len();
    println!(
        "delivered {}, failed {} (to retry), dead {}; {} pending",
        totals[0], totals[1], totals[2], pending
    );
    Ok(())
}

/// One delivery attempt of `action`; records the outcome and returns the action's new status.
fn attempt(
    agent: &ureq::Agent,
    store: &mut SqliteStore,
    action: &OutboxRow,
    args: &Args,
) -> Result<ActionStatus> {
    let ActionKind::Webhook { url, secret_env } = &action.kind else {
        // Tasks are never pending in the outbox; nothing to send.
        store.mark_delivered(action.id, now_ms())?;
        return Ok(ActionStatus::Delivered);
    };
    let shown = shown_url(url);
    let outcome = match secret(secret_env.as_deref()) {
        Err(message) => Err(message),
        Ok(secret) => post(agent, url, &secret, action),
    };
    match outcome {
        Ok(status) => {
            store.mark_delivered(action.id, now_ms())?;
            println!(
                "delivered #{} {} to {shown} (HTTP {status})",
                action.id, action.idempotency_key
            );
            Ok(ActionStatus::Delivered)
        }
        Err(error) => {
            let attempt = action.attempts + 1;
            let delay = backoff_delay_ms(
                attempt,
                args.retry_base_ms,
                args.retry_cap_ms,
                rand::rng().random::<f64>(),
            );
            let now = now_ms();
            let status = store.mark_failed(action.id, &error, now, now + delay as i64)?;
            if status == ActionStatus::Dead {
                eprintln!(
                    "dead #{} {} after {attempt} attempts: {error}",
                    action.id, action.idempotency_key
                );
            } else {
                eprintln!(
                    "attempt {attempt}/{} of #{} {} to {shown} failed: {error}; retry in {:.1} s",
                    action.max_attempts,
                    action.id,
                    action.idempotency_key,
                    delay as f64 / 1000.0
                );
            }
            Ok(status)
        }
    }
}

/// The signing secret from the environment. The error names the variable, never a value.
fn secret(name: Option<&str>) -> Result<String, String> {
    let Some(name) = name else {
        return Err("the trigger names no secret_env".into());
    };
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(format!(
            "the signing secret's environment variable {name} is not set"
        )),
    }
}

/// POSTs the body; `Ok(status)` for a 2xx answer, else a message for the log.
fn post(agent: &ureq::Agent, url: &str, secret: &str, action: &OutboxRow) -> Result<u16, String> {
    let signature = sign(secret.as_bytes(), action.body.as_bytes());
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, &signature)
        .header("X-Northstar-Idempotency-Key", &action.idempotency_key)
        .send(action.body.as_bytes());
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                Ok(status)
            } else {
                Err(format!("HTTP {status}"))
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The URL without its query string, which may carry tokens.
fn shown_url(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
