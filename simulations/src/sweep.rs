//! Seed sweeps: which seeds to run, split into shards for batch schedulers.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    #[error("--seeds: expected A..B (B excluded) or A..=B, got {0:?}")]
    Seeds(String),
    #[error("--shard: expected I/N with 0 <= I < N, got {0:?}")]
    Shard(String),
}

/// One of `count` equal shares of a sweep: seeds whose offset from the first is `index` modulo
/// `count`, so shards are disjoint, together complete, and balanced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn parse(text: &str) -> Result<Shard, SweepError> {
        let error = || SweepError::Shard(text.to_owned());
        let (index, count) = text.split_once('/').ok_or_else(error)?;
        let index: u64 = index.trim().parse().map_err(|_| error())?;
        let count: u64 = count.trim().parse().map_err(|_| error())?;
        if count == 0 || index >= count {
            return Err(error());
        }
        Ok(Shard { index, count })
    }

    /// The seeds of `range` in this shard, in order.
    pub fn seeds(self, range: Range<u64>) -> impl Iterator<Item = u64> {
        let start = range.start;
        range.filter(move |seed| (seed - start) % self.count == self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `A..B` (B excluded) or `A..=B`.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, SweepError> {
    let error = || SweepError::Seeds(text.to_owned());
    let (start, end) = text.split_once("..").ok_or_else(error)?;
    let start: u64 = start.trim().parse().map_err(|_| error())?;
    let end: u64 = match end.strip_prefix('=') {
        Some(last) => last
            .trim()
            .parse::<u64>()
            .map_err(|_| error())?
            .checked_add(1)
            .ok_or_else(error)?,
        None => end.trim().parse().map_err(|_| error())?,
    };
    if end <= start {
        return Err(error());
    }
    Ok(start..end)
}

/// The command that replays one seed of a sweep.
pub fn replay_command(scenario_path: &str, seed: u64) -> String {
    format!("flotilla sim run {scenario_path} --seed {seed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_a_range_exactly() {
        let range = parse_seeds("10..20").unwrap();
        let mut all: Vec<u64> = (0..3)
            .flat_map(|i| Shard { index: i, count: 3 }.seeds(range.clone()))
            .collect();
        all.sort();
        assert_eq!(all, (10..20).collect::<Vec<_>>());
        assert_eq!(parse_seeds("0..=4").unwrap(), 0..5);
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("x..5").is_err());
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("1").is_err());
    }
}
