//! `flotilla bench link`: the DESIGN.md §10 link figures, measured on the real protocol code
//! between two in-process nodes, next to what Matrix federation spends on the same events.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use simulations::linkbench::{self, Exchange};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Bytes and round trips on one link: messages, reconnection, reconciliation, idle.
    Link(LinkArgs),
}

#[derive(Args)]
pub struct LinkArgs {
    /// Short messages measured in the steady state (after 20 warm-up messages).
    #[arg(long, default_value_t = 200)]
    messages: usize,
    /// Messages each side writes in each room while partitioned.
    #[arg(long, default_value_t = 1000)]
    partition_events: usize,
    /// Shared rooms the partition's messages are spread over.
    #[arg(long, default_value_t = 1)]
    partition_rooms: usize,
    /// Room counts for the reconnection-with-nothing-to-sync check.
    #[arg(long, value_delimiter = ',', default_value = "1,100,10000")]
    reconnect_rooms: Vec<usize>,
}

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Link(args) => link(&args),
    }
}

fn link(args: &LinkArgs) -> Result<()> {
    if args.messages == 0 || args.partition_events == 0 || args.partition_rooms == 0 {
        bail!("--messages, --partition-events and --partition-rooms must be at least 1");
    }
    messages(args.messages)?;
    for &rooms in &args.reconnect_rooms {
        let exchange = linkbench::reconnect_in_sync(rooms)?;
        println!(
            "reconnect, {rooms} rooms in sync: {} B / {} B each way, {} frame(s) each way, {}",
            exchange.bytes[0],
            exchange.bytes[1],
            exchange.frames[0],
            round_trips(&exchange)
        );
    }
    let result = linkbench::reconcile_after_partition(args.partition_rooms, args.partition_events)?;
    println!(
        "reconciliation, {} events missing over {} room(s): {} sent, {:.1} B overhead per missing \
         event beyond the {} B of event frames, {}",
        result.missing_events,
        args.partition_rooms,
        result.events_sent,
        result.overhead_per_missing_event(),
        result.event_frame_bytes,
        round_trips(&result.exchange)
    );
    let idle = linkbench::idle_link(1)?;
    let idle_bytes: u64 = idle.bytes.iter().sum();
    println!(
        "idle link, one hour: {idle_bytes} B of sync frames ({:.3} B/s; transport keep-alives come on top)",
        idle_bytes as f64 / 3600.0
    );
    Ok(())
}

fn messages(count: usize) -> Result<()> {
    let costs = linkbench::steady_state_messages(20, count)?;
    let mut link: Vec<u64> = costs.iter().map(|c| c.link_bytes).collect();
    let mut federation: Vec<u64> = costs.iter().map(|c| c.federation_bytes).collect();
    let (link_median, federation_median) = (median(&mut link), median(&mut federation));
    println!(
        "short text message, steady state ({count} messages): median {link_median} B on the link \
         (p90 {} B, after compression, before transport framing)",
        percentile(&link, 0.9)
    );
    println!(
        "same events as Matrix federation transactions (HTTP/1.1 request + response, no TLS): \
         median {federation_median} B; ratio {:.1}x",
        federation_median as f64 / link_median.max(1) as f64
    );
    Ok(())
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    percentile(values, 0.5)
}

/// `values` sorted ascending.
fn percentile(values: &[u64], q: f64) -> u64 {
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// Rounds are one-way trips with both ends sending at once; two make a round trip.
fn round_trips(exchange: &Exchange) -> String {
    format!(
        "{} one-way round(s) = {} round trip(s)",
        exchange.rounds,
        exchange.rounds.div_ceil(2)
    )
}
