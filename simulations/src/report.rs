//! What a run reports, and writing it to a results directory.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// `summary.json`. Only simulated quantities: the same scenario and seed give the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub nodes: usize,
    pub links: usize,
    pub rooms: usize,
    pub simulated_seconds: f64,
    pub workload_seconds: u64,
    /// Every node holds the same events (same sync heads) and resolves the same state, in every
    /// room.
    pub converged: bool,
    pub divergent_rooms: usize,
    pub events_created: usize,
    pub messages_sent: u64,
    pub messages_delivered_everywhere: u64,
    pub lost_messages: u64,
    /// Local writes the room's rules refused (a banned or departed user writing).
    pub refused_writes: u64,
    /// Writes not attempted because the user's node was down.
    pub writes_while_down: u64,
    /// When the last partition, cut, crash or emission-control window ended.
    pub last_heal_seconds: Option<f64>,
    /// From the last heal until every event created before it was held by every node.
    pub convergence_seconds_after_last_heal: Option<f64>,
    /// From a message's creation until a node stored it, over every node that got it from a
    /// peer (so across as many hops as separate them): median, 99th percentile, maximum.
    pub message_delivery_seconds_p50: Option<f64>,
    pub message_delivery_seconds_p99: Option<f64>,
    pub message_delivery_seconds_max: Option<f64>,
    /// Frame bytes after compression, both directions, all links, each frame counted once
    /// (retransmissions and per-packet headers not included).
    pub bytes_on_links: u64,
    /// Frame bytes sent again after packet loss.
    pub retransmitted_bytes: u64,
    pub frames_on_links: u64,
    /// Of `bytes_on_links`: frames that carried events, and all other (control) frames.
    pub event_frame_bytes: u64,
    pub control_frame_bytes: u64,
    pub bytes_on_links_per_message: Option<f64>,
    pub event_payloads_received: u64,
    pub event_payloads_needed: u64,
    /// Event payloads received ÷ event payloads needed (1.0 is no duplicates).
    pub duplicate_payload_ratio: Option<f64>,
    /// The most forward extremities any node had in any room, at the samples and at the end.
    pub max_forward_extremities: usize,
    /// Links the protocol closed because a peer broke it (should be 0).
    pub protocol_disconnects: u64,
    pub invalid_events: u64,
    pub partitions: usize,
    pub crashes: usize,
    /// Discrete events the simulator processed.
    pub simulator_events: u64,
}

impl Summary {
    /// Converged and nothing lost: what a sweep demands of every seed.
    pub fn healthy(&self) -> bool {
        self.converged && self.lost_messages == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub time_s: u64,
    pub node: usize,
    pub events_held: usize,
    pub bytes_sent: u64,
    pub forward_extremities: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConvergenceRow {
    pub time_s: u64,
    pub events_not_everywhere: usize,
    pub distinct_head_sets: usize,
    pub links_up: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinkRow {
    pub from: usize,
    pub to: usize,
    pub bytes: u64,
    pub frames: u64,
    pub retransmitted_bytes: u64,
    pub serializing_ms: u64,
    pub utilisation: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub summary: Summary,
    pub timeline: Vec<TimelineRow>,
    pub convergence: Vec<ConvergenceRow>,
    pub links: Vec<LinkRow>,
}

pub const TIMELINE_HEADER: &str = "time_s,node,events_held,bytes_sent,forward_extremities";
pub const CONVERGENCE_HEADER: &str = "time_s,events_not_everywhere,distinct_head_sets,links_up";
pub const LINKS_HEADER: &str =
    "from,to,bytes,frames,retransmitted_bytes,serializing_ms,utilisation";

impl Report {
    /// Writes `summary.json`, `timeline.csv`, `convergence.csv` and `links.csv` into `dir`.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_summary(&self.summary, dir)?;
        let mut timeline = format!("{TIMELINE_HEADER}\n");
        for r in &self.timeline {
            let _ = writeln!(
                timeline,
                "{},{},{},{},{}",
                r.time_s, r.node, r.events_held, r.bytes_sent, r.forward_extremities
            );
        }
        std::fs::write(dir.join("timeline.csv"), timeline)?;
        let mut convergence = format!("{CONVERGENCE_HEADER}\n");
        for r in &self.convergence {
            let _ = writeln!(
                convergence,
                "{},{},{},{}",
                r.time_s, r.events_not_everywhere, r.distinct_head_sets, r.links_up
            );
        }
        std::fs::write(dir.join("convergence.csv"), convergence)?;
        let mut links = format!("{LINKS_HEADER}\n");
        for r in &self.links {
            let _ = writeln!(
                links,
                "{},{},{},{},{},{},{:.6}",
                r.from,
                r.to,
                r.bytes,
                r.frames,
                r.retransmitted_bytes,
                r.serializing_ms,
                r.utilisation
            );
        }
        std::fs::write(dir.join("links.csv"), links)
    }
}

pub fn write_summary(summary: &Summary, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut json = serde_json::to_string_pretty(summary).map_err(io::Error::other)?;
    json.push('\n');
    std::fs::write(dir.join("summary.json"), json)
}
