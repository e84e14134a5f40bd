//! The statistics of a series: the Mann–Kendall trend test and the Theil–Sen slope, and the
//! even subsampling that bounds their quadratic cost.

/// A trend: Mann–Kendall and Theil–Sen over a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Kendall's τ: from −1 (always falling) to 1 (always rising).
    pub tau: f64,
    /// One-sided p-value of a rising trend (Mann–Kendall, normal approximation).
    pub p_rising: f64,
    /// Theil–Sen slope, units per second.
    pub slope: f64,
}

impl Trend {
    /// `τ × (1 − p)` for rising series, 0 otherwise.
    pub fn confidence(&self) -> f64 {
        (self.tau * (1.0 - self.p_rising)).clamp(0.0, 1.0)
    }
}

/// Mann–Kendall and Theil–Sen over `(t, y)` points (at least 3), times ascending.
pub fn trend(points: &[(f64, f64)]) -> Trend {
    let n = points.len();
    if n < 3 {
        return Trend { tau: 0.0, p_rising: 1.0, slope: 0.0 };
    }
    let mut s: i64 = 0;
    let mut slopes: Vec<f64> = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dy = points[j].1 - points[i].1;
            s += (dy > 0.0) as i64 - (dy < 0.0) as i64;
            let dt = points[j].0 - points[i].0;
            if dt > 0.0 {
                slopes.push(dy / dt);
            }
        }
    }
    let pairs = (n * (n - 1) / 2) as f64;
    let nf = n as f64;
    let variance = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    let z = if s > 0 {
        (s as f64 - 1.0) / variance.sqrt()
    } else if s < 0 {
        (s as f64 + 1.0) / variance.sqrt()
    } else {
        0.0
    };
    let slope = if slopes.is_empty() {
        0.0
    } else {
        let mid = slopes.len() / 2;
        let (_, m, _) = slopes.select_nth_unstable_by(mid, f64::total_cmp);
        *m
    };
    Trend { tau: s as f64 / pairs, p_rising: 1.0 - normal_cdf(z), slope }
}

/// The standard normal distribution function (Abramowitz and Stegun 7.1.26, error < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Points of a series the statistics look at (more are subsampled evenly).
pub(super) const MAX_POINTS: usize = 160;

/// Evenly spaced indices into `0..n`, at most `max`, the last one included.
pub(super) fn subsample(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|k| k * (n - 1) / (max - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<(f64, f64)> {
        values.iter().enumerate().map(|(i, &v)| (i as f64 * 0.01, v)).collect()
    }

    #[test]
    fn a_steady_rise_is_a_confident_trend_with_its_slope() {
        let t = trend(&series(&(0..100).map(|i| 1000.0 * i as f64).collect::<Vec<_>>()));
        assert!((t.tau - 1.0).abs() < 1e-12);
        assert!(t.p_rising < 1e-10);
        assert!((t.slope - 100_000.0).abs() < 1e-6, "{}", t.slope);
        assert!(t.confidence() > 0.99);
    }

    #[test]
    fn noise_and_falls_are_not_trends() {
        // A deterministic zig-zag around a constant.
        let flat: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { 10.0 } else { 12.0 }).collect();
        assert!(trend(&series(&flat)).confidence() < 0.1);
        let falling: Vec<f64> = (0..50).map(|i| 100.0 - i as f64).collect();
        assert_eq!(trend(&series(&falling)).confidence(), 0.0);
    }

    #[test]
    fn one_spike_does_not_move_the_theil_sen_slope() {
        let mut values: Vec<f64> = (0..50).map(|i| i as f64).collect();
        values[25] = 1e9;
        let t = trend(&series(&values));
        assert!((t.slope - 100.0).abs() < 5.0, "{}", t.slope);
    }

    #[test]
    fn normal_cdf_is_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.644854) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn subsampling_keeps_both_ends() {
        assert_eq!(subsample(5, 10), vec![0, 1, 2, 3, 4]);
        let s = subsample(1000, 160);
        assert_eq!((s.len(), s[0], s[159]), (160, 0, 999));
    }
}
