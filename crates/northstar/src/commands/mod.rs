//! One file per subcommand; this module only declares them and dispatches.

pub mod calc;
pub mod clv;
pub mod config;
pub mod customer;
pub mod deliver;
pub mod demo;
pub mod engagement;
pub mod evaluate;
pub mod fit;
pub mod import;
pub mod predict;
pub mod refresh;
pub mod retention;
pub mod saas;
pub mod segments;
pub mod simulate;
pub mod summarize;
pub mod tasks;

use clap::{Parser, Subcommand};

/// northstar: customer lifetime value from your own purchase data.
#[derive(Debug, Parser)]
#[command(name = "northstar", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Summarize a purchase log into one RFM row per customer (lifetimes semantics).
    Summarize(summarize::Args),
    /// Fit a model (bgnbd, mbgnbd, pnbd, gg, bgbb, sbg, bdw).
    Fit(fit::Args),
    /// Per-customer predictions from a fitted model.
    Predict(predict::Args),
    /// Discounted customer lifetime value from a purchase model and a spend model.
    Clv(clv::Args),
    /// Holdout report: fit each purchase model on a calibration period, score the holdout.
    Evaluate(evaluate::Args),
    /// Survival curve, retention rates, DEL and DERL of a subscription model (sbg, bdw).
    Retention(retention::Args),
    /// Simulate a purchase log from a model (for tests and benchmarks).
    Simulate(simulate::Args),
    /// Run the whole pipeline on the bundled CDNOW sample.
    Demo,
    /// SaaS subscription analytics: MRR movements, churn, NRR/GRR, LTV, cohorts.
    Saas(saas::Args),
    /// CLV calculator: formula and discounted LTV, LTV:CAC, payback, AOV LTV, K-factor.
    Calc(calc::Args),
    /// Import a file into the workspace store (atomic; the same file twice changes nothing).
    Import(import::Args),
    /// Engagement from a usage-events file: DAU/WAU/MAU, stickiness, feature adoption, sessions.
    Engagement(engagement::Args),
    /// Score every customer in the store as of a date: health, segment, triggered actions.
    Refresh(refresh::Args),
    /// The segments of a snapshot.
    Segments(segments::Args),
    /// One customer's scores, explained, with their history and actions.
    Customer(customer::Args),
    /// The tasks triggers created (and webhooks that could not be delivered).
    Tasks(tasks::Args),
    /// Send the pending webhooks of the outbox, retrying with backoff.
    Deliver(deliver::Args),
    /// Print the default northstar.toml, or check a config file.
    Config(config::Args),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Summarize(args) => summarize::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Clv(args) => clv::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Retention(args) => retention::run(args),
        Command::Demo => demo::run(),
        Command::Saas(args) => saas::run(args),
        Command::Calc(args) => calc::run(args),
        Command::Import(args) => import::run(args),
        Command::Engagement(args) => engagement::run(args),
        Command::Refresh(args) => refresh::run(args),
        Command::Segments(args) => segments::run(args),
        Command::Customer(args) => customer::run(args),
        Command::Tasks(args) => tasks::run(args),
        Command::Deliver(args) => deliver::run(args),
        Command::Config(args) => config::run(args),
    }
}
