//! Dates and timestamps: truncation in ISO text form and in PostgreSQL's binary form (days or
//! microseconds since 2000-01-01).

use super::Generalization;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
pub(super) const PG_EPOCH_DAYS: i64 = 10_957;
pub(super) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year and month of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

/// Truncates a day count since 2000-01-01 to its month or year.
pub(super) fn truncate_pg_days(days: i64, g: Generalization) -> i64 {
    let (y, m) = civil_from_days(days + PG_EPOCH_DAYS);
    let m = if g == Generalization::Year { 1 } else { m };
    days_from_civil(y, m, 1) - PG_EPOCH_DAYS
}

/// Truncates a binary date (`i32` days since 2000-01-01; the extremes are ±infinity).
pub(super) fn truncate_binary_date(days: i32, g: Generalization) -> i32 {
    if days == i32::MIN || days == i32::MAX {
        return days;
    }
    // A valid date's truncation is still a valid date, so this never leaves i32.
    truncate_pg_days(i64::from(days), g) as i32
}

/// Truncates a binary timestamp (`i64` microseconds since 2000-01-01, in UTC for timestamptz;
/// the extremes are ±infinity).
pub(super) fn truncate_binary_timestamp(micros: i64, g: Generalization) -> i64 {
    if micros == i64::MIN || micros == i64::MAX {
        return micros;
    }
    let days = micros.div_euclid(MICROS_PER_DAY);
    truncate_pg_days(days, g) * MICROS_PER_DAY
}

/// Truncates an ISO text date or timestamp (`YYYY-MM-DD[ HH:MM:SS[.f]][±zone][ BC]`): the day
/// (and month) become 01, the time midnight, the zone and era are kept. A timestamptz is thus
/// truncated in the zone it is shown in, as `date_trunc` does in the session's zone (they differ
/// only when the month's first day has another UTC offset, across a DST change).
pub(super) fn truncate_text(
    value: &[u8],
    g: Generalization,
    has_time: bool,
    out: &mut Vec<u8>,
) -> bool {
    if value == b"infinity" || value == b"-infinity" {
        out.extend_from_slice(value);
        return true;
    }
    let year_len = value.iter().take_while(|b| b.is_ascii_digit()).count();
    let date_len = year_len + 6;
    let date_ok = year_len >= 4
        && value.len() >= date_len
        && value[year_len] == b'-'
        && value[year_len + 3] == b'-'
        && value[year_len + 1..year_len + 3]
            .iter()
            .all(u8::is_ascii_digit)
        && value[year_len + 4..date_len].iter().all(u8::is_ascii_digit);
    if !date_ok {
        return false;
    }
    let mut rest = &value[date_len..];
    if has_time {
        // " HH:MM:SS" and an optional fraction; what follows is the zone and/or era.
        let time_ok = rest.len() >= 9
            && rest[0] == b' '
            && rest[3] == b':'
            && rest[6] == b':'
            && [1, 2, 4, 5, 7, 8].iter().all(|&i| rest[i].is_ascii_digit());
        if !time_ok {
            return false;
        }
        rest = &rest[9..];
        if rest.first() == Some(&b'.') {
            let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            rest = &rest[1 + digits..];
        }
    }
    let suffix_ok = rest
        .iter()
        .all(|b| b.is_ascii_digit() || b" +-:BC".contains(b));
    if !suffix_ok {
        return false;
    }
    out.extend_from_slice(&value[..year_len]);
    match g {
        Generalization::Year => out.extend_from_slice(b"-01-01"),
        _ => {
            out.extend_from_slice(&value[year_len..year_len + 3]);
            out.extend_from_slice(b"-01");
        }
    }
    if has_time {
        out.extend_from_slice(b" 00:00:00");
    }
    out.extend_from_slice(rest);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_over_leap_years_and_before_the_epoch() {
        for (y, m, d) in [
            (2000, 1, 1),
            (2024, 2, 29),
            (1900, 3, 1),
            (1, 1, 1),
            (-44, 3, 15),
        ] {
            let days = days_from_civil(y, m, d);
            assert_eq!(civil_from_days(days), (y, m));
        }
        assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_DAYS);
        // 2024-02-29 is 8825 days after 2000-01-01; its month starts 28 days earlier.
        assert_eq!(truncate_pg_days(8825, Generalization::Month), 8797);
        assert_eq!(truncate_pg_days(8825, Generalization::Year), 8766);
        assert_eq!(
            truncate_binary_timestamp(-1, Generalization::Month),
            -MICROS_PER_DAY * 31
        );
    }

    #[test]
    fn text_truncation_keeps_zone_and_era() {
        let cases: [(&str, bool, Generalization, &str); 5] = [
            ("2024-03-15", false, Generalization::Month, "2024-03-01"),
            (
                "2024-03-15 10:20:30.5+05:30",
                true,
                Generalization::Month,
                "2024-03-01 00:00:00+05:30",
            ),
            (
                "0044-03-15 12:00:00 BC",
                true,
                Generalization::Year,
                "0044-01-01 00:00:00 BC",
            ),
            ("12345-06-07", false, Generalization::Year, "12345-01-01"),
            ("infinity", true, Generalization::Year, "infinity"),
        ];
        for (input, has_time, g, want) in cases {
            let mut out = Vec::new();
            assert!(
                truncate_text(input.as_bytes(), g, has_time, &mut out),
                "{input}"
            );
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
        let mut out = Vec::new();
        assert!(!truncate_text(
            b"15/03/2024",
            Generalization::Month,
            false,
            &mut out
        ));
        assert!(!truncate_text(
            b"2024-03-15",
            Generalization::Month,
            true,
            &mut out
        ));
    }
}
