//! State resolution of generated forks, ours beside ruma-state-res on the same inputs.
//!
//! A room (see tests/common/generate.rs) forks into branches that make conflicting power level,
//! membership, join rule and topic changes; the states at the branch tips are resolved. ruma is
//! given what a server would have at hand: the auth chain of each state (precomputed, outside
//! the timing) and the conflicted state subgraph through a callback. Answers are compared once
//! per case before timing.
//!
//! Before criterion's measurements, each case is also timed by alternating the two resolvers
//! and keeping each one's fastest run, which stays fair on a machine shared with other work;
//! those minima and their ratio are printed to stderr.
//!
//! `cargo bench -p dag`; `FLOTILLA_BENCH_MAX=N` skips cases with more than N events.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::generate::{Shape, generate};
use common::ruma_oracle::RumaInput;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use dag::RoomVersion;
use dag::state_res::fixture::FixtureStore;
use dag::state_res::resolve;

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];
const BRANCHES: usize = 3;
const USERS: usize = 200;

fn max_events() -> usize {
    std::env::var("FLOTILLA_BENCH_MAX")
        .ok()
        .and_then(|max| max.parse().ok())
        .unwrap_or(usize::MAX)
}

fn forks(c: &mut Criterion) {
    for version in [RoomVersion::V11, RoomVersion::V12] {
        let mut group = c.benchmark_group(format!("resolve_forks_v{version}"));
        for events in SIZES.into_iter().filter(|&events| events <= max_events()) {
            bench_size(&mut group, version, events);
        }
        group.finish();
    }
}

fn bench_size(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    version: RoomVersion,
    events: usize,
) {
    let shape = Shape {
        branches: BRANCHES,
        events_per_branch: events / BRANCHES,
        users: USERS,
        side_branch_percent: 0,
        rejected_percent: 0,
        authorized_only: false,
    };
    let mut no_merges = |_: &[_], _: &[_]| unreachable!("side branches are off");
    let room = generate(version, events as u64, shape, &mut no_merges);
    let store: FixtureStore = room.events.iter().cloned().collect();
    let ruma = RumaInput::new(version, &room.events, &room.leaf_states);
    let ours = resolve(version, &room.leaf_states, &store).unwrap();
    assert_eq!(
        Ok(ours),
        ruma.resolve(),
        "v{version}, {events} events: answers differ"
    );

    print_interleaved_minima(
        version,
        events,
        || resolve(version, &room.leaf_states, &store),
        &ruma,
    );

    if events >= 10_000 {
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(20));
    }
    group.bench_function(BenchmarkId::new("flotilla", events), |b| {
        b.iter(|| resolve(version, &room.leaf_states, &store).unwrap())
    });
    group.bench_function(BenchmarkId::new("ruma", events), |b| {
        b.iter_batched(
            || ruma.auth_chains.clone(),
            |chains| ruma.resolve_with(chains).unwrap(),
            BatchSize::LargeInput,
        )
    });
}

/// Runs the two resolvers in turn and prints each one's fastest time and the ratio. ruma's
/// auth chains are cloned (it consumes them) outside the timed part, as in criterion's runs.
fn print_interleaved_minima<T>(
    version: RoomVersion,
    events: usize,
    mut ours: impl FnMut() -> T,
    ruma: &RumaInput,
) {
    let rounds = (20_000 / events).clamp(3, 200);
    let mut fastest = [Duration::MAX; 2];
    for _ in 0..rounds {
        let start = Instant::now();
        black_box(ours());
        fastest[0] = fastest[0].min(start.elapsed());
        let chains = ruma.auth_chains.clone();
        let start = Instant::now();
        black_box(ruma.resolve_with(chains)).ok();
        fastest[1] = fastest[1].min(start.elapsed());
    }
    let ratio = fastest[1].as_secs_f64() / fastest[0].as_secs_f64();
    eprintln!(
        "interleaved minima, v{version}, {events} events, {rounds} rounds: \
         flotilla {:?}, ruma {:?}, ruma/flotilla {ratio:.2}",
        fastest[0], fastest[1]
    );
}

criterion_group!(benches, forks);
criterion_main!(benches);
