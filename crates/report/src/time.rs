//! Timestamps as text, in UTC, computed from the capture's own numbers (never the wall clock).

/// ISO 8601 UTC text (`2026-11-22T02:10:50.987Z`) of a time in ms since the Unix epoch.
pub fn iso8601_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The text Python's `str(datetime)` gives for an aware UTC time (`2026-11-22 02:11:17.101000+00:00`,
/// without the fraction when it is zero), as `memray stats --json` prints its times. memray uses the
/// local zone of the machine that runs it; memreport always uses UTC so output does not depend on
/// where it runs.
pub fn python_datetime_utc(ms: i64) -> String {
    let iso = iso8601_ms(ms);
    let (date, rest) = iso.split_once('T').unwrap_or((&iso, ""));
    let hms = &rest[..8.min(rest.len())];
    let millis = ms.rem_euclid(1000);
    if millis == 0 {
        format!("{date} {hms}+00:00")
    } else {
        format!("{date} {hms}.{:06}+00:00", millis * 1000)
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(python_datetime_utc(1_700_000_000_123), "2023-11-14 22:13:20.123000+00:00");
        assert_eq!(python_datetime_utc(1_700_000_000_000), "2023-11-14 22:13:20+00:00");
    }
}
