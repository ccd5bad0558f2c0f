//! Routes: the demo target's eight endpoints, matched by method and path, and their JSON bodies
//! built once at start.
//!
//! It owns what each request is answered with before any fault applies; it does not delay,
//! inject errors or count responses (that is `faults`').

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use super::State;

/// Route is what the path and method ask for, before any delay or error injection.
pub(super) enum Route<'a> {
    /// A pre-built body with this status.
    Canned(StatusCode, Bytes),
    /// `POST /api/v1/agents/{id}/goals` for this agent id.
    CreateGoal(&'a str),
    /// A known path asked with a method it does not allow; carries the allowed methods.
    WrongMethod(&'static str),
    /// An unknown path.
    NotFound,
}

impl State {
    /// route maps a method and path to what it asks for. Paths are matched segment by segment;
    /// an empty `{id}` segment or a trailing slash is an unknown path.
    pub(super) fn route<'a>(
        &self,
        method: &Method,
        path: &'a str,
        query: Option<&str>,
    ) -> Route<'a> {
        let mut segments = [""; 6];
        let mut count = 0;
        for segment in path.split('/').skip(1) {
            if count == segments.len() {
                return Route::NotFound;
            }
            segments[count] = segment;
            count += 1;
        }
        let get = |body: &Bytes| {
            if method == Method::GET {
                Route::Canned(StatusCode::OK, body.clone())
            } else {
                Route::WrongMethod("GET")
            }
        };
        let b = &self.bodies;
        match &segments[..count] {
            ["health"] => get(&b.health),
            ["api", "v1", "agents"] => match industry(query) {
                Some(wanted) => get(b.agents_in(&wanted)),
                None => get(&b.agents),
            },
            ["api", "v1", "customers", id, "agents"] if !id.is_empty() => get(&b.customer_agents),
            ["api", "v1", "agents", id, "configuration"] if !id.is_empty() => get(&b.configuration),
            ["api", "v1", "agents", id, "goals"] if !id.is_empty() => match *method {
                Method::GET => Route::Canned(StatusCode::OK, b.goals.clone()),
                Method::POST => Route::CreateGoal(id),
                _ => Route::WrongMethod("GET, POST"),
            },
            ["api", "v1", "agents", id, "deliverables"] if !id.is_empty() => get(&b.deliverables),
            _ => Route::NotFound,
        }
    }
}

/// Bodies are the JSON response bodies, built once so serving a request copies no bytes.
pub(super) struct Bodies {
    /// `GET /health`.
    health: Bytes,
    /// `GET /api/v1/agents`.
    agents: Bytes,
    /// `GET /api/v1/agents?industry=X`, one entry per industry that has agents.
    agents_by_industry: Vec<(&'static str, Bytes)>,
    /// `GET /api/v1/agents?industry=X` for an industry without agents.
    no_agents: Bytes,
    /// `GET /api/v1/customers/{id}/agents`.
    customer_agents: Bytes,
    /// `GET /api/v1/agents/{id}/configuration`.
    configuration: Bytes,
    /// `GET /api/v1/agents/{id}/goals`.
    goals: Bytes,
    /// `GET /api/v1/agents/{id}/deliverables`, a few KB.
    deliverables: Bytes,
    /// Any unknown path.
    pub(super) not_found: Bytes,
    /// A known path with a method it does not allow.
    pub(super) wrong_method: Bytes,
    /// A request body that could not be read.
    pub(super) unreadable_body: Bytes,
    /// An injected error.
    pub(super) injected: Bytes,
}

/// AGENTS are the canned agents: id, name, industry.
const AGENTS: [(&str, &str, &str); 7] = [
    ("agent-001", "Content Strategist", "marketing"),
    ("agent-002", "Social Media Manager", "marketing"),
    ("agent-003", "Math Tutor", "education"),
    ("agent-004", "Science Tutor", "education"),
    ("agent-005", "Lead Qualifier", "sales"),
    ("agent-006", "Account Researcher", "sales"),
    ("agent-007", "Patient Intake Assistant", "healthcare"),
];

impl Bodies {
    /// build renders every canned body.
    pub(super) fn build() -> Bodies {
        let agent = |&(id, name, industry): &(&str, &str, &str)| {
            json!({
                "id": id,
                "name": name,
                "industry": industry,
                "status": "available",
                "rating": 4.6,
                "price_per_month": 12000,
            })
        };
        let render = |value: serde_json::Value| Bytes::from(value.to_string());
        let agents = render(AGENTS.iter().map(agent).collect());
        let mut agents_by_industry: Vec<(&'static str, Bytes)> = Vec::new();
        for &(_, _, industry) in &AGENTS {
            if agents_by_industry
                .iter()
                .all(|(known, _)| *known != industry)
            {
                let matching = AGENTS.iter().filter(|a| a.2 == industry).map(agent);
                agents_by_industry.push((industry, render(matching.collect())));
            }
        }
        let customer_agents = render(
            AGENTS[..3]
                .iter()
                .map(|a| {
                    let mut hired = agent(a);
                    hired["hired_at"] = json!("2025-01-15T09:30:00Z");
                    hired["trial"] = json!(false);
                    hired
                })
                .collect(),
        );
        let configuration = render(json!({
            "agent_id": "agent-001",
            "model": "standard",
            "language": "en",
            "timezone": "UTC",
            "working_hours": {"start": "09:00", "end": "18:00"},
            "notifications": {"email": true, "sms": false},
            "max_daily_tasks": 25,
        }));
        let goals = render(json!([
            {"id": "goal-1", "title": "Publish two posts a week", "status": "active", "progress": 0.4},
            {"id": "goal-2", "title": "Grow newsletter signups by 10%", "status": "active", "progress": 0.7},
            {"id": "goal-3", "title": "Refresh the content calendar", "status": "done", "progress": 1.0},
        ]));
        let deliverables = render(
            (1..=16)
                .map(|i| {
                    json!({
                        "id": format!("deliverable-{i:03}"),
                        "goal_id": format!("goal-{}", i % 3 + 1),
                        "title": format!("Weekly report {i}"),
                        "kind": if i % 2 == 0 { "document" } else { "post" },
                        "status": if i % 4 == 0 { "in_review" } else { "delivered" },
                        "created_at": format!("2025-02-{:02}T10:00:00Z", i),
                        "summary": "A summary of the work delivered this week, the channels it \
                                    covered, and what the agent plans to do next.",
                    })
                })
                .collect(),
        );
        let error = |message: &str| render(json!({ "error": message }));
        Bodies {
            health: render(json!({"status": "ok"})),
            agents,
            agents_by_industry,
            no_agents: Bytes::from_static(b"[]"),
            customer_agents,
            configuration,
            goals,
            deliverables,
            not_found: error("not found"),
            wrong_method: error("method not allowed"),
            unreadable_body: error("the request body could not be read"),
            injected: error("injected"),
        }
    }

    /// agents_in is the agent list filtered to one industry (ASCII case-insensitive).
    pub(super) fn agents_in(&self, wanted: &str) -> &Bytes {
        self.agents_by_industry
            .iter()
            .find(|(industry, _)| industry.eq_ignore_ascii_case(wanted))
            .map_or(&self.no_agents, |(_, body)| body)
    }
}

/// industry finds the first `industry=` parameter in a query string, percent-decoded.
fn industry(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == "industry").then(|| percent_decode(value))
    })
}

/// percent_decode decodes `%XX` escapes and `+` in a query value, leaving malformed escapes as
/// they are.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// body_len reads a request body to its end and returns its length, or `None` when it breaks off.
pub(super) async fn body_len(mut body: Incoming) -> Option<u64> {
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.ok()?.data_ref() {
            len += data.len() as u64;
        }
    }
    Some(len)
}

/// json_response builds a response with a JSON body.
pub(super) fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
