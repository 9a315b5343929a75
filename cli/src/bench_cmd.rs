//! `flotilla bench link`: the DESIGN.md §10 link figures, measured on the real protocol code
//! between two in-process nodes, next to what Matrix federation spends on the same events.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use simulations::linkbench::{self, Exchange};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Bytes and round trips on one link: messages, reconnection, reconciliation, idle.
    Link(LinkArgs),
    /// Ingest of a peer's backlog into a node's SQLite store through the sync protocol: wire
    /// decoding, signature and hash checks, authorization, storage, one transaction per frame.
    Ingest(IngestArgs),
}

#[derive(Args)]
pub struct IngestArgs {
    /// Events in the peer's backlog.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
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
        BenchCommand::Ingest(args) => ingest::run(args.events),
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

mod ingest {
    use std::time::Instant;

    use anyhow::{Context, Result, bail};
    use dag::room::RoomStore;
    use dag::signing::ServerKey;
    use dag::sync::{Sync, SyncConfig, SyncEvent};
    use node::rooms::{EventOrigin, RoomService};
    use node::signatures::ParallelEd25519;
    use node::store::{DATABASE_FILE_NAME, Store};
    use simulations::linkbench::Source;

    pub fn run(events: usize) -> Result<()> {
        if events == 0 {
            bail!("--events must be at least 1");
        }
        eprintln!("making a backlog of {events} signed messages…");
        let source = Source::with_backlog(events)?;
        let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
        runtime.block_on(ingest(source))
    }

    async fn ingest(mut source: Source) -> Result<()> {
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let (store, _thread) = Store::open(&dir.path().join(DATABASE_FILE_NAME))?;
        let key = ServerKey::node(&[0xbe; 32]);
        let peer = key.server_name().to_owned();
        let rooms = RoomService::new(store, key);
        let source_id = source.peer_id();
        let signatures = std::sync::Arc::new(ParallelEd25519::new());
        let mut sync = Sync::checking_signatures_with(SyncConfig::default(), signatures);
        source.connect(&peer)?;
        let started = Instant::now();
        sync = on_store(&rooms, sync, {
            let source_id = source_id.clone();
            move |sync, store| sync.peer_connected(store, &source_id, 0).map(|_| ())
        })
        .await?;
        let mut frames = 0;
        loop {
            let incoming = source.transmit(&peer);
            let (next, outgoing) = exchange(&rooms, sync, &source_id, incoming.clone()).await?;
            sync = next;
            frames += incoming.len();
            for frame in &outgoing {
                source.receive(&peer, frame)?;
            }
            if incoming.is_empty() && outgoing.is_empty() {
                break;
            }
        }
        let elapsed = started.elapsed();
        let expected_ids = source.event_ids();
        let expected = expected_ids.len();
        let stored = rooms
            .with_room_store(EventOrigin::Peer, move |store| {
                expected_ids
                    .iter()
                    .filter(|id| store.event(id).is_some())
                    .count()
            })
            .await?;
        if stored != expected {
            bail!("{stored} of the peer's {expected} events were stored");
        }
        println!(
            "ingested {stored} events in {frames} frames in {:.2} s: {:.0} events/s \
             (decode, verify, hash, authorize, store; SQLite WAL, one transaction per frame)",
            elapsed.as_secs_f64(),
            stored as f64 / elapsed.as_secs_f64()
        );
        Ok(())
    }

    /// Hands the frames to the protocol on the store's thread, one transaction per frame as
    /// the node's mesh driver does; returns the frames it answers.
    async fn exchange(
        rooms: &RoomService,
        mut sync: Sync,
        from: &str,
        frames: Vec<Vec<u8>>,
    ) -> Result<(Sync, Vec<Vec<u8>>)> {
        let answer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for frame in frames {
            let from = from.to_owned();
            let sink = answer.clone();
            sync = on_store(rooms, sync, move |sync, store| {
                sync.frame_received(store, &from, &frame, 0);
                if let Some(SyncEvent::Disconnect { reason, .. }) = sync.poll_event() {
                    anyhow::bail!("the peer's frames were refused: {reason}");
                }
                while sync.poll_event().is_some() {}
                let out = std::iter::from_fn(|| sync.poll_transmit(store, &from));
                sink.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .extend(out);
                Ok(())
            })
            .await?;
        }
        let frames = std::mem::take(&mut *answer.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
        Ok((sync, frames))
    }

    /// Runs `work` on the protocol state inside one store transaction and gives the state back.
    async fn on_store<F, E>(rooms: &RoomService, mut sync: Sync, work: F) -> Result<Sync>
    where
        F: for<'a> FnOnce(&mut Sync, &mut node::store::rooms::SqliteRoomStore<'a>) -> Result<(), E>
            + Send
            + 'static,
        E: Into<anyhow::Error> + Send + 'static,
    {
        let (sync, result) = rooms
            .in_one_transaction(EventOrigin::Peer, move |store| {
                let result = work(&mut sync, store);
                (sync, result)
            })
            .await?;
        result.map_err(Into::into)?;
        Ok(sync)
    }
}
