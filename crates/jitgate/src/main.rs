//! `jitgate`: just-in-time, time-limited, masked access to databases.

mod cli;
mod grant;
mod serve;

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
