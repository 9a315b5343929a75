//! Scenario files: what to simulate, in TOML.
//!
//! Every key of the issue's example works; the others have defaults, so a scenario names only
//! what it studies. Unknown keys are errors (a misspelt key silently falling back to its default
//! would make a study measure something else). [`Scenario::load`] reports the file and the key.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Why a scenario could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

/// Bounds that keep every time computation in range: ten simulated years, a day of delay, one
/// event per second per user or room.
const MAX_SECONDS: u64 = 10 * 365 * 86_400;
const MAX_DELAY_MS: u64 = 86_400_000;
const MAX_RATE_PER_HOUR: f64 = 3600.0;
/// Matrix timestamps must be safe integers.
const MAX_UNIX_MS: u64 = (1 << 53) - 1 - MAX_SECONDS * 2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    /// Simulated seconds of workload; the run then drains until converged or `run.drain_limit_s`.
    pub duration_s: u64,
    pub nodes: usize,
    #[serde(default)]
    pub link: LinkModel,
    #[serde(default)]
    pub topology: Topology,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub partition: Vec<Partition>,
    #[serde(default)]
    pub crash: Vec<Crash>,
    #[serde(default)]
    pub emcon: Vec<Emcon>,
    #[serde(default)]
    pub cut: Vec<LinkCut>,
    #[serde(default)]
    pub random_faults: RandomFaults,
    #[serde(default)]
    pub sync: SyncTuning,
    #[serde(default)]
    pub run: RunOptions,
}

/// The model of every link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkModel {
    pub latency_ms: u64,
    /// Each frame's latency is drawn uniformly from `latency_ms ± jitter_ms` (never negative);
    /// frames still arrive in order, as over TCP.
    pub jitter_ms: u64,
    pub bandwidth_bps: u64,
    /// Probability that a packet is lost (in the good state, if `burst` is set).
    pub loss: f64,
    /// Bursty loss: a Gilbert–Elliott chain stepped once per packet.
    pub burst: Option<GilbertElliott>,
    /// Frames are split into packets of at most this many bytes.
    pub mtu_bytes: u64,
    /// Transport bytes per packet (IP, TCP/QUIC, Noise, yamux headers): they take serialization
    /// time but are not counted in `bytes_on_links`.
    pub overhead_bytes_per_packet: u64,
    /// How long a lost packet waits before it is sent again; default `2 × (latency + jitter) +
    /// 200 ms`.
    pub retransmit_timeout_ms: Option<u64>,
    pub duplex: Duplex,
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel {
            latency_ms: 20,
            jitter_ms: 0,
            bandwidth_bps: 1_000_000,
            loss: 0.0,
            burst: None,
            mtu_bytes: 1400,
            overhead_bytes_per_packet: 40,
            retransmit_timeout_ms: None,
            duplex: Duplex::Full,
        }
    }
}

impl LinkModel {
    pub fn retransmit_timeout(&self) -> u64 {
        self.retransmit_timeout_ms
            .unwrap_or(2 * (self.latency_ms + self.jitter_ms) + 200)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GilbertElliott {
    /// Per packet, the chance of going from the good to the bad state.
    pub p_good_to_bad: f64,
    /// Per packet, the chance of going from the bad to the good state.
    pub p_bad_to_good: f64,
    /// Loss probability in the bad state.
    pub loss_bad: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Duplex {
    /// Each direction has its own channel.
    Full,
    /// Both directions share one channel: one frame at a time on the link.
    Half,
    /// Every link shares one channel, as stations on one radio net's frequency do: one frame
    /// at a time in the whole network.
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopologyKind {
    Full,
    Line,
    Ring,
    Star,
    Random,
    Explicit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub kind: TopologyKind,
    /// `random`: the number of neighbours each node gets (at least 2: the graph is a random ring
    /// plus random chords, so always connected).
    pub degree: Option<usize>,
    /// `star`: the hub (default 0).
    pub center: Option<usize>,
    /// `explicit`: the links as node pairs.
    pub links: Option<Vec<[usize; 2]>>,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            kind: TopologyKind::Full,
            degree: None,
            center: None,
            links: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Every node's users are in every room.
    pub rooms: usize,
    pub users_per_node: usize,
    pub messages_per_user_per_hour: f64,
    /// Per room: topic, name, power levels, bans/unbans, joins/leaves.
    pub state_changes_per_hour: f64,
    /// During a partition, admins on both sides change the same state at the same time.
    pub conflicting_admin: bool,
    /// How many nodes have an admin (user 0 of evenly spaced nodes, node 0 first); default all
    /// nodes up to 32.
    pub admin_nodes: Option<usize>,
    /// Length of a message body in characters.
    pub message_chars: usize,
    /// "11" or "12".
    pub room_version: String,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            rooms: 1,
            users_per_node: 1,
            messages_per_user_per_hour: 4.0,
            state_changes_per_hour: 0.0,
            conflicting_admin: false,
            admin_nodes: None,
            message_chars: 60,
            room_version: "12".to_owned(),
        }
    }
}

/// Links between different groups are cut from `start_s` to `end_s`. Nodes in no group form
/// one more group together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub start_s: u64,
    pub end_s: u64,
    pub groups: Vec<Vec<usize>>,
}

/// The node loses its volatile state at `at_s` and comes back at `restart_s`; its store, being
/// durable, survives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    pub node: usize,
    pub at_s: u64,
    pub restart_s: u64,
}

/// Emission control: the node transmits nothing from `start_s` to `end_s`, but still receives
/// and its users keep writing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emcon {
    pub node: usize,
    pub start_s: u64,
    pub end_s: u64,
}

/// One link cut from `start_s` to `end_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCut {
    pub a: usize,
    pub b: usize,
    pub start_s: u64,
    pub end_s: u64,
}

/// Faults drawn from the seed, all within the workload (so the drain can converge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomFaults {
    /// Random two-way partitions (a random subset against the rest).
    pub partitions_per_hour: f64,
    pub partition_mean_s: f64,
    pub crashes_per_hour: f64,
    pub crash_mean_s: f64,
}

impl Default for RandomFaults {
    fn default() -> Self {
        RandomFaults {
            partitions_per_hour: 0.0,
            partition_mean_s: 600.0,
            crashes_per_hour: 0.0,
            crash_mean_s: 300.0,
        }
    }
}

/// Overrides of the sync protocol's configuration (`dag::sync::SyncConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncTuning {
    pub ihave_delay_ms: Option<u64>,
    pub graft_timeout_ms: Option<u64>,
    pub anti_entropy_ms: Option<u64>,
    pub max_events_per_frame: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunOptions {
    /// After the workload, how long to keep running for convergence.
    pub drain_limit_s: u64,
    /// How often the timeline samples every node.
    pub sample_interval_s: u64,
    /// Wall-clock origin of simulated time, for `origin_server_ts`.
    pub start_unix_ms: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            drain_limit_s: 86_400,
            sample_interval_s: 60,
            start_unix_ms: 1_767_225_600_000,
        }
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            file: file.clone(),
            source,
        })?;
        Scenario::parse(&file, &text)
    }

    /// Parses and validates; `file` names the source in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        scenario
            .validate()
            .map_err(|(key, message)| ScenarioError::Invalid {
                file: file.to_owned(),
                key,
                message,
            })?;
        Ok(scenario)
    }

    /// The end of the workload, in simulated milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.duration_s.saturating_mul(1000)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, message: String| Err((key.to_owned(), message));
        if self.nodes < 2 || self.nodes > 100_000 {
            return fail("nodes", format!("must be 2..=100000, is {}", self.nodes));
        }
        if self.duration_s == 0 || self.duration_s > MAX_SECONDS {
            return fail("duration_s", format!("must be 1..={MAX_SECONDS}"));
        }
        if self.run.start_unix_ms > MAX_UNIX_MS {
            return fail(
                "run.start_unix_ms",
                format!("must be at most {MAX_UNIX_MS}"),
            );
        }
        if self.run.drain_limit_s > MAX_SECONDS {
            return fail(
                "run.drain_limit_s",
                format!("must be at most {MAX_SECONDS}"),
            );
        }
        self.validate_link()?;
        self.validate_topology()?;
        self.validate_workload()?;
        self.validate_faults()?;
        if self.run.sample_interval_s == 0 {
            return fail("run.sample_interval_s", "must be positive".into());
        }
        Ok(())
    }

    fn validate_link(&self) -> Result<(), (String, String)> {
        let link = &self.link;
        let probability = |key: &str, p: f64| {
            if (0.0..1.0).contains(&p) {
                Ok(())
            } else {
                Err((key.to_owned(), format!("must be in [0, 1), is {p}")))
            }
        };
        probability("link.loss", link.loss)?;
        if let Some(burst) = &link.burst {
            probability("link.burst.p_good_to_bad", burst.p_good_to_bad)?;
            probability("link.burst.loss_bad", burst.loss_bad)?;
            if !(burst.p_bad_to_good > 0.0 && burst.p_bad_to_good <= 1.0) {
                return Err((
                    "link.burst.p_bad_to_good".into(),
                    format!("must be in (0, 1], is {}", burst.p_bad_to_good),
                ));
            }
        }
        for (key, value) in [
            ("latency_ms", link.latency_ms),
            ("jitter_ms", link.jitter_ms),
            (
                "retransmit_timeout_ms",
                link.retransmit_timeout_ms.unwrap_or(0),
            ),
        ] {
            if value > MAX_DELAY_MS {
                return Err((
                    format!("link.{key}"),
                    format!("must be at most {MAX_DELAY_MS}"),
                ));
            }
        }
        if link.overhead_bytes_per_packet > 65_535 {
            return Err((
                "link.overhead_bytes_per_packet".into(),
                "must be at most 65535".into(),
            ));
        }
        if link.mtu_bytes > 1 << 24 {
            return Err(("link.mtu_bytes".into(), "must be at most 16777216".into()));
        }
        if link.bandwidth_bps == 0 {
            return Err(("link.bandwidth_bps".into(), "must be positive".into()));
        }
        if link.mtu_bytes == 0 {
            return Err(("link.mtu_bytes".into(), "must be positive".into()));
        }
        Ok(())
    }

    fn validate_topology(&self) -> Result<(), (String, String)> {
        let topology = &self.topology;
        match topology.kind {
            TopologyKind::Random => match topology.degree {
                Some(degree) if degree >= 1 && degree < self.nodes => Ok(()),
                Some(degree) => Err((
                    "topology.degree".into(),
                    format!("must be 1..{}, is {degree}", self.nodes),
                )),
                None => Err((
                    "topology.degree".into(),
                    "required when kind = \"random\"".into(),
                )),
            },
            TopologyKind::Star => self.check_node("topology.center", topology.center.unwrap_or(0)),
            TopologyKind::Explicit => {
                let Some(links) = &topology.links else {
                    return Err((
                        "topology.links".into(),
                        "required when kind = \"explicit\"".into(),
                    ));
                };
                for (i, [a, b]) in links.iter().enumerate() {
                    let key = format!("topology.links[{i}]");
                    self.check_node(&key, *a)?;
                    self.check_node(&key, *b)?;
                    if a == b {
                        return Err((key, format!("links node {a} to itself")));
                    }
                }
                Ok(())
            }
            TopologyKind::Full if self.nodes > 2000 => Err((
                "topology.kind".into(),
                format!(
                    "\"full\" is limited to 2000 nodes ({} links), not {}",
                    2000 * 1999 / 2,
                    self.nodes
                ),
            )),
            TopologyKind::Full | TopologyKind::Line | TopologyKind::Ring => Ok(()),
        }
    }

    fn validate_workload(&self) -> Result<(), (String, String)> {
        let workload = &self.workload;
        let fail = |key: &str, message: String| Err((format!("workload.{key}"), message));
        if workload.rooms == 0 || workload.rooms > 1000 {
            return fail("rooms", format!("must be 1..=1000, is {}", workload.rooms));
        }
        if workload.users_per_node == 0 || workload.users_per_node > 1000 {
            return fail(
                "users_per_node",
                format!("must be 1..=1000, is {}", workload.users_per_node),
            );
        }
        for (key, rate) in [
            (
                "messages_per_user_per_hour",
                workload.messages_per_user_per_hour,
            ),
            ("state_changes_per_hour", workload.state_changes_per_hour),
        ] {
            if !(rate.is_finite() && (0.0..=MAX_RATE_PER_HOUR).contains(&rate)) {
                return fail(key, format!("must be 0..={MAX_RATE_PER_HOUR}, is {rate}"));
            }
        }
        if let Some(admins) = workload.admin_nodes
            && (admins == 0 || admins > self.nodes)
        {
            return fail("admin_nodes", format!("must be 1..={}", self.nodes));
        }
        if !["11", "12"].contains(&workload.room_version.as_str()) {
            return fail("room_version", "must be \"11\" or \"12\"".into());
        }
        if workload.message_chars > 10_000 {
            return fail("message_chars", "must be at most 10000".into());
        }
        Ok(())
    }

    fn validate_faults(&self) -> Result<(), (String, String)> {
        for (i, partition) in self.partition.iter().enumerate() {
            let key = format!("partition[{i}]");
            check_window(&key, "start_s", partition.start_s, "end_s", partition.end_s)?;
            let mut seen = vec![false; self.nodes];
            for node in partition.groups.iter().flatten() {
                self.check_node(&format!("{key}.groups"), *node)?;
                if std::mem::replace(&mut seen[*node], true) {
                    return Err((
                        format!("{key}.groups"),
                        format!("node {node} is in two groups"),
                    ));
                }
            }
        }
        for (i, crash) in self.crash.iter().enumerate() {
            let key = format!("crash[{i}]");
            self.check_node(&format!("{key}.node"), crash.node)?;
            check_window(&key, "at_s", crash.at_s, "restart_s", crash.restart_s)?;
        }
        for (i, emcon) in self.emcon.iter().enumerate() {
            let key = format!("emcon[{i}]");
            self.check_node(&format!("{key}.node"), emcon.node)?;
            check_window(&key, "start_s", emcon.start_s, "end_s", emcon.end_s)?;
        }
        for (i, cut) in self.cut.iter().enumerate() {
            let key = format!("cut[{i}]");
            self.check_node(&format!("{key}.a"), cut.a)?;
            self.check_node(&format!("{key}.b"), cut.b)?;
            check_window(&key, "start_s", cut.start_s, "end_s", cut.end_s)?;
        }
        let random = &self.random_faults;
        for (key, rate) in [
            ("partitions_per_hour", random.partitions_per_hour),
            ("crashes_per_hour", random.crashes_per_hour),
        ] {
            if rate > MAX_RATE_PER_HOUR {
                return Err((
                    format!("random_faults.{key}"),
                    format!("must be at most {MAX_RATE_PER_HOUR}"),
                ));
            }
        }
        for (key, value) in [
            ("partitions_per_hour", random.partitions_per_hour),
            ("partition_mean_s", random.partition_mean_s),
            ("crashes_per_hour", random.crashes_per_hour),
            ("crash_mean_s", random.crash_mean_s),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err((
                    format!("random_faults.{key}"),
                    format!("must be a non-negative number, is {value}"),
                ));
            }
        }
        Ok(())
    }

    fn check_node(&self, key: &str, node: usize) -> Result<(), (String, String)> {
        if node < self.nodes {
            Ok(())
        } else {
            Err((
                key.to_owned(),
                format!("node {node} does not exist (nodes = {})", self.nodes),
            ))
        }
    }
}

fn check_window(
    key: &str,
    start_name: &str,
    start: u64,
    end_name: &str,
    end: u64,
) -> Result<(), (String, String)> {
    if end > MAX_SECONDS {
        Err((
            format!("{key}.{end_name}"),
            format!("must be at most {MAX_SECONDS}"),
        ))
    } else if end > start {
        Ok(())
    } else {
        Err((
            format!("{key}.{end_name}"),
            format!("must be after {start_name} ({end} <= {start})"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_EXAMPLE: &str = r#"
name = "fleet"
seed = 11
duration_s = 28800
nodes = 10
[link]
latency_ms = 800
jitter_ms = 300
bandwidth_bps = 2400
loss = 0.05
[topology]
kind = "random"
degree = 3
[workload]
rooms = 3
users_per_node = 2
messages_per_user_per_hour = 4
state_changes_per_hour = 6
conflicting_admin = true
[[partition]]
start_s = 3600
end_s = 21600
groups = [[0,1,2,3,4,5,6,7,8],[9]]
[[crash]]
node = 4
at_s = 7000
restart_s = 9000
"#;

    #[test]
    fn the_issue_example_parses() {
        let scenario = Scenario::parse("example.toml", ISSUE_EXAMPLE).unwrap();
        assert_eq!(scenario.nodes, 10);
        assert_eq!(scenario.topology.degree, Some(3));
        assert_eq!(scenario.workload.messages_per_user_per_hour, 4.0);
        assert_eq!(scenario.partition[0].groups[1], vec![9]);
        assert_eq!(scenario.crash[0].restart_s, 9000);
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let text = ISSUE_EXAMPLE.replace("node = 4", "node = 12");
        let error = Scenario::parse("fleet.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("fleet.toml: crash[0].node:"), "{error}");

        let text = ISSUE_EXAMPLE.replace("degree = 3", "degre = 3");
        let error = Scenario::parse("fleet.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("fleet.toml") && error.contains("degre"),
            "{error}"
        );

        let text = ISSUE_EXAMPLE.replace("end_s = 21600", "end_s = 18446744073709551615");
        let error = Scenario::parse("fleet.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(error.contains("partition[0].end_s"), "{error}");

        let text = ISSUE_EXAMPLE.replace("latency_ms = 800", "latency_ms = 9999999999999");
        let error = Scenario::parse("fleet.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(error.contains("link.latency_ms"), "{error}");

        let text = ISSUE_EXAMPLE.replace("loss = 0.05", "loss = \"high\"");
        let error = Scenario::parse("fleet.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(error.contains("loss"), "{error}");
    }
}
