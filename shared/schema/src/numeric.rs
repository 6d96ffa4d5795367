//! Metricbeat's numeric conventions, shared by the agent and the tests.

use chrono::{DateTime, SecondsFormat, Utc};

/// Rounds to 4 decimal places, as Metricbeat rounds every `*.pct` (half away from zero).
///
/// Non-finite inputs (a division by a zero delta) become 0, so an event never carries NaN.
pub fn round4(value: f64) -> f64 {
    if !value.is_finite() {
        return 0.0;
    }
    (value * 10_000.0).round() / 10_000.0
}

/// `part / whole` as a 4-decimal fraction; 0 when `whole` is 0.
pub fn fraction(part: f64, whole: f64) -> f64 {
    if whole == 0.0 {
        0.0
    } else {
        round4(part / whole)
    }
}

/// A `norm.pct` from a `pct` that ranges over `0..cores`: `pct / cores`, rounded.
///
/// Metricbeat normalises the unrounded value; pass the unrounded `pct` for exact agreement.
pub fn normalize(pct: f64, cores: u32) -> f64 {
    if cores == 0 {
        0.0
    } else {
        round4(pct / f64::from(cores))
    }
}

/// Formats a sample time the way `@timestamp` carries it: UTC, milliseconds, `Z`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// [`format_timestamp`] of a time in milliseconds since the epoch; `None` when out of
/// chrono's range.
pub fn format_timestamp_millis(at: i64) -> Option<String> {
    DateTime::from_timestamp_millis(at).map(format_timestamp)
}

/// Serde adapter for `@timestamp`: RFC 3339 in, [`format_timestamp`] out.
pub mod timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises with [`super::format_timestamp`].
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(*at))
    }

    /// Accepts any RFC 3339 time (Metricbeat writes `Z` with milliseconds).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("not an RFC 3339 time ({e}): {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rounds_to_four_decimals_half_away_from_zero() {
        assert_eq!(round4(0.188_87), 0.1889);
        assert_eq!(round4(0.123_45), 0.1235);
        assert_eq!(round4(1.0), 1.0);
        assert_eq!(round4(f64::NAN), 0.0);
        assert_eq!(round4(f64::INFINITY), 0.0);
    }

    #[test]
    fn fraction_and_normalize_guard_zero() {
        assert_eq!(fraction(1.0, 0.0), 0.0);
        assert_eq!(fraction(1.0, 3.0), 0.3333);
        assert_eq!(normalize(1.8887, 10), 0.1889);
        assert_eq!(normalize(1.0, 0), 0.0);
    }

    #[test]
    fn timestamps_are_utc_millis_with_z() {
        let at = Utc.with_ymd_and_hms(2025, 1, 31, 7, 55, 26).unwrap()
            + chrono::Duration::microseconds(555_400);
        assert_eq!(format_timestamp(at), "2025-01-31T07:55:26.555Z");
        assert_eq!(
            format_timestamp_millis(at.timestamp_millis()).as_deref(),
            Some("2025-01-31T07:55:26.555Z")
        );
        assert_eq!(format_timestamp_millis(i64::MAX), None);
    }
}
