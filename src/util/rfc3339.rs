//! RFC 3339 UTC timestamps of Unix times: to the microsecond for packet
//! times, to the second for certificate validity dates.

use std::cell::Cell;
use std::fmt;

use time::OffsetDateTime;

/// The proleptic Gregorian date (year, month, day) of a day count since
/// 1970-01-01 (the days-to-civil conversion of H. Hinnant's date
/// algorithms: 400-year eras of 146,097 days, years starting in March).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

fn two_digits(n: u32) -> [u8; 2] {
    [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]
}

/// "YYYY-MM-DD" of a day count since 1970-01-01 in the years 0 to 9999;
/// None outside them.
fn date_bytes(days: i64) -> Option<[u8; 10]> {
    let (year, month, day) = civil_date(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let year = year as u32;
    let [y0, y1] = two_digits(year / 100);
    let [y2, y3] = two_digits(year % 100);
    let [mo0, mo1] = two_digits(month);
    let [d0, d1] = two_digits(day);
    Some([y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1])
}

thread_local! {
    /// The day this thread wrote last, with its date: the times of a
    /// capture fall on few days, and a record carries several of them.
    static LAST_DATE: Cell<(i64, Option<[u8; 10]>)> = const { Cell::new((i64::MIN, None)) };
    /// The second this thread wrote last, written out: a busy link's
    /// sessions start and end many to a second.
    static LAST_SECOND: Cell<(i64, Option<[u8; 19]>)> = const { Cell::new((i64::MIN, None)) };
}

/// Forgets the day and the second this thread wrote last.
pub fn forget_last_date() {
    LAST_DATE.set((i64::MIN, None));
    LAST_SECOND.set((i64::MIN, None));
}

/// "YYYY-MM-DDTHH:MM:SS" of a Unix time in the years 0 to 9999, written
/// digit by digit; None outside them.
pub fn date_time_bytes(secs: i64) -> Option<[u8; 19]> {
    if let (second, Some(text)) = LAST_SECOND.get() {
        if second == secs {
            return Some(text);
        }
    }
    let text = date_time_bytes_uncached(secs);
    LAST_SECOND.set((secs, text));
    text
}

fn date_time_bytes_uncached(secs: i64) -> Option<[u8; 19]> {
    let days = secs.div_euclid(86_400);
    let [y0, y1, y2, y3, _, mo0, mo1, _, d0, d1] = LAST_DATE.with(|last| match last.get() {
        (day, date) if day == days => date,
        _ => {
            let date = date_bytes(days);
            last.set((days, date));
            date
        }
    })?;
    let in_day = secs.rem_euclid(86_400) as u32;
    let [h0, h1] = two_digits(in_day / 3600);
    let [mi0, mi1] = two_digits(in_day / 60 % 60);
    let [s0, s1] = two_digits(in_day % 60);
    Some([y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1])
}

/// ".uuuuuuZ": the microseconds of a time, with the zone.
pub fn micros_suffix(micros: i64) -> [u8; 8] {
    let mut n = micros.rem_euclid(1_000_000) as u32;
    let mut out = *b".000000Z";
    for at in (1..7).rev() {
        out[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}

/// Date and time to the second, "YYYY-MM-DDTHH:MM:SS", of a Unix time;
/// false (nothing written) for a time outside the calendar's range.
fn write_date_time(out: &mut fmt::Formatter<'_>, secs: i64) -> Result<bool, fmt::Error> {
    if let Some(bytes) = date_time_bytes(secs) {
        // ASCII digits and separators only.
        out.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)?;
        return Ok(true);
    }
    let Ok(t) = OffsetDateTime::from_unix_timestamp(secs) else { return Ok(false) };
    write!(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())?;
    Ok(true)
}

/// RFC 3339 UTC with microseconds, e.g. "2024-05-01T12:00:00.123456Z";
/// `"@<n>us"` for a time outside the calendar's range.
pub struct Rfc3339Micros(pub i64);

impl fmt::Display for Rfc3339Micros {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0;
        if write_date_time(out, micros.div_euclid(1_000_000))? {
            out.write_str(std::str::from_utf8(&micros_suffix(micros)).map_err(|_| fmt::Error)?)
        } else {
            write!(out, "@{micros}us")
        }
    }
}

/// RFC 3339 UTC to the second, for certificate validity dates; `"@<n>s"` for
/// a time outside the calendar's range.
pub struct Rfc3339Secs(pub i64);

impl fmt::Display for Rfc3339Secs {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        if write_date_time(out, self.0)? {
            out.write_str("Z")
        } else {
            write!(out, "@{}s", self.0)
        }
    }
}

pub fn rfc3339_micros(micros: i64) -> String {
    Rfc3339Micros(micros).to_string()
}

pub fn rfc3339_secs(secs: i64) -> String {
    Rfc3339Secs(secs).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_micros(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
        assert_eq!(rfc3339_secs(-86_400), "1969-12-31T00:00:00Z");
        assert_eq!(rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn the_last_second_written_is_kept_and_only_for_itself() {
        for secs in [1_700_000_000, 1_700_000_000, 1_700_000_001, 253_402_300_800, 253_402_300_800, 1_700_000_000, -1, -1] {
            let want = OffsetDateTime::from_unix_timestamp(secs).ok().filter(|t| t.year() <= 9999).map(|t| {
                format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
            });
            assert_eq!(date_time_bytes(secs).map(|b| String::from_utf8(b.to_vec()).unwrap()), want, "at {secs}");
        }
    }

    #[test]
    fn digit_by_digit_agrees_with_the_time_crate_across_the_calendar() {
        // Every day from year 0 to 9999 at a varying time of day, against
        // the time crate's conversion (leap years, centuries, the epoch).
        let first = OffsetDateTime::from_unix_timestamp(-62_167_219_200).unwrap();
        assert_eq!(first.year(), 0);
        let mut secs = -62_167_219_200i64;
        let mut checked = 0;
        while secs < 253_402_300_800 {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let want = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second());
            assert_eq!(date_time_bytes(secs).map(|b| String::from_utf8(b.to_vec()).unwrap()), Some(want), "at {secs}");
            secs += 86_400 + 3_607;
            checked += 1;
        }
        assert!(checked > 3_000_000);
        assert_eq!(date_time_bytes(253_402_300_800), None, "year 10000 takes the slow path");
        assert_eq!(rfc3339_secs(253_402_300_800), "@253402300800s", "outside the calendar's range");
        assert_eq!(date_time_bytes(-62_167_219_201), None);
    }
}
