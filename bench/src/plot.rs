//! The report's plot: throughput of every system relative to plain Envoy,
//! per workload, as grouped bars on a log scale (SVG, no font files).

use std::path::Path;

use plotters::prelude::*;

use crate::run::Outcome;
use crate::suite::Results;
use crate::systems::Kind;

fn color(kind: Kind) -> RGBColor {
    match kind {
        Kind::Direct => RGBColor(150, 150, 150),
        Kind::Floor => RGBColor(60, 60, 60),
        Kind::WasmNoop => RGBColor(120, 120, 160),
        Kind::WasmFloor => RGBColor(90, 90, 140),
        Kind::WasmFloorMap => RGBColor(140, 90, 140),
        Kind::WasmRouterCalls => RGBColor(110, 110, 190),
        Kind::WasmRouterCallsGateway => RGBColor(80, 150, 200),
        Kind::Gateway => RGBColor(31, 119, 180),
        Kind::Native => RGBColor(255, 127, 14),
        Kind::ContextForge => RGBColor(44, 160, 44),
    }
}

/// Writes the throughput plot to `path`.
///
/// # Errors
/// The file cannot be written.
pub fn throughput(results: &Results, path: &Path) -> anyhow::Result<()> {
    let workloads = &results.options.workloads;
    let systems = &results.options.systems;
    let ratio = |w, k| -> Option<f64> {
        let rps = |k| match results.cells.get(&(w, k)) {
            Some(Outcome::Measured(m)) => Some(m.load.rps()),
            _ => None,
        };
        let floor = rps(Kind::Floor)?;
        rps(k).map(|r| r / floor)
    };
    let values: Vec<f64> = workloads
        .iter()
        .flat_map(|&w| systems.iter().filter_map(move |&k| ratio(w, k)))
        .collect();
    let low = values.iter().copied().fold(1.0f64, f64::min).max(1e-4) / 1.5;
    // Room above the bars for the legend.
    let high = values.iter().copied().fold(1.0f64, f64::max) * 60.0;

    let root = SVGBackend::new(path, (1100, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Throughput relative to plain Envoy (same run; log scale, 1 = floor)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..workloads.len() as f64, (low..high).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(workloads.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let index = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && index < workloads.len() {
                workloads[index].id().to_owned()
            } else {
                String::new()
            }
        })
        .y_desc("req/s ÷ plain Envoy req/s")
        .y_label_formatter(&|y| {
            if *y >= 1.0 {
                format!("{y:.0}")
            } else {
                let decimals = (-y.log10()).ceil() as usize;
                format!("{y:.decimals$}")
            }
        })
        .draw()?;

    let width = 0.8 / systems.len() as f64;
    for (s, &kind) in systems.iter().enumerate() {
        let bars: Vec<Rectangle<(f64, f64)>> = workloads
            .iter()
            .enumerate()
            .filter_map(|(w, &workload)| {
                let value = ratio(workload, kind)?;
                let x0 = w as f64 + 0.1 + s as f64 * width;
                Some(Rectangle::new(
                    [(x0, low), (x0 + width * 0.9, value)],
                    color(kind).filled(),
                ))
            })
            .collect();
        let labels: Vec<Text<'_, (f64, f64), String>> = workloads
            .iter()
            .enumerate()
            .filter_map(|(w, &workload)| {
                let value = ratio(workload, kind)?;
                let x = w as f64 + 0.1 + s as f64 * width;
                Some(Text::new(
                    short(value),
                    (x, value * 1.15),
                    ("sans-serif", 10).into_font(),
                ))
            })
            .collect();
        chart.draw_series(labels)?;
        chart
            .draw_series(bars)?
            .label(kind.label())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color(kind).filled())
            });
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 1.0), (workloads.len() as f64, 1.0)],
        BLACK.stroke_width(1),
    )))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Two significant digits at most, as a bar's label.
fn short(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else if value >= 0.1 {
        format!("{value:.2}")
    } else {
        let decimals = (-value.log10()).ceil() as usize + 1;
        format!("{value:.decimals$}")
    }
}
