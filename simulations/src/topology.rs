//! Which nodes are linked: the scenario's topology as a sorted list of node pairs.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use crate::scenario::{Topology, TopologyKind};

/// The links, each as `(a, b)` with `a < b`, sorted and without repeats.
pub fn links(topology: &Topology, nodes: usize, rng: &mut ChaCha8Rng) -> Vec<(usize, usize)> {
    let pairs: Vec<(usize, usize)> = match topology.kind {
        TopologyKind::Full => (0..nodes)
            .flat_map(|a| (a + 1..nodes).map(move |b| (a, b)))
            .collect(),
        TopologyKind::Line => (1..nodes).map(|b| (b - 1, b)).collect(),
        TopologyKind::Ring => (0..nodes).map(|a| (a, (a + 1) % nodes)).collect(),
        TopologyKind::Star => {
            let center = topology.center.unwrap_or(0);
            (0..nodes)
                .filter(|&n| n != center)
                .map(|n| (center, n))
                .collect()
        }
        TopologyKind::Random => random(nodes, topology.degree.unwrap_or(2), rng),
        TopologyKind::Explicit => topology
            .links
            .iter()
            .flatten()
            .map(|[a, b]| (*a, *b))
            .collect(),
    };
    normalise(pairs)
}

fn normalise(pairs: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = pairs
        .into_iter()
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.min(b), a.max(b)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// A ring over a random order of the nodes (so the graph is connected), plus random chords
/// until every node that can has `degree` neighbours.
fn random(nodes: usize, degree: usize, rng: &mut ChaCha8Rng) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..nodes).collect();
    for i in (1..nodes).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut pairs: std::collections::BTreeSet<(usize, usize)> = (0..nodes)
        .map(|i| {
            let (a, b) = (order[i], order[(i + 1) % nodes]);
            (a.min(b), a.max(b))
        })
        .collect();
    let mut degrees = vec![0usize; nodes];
    for (a, b) in &pairs {
        degrees[*a] += 1;
        degrees[*b] += 1;
    }
    for a in 0..nodes {
        let mut attempts = 0;
        while degrees[a] < degree && attempts < 8 * degree {
            attempts += 1;
            let b = rng.random_range(0..nodes);
            let pair = (a.min(b), a.max(b));
            if b != a && degrees[b] < degree && pairs.insert(pair) {
                degrees[a] += 1;
                degrees[b] += 1;
            }
        }
    }
    pairs.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn topology(kind: TopologyKind) -> Topology {
        Topology {
            kind,
            degree: Some(4),
            center: None,
            links: Some(vec![[2, 0], [0, 2], [1, 2]]),
        }
    }

    #[test]
    fn shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut count = |kind| links(&topology(kind), 5, &mut rng).len();
        assert_eq!(count(TopologyKind::Full), 10);
        assert_eq!(count(TopologyKind::Line), 4);
        assert_eq!(count(TopologyKind::Ring), 5);
        assert_eq!(count(TopologyKind::Star), 4);
        assert_eq!(count(TopologyKind::Explicit), 2);
    }

    #[test]
    fn random_graphs_are_connected_and_near_the_degree() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let pairs = links(&topology(TopologyKind::Random), 200, &mut rng);
        let mut reached = [false; 200];
        let mut stack = vec![0];
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut reached[n], true) {
                for (a, b) in &pairs {
                    if *a == n {
                        stack.push(*b);
                    } else if *b == n {
                        stack.push(*a);
                    }
                }
            }
        }
        assert!(reached.iter().all(|r| *r));
        assert!(pairs.len() >= 380 && pairs.len() <= 400, "{}", pairs.len());
    }
}
