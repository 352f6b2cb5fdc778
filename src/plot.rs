//! Line plots as standalone SVG, small enough to attach to a test case
//! (GitLab shows `[[ATTACHMENT|file]]` links of failed tests).

use crate::text::html_escape;
use std::fmt::Write;

pub struct Series<'a> {
    pub label: &'a str,
    pub values: &'a [f32],
    /// An SVG colour.
    pub colour: &'a str,
    pub dashed: bool,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 48.0;

/// Plots each series against its position, counted from 1. Non-finite values
/// are left out of the line rather than breaking the scale.
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
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
    let steps = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(2)
        - 1;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * i as f64 / steps as f64;
    let y = |v: f64| TOP + plot_h * (hi - v) / (hi - lo);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{cx}" y="22" text-anchor="middle" font-size="14">{title}</text>
<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>
<text x="{cx}" y="{xl}" text-anchor="middle">{x_label}</text>
<text x="14" y="{cy}" text-anchor="middle" transform="rotate(-90 14 {cy})">{y_label}</text>
<text x="{tl}" y="{ty_hi}" text-anchor="end">{hi:.4}</text>
<text x="{tl}" y="{ty_lo}" text-anchor="end">{lo:.4}</text>
<text x="{LEFT}" y="{tx}" text-anchor="middle">1</text>
<text x="{xr}" y="{tx}" text-anchor="middle">{last}</text>
"##,
        cx = WIDTH / 2.0,
        cy = TOP + plot_h / 2.0,
        xl = HEIGHT - 10.0,
        tl = LEFT - 6.0,
        ty_hi = TOP + 4.0,
        ty_lo = TOP + plot_h + 4.0,
        tx = TOP + plot_h + 16.0,
        xr = LEFT + plot_w,
        last = steps + 1,
        title = html_escape(title),
        x_label = html_escape(x_label),
        y_label = html_escape(y_label),
    );
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
        let ly = TOP + 16.0 + 16.0 * n as f64;
        let lx = WIDTH - RIGHT - 180.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            html_escape(s.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
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
