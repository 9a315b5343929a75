//! `flotilla sim run | sweep | plot`: the partition simulator.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use simulations::sweep::{self, Shard};
use simulations::{Progress, Scenario, Summary};

#[derive(Subcommand)]
pub enum SimCommand {
    /// Run one scenario and write summary.json, CSVs and SVG plots.
    Run {
        scenario: PathBuf,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Results directory (default: sim-results/NAME-seed-SEED).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a range of seeds (A..B, B excluded, or A..=B), optionally one shard of them; exits
    /// non-zero if any seed failed to converge or lost a message.
    Sweep {
        scenario: PathBuf,
        #[arg(long)]
        seeds: String,
        /// I/N: run only the I-th (from 0) of N interleaved shares of the seeds.
        #[arg(long)]
        shard: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Draw the SVG plots of a results directory again.
    Plot { dir: PathBuf },
}

pub fn run(command: SimCommand) -> Result<()> {
    match command {
        SimCommand::Run {
            scenario,
            seed,
            out,
        } => run_one(&scenario, seed, out),
        SimCommand::Sweep {
            scenario,
            seeds,
            shard,
            out,
        } => run_sweep(&scenario, &seeds, shard.as_deref(), &out),
        SimCommand::Plot { dir } => {
            for path in simulations::plot::plot_dir(&dir)? {
                println!("{}", path.display());
            }
            Ok(())
        }
    }
}

fn run_one(path: &Path, seed: Option<u64>, out: Option<PathBuf>) -> Result<()> {
    let scenario = Scenario::load(path)?;
    let seed = seed.unwrap_or(scenario.seed);
    let out = out.unwrap_or_else(|| {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
        PathBuf::from("sim-results").join(format!("{name}-seed-{seed}"))
    });
    let bar = progress_bar(1000, "{elapsed_precise} [{bar:40}] simulated {msg}");
    let started = Instant::now();
    let report = simulations::run(&scenario, seed, &mut |p: Progress| {
        if let Some(bar) = &bar {
            bar.set_position(p.now_ms * 1000 / p.limit_ms.max(1));
            bar.set_message(format!("{:.1} h", p.now_ms as f64 / 3_600_000.0));
        }
    })?;
    let wall = started.elapsed().as_secs_f64();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report
        .write(&out)
        .with_context(|| format!("writing results to {}", out.display()))?;
    simulations::plot::plot_dir(&out)?;
    let summary = &report.summary;
    println!("{}", serde_json::to_string_pretty(summary)?);
    eprintln!(
        "flotilla sim: {} in {wall:.2} s wall ({:.0} simulator events/s); results in {}",
        verdict(summary),
        summary.simulator_events as f64 / wall.max(1e-9),
        out.display()
    );
    Ok(())
}

fn run_sweep(path: &Path, seeds: &str, shard: Option<&str>, out: &Path) -> Result<()> {
    let scenario = Scenario::load(path)?;
    let range = sweep::parse_seeds(seeds)?;
    let shard = shard.map(Shard::parse).transpose()?.unwrap_or(Shard::WHOLE);
    let seeds: Vec<u64> = shard.seeds(range).collect();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bar = progress_bar(
        seeds.len() as u64,
        "{elapsed_precise} [{bar:40}] {pos}/{len} seeds {msg}",
    );
    let mut table = String::from(
        "seed,converged,divergent_rooms,lost_messages,messages_sent,convergence_seconds_after_last_heal,bytes_on_links\n",
    );
    let mut failed = Vec::new();
    for &seed in &seeds {
        let report = simulations::run(&scenario, seed, &mut |_| {})?;
        let summary = &report.summary;
        simulations::report::write_summary(summary, &out.join(format!("seed-{seed}")))?;
        table.push_str(&sweep_row(summary));
        if !summary.healthy() {
            eprintln!(
                "flotilla sim: seed {seed}: {}; replay: {}",
                verdict(summary),
                sweep::replay_command(&path.display().to_string(), seed)
            );
            failed.push(seed);
        }
        if let Some(bar) = &bar {
            bar.inc(1);
            bar.set_message(format!("{} failed", failed.len()));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let table_path = out.join(format!(
        "sweep-shard-{}-of-{}.csv",
        shard.index, shard.count
    ));
    std::fs::write(&table_path, table)
        .with_context(|| format!("writing {}", table_path.display()))?;
    println!(
        "{} seeds, {} failed; table in {}",
        seeds.len(),
        failed.len(),
        table_path.display()
    );
    if !failed.is_empty() {
        bail!(
            "{} of {} seeds failed: {failed:?}",
            failed.len(),
            seeds.len()
        );
    }
    Ok(())
}

fn sweep_row(s: &Summary) -> String {
    let heal = s
        .convergence_seconds_after_last_heal
        .map(|v| v.to_string())
        .unwrap_or_default();
    format!(
        "{},{},{},{},{},{heal},{}\n",
        s.seed, s.converged, s.divergent_rooms, s.lost_messages, s.messages_sent, s.bytes_on_links
    )
}

fn verdict(summary: &Summary) -> String {
    if summary.healthy() {
        "converged, nothing lost".to_owned()
    } else {
        format!(
            "converged = {}, divergent rooms = {}, lost messages = {}",
            summary.converged, summary.divergent_rooms, summary.lost_messages
        )
    }
}

/// A progress bar on a terminal; nothing otherwise.
fn progress_bar(length: u64, template: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    Some(ProgressBar::new(length).with_style(style))
}
