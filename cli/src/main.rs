//! The `flotilla` command: runs a node and offers tools for events, simulations and links.

mod bench_cmd;
mod dag_cmd;
mod id_cmd;
mod init_cmd;
mod link_cmd;
mod node_args;
mod resolve_cmd;
mod run_cmd;
mod sim_cmd;
mod user_cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The simulator allocates and frees small objects (JSON values, IDs, state maps) by the
/// million, and glibc's allocator took over a quarter of the 1,000-node benchmark's time;
/// mimalloc cut its CPU time by about a fifth, with byte-identical results. The node makes the
/// same kinds of objects. This static only names the allocator: it holds no state of ours.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run a node: the Matrix Client-Server API over the node's own database.
    Run(run_cmd::RunArgs),
    /// Write a commented config file with every option at its default.
    Init(init_cmd::InitArgs),
    /// Print the node's server name and libp2p PeerId as JSON.
    Id(id_cmd::IdArgs),
    /// Manage the node's user accounts.
    #[command(subcommand)]
    User(user_cmd::UserCommand),
    /// List a running node's connected and known peers as JSON.
    Peers(link_cmd::PeersArgs),
    /// Cut or restore the link to one peer of a running node.
    #[command(subcommand)]
    Link(link_cmd::LinkCommand),
    /// Emission control of a running node: stop or resume all transmission.
    Emcon(link_cmd::EmconArgs),
    /// The partition simulator: run scenarios, sweep seeds, plot results.
    #[command(subcommand)]
    Sim(sim_cmd::SimCommand),
    /// Benchmarks: the link's bytes and round trips against Matrix federation.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A running node reports what it does; the one-shot tools only warn unless asked.
    let default_level = match cli.command {
        Command::Run(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Dag(command) => dag_cmd::run(command),
        Command::Run(args) => run_cmd::run(args),
        Command::Init(args) => init_cmd::run(args),
        Command::Id(args) => id_cmd::run(args),
        Command::User(command) => user_cmd::run(command),
        Command::Peers(args) => link_cmd::peers(args),
        Command::Link(command) => link_cmd::link(command),
        Command::Emcon(args) => link_cmd::emcon(args),
        Command::Sim(command) => sim_cmd::run(command),
        Command::Bench(command) => bench_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flotilla: {error:#}");
            ExitCode::FAILURE
        }
    }
}
