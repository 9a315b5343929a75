//! The fault schedule: partitions, link cuts, crashes and emission control, from the scenario
//! and drawn from the seed.

use std::collections::BTreeMap;

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use crate::scenario::{Crash, Partition, Scenario};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    PartitionStart(usize),
    PartitionEnd(usize),
    CutStart(usize),
    CutEnd(usize),
    Crash(usize),
    Restart(usize),
    EmconStart(usize),
    EmconEnd(usize),
    /// A link the protocol closed may connect again.
    Reconnect(usize),
}

pub struct FaultSchedule {
    events: Vec<(u64, Fault)>,
    /// For each partition, the group of every node.
    groups: Vec<Vec<u32>>,
    active: Vec<bool>,
    crashes: usize,
    last_heal_ms: Option<u64>,
}

impl FaultSchedule {
    /// The scenario's faults and the random ones, in time order. `links` are the topology's
    /// sorted node pairs; a cut names one of them.
    pub fn new(scenario: &Scenario, links: &[(usize, usize)], rng: &mut ChaCha8Rng) -> Self {
        let mut partitions = scenario.partition.clone();
        partitions.extend(random_partitions(scenario, rng));
        let mut crashes = scenario.crash.clone();
        crashes.extend(random_crashes(scenario, rng));
        let mut events = Vec::new();
        let mut heals = Vec::new();
        let mut window = |start_s: u64, end_s: u64, start: Fault, end: Fault| {
            events.push((start_s * 1000, start));
            events.push((end_s * 1000, end));
            heals.push(end_s * 1000);
        };
        for (i, p) in partitions.iter().enumerate() {
            window(
                p.start_s,
                p.end_s,
                Fault::PartitionStart(i),
                Fault::PartitionEnd(i),
            );
        }
        for c in &crashes {
            window(
                c.at_s,
                c.restart_s,
                Fault::Crash(c.node),
                Fault::Restart(c.node),
            );
        }
        for e in &scenario.emcon {
            window(
                e.start_s,
                e.end_s,
                Fault::EmconStart(e.node),
                Fault::EmconEnd(e.node),
            );
        }
        for (i, cut) in scenario.cut.iter().enumerate() {
            let pair = (cut.a.min(cut.b), cut.a.max(cut.b));
            match links.binary_search(&pair) {
                Ok(link) => window(
                    cut.start_s,
                    cut.end_s,
                    Fault::CutStart(link),
                    Fault::CutEnd(link),
                ),
                Err(_) => tracing::warn!(
                    cut = i,
                    a = cut.a,
                    b = cut.b,
                    "cut names no link of the topology; ignored"
                ),
            }
        }
        events.sort_by_key(|(time, _)| *time);
        FaultSchedule {
            events,
            groups: partitions
                .iter()
                .map(|p| group_of_each_node(p, scenario.nodes))
                .collect(),
            active: vec![false; partitions.len()],
            crashes: crashes.len(),
            last_heal_ms: heals.into_iter().max(),
        }
    }

    pub fn events(&self) -> &[(u64, Fault)] {
        &self.events
    }

    pub fn last_heal_ms(&self) -> Option<u64> {
        self.last_heal_ms
    }

    pub fn partition_count(&self) -> usize {
        self.groups.len()
    }

    pub fn crash_count(&self) -> usize {
        self.crashes
    }

    pub fn set_partition(&mut self, partition: usize, active: bool) {
        self.active[partition] = active;
    }

    /// Whether an active partition separates `a` and `b`.
    pub fn partitioned(&self, a: usize, b: usize) -> bool {
        self.active_groups().any(|groups| groups[a] != groups[b])
    }

    /// `nodes` split by the first active partition, in group order; all together if none is.
    pub fn sides(&self, nodes: &[usize]) -> Vec<Vec<usize>> {
        let Some(groups) = self.active_groups().next() else {
            return vec![nodes.to_vec()];
        };
        let mut sides: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for &node in nodes {
            sides.entry(groups[node]).or_default().push(node);
        }
        sides.into_values().collect()
    }

    fn active_groups(&self) -> impl Iterator<Item = &Vec<u32>> {
        self.groups
            .iter()
            .zip(&self.active)
            .filter(|(_, active)| **active)
            .map(|(groups, _)| groups)
    }
}

/// Nodes in no listed group share one more group.
fn group_of_each_node(partition: &Partition, nodes: usize) -> Vec<u32> {
    let unlisted = partition.groups.len() as u32;
    let mut groups = vec![unlisted; nodes];
    for (group, members) in partition.groups.iter().enumerate() {
        for &node in members {
            groups[node] = group as u32;
        }
    }
    groups
}

/// Poisson arrivals over the workload of windows with exponential lengths, cut short at the
/// workload's end so that the run can drain to convergence.
fn random_windows(
    scenario: &Scenario,
    per_hour: f64,
    mean_s: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<(u64, u64)> {
    let mut windows = Vec::new();
    if per_hour <= 0.0 {
        return windows;
    }
    let end = scenario.duration_s as f64;
    let mut time = 0.0;
    loop {
        time += exponential(rng, 3600.0 / per_hour);
        if time >= end - 1.0 {
            return windows;
        }
        let length = exponential(rng, mean_s).max(1.0);
        let start = time as u64;
        let stop = ((time + length).min(end) as u64).max(start + 1);
        windows.push((start, stop));
    }
}

fn random_partitions(scenario: &Scenario, rng: &mut ChaCha8Rng) -> Vec<Partition> {
    let random = &scenario.random_faults;
    random_windows(
        scenario,
        random.partitions_per_hour,
        random.partition_mean_s,
        rng,
    )
    .into_iter()
    .map(|(start_s, end_s)| {
        let mut order: Vec<usize> = (0..scenario.nodes).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let split = rng.random_range(1..scenario.nodes);
        let rest = order.split_off(split);
        Partition {
            start_s,
            end_s,
            groups: vec![order, rest],
        }
    })
    .collect()
}

fn random_crashes(scenario: &Scenario, rng: &mut ChaCha8Rng) -> Vec<Crash> {
    let random = &scenario.random_faults;
    random_windows(scenario, random.crashes_per_hour, random.crash_mean_s, rng)
        .into_iter()
        .map(|(at_s, restart_s)| Crash {
            node: rng.random_range(0..scenario.nodes),
            at_s,
            restart_s,
        })
        .collect()
}

fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let uniform: f64 = rng.random();
    -(1.0 - uniform).ln() * mean
}
