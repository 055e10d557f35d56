//! `northstar config [--check FILE]`: prints the default `northstar.toml` (every key, commented),
//! or checks a config file the way `refresh` reads it.

use anyhow::Result;
use northstar_act::{CompiledConfig, Config, DEFAULT_CONFIG};
use std::path::PathBuf;

/// Arguments of `northstar config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check this config file (keys, values, expressions) instead of printing the defaults.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let Some(path) = args.check else {
        print!("{DEFAULT_CONFIG}");
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read the config {}: {e}", path.display()))?;
    let config = Config::from_toml(&text, &path.display().to_string())?;
    CompiledConfig::new(&config)?;
    println!(
        "{}: ok ({} health measures, {} segments, {} triggers)",
        path.display(),
        config.health.measures.len(),
        config.segments.len(),
        config.triggers.len()
    );
    Ok(())
}
