//! `flotilla dag …`: event tools that read stdin and write stdout.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum DagCommand {
    Resolve(crate::resolve_cmd::ResolveArgs),
}

pub fn run(command: DagCommand) -> anyhow::Result<()> {
    match command {
        DagCommand::Resolve(args) => crate::resolve_cmd::run(args),
    }
}
