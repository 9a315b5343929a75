//! Options shared by the subcommands that work on a node's data directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use node::config::{Config, ConfigLayer};

#[derive(Args, Debug, Default)]
pub struct NodeArgs {
    /// TOML config file (default: $FLOTILLA_CONFIG, else none).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory with the node key and database
    /// (default: $XDG_DATA_HOME/flotilla, else ~/.local/share/flotilla).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl NodeArgs {
    /// The configuration with these options on top of the environment and the config file.
    pub fn load(&self, mut layer: ConfigLayer) -> anyhow::Result<Config> {
        layer.data_dir = self.data_dir.clone();
        Config::load(self.config.as_deref(), layer).context("invalid configuration")
    }
}
