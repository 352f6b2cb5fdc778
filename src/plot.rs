//! Line plots as standalone SVG, small enough to attach to a test case
//! (GitLab shows `[[ATTACHMENT|file]]` links of failed tests).

use crate::text::html_escape;
use std::fmt::Write;

#[derive(Clone, Copy)]
pub struct Series<'a> {
    pub label: &'a str,
    pub values: &'a [f32],
    /// An SVG colour.
    pub colour: &'a str,
    pub dashed: bool,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 48.0;
/// The difference panel under the main one.
const DIFF_HEIGHT: f64 = 120.0;
const DIFF_GAP: f64 = 28.0;
const Y_TICKS: usize = 5;
const X_TICKS: usize = 6;

/// Plots each series against its position, counted from 1. Non-finite values
/// are left out of the line rather than breaking the scale.
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let mut svg = header(title, HEIGHT);
    let plot_h = HEIGHT - TOP - BOTTOM;
    panel(&mut svg, TOP, plot_h, y_label, series, true);
    x_axis(&mut svg, TOP + plot_h, steps_of(series), x_label);
    svg.push_str("</svg>\n");
    svg
}

/// [`lines`] of a subject and its reference, with a second panel under it
/// plotting their difference per step: where the two curves coincide, the
/// reference would be invisible under the subject, and the difference is
/// what a reader wants to see.
pub fn lines_with_difference(
    title: &str,
    x_label: &str,
    y_label: &str,
    reference: &Series,
    subject: &Series,
) -> String {
    let height = HEIGHT + DIFF_HEIGHT + DIFF_GAP;
    let mut svg = header(title, height);
    let series = [*reference, *subject];
    let plot_h = HEIGHT - TOP - BOTTOM;
    panel(&mut svg, TOP, plot_h, y_label, &series, true);
    let difference: Vec<f32> = subject
        .values
        .iter()
        .zip(reference.values)
        .map(|(s, r)| s - r)
        .collect();
    let diff_top = TOP + plot_h + DIFF_GAP;
    let diff_label = format!("{} − {}", subject.label, reference.label);
    panel(
        &mut svg,
        diff_top,
        DIFF_HEIGHT - 8.0,
        "difference",
        &[Series {
            label: &diff_label,
            values: &difference,
            colour: "#2ca02c",
            dashed: false,
        }],
        true,
    );
    x_axis(
        &mut svg,
        diff_top + DIFF_HEIGHT - 8.0,
        steps_of(&series),
        x_label,
    );
    svg.push_str("</svg>\n");
    svg
}

fn steps_of(series: &[Series]) -> usize {
    series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(2)
        - 1
}

fn header(title: &str, height: f64) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{cx}" y="22" text-anchor="middle" font-size="14">{title}</text>
"##,
        cx = WIDTH / 2.0,
        title = html_escape(title),
    )
}

/// A number for a tick: short, whatever its scale.
fn tick(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e4) {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// One framed panel from `top`, `height` high: gridlines, y ticks, the
/// series and their legend.
fn panel(svg: &mut String, top: f64, height: f64, y_label: &str, series: &[Series], legend: bool) {
    let finite = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .filter(|v| v.is_finite())
    };
    let (mut lo, mut hi) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v as f64), hi.max(v as f64))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let steps = steps_of(series);
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |i: usize| LEFT + plot_w * i as f64 / steps as f64;
    let y = |v: f64| top + height * (hi - v) / (hi - lo);
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{height}" fill="none" stroke="#999"/>
<text x="14" y="{cy}" text-anchor="middle" transform="rotate(-90 14 {cy})">{label}</text>"##,
        cy = top + height / 2.0,
        label = html_escape(y_label),
    );
    for k in 0..=Y_TICKS {
        let v = lo + (hi - lo) * k as f64 / Y_TICKS as f64;
        let yy = y(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            tick(v)
        );
    }
    for k in 0..=X_TICKS.min(steps) {
        let xx = LEFT + plot_w * k as f64 / X_TICKS.min(steps) as f64;
        let _ = writeln!(
            svg,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#eee"/>"##,
            top + height
        );
    }
    for (n, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v as f64)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let colour = html_escape(s.colour);
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            points.join(" ")
        );
        if legend {
            let ly = top + 16.0 + 16.0 * n as f64;
            // Wide enough for the longest label (about 7 px a character).
            let longest = series
                .iter()
                .map(|s| s.label.chars().count())
                .max()
                .unwrap_or(0);
            let lx = (WIDTH - RIGHT - 40.0 - 7.0 * longest as f64).max(LEFT + 8.0);
            let _ = writeln!(
                svg,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
                lx + 24.0,
                lx + 30.0,
                ly + 4.0,
                html_escape(s.label)
            );
        }
    }
}

/// Step numbers under a panel whose bottom is at `bottom`, and the label.
fn x_axis(svg: &mut String, bottom: f64, steps: usize, x_label: &str) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let ticks = X_TICKS.min(steps);
    for k in 0..=ticks {
        let xx = LEFT + plot_w * k as f64 / ticks as f64;
        let step = 1 + (steps * k) / ticks;
        let _ = writeln!(
            svg,
            r#"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{step}</text>"#,
            bottom + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        bottom + 36.0,
        html_escape(x_label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_every_series_within_the_frame() {
        let svg = lines(
            "loss <per step>",
            "step",
            "loss",
            &[
                Series {
                    label: "CPU & co",
                    values: &[2.3, 2.0, 1.5],
                    colour: "#1f77b4",
                    dashed: true,
                },
                Series {
                    label: "GPU:0",
                    values: &[2.3, f32::NAN, 1.4],
                    colour: "#ff7f0e",
                    dashed: false,
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("loss &lt;per step&gt;") && svg.contains("CPU &amp; co"));
        // The NaN is left out: the second line has two points.
        let second = svg.split("<polyline").nth(2).unwrap();
        let points = second
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 2);
        // Every point lies inside the plot frame.
        for pair in svg
            .split("points=\"")
            .skip(1)
            .map(|p| p.split('"').next().unwrap())
        {
            for point in pair.split(' ') {
                let (x, y) = point.split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((LEFT..=WIDTH - RIGHT).contains(&x), "{x}");
                assert!((TOP..=HEIGHT - BOTTOM).contains(&y), "{y}");
            }
        }
    }

    #[test]
    fn the_difference_is_plotted_under_the_curves() {
        let reference = Series {
            label: "CPU",
            values: &[2.0, 1.5, 1.0],
            colour: "blue",
            dashed: true,
        };
        let subject = Series {
            label: "GPU:0",
            values: &[2.0, 1.5, 1.25],
            colour: "red",
            dashed: false,
        };
        let svg = lines_with_difference("t", "step", "loss", &reference, &subject);
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("GPU:0 − CPU"), "{svg}");
        // Gridlines and more than two ticks on each axis.
        assert!(svg.matches("stroke=\"#eee\"").count() >= 2 * (Y_TICKS + 1));
        assert!(svg.contains(">0.2500<"), "{svg}");
    }

    #[test]
    fn a_flat_or_empty_series_still_makes_a_plot() {
        let flat = lines(
            "t",
            "x",
            "y",
            &[Series {
                label: "a",
                values: &[1.0, 1.0],
                colour: "red",
                dashed: false,
            }],
        );
        assert!(!flat.contains("NaN") && !flat.contains("inf"));
        let empty = lines("t", "x", "y", &[]);
        assert!(empty.contains("</svg>"));
    }
}
