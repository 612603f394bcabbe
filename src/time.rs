//! UTC calendar arithmetic and the timestamp shapes the recorder wrote
//! (spec §3, §9): ISO-8601 envelope times and `YYYY/MM/DD/HH` partitions.
//! No time-zone database is needed: everything on disk is UTC.

/// Microseconds per second.
pub const US: i64 = 1_000_000;
/// Seconds per hour.
pub const HOUR: i64 = 3600;

/// The current time, µs since the epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Epoch seconds of a UTC date and hour, if the parts form a real date.
pub fn epoch_of(y: i64, m: u32, d: u32, h: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || h > 23 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + i64::from(h) * HOUR)
}

/// `YYYY/MM/DD/HH` of the UTC hour containing epoch second `sec`.
pub fn hour_folder(sec: i64) -> String {
    let (y, m, d) = civil_from_days(sec.div_euclid(86_400));
    format!("{y:04}/{m:02}/{d:02}/{:02}", sec.rem_euclid(86_400) / HOUR)
}

/// Formats µs as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (the recorder's envelope
/// shape; the fraction is omitted when zero, as Python's `isoformat` does).
pub fn format_iso(us: i64) -> String {
    let mut b = Vec::with_capacity(32);
    write_iso(us, &mut b);
    String::from_utf8(b).unwrap_or_default()
}

/// [`format_iso`] appended to `out`, without allocating (the v2 writers'
/// per-record envelope time).
pub fn write_iso(us: i64, out: &mut Vec<u8>) {
    fn digits(out: &mut Vec<u8>, v: i64, width: usize) {
        let mut buf = [b'0'; 20];
        let mut n = v.unsigned_abs();
        let mut i = buf.len();
        while n > 0 {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        // As `{:0width$}`: a minus sign counts toward the width.
        let width = if v < 0 { width - 1 } else { width };
        let start = i.min(buf.len() - width);
        if v < 0 {
            out.push(b'-');
        }
        out.extend_from_slice(&buf[start..]);
    }
    let sec = us.div_euclid(US);
    let frac = us.rem_euclid(US);
    let (y, m, d) = civil_from_days(sec.div_euclid(86_400));
    let s = sec.rem_euclid(86_400);
    digits(out, y, 4);
    out.push(b'-');
    digits(out, i64::from(m), 2);
    out.push(b'-');
    digits(out, i64::from(d), 2);
    out.push(b'T');
    digits(out, s / 3600, 2);
    out.push(b':');
    digits(out, s / 60 % 60, 2);
    out.push(b':');
    digits(out, s % 60, 2);
    if frac != 0 {
        out.push(b'.');
        digits(out, frac, 6);
    }
    out.extend_from_slice(b"+00:00");
}

/// Formats µs as a short UTC time for messages: `2025-08-01T01:04:51.910988Z`.
pub fn display_us(us: i64) -> String {
    let iso = format_iso(us);
    format!("{}Z", iso.trim_end_matches("+00:00"))
}

/// Which zone suffix an ISO timestamp carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// `+00:00` (the live writer).
    Offset,
    /// `Z`.
    Z,
    /// The malformed `+00:00Z` of `to_v2_format` (spec §3).
    OffsetZ,
    /// A non-UTC offset, already applied.
    Other,
}

fn num(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0i64, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
    })
}

/// Parses the envelope timestamp shapes of spec §3 (`YYYY-MM-DDTHH:MM:SS`,
/// optional 1–9 digit fraction, then `+HH:MM`, `Z` or `+00:00Z`) into µs.
pub fn parse_iso(b: &[u8]) -> Option<(i64, Zone)> {
    let y = num(b, 0, 4)?;
    let (mo, d, h, mi, s) = (
        num(b, 5, 2)?,
        num(b, 8, 2)?,
        num(b, 11, 2)?,
        num(b, 14, 2)?,
        num(b, 17, 2)?,
    );
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if mi > 59 || s > 60 {
        return None;
    }
    let day_sec = epoch_of(y, mo as u32, d as u32, h as u32)?;
    let mut us = (day_sec + mi * 60 + s) * US;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &b[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        let mut frac = 0i64;
        for k in 0..6 {
            frac = frac * 10 + digits.get(k).map_or(0, |c| i64::from(c - b'0'));
        }
        us += frac;
    }
    let zone = match &b[i..] {
        b"Z" => Zone::Z,
        b"+00:00" => Zone::Offset,
        b"+00:00Z" => Zone::OffsetZ,
        rest if rest.len() == 6 && matches!(rest[0], b'+' | b'-') && rest[3] == b':' => {
            let off = (num(rest, 1, 2)? * 60 + num(rest, 4, 2)?) * 60 * US;
            us -= if rest[0] == b'+' { off } else { -off };
            Zone::Other
        }
        _ => return None,
    };
    Some((us, zone))
}

/// `YYYYMMDD-HHMMSS` of a UTC epoch second, for names such as
/// `storage-backup-20250801-010451`.
pub fn compact_stamp(sec: i64) -> String {
    let (y, m, d) = civil_from_days(sec.div_euclid(86_400));
    let s = sec.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-1, 0, 59, 365, 20_000, 20_301, 47_482] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(epoch_of(2025, 8, 1, 1), Some(1_754_010_000));
        assert_eq!(epoch_of(2025, 2, 29, 0), None);
        assert_eq!(hour_folder(1_754_010_291), "2025/08/01/01");
    }

    /// The old formatter, kept as the reference [`write_iso`] must equal.
    fn format_iso_reference(us: i64) -> String {
        let sec = us.div_euclid(US);
        let frac = us.rem_euclid(US);
        let (y, m, d) = civil_from_days(sec.div_euclid(86_400));
        let s = sec.rem_euclid(86_400);
        let base = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            s / 3600,
            s / 60 % 60,
            s % 60
        );
        if frac == 0 {
            format!("{base}+00:00")
        } else {
            format!("{base}.{frac:06}+00:00")
        }
    }

    #[test]
    fn write_iso_equals_the_formatted_time() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut cases = vec![
            0,
            -1,
            1_752_169_970_039_295,
            1_752_169_970_000_000,
            1_752_169_970_000_001,
            -62_167_219_200_000_000, // year 0
            -62_198_755_200_000_000, // year -1
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
            253_402_300_800_000_000, // year 10000
        ];
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push((x % 4_000_000_000_000_000) as i64 - 1_000_000_000_000_000);
        }
        for us in cases {
            let mut b = Vec::new();
            write_iso(us, &mut b);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                format_iso_reference(us),
                "{us}"
            );
        }
    }

    #[test]
    fn envelope_shapes() {
        let base = 1_752_169_970_039_295;
        assert_eq!(
            parse_iso(b"2025-07-10T17:52:50.039295+00:00"),
            Some((base, Zone::Offset))
        );
        assert_eq!(
            parse_iso(b"2025-07-10T17:52:50.039295Z"),
            Some((base, Zone::Z))
        );
        assert_eq!(
            parse_iso(b"2025-07-10T17:52:50.039295+00:00Z"),
            Some((base, Zone::OffsetZ))
        );
        assert_eq!(
            parse_iso(b"2025-07-10T17:52:50+00:00"),
            Some((base - 39_295, Zone::Offset))
        );
        assert_eq!(
            parse_iso(b"2025-07-10T17:52:50.039Z"),
            Some((base - 295, Zone::Z))
        );
        assert_eq!(
            parse_iso(b"2025-07-10T13:52:50.039295-04:00"),
            Some((base, Zone::Other))
        );
        assert_eq!(parse_iso(b"2025-07-10T17:52:50.039295"), None);
        assert_eq!(parse_iso(b"2025-13-10T17:52:50Z"), None);
        assert_eq!(parse_iso(b"garbage"), None);
        assert_eq!(format_iso(base), "2025-07-10T17:52:50.039295+00:00");
        assert_eq!(format_iso(base - 39_295), "2025-07-10T17:52:50+00:00");
    }
}
