//! `flotilla sim`: a deterministic discrete-event simulator that runs Flotilla's real sync
//! protocol (`dag::sync::Sync`) and room logic (`dag::room`) on N nodes over modelled links.
//!
//! - [`scenario`]: the TOML scenario format and its validation.
//! - [`topology`]: which nodes are linked.
//! - [`link`]: serialization, packetisation, loss and retransmission, propagation.
//! - [`workload`]: the events users create.
//! - [`engine`]: the event loop, faults, measurement.
//! - [`report`]: `summary.json`, `timeline.csv`, `convergence.csv`, `links.csv`.
//! - [`plot`]: SVG plots of a results directory.
//! - [`sweep`]: many seeds, optionally one shard of them.
//! - [`linkbench`]: byte and round-trip figures of one link, against Matrix federation.
//! - [`verdicts`]: the signature check the nodes of a run share, which remembers its answers.
//!
//! The same scenario and seed always give the same report, byte for byte.

pub mod engine;
pub mod link;
pub mod linkbench;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod sweep;
pub mod topology;
mod tracker;
pub mod verdicts;
pub mod workload;

pub use engine::{Progress, SimError, run};
pub use report::{Report, Summary};
pub use scenario::{Scenario, ScenarioError};
