//! `northstar summarize`: purchase log → RFM table (or calibration/holdout table).

use crate::format_args::TransactionFormatArgs;
use crate::output::write_output;
use crate::progress;
use anyhow::Result;
use chrono::NaiveDate;
use northstar_data::{summarize_file_table, SummaryOptions, TimeUnit};
use std::path::PathBuf;

/// Arguments of `northstar summarize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Purchase log (one row per purchase).
    pub transactions: PathBuf,
    /// Last day of observation (default: the last date in the file); later purchases are left out.
    #[arg(long)]
    pub observation_end: Option<NaiveDate>,
    /// Split into calibration (up to this date) and holdout columns, as lifetimes'
    /// `calibration_and_holdout_data`.
    #[arg(long)]
    pub calibration_end: Option<NaiveDate>,
    /// Unit of recency and T: day, week (7 days), month (30.4375 days) or year (365.25 days).
    #[arg(long, default_value = "week")]
    pub time_unit: TimeUnit,
    #[command(flatten)]
    pub format: TransactionFormatArgs,
    /// Output CSV (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let options = SummaryOptions {
        observation_end: args.observation_end,
        calibration_end: args.calibration_end,
        time_unit: args.time_unit,
    };
    let bar = progress::file_bar(&args.transactions);
    let summary = summarize_file_table(
        &args.transactions,
        &args.format.to_format(),
        &options,
        &mut |bytes| bar.set_position(bytes),
    );
    bar.finish_and_clear();
    let summary = summary?;
    // Written straight from the summarizer's table: no row per customer is built.
    write_output(args.output.as_deref(), |out| Ok(summary.write_csv(out)?))
}
