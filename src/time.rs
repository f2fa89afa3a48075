//! Timestamps: µs since the Unix epoch, printed as RFC 3339 UTC and parsed
//! from RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` or `@unix-seconds`.

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// Longest retention or scrub horizon accepted, in days (100 years). Longer
/// values mean "keep forever", which is spelt 0.
pub const MAX_DAYS: u32 = 36_525;

/// Wall-clock time (µs since the epoch). Only retention and `db prune`
/// use it: detectors run on packet time.
pub fn wall_clock_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The instant `days` days before `now_us`, or `None` when it cannot be
/// represented (checked arithmetic: an overflow must never turn a horizon
/// into the far future and delete everything).
pub fn days_before(now_us: i64, days: u32) -> Option<i64> {
    i64::from(days)
        .checked_mul(DAY_US)
        .and_then(|d| now_us.checked_sub(d))
}

/// `2016-09-23T12:00:00.123456Z`.
pub fn rfc3339(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// `2016-09-23` of a timestamp (UTC).
pub fn date(us: i64) -> String {
    let (y, m, d) = civil_from_days(us.div_euclid(86_400_000_000));
    format!("{y:04}-{m:02}-{d:02}")
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a time given on the command line or in a CSV; `None` if unrecognised.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(secs) = s.strip_prefix('@') {
        let v: f64 = secs.parse().ok()?;
        let us = (v * 1e6).round();
        // Within ±292,000 years (i64 µs); `as` would saturate silently.
        return (us.is_finite() && us.abs() < 9.2e18).then_some(us as i64);
    }
    let (date_part, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut dp = date_part.split('-');
    let y: i64 = i64::from(num(dp.next()?)?);
    // Years beyond 9999 are not times anyone means (and would overflow µs).
    if y > 9999 {
        return None;
    }
    let m = num(dp.next()?)?;
    let d = num(dp.next()?)?;
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut us = days_from_civil(y, m, d) * 86_400_000_000;
    let Some(rest) = rest else {
        return Some(us);
    };
    // Offset: Z, +HH:MM, -HH:MM (absent means UTC).
    let (clock, offset_s) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, o) = rest.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let mut parts = o[1..].split(':');
        let oh = i64::from(num(parts.next()?)?);
        let om = i64::from(parts.next().map_or(Some(0), num)?);
        (c, sign * (oh * 3600 + om * 60))
    } else {
        (rest, 0)
    };
    let mut cp = clock.split(':');
    let h = num(cp.next()?)?;
    let mi = num(cp.next()?)?;
    let (sec, frac_us) = match cp.next() {
        Some(sf) => {
            let (s, f) = sf.split_once('.').unwrap_or((sf, ""));
            let frac = if f.is_empty() {
                0
            } else {
                let digits: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
                i64::from(num(&digits)?)
            };
            (num(s)?, frac)
        }
        None => (0, 0),
    };
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    us += (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset_s) * 1_000_000
        + frac_us;
    Some(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizons_never_wrap() {
        assert_eq!(days_before(10 * DAY_US, 3), Some(7 * DAY_US));
        assert_eq!(days_before(0, 100_000), Some(-100_000 * DAY_US));
        assert_eq!(days_before(0, u32::MAX), None);
        assert_eq!(days_before(i64::MIN + DAY_US, 2), None);
    }

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2016, 9, 23), 17_067);
        assert_eq!(civil_from_days(17_067), (2016, 9, 23));
        assert_eq!(
            rfc3339(1_474_632_000_000_000),
            "2016-09-23T12:00:00.000000Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999Z");
        // past 2106 (pcapng 64-bit timestamps)
        assert_eq!(
            rfc3339(days_from_civil(2107, 2, 1) * 86_400_000_000),
            "2107-02-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn parse_forms() {
        assert_eq!(parse("2016-09-23"), Some(1_474_588_800_000_000));
        assert_eq!(parse("2016-09-23T12:00:00Z"), Some(1_474_632_000_000_000));
        assert_eq!(parse("2016-09-23 14:00+02:00"), Some(1_474_632_000_000_000));
        assert_eq!(parse("2016-09-23T12:00:00.5Z"), Some(1_474_632_000_500_000));
        assert_eq!(parse("@1474632000"), Some(1_474_632_000_000_000));
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("2016-13-01"), None);
        // regression: these overflowed (panic in debug builds)
        assert_eq!(parse("300000-01-01"), None);
        assert_eq!(parse("@1e300"), None);
    }

    #[test]
    fn roundtrip() {
        for us in [0i64, 1, 1_474_632_000_123_456, 4_102_444_800_000_000] {
            assert_eq!(parse(&rfc3339(us)), Some(us));
        }
    }
}
