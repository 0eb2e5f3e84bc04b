//! `jitgate`: just-in-time, time-limited, masked access to databases.

mod admin;
mod cli;
mod client;
mod databricks;
mod demo;
mod output;
mod serve;
mod verbs;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jitgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
