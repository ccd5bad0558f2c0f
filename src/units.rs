//! Durations and rates as people type and read them.

use std::time::Duration;

use crate::problem::Problem;

/// parse_duration reads "500ms", "30s", "5m", "24h", "1h30m" (humantime's grammar).
pub fn parse_duration(s: &str) -> Result<Duration, Problem> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        Problem::new(
            format!("`{s}` is not a duration ({e})"),
            "write it like 500ms, 30s, 5m or 24h",
        )
    })
}

/// format_us renders microseconds with a unit suited to its size: 850µs, 12.3ms, 1.25s.
pub fn format_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..10_000 => format!("{:.2}ms", us as f64 / 1e3),
        10_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// format_duration renders a duration for a progress line or summary: 950ms, 12.0s, 5m00s, 2h05m.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{}ms", d.as_millis())
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{}h{:02}m", d.as_secs() / 3600, d.as_secs() % 3600 / 60)
    }
}

/// format_share writes a fraction 0..1 as a percentage with two decimals: 0.0357 → 3.57%.
pub fn format_share(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// shorten cuts `text` to its first `max` characters, marking the cut with "…", so a quoted
/// body or value keeps an error message to a line.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    format!("{}…", text.chars().take(max).collect::<String>())
}

/// serialize_secs writes a duration as fractional seconds in JSON.
pub fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_human_form() {
        for (text, want) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("24h", Duration::from_secs(86_400)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        let err = parse_duration("10 parsecs").unwrap_err();
        assert!(err.help.contains("500ms, 30s"), "{err}");
    }

    #[test]
    fn microseconds_render_with_a_fitting_unit() {
        assert_eq!(format_us(850), "850µs");
        assert_eq!(format_us(1_234), "1.23ms");
        assert_eq!(format_us(181_500), "181.5ms");
        assert_eq!(format_us(2_500_000), "2.50s");
    }

    #[test]
    fn shares_are_percentages_with_two_decimals() {
        assert_eq!(format_share(0.0357), "3.57%");
        assert_eq!(format_share(1.0), "100.00%");
        assert_eq!(format_share(0.0), "0.00%");
    }
}
