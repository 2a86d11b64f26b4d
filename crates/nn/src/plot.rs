//! SVG charts of training histories (plotters): loss and accuracy curves, several runs on one
//! chart, and a heat map of log10 gradient norm by layer and step.

use crate::train::History;
use plotters::prelude::*;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

/// A chart that could not be drawn or written.
#[derive(Debug)]
pub struct PlotError(pub String);

impl core::fmt::Display for PlotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "could not draw chart: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

fn err(e: impl core::fmt::Display) -> PlotError {
    PlotError(e.to_string())
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The bounds of the log-scale loss axis for `losses`: from below the smallest positive
/// finite loss (at most 1) to above the largest, a decade at least, and never beyond
/// `1e-30..1e30`. Losses outside are drawn at the bounds: plotters' log axis does not return
/// for a bound that overflows to infinity or is subnormal.
fn loss_axis(losses: impl Iterator<Item = f64>) -> (f64, f64) {
    const FLOOR: f64 = 1e-30;
    const CEILING: f64 = 1e30;
    let (min, max) = losses
        .filter(|l| l.is_finite() && *l > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), l| {
            (lo.min(l), hi.max(l))
        });
    let lo = (min.min(1.0) * 0.8).clamp(FLOOR, CEILING / 10.0);
    let hi = (max.max(lo * 10.0) * 1.2).clamp(lo * 10.0, CEILING);
    (lo, hi)
}

/// Training loss (log scale) and test accuracy per epoch of several runs, one color per run.
pub fn loss_curves_svg(
    path: impl AsRef<Path>,
    title: &str,
    runs: &[(&str, &History)],
) -> Result<(), PlotError> {
    let root = SVGBackend::new(path.as_ref(), (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let (left, right) = root.split_horizontally(500);
    // The runs' own epoch numbers: a resumed run's first epoch is not 1.
    let numbers = runs
        .iter()
        .flat_map(|(_, h)| h.epochs.iter().map(|e| e.epoch));
    let first = numbers.clone().min().unwrap_or(1) as f64;
    let last = (numbers.max().unwrap_or(1) as f64).max(first + 1.0);
    let epochs = first..last;
    let (lo, hi) = loss_axis(
        runs.iter()
            .flat_map(|(_, h)| h.epochs.iter().map(|e| e.train_loss)),
    );

    let mut chart = ChartBuilder::on(&left)
        .caption("training loss", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(epochs.clone(), (lo..hi).log_scale())
        .map_err(err)?;
    chart.configure_mesh().x_desc("epoch").draw().map_err(err)?;
    for (i, (name, h)) in runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points = h
            .epochs
            .iter()
            .filter(|e| e.train_loss.is_finite())
            .map(|e| (e.epoch as f64, e.train_loss.clamp(lo, hi)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;

    let mut chart = ChartBuilder::on(&right)
        .caption("test accuracy", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(epochs.clone(), 0.0..1.0)
        .map_err(err)?;
    chart.configure_mesh().x_desc("epoch").draw().map_err(err)?;
    for (i, (_, h)) in runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points = h
            .epochs
            .iter()
            .filter(|e| e.test_accuracy.is_finite())
            .map(|e| (e.epoch as f64, e.test_accuracy));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?;
    }
    root.present()
        .map_err(|e| PlotError(std::format!("{}: {e}", path.as_ref().display())))
}

/// A heat map of `log10` gradient norm, one row per layer (bottom: first layer) and one column
/// per recorded step. Vanishing gradients show as a dark bottom; a norm of 0 is drawn darkest,
/// an infinite one (an exploded gradient) brightest, a NaN one grey.
pub fn grad_heatmap_svg(
    path: impl AsRef<Path>,
    title: &str,
    history: &History,
) -> Result<(), PlotError> {
    let root = SVGBackend::new(path.as_ref(), (800, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let layers = history.layers.len().max(1);
    let columns = history.grad_norms.len().max(1);
    let logs: Vec<f64> = history
        .grad_norms
        .iter()
        .flat_map(|(_, n)| n.iter().map(|v| if *v > 0.0 { v.log10() } else { -40.0 }))
        .filter(|v| v.is_finite())
        .collect();
    let lo = logs
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(-40.0);
    let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (-1.0, 0.0)
    };
    let (plot, legend) = root.split_horizontally(700);
    // Steps are numbered from 0, as in `grad_norms_csv` and `GradientReport::step`.
    let last_step = history.grad_norms.last().map_or(0, |(s, _)| *s);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            std::format!("{title}: log10 gradient norm"),
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..columns as f64, 0.0..layers as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(std::format!("recorded step (last = step {last_step})"))
        .y_desc("layer")
        .y_label_formatter(&|y| {
            history
                .layers
                .get(*y as usize)
                .map_or(String::new(), |l| l.to_string())
        })
        .draw()
        .map_err(err)?;
    let cells = history
        .grad_norms
        .iter()
        .enumerate()
        .flat_map(|(c, (_, norms))| {
            norms.iter().enumerate().map(move |(r, &v)| {
                Rectangle::new(
                    [(c as f64, r as f64), (c as f64 + 1.0, r as f64 + 1.0)],
                    cell_color(v, lo, hi).filled(),
                )
            })
        });
    chart.draw_series(cells).map_err(err)?;
    // Color bar.
    let bar = legend.margin(40, 40, 10, 40);
    let (_, h) = bar.dim_in_pixel();
    for y in 0..h {
        let t = 1.0 - y as f64 / h.max(1) as f64;
        bar.draw(&Rectangle::new(
            [(0, y as i32), (20, y as i32 + 1)],
            heat(t).filled(),
        ))
        .map_err(err)?;
    }
    let label = |v: f64| std::format!("{v:.1}");
    bar.draw(&Text::new(label(hi), (24, 0), ("sans-serif", 12)))
        .map_err(err)?;
    bar.draw(&Text::new(
        label(lo),
        (24, h as i32 - 12),
        ("sans-serif", 12),
    ))
    .map_err(err)?;
    root.present()
        .map_err(|e| PlotError(std::format!("{}: {e}", path.as_ref().display())))
}

/// Grey: a gradient norm that is NaN, so neither vanished nor exploded.
const NAN_COLOR: RGBColor = RGBColor(150, 150, 150);

/// The heat map's color for a gradient norm on the scale `lo..hi` of `log10` norms: 0 (a
/// vanished gradient) at the dark end, an infinite norm (an exploded one) at the bright end,
/// NaN grey.
fn cell_color(norm: f64, lo: f64, hi: f64) -> RGBColor {
    if norm.is_nan() {
        NAN_COLOR
    } else if norm == f64::INFINITY {
        heat(1.0)
    } else if norm > 0.0 {
        heat(((norm.log10() - lo) / (hi - lo)).clamp(0.0, 1.0))
    } else {
        heat(0.0)
    }
}

/// A dark-to-bright color scale for `t` in [0, 1] (the viridis stops, linearly interpolated).
fn heat(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exploded gradient (infinite norm) is the opposite end of the scale from a vanished
    /// one (0); it used to be drawn as dark as 0.
    #[test]
    fn exploded_and_vanished_norms_sit_at_opposite_ends() {
        let (lo, hi) = (-8.0, 2.0);
        assert_eq!(cell_color(0.0, lo, hi), heat(0.0));
        assert_eq!(cell_color(1e-30, lo, hi), heat(0.0));
        assert_eq!(cell_color(f64::INFINITY, lo, hi), heat(1.0));
        assert_eq!(cell_color(1e10, lo, hi), heat(1.0));
        assert_eq!(cell_color(1e-3, lo, hi), heat(0.5));
        assert_eq!(cell_color(f64::NAN, lo, hi), NAN_COLOR);
        assert!(![heat(0.0), heat(1.0)].contains(&NAN_COLOR));
    }

    #[test]
    fn the_loss_axis_stays_normal_and_finite() {
        let axis = |losses: &[f64]| loss_axis(losses.iter().copied());
        let close = |(lo, hi): (f64, f64), want: (f64, f64)| {
            assert!(
                (lo - want.0).abs() < 1e-12 && (hi - want.1).abs() < 1e-12,
                "{lo} {hi}"
            );
        };
        close(axis(&[]), (0.8, 9.6));
        close(axis(&[2.0, 0.5]), (0.4, 4.8));
        close(axis(&[20.0, 5.0, f64::NAN, -1.0]), (0.8, 24.0));
        for losses in [
            &[1e308, 0.5][..],
            &[2.0, 1e-320],
            &[f64::MAX],
            &[5e-324, 1e-300],
        ] {
            let (lo, hi) = axis(losses);
            assert!(lo.is_normal() && hi.is_finite() && lo >= 1e-30 && hi <= 1e30 && hi > lo);
        }
    }

    /// The chart is drawn, promptly, for losses beyond the axis (plotters did not return for a
    /// bound of infinity or a subnormal one).
    #[test]
    fn extreme_losses_are_drawn_at_the_axis_bounds() {
        extern crate std;
        let record = |epoch, train_loss| crate::history::EpochRecord {
            epoch,
            train_loss,
            train_accuracy: 0.5,
            test_accuracy: 0.5,
            seconds: 0.0,
        };
        let history = crate::history::History {
            epochs: std::vec![record(1, 1e308), record(2, 1e-320), record(3, 0.5)],
            ..Default::default()
        };
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("extreme.svg");
        loss_curves_svg(&path, "extreme", &[("run", &history)]).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
    }

    /// A resumed run's epochs (4 and 5 here) span the x axis; on an axis from epoch 1 to the
    /// number of records they were both drawn at its right edge.
    #[test]
    fn a_resumed_run_spans_the_epoch_axis() {
        extern crate std;
        use std::vec::Vec;
        let record = |epoch, train_loss, test_accuracy| crate::history::EpochRecord {
            epoch,
            train_loss,
            train_accuracy: 0.5,
            test_accuracy,
            seconds: 0.0,
        };
        let history = crate::history::History {
            epochs: std::vec![record(4, 0.9, 0.5), record(5, 0.3, 0.8)],
            ..Default::default()
        };
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("resumed.svg");
        loss_curves_svg(&path, "resumed", &[("run", &history)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        // The run's color: its line in each panel, and its legend's short stroke.
        let lines: Vec<Vec<f64>> = svg
            .split("<polyline")
            .skip(1)
            .filter(|l| l.contains("stroke=\"#1F77B4\""))
            .map(|l| {
                let points = l
                    .split("points=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                points
                    .split_whitespace()
                    .map(|p| p.split(',').next().unwrap().parse().unwrap())
                    .collect()
            })
            .collect();
        // Both data lines reach across most of their 430-pixel panel.
        let spans: Vec<f64> = lines.iter().map(|xs| xs[xs.len() - 1] - xs[0]).collect();
        assert_eq!(spans.len(), 3, "{svg}");
        assert_eq!(spans.iter().filter(|&&d| d > 300.0).count(), 2, "{spans:?}");
    }
}
