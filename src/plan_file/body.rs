//! Request bodies: `body_file` read once beside the plan, and with `json = true` the check that a
//! body is JSON, its error placed in the body as written or, for a template, shown filled in.
//! A body written inline is a template, which [`super::request`] parses.

use toml::Spanned;

use super::Result;
use super::raw::RawRequest;
use super::span::Ctx;
use crate::template::{Template, Vars};

/// body_file reads a request body from a file beside the plan, once.
pub(super) fn body_file(ctx: &Ctx, request: &str, f: &Spanned<String>) -> Result<String> {
    ctx.read_beside(
        f.span(),
        f.get_ref(),
        &format!("request `{request}`: body file"),
        "bodies are text; save the file as UTF-8",
    )
}

/// json_body checks that a body declared as JSON is JSON: a static body as it is, a template
/// once its placeholders are filled for one arrival.
pub(super) fn json_body(
    ctx: &Ctx,
    raw: &RawRequest,
    json: &Spanned<bool>,
    body: &Template,
    vars: &Vars,
) -> Result<()> {
    let name = raw.name.get_ref();
    let (text, filled) = match body.static_text() {
        Some(t) => (t.to_string(), false),
        None => {
            let mut t = String::new();
            body.render(vars, 1, 0, 0, &mut t);
            (t, true)
        }
    };
    if text.trim().is_empty() {
        return Err(ctx.err(
            json.span(),
            format!("request `{name}` declares a JSON body (json = true) but has no body"),
            "add body or body_file, or remove json = true",
        ));
    }
    let Err(e) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(());
    };
    // Where in the body the parser stopped, as a byte offset.
    let offset = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + e.column().saturating_sub(1);
    let detail = e.to_string();
    let detail = detail
        .rsplit_once(" at line ")
        .map_or(detail.as_str(), |(d, _)| d);
    match (&raw.body, &raw.body_file) {
        (Some(b), _) if !filled => Err(ctx.err_in(
            b.span(),
            written_offset(b.get_ref(), offset),
            format!("request `{name}`: the body is not JSON ({detail})"),
            "fix the JSON, or remove json = true; in a body template a literal brace is \
             written {{ or }}",
        )),
        (Some(b), _) => Err(ctx.err(
            b.span(),
            format!(
                "request `{name}`: the body is not JSON once its placeholders are filled \
                 ({detail}): {}",
                crate::units::shorten(&text, 80)
            ),
            "put string values in quotes, as in \"{user.email}\", and write {{ and }} for the \
             body's own braces",
        )),
        (None, Some(f)) => Err(ctx.err(
            f.span(),
            format!(
                "request `{name}`: `{}` is not JSON (line {}, column {}: {detail})",
                f.get_ref(),
                e.line(),
                e.column()
            ),
            "fix the file, or remove json = true",
        )),
        (None, None) => unreachable!("an empty body was reported above"),
    }
}

/// written_offset maps byte `offset` of what a static template renders to the same place in the
/// template as written, where each literal brace is doubled.
fn written_offset(written: &str, offset: usize) -> usize {
    let (mut i, mut rendered) = (0, 0);
    while rendered < offset && i < written.len() {
        let rest = &written[i..];
        if rest.starts_with("{{") || rest.starts_with("}}") {
            i += 2;
            rendered += 1;
        } else {
            let c = rest.chars().next().map_or(1, char::len_utf8);
            i += c;
            rendered += c;
        }
    }
    i
}
