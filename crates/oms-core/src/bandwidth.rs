//! Bandwidth policies: up to five daily `hh:mm` windows, each with a byte-per-second cap.
//!
//! Outside every window a task runs unthrottled. A window whose end is earlier than its start
//! runs over midnight (`22:00`–`06:00`). Start is inclusive, end exclusive, to the minute.
//!
//! `hh:mm` is wall-clock time in the task's time zone (OMS reads it in its region's local
//! time): on the day a zone moves its clocks forward, the skipped minutes never come and a
//! window inside them does not open; on the day it moves them back, the repeated minutes come
//! twice and so does a window inside them.

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// The most windows a policy may hold.
pub const MAX_WINDOWS: usize = 5;
/// The lowest cap: 1 MB/s.
pub const MIN_BANDWIDTH_BYTES_PER_SEC: i64 = 1_048_576;
/// The highest cap: 200 MB/s.
pub const MAX_BANDWIDTH_BYTES_PER_SEC: i64 = 209_715_200;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// One throttling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandwidthWindow {
    /// Minute of the day the window opens (inclusive), 0–1439.
    pub start_minute: u16,
    /// Minute of the day the window closes (exclusive), 0–1439.
    pub end_minute: u16,
    /// The cap inside the window.
    pub max_bandwidth_bytes_per_sec: i64,
}

impl BandwidthWindow {
    /// Whether `minute` (of the day) falls inside the window.
    pub fn contains(&self, minute: u16) -> bool {
        if self.start_minute < self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }

    /// The window as at most two non-wrapping minute ranges.
    fn ranges(&self) -> impl Iterator<Item = (u16, u16)> {
        let (s, e) = (self.start_minute, self.end_minute);
        let parts = if s < e {
            [(s, e), (0, 0)]
        } else {
            [(s, MINUTES_PER_DAY), (0, e)]
        };
        parts.into_iter().filter(|(a, b)| a < b)
    }

    fn overlaps(&self, other: &Self) -> bool {
        self.ranges()
            .any(|(a0, a1)| other.ranges().any(|(b0, b1)| a0 < b1 && b0 < a1))
    }

    /// `hh:mm` of the start.
    pub fn start_hhmm(&self) -> String {
        format_hhmm(self.start_minute)
    }

    /// `hh:mm` of the end.
    pub fn end_hhmm(&self) -> String {
        format_hhmm(self.end_minute)
    }
}

/// A validated set of non-overlapping windows (possibly empty: no throttling).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BandwidthPolicy(Vec<BandwidthWindow>);

impl BandwidthPolicy {
    /// Checks the OMS rules: at most five windows, none overlapping another.
    pub fn new(windows: Vec<BandwidthWindow>, field: &str) -> Result<Self, ValidationError> {
        if windows.len() > MAX_WINDOWS {
            return Err(ValidationError::new(
                field,
                format!(
                    "at most {MAX_WINDOWS} windows are allowed, got {}",
                    windows.len()
                ),
            ));
        }
        for (i, a) in windows.iter().enumerate() {
            for (j, b) in windows.iter().enumerate().skip(i + 1) {
                if a.overlaps(b) {
                    return Err(ValidationError::new(
                        format!("{field}[{j}]"),
                        format!(
                            "window {}-{} overlaps window {i} ({}-{})",
                            b.start_hhmm(),
                            b.end_hhmm(),
                            a.start_hhmm(),
                            a.end_hhmm()
                        ),
                    ));
                }
            }
        }
        Ok(Self(windows))
    }

    /// The windows, at most five, none overlapping another.
    pub fn windows(&self) -> &[BandwidthWindow] {
        &self.0
    }

    /// The cap at `minute` of the day, or `None` when no window is open.
    pub fn limit_at(&self, minute: u16) -> Option<i64> {
        self.0
            .iter()
            .find(|w| w.contains(minute))
            .map(|w| w.max_bandwidth_bytes_per_sec)
    }

    /// The cap at the instant `at_ms` (Unix ms) read on the clocks of `zone`, or `None` when no
    /// window is open then.
    pub fn limit_at_instant(&self, at_ms: i64, zone: &jiff::tz::TimeZone) -> Option<i64> {
        self.limit_at(minute_of_day(at_ms, zone))
    }
}

/// The minute of the day (0–1439) on the wall clocks of `zone` at the instant `at_ms` (Unix ms);
/// an instant outside the range the calendar holds reads as midnight.
pub fn minute_of_day(at_ms: i64, zone: &jiff::tz::TimeZone) -> u16 {
    jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| {
            let local = zone.to_datetime(t);
            u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Parses `hh:mm` (00:00–23:59) into a minute of the day.
pub fn parse_hhmm(raw: &str) -> Option<u16> {
    let (h, m) = raw.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn format_hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: &str, end: &str) -> BandwidthWindow {
        BandwidthWindow {
            start_minute: parse_hhmm(start).unwrap(),
            end_minute: parse_hhmm(end).unwrap(),
            max_bandwidth_bytes_per_sec: MIN_BANDWIDTH_BYTES_PER_SEC,
        }
    }

    #[test]
    fn hhmm_parsing() {
        assert_eq!(parse_hhmm("00:00"), Some(0));
        assert_eq!(parse_hhmm("23:59"), Some(1439));
        for bad in ["24:00", "12:60", "1:00", "12:5", "ab:cd", "12-00", ""] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
    }

    #[test]
    fn windows_that_touch_do_not_overlap() {
        assert!(BandwidthPolicy::new(vec![w("08:00", "12:00"), w("12:00", "18:00")], "bp").is_ok());
    }

    #[test]
    fn overlapping_windows_are_rejected_naming_the_second() {
        let err = BandwidthPolicy::new(
            vec![w("08:00", "12:00"), w("11:00", "13:00")],
            "bandwidth_policy",
        )
        .unwrap_err();
        assert_eq!(err.field, "bandwidth_policy[1]");
    }

    #[test]
    fn windows_over_midnight_overlap_morning_windows() {
        assert!(
            BandwidthPolicy::new(vec![w("22:00", "06:00"), w("05:00", "07:00")], "bp").is_err()
        );
        assert!(BandwidthPolicy::new(vec![w("22:00", "06:00"), w("06:00", "07:00")], "bp").is_ok());
    }

    #[test]
    fn at_most_five_windows() {
        let six = ["00:00", "01:00", "02:00", "03:00", "04:00", "05:00"]
            .windows(2)
            .map(|p| w(p[0], p[1]))
            .chain([w("10:00", "11:00"), w("12:00", "13:00")])
            .collect::<Vec<_>>();
        assert!(BandwidthPolicy::new(six, "bp").is_err());
    }

    /// Unix ms of a wall-clock time given with its UTC offset (RFC 3339).
    fn at(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn zone(name: &str) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(name).unwrap()
    }

    #[test]
    fn windows_are_read_on_the_clocks_of_the_zone() {
        let night = BandwidthPolicy::new(vec![w("22:00", "06:00")], "bp").unwrap();
        // 15:30 UTC is 23:30 in Shanghai: inside the night window there, outside it in UTC.
        let instant = at("2026-07-01T15:30:00Z");
        assert_eq!(
            night.limit_at_instant(instant, &jiff::tz::TimeZone::UTC),
            None
        );
        assert_eq!(
            night.limit_at_instant(instant, &zone("Asia/Shanghai")),
            Some(MIN_BANDWIDTH_BYTES_PER_SEC)
        );
        // Across midnight in the zone: 23:59 and 00:00 local are both inside, 06:00 is not,
        // whatever the UTC date says.
        let shanghai = zone("Asia/Shanghai");
        assert_eq!(
            minute_of_day(at("2026-07-01T15:59:00Z"), &shanghai),
            23 * 60 + 59
        );
        assert_eq!(minute_of_day(at("2026-07-01T16:00:00Z"), &shanghai), 0);
        for (utc, inside) in [
            ("2026-07-01T15:59:00Z", true),
            ("2026-07-01T16:00:00Z", true),
            ("2026-07-01T21:59:00Z", true),
            ("2026-07-01T22:00:00Z", false),
        ] {
            assert_eq!(
                night.limit_at_instant(at(utc), &shanghai).is_some(),
                inside,
                "{utc}"
            );
        }
    }

    #[test]
    fn windows_follow_the_zone_across_daylight_saving_changes() {
        let berlin = zone("Europe/Berlin");
        let morning = BandwidthPolicy::new(vec![w("08:00", "09:00")], "bp").unwrap();
        // 07:30 UTC is 08:30 in winter (UTC+1) and 09:30 in summer (UTC+2): the window opens
        // at 08:00 local on both sides of the change of 29 March 2026, an hour apart in UTC.
        assert!(
            morning
                .limit_at_instant(at("2026-03-28T07:30:00Z"), &berlin)
                .is_some()
        );
        assert!(
            morning
                .limit_at_instant(at("2026-03-29T07:30:00Z"), &berlin)
                .is_none()
        );
        assert!(
            morning
                .limit_at_instant(at("2026-03-29T06:30:00Z"), &berlin)
                .is_some()
        );
        // The night of the change: 00:59 UTC is 01:59 local, and one minute later the clocks
        // jump from 02:00 to 03:00; a window of 02:00-02:30 never opens that night.
        assert_eq!(minute_of_day(at("2026-03-29T00:59:00Z"), &berlin), 60 + 59);
        assert_eq!(minute_of_day(at("2026-03-29T01:00:00Z"), &berlin), 3 * 60);
        let skipped = BandwidthPolicy::new(vec![w("02:00", "02:30")], "bp").unwrap();
        let night_of_change = (0..24 * 60)
            .map(|m| at("2026-03-28T22:00:00Z") + m * 60_000)
            .filter(|t| skipped.limit_at_instant(*t, &berlin).is_some())
            .count();
        assert_eq!(night_of_change, 0);
        // In October the clocks go back from 03:00 to 02:00: the window opens twice, 60
        // minutes in all.
        let repeated = (0..24 * 60)
            .map(|m| at("2026-10-24T22:00:00Z") + m * 60_000)
            .filter(|t| skipped.limit_at_instant(*t, &berlin).is_some())
            .count();
        assert_eq!(repeated, 60);
        // UTC itself never changes.
        assert_eq!(
            minute_of_day(at("2026-03-29T01:00:00Z"), &jiff::tz::TimeZone::UTC),
            60
        );
    }

    #[test]
    fn limit_applies_inside_windows_only() {
        let p = BandwidthPolicy::new(vec![w("22:00", "06:00")], "bp").unwrap();
        assert_eq!(p.limit_at(23 * 60), Some(MIN_BANDWIDTH_BYTES_PER_SEC));
        assert_eq!(p.limit_at(5 * 60 + 59), Some(MIN_BANDWIDTH_BYTES_PER_SEC));
        assert_eq!(p.limit_at(6 * 60), None);
        assert_eq!(p.limit_at(12 * 60), None);
    }
}
