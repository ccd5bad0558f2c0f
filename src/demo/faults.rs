//! Fault injection: what the demo target does to a response its route produced, in the order
//! the module docs give (the concurrency permit, latency and jitter, the stall window, the
//! injected error), and the periodic [`Stall`] it is configured with.
//!
//! It owns the delays and the seeded draws behind them; it does not choose the answer (that is
//! `routes`') nor send it.

use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use tokio::time::Instant;

use super::State;
use super::routes::json_response;
use crate::draw;

/// Stall is a periodic stall, parsed from "200ms/2s": every `period`, nothing is answered for
/// `pause` (a GC pause).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stall {
    /// How long each stall window lasts; always shorter than `period`.
    pub pause: Duration,
    /// Time from the start of one stall window to the start of the next; never zero.
    pub period: Duration,
}

impl Stall {
    /// check says, in a sentence for a person, why this stall cannot run, if it cannot.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.period.is_zero() {
            return Err("the stall period must be longer than zero".to_string());
        }
        if self.pause >= self.period {
            return Err(format!(
                "the stall pause ({}) must be shorter than its period ({})",
                humantime::format_duration(self.pause),
                humantime::format_duration(self.period)
            ));
        }
        Ok(())
    }
}

impl FromStr for Stall {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((pause, period)) = s.split_once('/') else {
            return Err(format!(
                "expected PAUSE/PERIOD such as 200ms/2s, but got \"{s}\""
            ));
        };
        let parse = |what: &str, text: &str| {
            humantime::parse_duration(text.trim()).map_err(|e| {
                format!(
                    "the stall {what} \"{}\" in \"{s}\" is not a duration ({e}); \
                     expected PAUSE/PERIOD such as 200ms/2s",
                    text.trim()
                )
            })
        };
        let stall = Stall {
            pause: parse("pause", pause)?,
            period: parse("period", period)?,
        };
        stall.check()?;
        Ok(stall)
    }
}

impl std::fmt::Display for Stall {
    /// Writes the stall the way [`Stall::from_str`] reads it, e.g. "200ms/2s".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            humantime::format_duration(self.pause),
            humantime::format_duration(self.period)
        )
    }
}

impl State {
    /// delayed applies the concurrency limit, latency, jitter, stall and error injection to a
    /// response the route has produced, and counts it.
    pub(super) async fn delayed(&self, status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
        // Held until the response is produced; a closed semaphore cannot happen (never closed).
        let _permit = match &self.permits {
            Some(permits) => permits.acquire().await.ok(),
            None => None,
        };
        let config = &self.config;
        let mut delay = config.latency;
        if !config.jitter.is_zero() {
            delay = delay.saturating_add(uniform_duration(self.draw(), config.jitter));
        }
        if !delay.is_zero() || config.stall.is_some() {
            let now = Instant::now();
            let ready = self.release(add(now, delay));
            if ready > now {
                tokio::time::sleep_until(ready).await;
            }
        }
        let injected = config.error_rate >= 1.0
            || (config.error_rate > 0.0 && draw::fraction(self.draw()) < config.error_rate);
        let response = if injected {
            self.stats.injected_errors.fetch_add(1, Ordering::Relaxed);
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                self.bodies.injected.clone(),
            )
        } else {
            json_response(status, body)
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if config.leak > 0 {
            // Filled with a non-zero byte, so every page is written and resident.
            let kept = vec![0xA5u8; config.leak].into_boxed_slice();
            if let Ok(mut retained) = self.retained.lock() {
                retained.push(kept);
            }
        }
        response
    }

    /// release moves `ready` to the end of the stall window it falls in, if it falls in one.
    fn release(&self, ready: Instant) -> Instant {
        let Some(stall) = self.config.stall else {
            return ready;
        };
        let since_t0 = ready.saturating_duration_since(self.t0).as_nanos();
        let into_period = since_t0 % stall.period.as_nanos();
        let pause = stall.pause.as_nanos();
        if into_period < pause {
            add(ready, nanos(pause - into_period))
        } else {
            ready
        }
    }

    /// draw returns the next 64 random bits (splitmix64 over an atomic counter).
    fn draw(&self) -> u64 {
        draw::mix64(self.rng.fetch_add(draw::GAMMA, Ordering::Relaxed))
    }
}

/// uniform_duration maps 64 random bits to a duration uniform in `[0, max]`, in nanoseconds.
fn uniform_duration(bits: u64, max: Duration) -> Duration {
    let span = max.as_nanos().saturating_add(1);
    nanos(u128::from(bits).saturating_mul(span) >> 64)
}

/// nanos converts a count of nanoseconds to a duration.
fn nanos(n: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(n / PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (n % PER_SEC) as u32)
}

/// add is `at + delay`, saturating at a point decades away instead of panicking.
fn add(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365 * 30))
}
