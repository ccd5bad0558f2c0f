//! Clock: the wall-clock instant a run starts at (`--start-at`), and what that clock is worth.
//!
//! Shards on different machines line their schedules up on one wall-clock instant, so how far
//! apart they really started depends on how well the machines' clocks agree. A run records the
//! clock it read and, where the kernel says, whether NTP keeps it synchronized and how far off
//! it may be, so a merge can say how much the shards' start instants can be trusted.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::problem::Problem;
use crate::units::parse_duration;

/// ClockSource is the clock a run's start instant was read from, and its state then.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockSource {
    /// The clock: the system's wall clock.
    pub clock: String,
    /// Whether the kernel considers the clock synchronized (by NTP or PTP); null when it
    /// could not be asked.
    pub synchronized: Option<bool>,
    /// The kernel's estimate of the clock's error, in µs, when it is synchronized.
    pub estimated_error_us: Option<i64>,
}

impl ClockSource {
    /// describe says in words how far the clock can be trusted.
    pub fn describe(&self) -> String {
        match (self.synchronized, self.estimated_error_us) {
            (Some(true), Some(e)) => {
                format!("{}, synchronized, estimated error {e} µs", self.clock)
            }
            (Some(true), None) => format!("{}, synchronized", self.clock),
            (Some(false), _) => format!(
                "{}, NOT synchronized: start instants across machines may disagree",
                self.clock
            ),
            (None, _) => format!("{}, synchronization unknown", self.clock),
        }
    }
}

/// source asks the kernel about the system clock (adjtimex, read only).
pub fn source() -> ClockSource {
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // modes = 0 reads the kernel's clock state without changing anything.
    let state = unsafe { libc::adjtimex(&mut tx) };
    let (synchronized, estimated_error_us) = if state < 0 {
        (None, None)
    } else if state == libc::TIME_ERROR || tx.status & libc::STA_UNSYNC != 0 {
        (Some(false), None)
    } else {
        (Some(true), Some(tx.esterror))
    };
    ClockSource {
        clock: "system clock (CLOCK_REALTIME)".into(),
        synchronized,
        estimated_error_us,
    }
}

/// parse_start_at reads `--start-at`: an RFC 3339 instant in UTC (`2026-12-02T18:30:00Z`,
/// fractions of a second allowed) or `+DURATION` from `now` (`+30s`).
pub fn parse_start_at(text: &str, now: SystemTime) -> Result<SystemTime, Problem> {
    let text = text.trim();
    if let Some(after) = text.strip_prefix('+') {
        let d = parse_duration(after).map_err(|p| {
            Problem::new(
                format!("`{text}` is not a start time: {}", p.message),
                "give +DURATION from now (+30s, +2m) or an RFC 3339 instant in UTC (2026-12-02T18:30:00Z)",
            )
        })?;
        return Ok(now + d);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .filter(|_| text.ends_with('Z') || text.ends_with('z'))
        .ok_or_else(|| {
            Problem::new(
                format!("`{text}` is not a start time"),
                "give an RFC 3339 instant in UTC ending in Z (2026-12-02T18:30:00Z; every shard must read the same instant) or +DURATION from now (+30s)",
            )
        })
}

/// format is an instant in RFC 3339 with microseconds, the precision a start is compared at.
pub fn format(at: SystemTime) -> String {
    humantime::format_rfc3339_micros(at).to_string()
}

/// parse reads back an instant written by `format`.
pub fn parse(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text).ok()
}

/// between is `b − a` in seconds, negative when `b` is earlier.
pub fn between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// WAKE_BEFORE is how long before `--start-at` a waiting run gets up to open its connections,
/// so they are fresh when the first arrival is due and not idle through a long wait.
pub const WAKE_BEFORE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_parse_or_say_how_to_write_them() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            parse_start_at("+30s", now).unwrap(),
            now + Duration::from_secs(30)
        );
        let at = parse_start_at("2026-12-02T18:30:00.250Z", now).unwrap();
        assert_eq!(format(at), "2026-12-02T18:30:00.250000Z");
        assert_eq!(parse(&format(at)), Some(at));
        for bad in [
            "tomorrow",
            "2026-12-02T18:30:00",
            "2026-12-02 18:30",
            "+soon",
            "",
        ] {
            let e = parse_start_at(bad, now).unwrap_err();
            assert!(e.help.contains("RFC 3339"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_kernel_is_asked_about_the_clock() {
        let s = source();
        assert!(s.clock.contains("CLOCK_REALTIME"));
        if s.synchronized == Some(false) {
            assert_eq!(s.estimated_error_us, None);
        }
    }
}
