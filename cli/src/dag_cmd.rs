//! `flotilla dag …`: event tools that read stdin and write stdout.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum DagCommand {}

pub fn run(command: DagCommand) -> anyhow::Result<()> {
    match command {}
}
