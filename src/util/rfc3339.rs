//! RFC 3339 UTC timestamps of Unix times: to the microsecond for packet
//! times, to the second for certificate validity dates.

use std::fmt;

use time::OffsetDateTime;

/// Date and time to the second, "YYYY-MM-DDTHH:MM:SS", of a Unix time;
/// false (nothing written) for a time outside the calendar's range.
fn write_date_time(out: &mut fmt::Formatter<'_>, secs: i64) -> Result<bool, fmt::Error> {
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
            write!(out, ".{:06}Z", micros.rem_euclid(1_000_000))
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
    }
}
