//! `northstar refresh [--as-of DATE] [--config northstar.toml]`: scores every customer the store
//! knows as of a date and stores the snapshot together with the actions it triggers, in one
//! transaction.

use crate::snapshot;
use crate::store_path::StoreArgs;
use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use northstar_act::{CompiledConfig, Config};
use northstar_store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The config file used when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "northstar.toml";

/// Arguments of `northstar refresh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot date (default: the last date in the stored data).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// The config file (default: ./northstar.toml if it exists, else the built-in defaults;
    /// `northstar config` prints them).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print how long each step took (to standard error).
    #[arg(long)]
    pub timings: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Loads `--config`, else `./northstar.toml` when present, else the defaults; says which.
pub fn load_config(path: Option<&Path>) -> Result<(Config, String)> {
    let path = match path {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
    };
    match path {
        None => Ok((Config::default(), "built-in defaults".into())),
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the config {}", path.display()))?;
            let config = Config::from_toml(&text, &path.display().to_string())?;
            Ok((config, path.display().to_string()))
        }
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let (config, config_source) = load_config(args.config.as_deref())?;
    let compiled = CompiledConfig::new(&config)?;
    let mut store = args.store.open()?;
    let counts = store.dataset_counts()?;
    if counts.transactions + counts.subscriptions + counts.events + counts.customers == 0 {
        bail!(
            "{}: the store holds no data; import some first (northstar import transactions|subscriptions|events|customers FILE)",
            args.store.path().display()
        );
    }
    let as_of = match args.as_of {
        Some(day) => day,
        None => snapshot::latest_data_date(&store)?
            .context("the store holds no dated rows; give --as-of")?,
    };
    let mut timer = snapshot::StepTimer::new(args.timings);
    let mut events_reader = args.store.open()?;
    let computed = snapshot::compute(
        &store,
        &mut events_reader,
        &config,
        &compiled,
        as_of,
        &mut timer,
    )?;
    let written = store.write_snapshot(&computed.snapshot, &computed.scores, &computed.actions)?;
    timer.step("writing the snapshot and actions");

    let mut segments: BTreeMap<&str, usize> = BTreeMap::new();
    for score in &computed.scores {
        *segments.entry(score.segment.as_str()).or_default() += 1;
    }
    let model = computed.snapshot.model["purchase"]["model"]
        .as_str()
        .unwrap_or("none (no transactions)");
    println!(
        "snapshot {as_of}: {} customers (config: {config_source}; purchase model: {model}; previous snapshot: {})",
        written.scores,
        computed
            .previous_as_of
            .map_or("none".to_string(), |d| d.to_string())
    );
    let listed: Vec<String> = segments.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("segments: {}", listed.join(", "));
    println!(
        "actions: {} new ({} tasks), {} already recorded",
        written.new_actions,
        written.new_tasks,
        computed.actions.len() - written.new_actions
    );
    Ok(())
}
