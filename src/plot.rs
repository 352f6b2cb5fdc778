//! Line plots as standalone SVG, small enough to attach to a test case
//! (GitLab shows `[[ATTACHMENT|file]]` links of failed tests). Drawn with
//! plotters: its axes put ticks at round values (2.0, 2.5, 3.0), which a
//! reader can read a loss off.

use plotters::prelude::*;
use std::ops::Range;

#[derive(Clone, Copy)]
pub struct Series<'a> {
    pub label: &'a str,
    pub values: &'a [f32],
    /// Red, green and blue.
    pub colour: (u8, u8, u8),
    pub dashed: bool,
}

const WIDTH: u32 = 640;
/// The loss panel, and the difference panel under it.
const MAIN_HEIGHT: u32 = 340;
const DIFF_HEIGHT: u32 = 170;

/// A subject and its reference, plotted against the step (counted from 1),
/// with a second panel under them plotting their difference per step: where
/// the two curves coincide, the reference would be invisible under the
/// subject, and the difference is what a reader wants to see. Non-finite
/// values are left out of a line rather than breaking the scale.
pub fn lines_with_difference(
    title: &str,
    x_label: &str,
    y_label: &str,
    reference: &Series,
    subject: &Series,
) -> String {
    let difference: Vec<f32> = subject
        .values
        .iter()
        .zip(reference.values)
        .map(|(s, r)| s - r)
        .collect();
    let diff_label = format!("{} − {}", subject.label, reference.label);
    let diff = Series {
        label: &diff_label,
        values: &difference,
        colour: (0x55, 0x55, 0x55),
        dashed: false,
    };
    let mut svg = String::new();
    let drawn = draw(
        &mut svg,
        title,
        x_label,
        (y_label, &[*reference, *subject]),
        (&diff_label, &[diff]),
    );
    // Drawing into a string fails only on a plotters bug; the check's
    // verdict does not depend on its plot, so a note stands in for it.
    match drawn {
        Ok(()) => svg,
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><text x=\"8\" y=\"20\">no plot: {}</text></svg>\n",
            crate::text::html_escape(&e.to_string())
        ),
    }
}

type Panel<'a, 'b> = (&'a str, &'a [Series<'b>]);

fn draw(
    svg: &mut String,
    title: &str,
    x_label: &str,
    main: Panel,
    diff: Panel,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let root = SVGBackend::with_string(svg, (WIDTH, MAIN_HEIGHT + DIFF_HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 16))?;
    let (upper, lower) = root.split_vertically(MAIN_HEIGHT - 24);
    panel(&upper, x_label, main, true)?;
    panel(&lower, x_label, diff, false)?;
    root.present()?;
    Ok(())
}

/// One panel: its series against the step, with a legend where asked.
fn panel<'a, DB: DrawingBackend + 'a>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    x_label: &str,
    (y_label, series): Panel,
    legend: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let steps = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let y = y_range(series);
    // As many decimals as the ticks need: about a sixth of the span apart,
    // rounded up to 1, 2 or 5 times a power of ten.
    let raw = (y.end - y.start) / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = magnitude
        * [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .find(|n| raw <= n * magnitude)
            .unwrap_or(10.0);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(1..(steps.max(2) as u32), y)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .y_label_formatter(&|v| tick(*v, decimals))
        .x_labels(10)
        .y_labels(6)
        .max_light_lines(1)
        .light_line_style(RGBColor(0xf2, 0xf2, 0xf2))
        .bold_line_style(RGBColor(0xe0, 0xe0, 0xe0))
        .draw()?;
    for s in series {
        let colour = RGBColor(s.colour.0, s.colour.1, s.colour.2);
        let style = colour.stroke_width(2);
        let points = s
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| ((i + 1) as u32, f64::from(*v)));
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(points, 6, 4, style))?
        } else {
            chart.draw_series(LineSeries::new(points, style))?
        };
        drawn
            .label(s.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xcc, 0xcc, 0xcc))
            .draw()?;
    }
    Ok(())
}

/// A tick's label: zero is never "-0.0".
fn tick(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text,
    }
}

/// The values' span with a margin, wide enough to draw where the values
/// are all equal or there are none.
fn y_range(series: &[Series]) -> Range<f64> {
    let finite = || {
        series
            .iter()
            .flat_map(|s| s.values.iter())
            .filter(|v| v.is_finite())
            .map(|v| f64::from(*v))
    };
    let (Some(low), Some(high)) = (finite().reduce(f64::min), finite().reduce(f64::max)) else {
        return 0.0..1.0;
    };
    let margin = if high > low {
        (high - low) * 0.05
    } else {
        low.abs().max(1.0) * 0.5
    };
    (low - margin)..(high + margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_rounded_and_zero_has_no_sign() {
        assert_eq!(tick(-1e-17, 1), "0.0");
        assert_eq!(tick(-0.25, 2), "-0.25");
        assert_eq!(tick(2.0, 0), "2");
    }

    const REFERENCE: Series = Series {
        label: "CPU & co",
        values: &[2.3, 2.0, 1.5],
        colour: (0x1f, 0x77, 0xb4),
        dashed: true,
    };

    #[test]
    fn plots_both_curves_their_difference_and_round_ticks() {
        let svg = lines_with_difference(
            "loss <per step>",
            "step",
            "loss",
            &REFERENCE,
            &Series {
                label: "GPU:0",
                values: &[2.3, 2.1, 1.25],
                colour: (0xd6, 0x27, 0x28),
                dashed: false,
            },
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // Escaped where it must be.
        assert!(svg.contains("loss &lt;per step&gt;"), "{svg}");
        assert!(svg.contains("CPU &amp; co") && svg.contains("GPU:0 − CPU &amp; co"));
        // The subject, the reference (drawn in dashes, one path per dash)
        // and the difference, each in its colour.
        for colour in ["#D62728", "#1F77B4", "#555555"] {
            assert!(svg.to_uppercase().contains(colour), "{colour}: {svg}");
        }
        // Each axis reads at round values (steps 1, 2, 3; losses 1.2 to
        // 2.2 by 0.2), and zero is never "-0.0".
        let labels: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit_once('>'))
            .map(|(_, label)| label.trim())
            .collect();
        for tick in ["1", "2", "3", "1.2", "1.6", "2.0", "2.2", "0.0", "-0.1"] {
            assert!(labels.contains(&tick), "{tick}: {labels:?}");
        }
        assert!(!labels.contains(&"-0.0"), "{labels:?}");
    }

    #[test]
    fn a_flat_empty_or_broken_series_still_makes_a_plot() {
        for values in [&[1.0f32, 1.0][..], &[], &[f32::NAN, f32::INFINITY, 1.0]] {
            let series = Series {
                values,
                ..REFERENCE
            };
            let svg = lines_with_difference("t", "x", "y", &series, &series);
            assert!(svg.contains("</svg>") && !svg.contains("no plot"), "{svg}");
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }
}
