//! Line charts as inline SVG: memory over time and live bytes per location over time. They are
//! drawn here, so the page shows them without script; the page's script only adds a read-out of
//! the values under the pointer, from a JSON copy of the points placed next to each chart.

use std::fmt::Write as _;

use super::escape;
use crate::text::human_size;

/// Points a chart draws at most per line; more samples are merged into buckets.
pub(super) const MAX_POINTS: usize = 720;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;

/// One line of a chart.
#[derive(Debug, Clone)]
pub(super) struct Series {
    /// Name in the legend and read-out.
    pub label: String,
    /// One value per time of the chart.
    pub values: Vec<u64>,
}

/// A point to point out: the peak.
#[derive(Debug, Clone)]
pub(super) struct Marker {
    /// Seconds from the start.
    pub t: f64,
    /// Bytes.
    pub bytes: u64,
    /// Text next to it.
    pub label: String,
}

/// A chart: lines over a shared time axis.
#[derive(Debug, Clone)]
pub(super) struct Chart {
    /// Seconds from the start of the capture, ascending, one per value of each series.
    pub times: Vec<f64>,
    /// The lines; each is drawn in the colour of its index (`s0`, `s1`, … in the style sheet).
    pub series: Vec<Series>,
    /// Marked point, if any.
    pub marker: Option<Marker>,
    /// Where the time axis ends (the capture's duration), in seconds.
    pub t_end: f64,
    /// Draw each line as steps (a value holds until the next time) instead of straight segments.
    pub steps: bool,
    /// Accessible name of the chart.
    pub title: String,
    /// A span to shade, seconds from the start: the time window of the analysis.
    pub span: Option<(f64, f64)>,
}

/// Merges samples `(seconds, values…)` into at most `buckets` buckets of equal time, keeping in
/// each bucket the largest value of each column (and the time of the largest first column), so
/// that a spike shorter than a bucket still shows at its full height. memray keeps every k-th
/// sample instead and loses such spikes.
pub(super) fn max_per_bucket<const N: usize>(
    samples: &[(f64, [u64; N])],
    t_end: f64,
    buckets: usize,
) -> Vec<(f64, [u64; N])> {
    if samples.len() <= buckets || buckets == 0 {
        return samples.to_vec();
    }
    let span = t_end.max(samples.last().map_or(0.0, |s| s.0)).max(f64::MIN_POSITIVE);
    let mut out: Vec<(usize, (f64, [u64; N]))> = Vec::with_capacity(buckets);
    for &(t, values) in samples {
        let b = ((t / span * buckets as f64) as usize).min(buckets - 1);
        match out.last_mut() {
            Some((last, merged)) if *last == b => {
                if values[0] > merged.1[0] {
                    merged.0 = t;
                }
                for (m, v) in merged.1.iter_mut().zip(values) {
                    *m = (*m).max(v);
                }
            }
            _ => out.push((b, (t, values))),
        }
    }
    out.into_iter().map(|(_, s)| s).collect()
}

/// A step of 1, 2 or 5 times a power of ten that cuts `span` into about `target` intervals.
fn nice_step(span: f64, target: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / target;
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Ticks of the byte axis: round numbers of the binary unit that fits the maximum.
fn byte_ticks(max: u64) -> (Vec<u64>, u64) {
    let mut unit = 1u64;
    while unit < (1 << 60) && max / unit >= 1024 {
        unit *= 1024;
    }
    let step = (nice_step(max as f64 / unit as f64, 4.0) * unit as f64).max(1.0) as u64;
    let top = max.div_ceil(step).max(1).saturating_mul(step);
    let ticks = (0..=top / step).map(|i| i * step).collect();
    (ticks, top)
}

fn seconds(t: f64) -> String {
    let text = format!("{t:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

impl Chart {
    /// The chart as an SVG element followed by its points as JSON (for the read-out).
    pub(super) fn render(&self) -> String {
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let t_end = self.t_end.max(self.times.last().copied().unwrap_or(0.0)).max(1e-3);
        let max = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .chain(self.marker.as_ref().map(|m| m.bytes))
            .max()
            .unwrap_or(0)
            .max(1);
        let (y_ticks, y_top) = byte_ticks(max);
        let x = |t: f64| LEFT + t / t_end * plot_w;
        let y = |v: u64| TOP + plot_h - v as f64 / y_top as f64 * plot_h;

        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" \
             data-left=\"{LEFT}\" data-width=\"{plot_w}\" data-end=\"{t_end}\">",
            escape(&self.title)
        );
        for &v in &y_ticks {
            let yy = y(v);
            let _ = writeln!(
                s,
                "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
                 <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                yy + 4.0,
                human_size(v)
            );
        }
        let step = nice_step(t_end, 8.0);
        let mut t = 0.0;
        while t <= t_end + step * 1e-9 {
            let xx = x(t);
            let _ = writeln!(
                s,
                "<line class=\"axis\" x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{}\" y2=\"{}\"/>\
                 <text class=\"tick\" x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                TOP + plot_h,
                TOP + plot_h + 4.0,
                TOP + plot_h + 18.0,
                seconds(t)
            );
            t += step;
        }
        if let Some((from, to)) = self.span {
            let (x0, x1) = (x(from.clamp(0.0, t_end)), x(to.clamp(0.0, t_end)));
            let _ = writeln!(
                s,
                "<g class=\"window\"><rect x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" \
                 height=\"{plot_h}\"/><text x=\"{:.1}\" y=\"{}\">window {} to {}</text>\
                 <title>time window {from:.3} s to {to:.3} s</title></g>",
                (x1 - x0).max(1.0),
                x0 + 4.0,
                TOP + 12.0,
                seconds(from),
                seconds(to)
            );
        }
        let _ = writeln!(
            s,
            "<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">seconds from the start</text>",
            WIDTH - RIGHT,
            HEIGHT - 2.0
        );
        for (i, series) in self.series.iter().enumerate() {
            let mut d = String::new();
            let mut last_y = None;
            for (&t, &v) in self.times.iter().zip(&series.values) {
                let (xx, yy) = (x(t), y(v));
                match last_y {
                    None => {
                        let _ = write!(d, "M{xx:.1},{yy:.1}");
                    }
                    Some(prev) if self.steps => {
                        let _ = write!(d, "H{xx:.1}");
                        if prev != yy {
                            let _ = write!(d, "V{yy:.1}");
                        }
                    }
                    Some(_) => {
                        let _ = write!(d, "L{xx:.1},{yy:.1}");
                    }
                }
                last_y = Some(yy);
            }
            if self.times.len() == 1 {
                let _ = write!(d, "h2");
            }
            let _ = writeln!(
                s,
                "<path class=\"line s{i}\" d=\"{d}\"><title>{}</title></path>",
                escape(&series.label)
            );
        }
        if let Some(m) = &self.marker {
            let (xx, yy) = (x(m.t), y(m.bytes));
            let anchor = if xx > WIDTH * 0.7 { "end" } else { "start" };
            let dx = if anchor == "end" { -8.0 } else { 8.0 };
            // Above the point, unless that would leave the plot.
            let label_y = if yy - 10.0 < TOP + 10.0 { yy + 18.0 } else { yy - 10.0 };
            let _ = writeln!(
                s,
                "<g class=\"marker\"><line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{yy:.1}\" y2=\"{}\"/>\
                 <circle cx=\"{xx:.1}\" cy=\"{yy:.1}\" r=\"4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text></g>",
                TOP + plot_h,
                xx + dx,
                label_y,
                escape(&m.label)
            );
        }
        let _ = writeln!(
            s,
            "<line class=\"cursor\" x1=\"0\" x2=\"0\" y1=\"{TOP}\" y2=\"{}\" visibility=\"hidden\"/>",
            TOP + plot_h
        );
        s.push_str("</svg>\n");
        // The points again, for the read-out under the pointer.
        let data = serde_json::json!({
            "t": self.times.iter().map(|t| (t * 1000.0).round() / 1000.0).collect::<Vec<f64>>(),
            "series": self.series.iter().map(|s| serde_json::json!({
                "label": s.label,
                "values": s.values,
            })).collect::<Vec<_>>(),
        });
        // A `<` in a label could close the script element: JSON may spell it as an escape.
        let json = data.to_string().replace('<', "\\u003c");
        let _ =
            writeln!(s, "<script type=\"application/json\" class=\"chart-data\">{json}</script>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_spike_survives_bucketing() {
        let mut samples: Vec<(f64, [u64; 2])> =
            (0..10_000).map(|i| (i as f64 * 0.01, [100, 200])).collect();
        samples[4321].1 = [5000, 300];
        let out = max_per_bucket(&samples, 100.0, 720);
        assert!(out.len() <= 720);
        let spike = out.iter().find(|s| s.1[0] == 5000).expect("the spike is kept");
        assert!((spike.0 - 43.21).abs() < 1e-9, "the spike keeps its time");
        assert_eq!(out.iter().map(|s| s.1[1]).max(), Some(300));
        // Every-k-th sampling (memray's) would keep 1 sample in 14 and likely miss it.
        assert!(out.iter().filter(|s| s.1[0] == 100).count() > 700);
    }

    #[test]
    fn few_samples_are_kept_as_they_are() {
        let samples = vec![(0.0, [1u64]), (1.0, [2])];
        assert_eq!(max_per_bucket(&samples, 1.0, 720), samples);
    }

    #[test]
    fn axes_use_round_numbers() {
        assert_eq!(nice_step(10.0, 8.0), 2.0);
        assert_eq!(nice_step(0.3, 8.0), 0.05);
        let (ticks, top) = byte_ticks(130 * 1024 * 1024 + 5);
        assert_eq!(top, 150 * 1024 * 1024);
        assert_eq!(ticks.len(), 4);
        assert_eq!(byte_ticks(0).1, 1);
    }

    #[test]
    fn the_peak_is_marked_and_labels_are_escaped() {
        let chart = Chart {
            times: vec![0.0, 1.0, 2.0],
            series: vec![Series { label: "heap <x>".into(), values: vec![1, 5, 2] }],
            marker: Some(Marker { t: 1.0, bytes: 6, label: "peak".into() }),
            t_end: 2.0,
            steps: false,
            title: "memory".into(),
            span: None,
        };
        let svg = chart.render();
        assert!(svg.contains("<circle"));
        assert!(svg.contains("heap &lt;x&gt;"));
        assert!(!svg.contains("heap <x>"));
        assert!(svg.contains("\"values\":[1,5,2]"));
    }
}
