//! The `flotilla` command: runs a node and offers tools for events, simulations and links.

mod dag_cmd;
mod resolve_cmd;
mod sim_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "flotilla", version, about = "Offline-first Matrix mesh node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tools for Matrix events: canonical JSON, hashes, signatures, the wire codec.
    #[command(subcommand)]
    Dag(dag_cmd::DagCommand),
    /// The partition simulator: run scenarios, sweep seeds, plot results.
    #[command(subcommand)]
    Sim(sim_cmd::SimCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dag(command) => dag_cmd::run(command),
        Command::Sim(command) => sim_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flotilla: {error:#}");
            ExitCode::FAILURE
        }
    }
}
