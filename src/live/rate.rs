//! Rate: `POST /api/rate`, the page's (or a script's) way to steer a running run.
//!
//! The body is `{"scenario": NAME, "rate": PER_SECOND}` (`scenario` may be left out when the
//! plan has one). The run makes the change `steer::LEAD` from now (see `steer`) and answers
//! with when it takes effect, or why it cannot be made.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use super::Live;
use super::web::{Body, Said, json, refused_change};

/// MAX_BODY is the most a rate change's body may be.
const MAX_BODY: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Asked {
    #[serde(default)]
    scenario: String,
    rate: f64,
}

/// route answers `/api/rate`.
pub async fn route(req: Request<Incoming>, live: Arc<Live>) -> Response<Body> {
    let usage = r#"POST /api/rate with {"scenario": NAME, "rate": PER_SECOND} sets a scenario's rate from now to its end"#;
    if let Some(refused) = refused_change(&req, usage, "steer") {
        return refused;
    }
    let bad = |why: String| json(StatusCode::BAD_REQUEST, &Said::new(&why));
    let Ok(body) = Limited::new(req.into_body(), MAX_BODY).collect().await else {
        return bad(format!("the request is over {MAX_BODY} bytes; {usage}"));
    };
    let asked: Asked = match serde_json::from_slice(&body.to_bytes()) {
        Ok(a) => a,
        Err(e) => {
            return bad(format!(
                "the request is not the JSON asked for ({e}); {usage}"
            ));
        }
    };
    match live.ask_rate(asked.scenario, asked.rate).await {
        Ok(change) => json(
            StatusCode::OK,
            &Said {
                ok: true,
                message: format!(
                    "scenario {} goes at {}/s from {:.3} s into the run to its end (repeat with --steer {})",
                    change.scenario,
                    crate::plan::rate_text(change.rate),
                    change.at_s,
                    change.flag()
                ),
                at_s: Some(change.at_s),
                in_flight: None,
            },
        ),
        Err(why) => json(StatusCode::CONFLICT, &Said::new(&why)),
    }
}
