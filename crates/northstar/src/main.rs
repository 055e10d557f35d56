//! `northstar`: the command-line interface of the northstar CLV engine.

mod commands;
mod format_args;
mod model_file;
mod output;
mod progress;
mod rfm_input;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
