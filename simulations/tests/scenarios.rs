//! The example scenarios and the README's reference scenario are valid.

use std::path::Path;

use simulations::Scenario;

fn scenarios_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
}

#[test]
fn every_example_scenario_loads() {
    let mut count = 0;
    for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            count += 1;
        }
    }
    assert!(count >= 5, "{count} scenarios");
}

#[test]
fn the_readme_reference_scenario_parses_with_every_key() {
    let readme = std::fs::read_to_string(scenarios_dir().join("README.md")).unwrap();
    let block = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block in the README");
    let scenario = Scenario::parse("README.md", block).unwrap_or_else(|e| panic!("{e}"));
    assert!(scenario.link.burst.is_some());
    assert_eq!(scenario.emcon.len(), 1);
    assert_eq!(scenario.cut.len(), 1);
    assert_eq!(scenario.sync.max_events_per_frame, Some(64));
    let report = simulations::run(
        &Scenario {
            duration_s: 600,
            ..scenario
        },
        1,
        &mut |_| {},
    )
    .unwrap();
    assert!(report.summary.healthy(), "{:?}", report.summary);
}
