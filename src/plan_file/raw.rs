//! The plan file as written: what serde reads out of the TOML before anything is checked. Every
//! table refuses unknown keys, and every value a builder may complain about keeps its span, so
//! the error can point at it. Nothing here knows what a value means; the section builders do.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::plan::HttpVersion;
use crate::plan::Pacing;

/// Map is a table whose keys a plan chooses (header names, SLA classes, variables).
pub(super) type Map<V> = BTreeMap<Spanned<String>, V>;

/// The whole file: the top-level keys and every table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    pub(super) name: Option<Spanned<String>>,
    pub(super) seed: Option<Spanned<i64>>,
    pub(super) threads: Option<Spanned<i64>>,
    pub(super) pacing: Option<Pacing>,
    pub(super) user_rate: Option<Spanned<f64>>,
    pub(super) arrivals: Option<Spanned<String>>,
    pub(super) target: Option<RawTarget>,
    pub(super) sla: Option<Map<Spanned<RawSla>>>,
    pub(super) vars: Option<Map<Spanned<toml::Value>>>,
    pub(super) criteria: Option<RawCriteria>,
    pub(super) scenario: Option<Vec<Spanned<RawScenario>>>,
    pub(super) stage: Option<Vec<Spanned<RawStage>>>,
    pub(super) request: Option<Vec<Spanned<RawRequest>>>,
    pub(super) watch: Option<Spanned<RawWatch>>,
}

/// `[target]`: where requests go and how connections behave.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) base_url: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) connections: Option<Spanned<i64>>,
    pub(super) max_in_flight: Option<Spanned<i64>>,
    pub(super) connect_rate: Option<Spanned<i64>>,
    pub(super) max_body: Option<Spanned<toml::Value>>,
    pub(super) preflight: Option<bool>,
    pub(super) headers: Option<Map<Spanned<String>>>,
    pub(super) http: Option<HttpVersion>,
    pub(super) keep_alive: Option<bool>,
    pub(super) max_streams: Option<Spanned<i64>>,
    pub(super) ca_file: Option<Spanned<String>>,
    pub(super) insecure: Option<bool>,
}

/// One `[sla.NAME]` class: latency targets written as durations.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSla {
    pub(super) p50: Option<Spanned<String>>,
    pub(super) p95: Option<Spanned<String>>,
    pub(super) p99: Option<Spanned<String>>,
}

/// `[criteria]`, or a scenario's or stage's `criteria = { … }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCriteria {
    pub(super) error_rate: Option<RawErrorRate>,
    pub(super) sla: Option<Vec<Spanned<String>>>,
    pub(super) sla_fail_over: Option<Spanned<f64>>,
    pub(super) max_dropped: Option<Spanned<i64>>,
    pub(super) sla_window: Option<Spanned<String>>,
    pub(super) sla_abort: Option<Spanned<bool>>,
}

/// `error_rate = { warn, fail, window, abort }` within criteria.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawErrorRate {
    pub(super) warn: Option<Spanned<f64>>,
    pub(super) fail: Option<Spanned<f64>>,
    pub(super) window: Option<Spanned<String>>,
    pub(super) abort: Option<Spanned<bool>>,
}

/// One `[[scenario]]` with its own stages and requests.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: Spanned<String>,
    pub(super) arrivals: Option<Spanned<String>>,
    pub(super) user_rate: Option<Spanned<f64>>,
    pub(super) criteria: Option<RawCriteria>,
    pub(super) stage: Option<Vec<Spanned<RawStage>>>,
    pub(super) request: Option<Vec<Spanned<RawRequest>>>,
}

/// One `[[scenario.stage]]` (or top-level `[[stage]]`): a rate form, a duration, criteria.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    pub(super) name: Spanned<String>,
    pub(super) duration: Spanned<String>,
    pub(super) rate: Option<Spanned<f64>>,
    pub(super) from: Option<Spanned<f64>>,
    pub(super) to: Option<Spanned<f64>>,
    pub(super) users: Option<Spanned<f64>>,
    pub(super) from_users: Option<Spanned<f64>>,
    pub(super) to_users: Option<Spanned<f64>>,
    pub(super) settle: Option<Spanned<String>>,
    pub(super) criteria: Option<RawCriteria>,
}

/// One `[[scenario.request]]` (or top-level `[[request]]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequest {
    pub(super) name: Spanned<String>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) method: Option<Spanned<String>>,
    pub(super) path: Spanned<String>,
    pub(super) sla: Option<Spanned<String>>,
    pub(super) headers: Option<Map<Spanned<String>>>,
    pub(super) body: Option<Spanned<String>>,
    pub(super) body_file: Option<Spanned<String>>,
    pub(super) json: Option<Spanned<bool>>,
    pub(super) content_type: Option<Spanned<String>>,
    pub(super) check: Option<Spanned<RawCheck>>,
}

/// A request's `check = { … }`: what a response must be to pass.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub(super) status: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    pub(super) body_contains: Option<Spanned<String>>,
    pub(super) json: Option<Map<Spanned<toml::Value>>>,
    pub(super) max_body: Option<Spanned<toml::Value>>,
}

/// `[watch]`: the target watched while the run goes, and the memory criteria on it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    pub(super) pid: Option<Spanned<i64>>,
    pub(super) process: Option<Spanned<String>>,
    pub(super) cgroup: Option<Spanned<String>>,
    pub(super) metrics_url: Option<Spanned<String>>,
    pub(super) metric: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) settle: Option<Spanned<String>>,
    pub(super) window: Option<Spanned<String>>,
    pub(super) max_memory_growth: Option<Spanned<f64>>,
    pub(super) max_memory: Option<Spanned<toml::Value>>,
    pub(super) memory_horizon: Option<Spanned<String>>,
}
