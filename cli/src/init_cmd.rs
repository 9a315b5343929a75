//! `flotilla init`: write a commented config file with every option at its default.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Where to write the file; standard output when absent.
    #[arg(value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let template = node::config::COMMENTED_TEMPLATE;
    let Some(path) = args.output else {
        std::io::stdout()
            .write_all(template.as_bytes())
            .context("cannot write to standard output")?;
        return Ok(());
    };
    let mut options = OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(&path).with_context(|| {
        format!(
            "cannot create {} (use --force to replace an existing file)",
            path.display()
        )
    })?;
    file.write_all(template.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
