//! SVG plots of a results directory, drawn from its CSV files (so `flotilla sim plot DIR` works
//! on results from any machine). Text is left to the SVG viewer: no font files are needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::report::{CONVERGENCE_HEADER, LINKS_HEADER, TIMELINE_HEADER};

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Csv {
        file: String,
        line: usize,
        message: String,
    },
    #[error("drawing {file}: {message}")]
    Draw { file: String, message: String },
}

/// Writes `convergence.svg`, `bytes_per_link.svg` and `extremities.svg` into `dir`; returns
/// their paths.
pub fn plot_dir(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let convergence = read_csv(&dir.join("convergence.csv"), CONVERGENCE_HEADER)?;
    let links = read_csv(&dir.join("links.csv"), LINKS_HEADER)?;
    let timeline = read_csv(&dir.join("timeline.csv"), TIMELINE_HEADER)?;

    let hours = |row: &[f64]| row[0] / 3600.0;
    let not_everywhere: Vec<(f64, f64)> = convergence.iter().map(|r| (hours(r), r[1])).collect();
    let head_sets: Vec<(f64, f64)> = convergence.iter().map(|r| (hours(r), r[2])).collect();
    let mut per_link: Vec<f64> = links.iter().map(|r| r[2]).collect();
    per_link.sort_by(|a, b| b.total_cmp(a));
    let mut extremities: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
    for row in &timeline {
        let entry = extremities.entry(row[0] as u64).or_insert((0.0, 0.0, 0.0));
        entry.0 = entry.0.max(row[4]);
        entry.1 += row[4];
        entry.2 += 1.0;
    }
    let max_extremities: Vec<(f64, f64)> = extremities
        .iter()
        .map(|(t, e)| (*t as f64 / 3600.0, e.0))
        .collect();
    let mean_extremities: Vec<(f64, f64)> = extremities
        .iter()
        .map(|(t, e)| (*t as f64 / 3600.0, e.1 / e.2))
        .collect();

    let files = [
        (
            dir.join("convergence.svg"),
            Chart {
                title: "Convergence",
                x_label: "simulated hours",
                y_label: "count",
                series: vec![
                    ("events some node lacks", not_everywhere),
                    ("distinct head sets", head_sets),
                ],
                bars: false,
            },
        ),
        (
            dir.join("bytes_per_link.svg"),
            Chart {
                title: "Bytes per link direction (largest first)",
                x_label: "link direction, by rank",
                y_label: "bytes",
                series: vec![(
                    "bytes",
                    per_link
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (i as f64, *b))
                        .collect(),
                )],
                bars: true,
            },
        ),
        (
            dir.join("extremities.svg"),
            Chart {
                title: "Forward extremities per node (largest room)",
                x_label: "simulated hours",
                y_label: "forward extremities",
                series: vec![
                    ("max over nodes", max_extremities),
                    ("mean over nodes", mean_extremities),
                ],
                bars: false,
            },
        ),
    ];
    let mut written = Vec::new();
    for (path, chart) in files {
        chart.draw(&path).map_err(|message| PlotError::Draw {
            file: path.display().to_string(),
            message,
        })?;
        written.push(path);
    }
    Ok(written)
}

struct Chart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: Vec<(&'a str, Vec<(f64, f64)>)>,
    bars: bool,
}

const COLOURS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

impl Chart<'_> {
    fn draw(&self, path: &Path) -> Result<(), String> {
        let points = self.series.iter().flat_map(|(_, s)| s.iter());
        let (x_max, y_max) = points.fold((0.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
        let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..(x_max * 1.02).max(1.0), 0.0..(y_max * 1.1).max(1.0))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .draw()
            .map_err(|e| e.to_string())?;
        for (index, (name, series)) in self.series.iter().enumerate() {
            let colour = COLOURS[index % COLOURS.len()];
            let drawn = if self.bars {
                chart.draw_series(
                    series
                        .iter()
                        .map(|&(x, y)| Rectangle::new([(x, 0.0), (x + 0.8, y)], colour.filled())),
                )
            } else {
                chart.draw_series(LineSeries::new(
                    series.iter().copied(),
                    colour.stroke_width(2),
                ))
            };
            drawn
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    }
}

/// Rows of numbers from a CSV file written by [`crate::report`], header checked.
fn read_csv(path: &Path, header: &str) -> Result<Vec<Vec<f64>>, PlotError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| PlotError::Read {
        file: file.clone(),
        source,
    })?;
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(PlotError::Csv {
            file,
            line: 1,
            message: format!("expected the header {header:?}"),
        });
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            line.split(',')
                .map(|field| field.parse::<f64>())
                .collect::<Result<Vec<f64>, _>>()
                .map_err(|e| PlotError::Csv {
                    file: file.clone(),
                    line: i + 2,
                    message: e.to_string(),
                })
        })
        .collect()
}
