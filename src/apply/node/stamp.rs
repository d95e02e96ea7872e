//! The time a backup set is made, as its record and its id say it.

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time as kubeharden records it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    pub(crate) unix: u64,
    pub(crate) nanos: u32,
}

impl Stamp {
    pub(crate) fn now() -> Stamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Stamp {
            unix: d.as_secs(),
            nanos: d.subsec_nanos(),
        }
    }

    /// (year, month, day, hour, minute, second) in UTC.
    fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = (self.unix / 86_400) as i64;
        let secs = (self.unix % 86_400) as u32;
        // Days since 1970-01-01 to a proleptic Gregorian date (the era-based conversion).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// `2026-11-28T15:30:12Z`.
    pub(crate) fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    /// `20261128T153012Z`: sorts in time order and is safe in a file name.
    pub(crate) fn compact(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let s = |unix| Stamp { unix, nanos: 0 }.rfc3339();
        assert_eq!(s(0), "1970-01-01T00:00:00Z");
        assert_eq!(s(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(s(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(
            Stamp {
                unix: 1_709_210_096,
                nanos: 0
            }
            .compact(),
            "20240229T123456Z"
        );
    }
}
