//! The OpenAPI 3.1 document served at `GET /api/openapi.json`: the command and query halves
//! merged, then completed once by [`Contract`] with what every operation shares in `API.md`
//! (the session cookie and CSRF header, the check-order errors, `X-Request-Id`, `Retry-After`)
//! instead of repeating it on every handler.

use utoipa::openapi::content::Content;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::Modify;

mod enums;

/// The security scheme of the session cookie.
pub const SESSION_SCHEME: &str = "session";
/// The security scheme of the CSRF header.
pub const CSRF_SCHEME: &str = "csrf";
/// The one operation that needs no session.
const PUBLIC: &str = "/api/auth/login";
const ERROR_BODY: &str = "ErrorBody";

const INFO: &str =
    "The contract of docs/API.md: commands, queries, sessions and administration.\n\n\
Every answer carries `X-Request-Id` (the client's own when it sends 1 to 128 visible ASCII \
characters, else a fresh UUID). Every error answer has the body `ErrorBody`; checks run in the \
order 401, 403 `csrf_failed`, 429, 400/413, 404, 403 `forbidden`, 409. A method that a path \
does not have answers 405 `method_not_allowed` in the same envelope. Commands answer \
`X-Consistency-Token`; a query that sends it back waits (bounded) until the command's effect \
is visible.";

#[derive(utoipa::OpenApi)]
#[openapi(paths(http_edge::routes::me, http_edge::routes::csrf_token))]
struct SessionReads;

/// Both APIs and the session endpoints as one OpenAPI 3.1 document.
pub fn openapi() -> OpenApi {
    use utoipa::OpenApi as _;
    let mut doc = command_service::openapi();
    doc.merge(query_service::openapi());
    doc.merge(SessionReads::openapi());
    doc.info.title = "Healing Space messaging API".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(INFO.into());
    Contract.modify(&mut doc);
    doc
}

/// Adds what `API.md` says of every operation: security schemes and requirements, the common
/// error answers with their descriptions and the error body, and the common headers.
pub struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "hs_session",
                "The session cookie set by `POST /api/auth/login` (HttpOnly, SameSite=Lax; \
                 with COOKIE_SECURE it is Secure and named `__Host-hs_session`).",
            ))),
        );
        components.add_security_scheme(
            CSRF_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The session's CSRF token (from login or `GET /api/csrf-token`); required on \
                 every POST, PATCH, PUT and DELETE except login.",
            ))),
        );
        // 405 belongs to no operation (it answers the methods a path lacks): one reusable answer.
        let mut not_allowed = Response::new(
            "`method_not_allowed`: the path exists, the method does not (any path of this API).",
        );
        describe("405", false, &mut not_allowed);
        components
            .responses
            .insert("MethodNotAllowed".into(), RefOr::T(not_allowed));
        enums::add(components);
        for (path, item) in doc.paths.paths.iter_mut() {
            for (changes_state, operation) in operations(item) {
                complete(path == PUBLIC, changes_state, operation);
            }
        }
    }
}

/// Each operation of a path, with whether its verb changes state (needs the CSRF header).
fn operations(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    [
        (false, item.get.as_mut()),
        (true, item.post.as_mut()),
        (true, item.put.as_mut()),
        (true, item.patch.as_mut()),
        (true, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(changes, op)| op.map(|op| (changes, op)))
}

fn complete(public: bool, changes_state: bool, operation: &mut Operation) {
    operation.security = Some(if public {
        Vec::new()
    } else if changes_state {
        vec![
            SecurityRequirement::new(SESSION_SCHEME, Vec::<String>::new())
                .add(CSRF_SCHEME, Vec::<String>::new()),
        ]
    } else {
        vec![SecurityRequirement::new(
            SESSION_SCHEME,
            Vec::<String>::new(),
        )]
    });
    let has_body = operation.request_body.is_some();
    let common = [
        ("400", has_body),
        ("401", !public),
        ("403", changes_state && !public),
        ("413", has_body),
        ("429", true),
        ("500", true),
        ("503", true),
    ];
    let responses = &mut operation.responses.responses;
    for (status, applies) in common {
        if applies {
            responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::T(Response::new("")));
        }
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response {
            describe(status, changes_state && !public, response);
        }
    }
}

/// Fills in a response's description, error body and headers.
fn describe(status: &str, csrf: bool, response: &mut Response) {
    let error = status.starts_with('4') || status.starts_with('5');
    if response.description.is_empty() {
        response.description = standard_description(status).to_owned();
    }
    if status == "403" && csrf && !response.description.contains("csrf_failed") {
        response.description = format!(
            "{} Or `csrf_failed`: the X-CSRF-Token header is missing or wrong.",
            response.description
        );
    }
    if error && response.content.is_empty() {
        response.content.insert(
            "application/json".into(),
            Content::new(Some(Ref::from_schema_name(ERROR_BODY))),
        );
    }
    response.headers.insert(
        "X-Request-Id".into(),
        string_header(
            "The request's id: the client's own X-Request-Id when sane, else a fresh UUID.",
        ),
    );
    if status == "429" || status == "503" {
        response.headers.insert(
            "Retry-After".into(),
            integer_header("Seconds to wait before retrying."),
        );
    }
    if let Some(token) = response.headers.get_mut("X-Consistency-Token") {
        if token.description.is_none() {
            token.description = Some(
                "Opaque position of the command in the log; send it back on a query to read \
                 this effect."
                    .into(),
            );
        }
    }
}

fn standard_description(status: &str) -> &'static str {
    match status {
        "200" => "Done.",
        "201" => "Created.",
        "204" => "Done; no body.",
        "400" => {
            "`invalid_input`: malformed JSON, a missing or mistyped field, or a value \
                  outside its limits."
        }
        "401" => "`unauthenticated`: no session, or an expired or revoked one.",
        "403" => "`forbidden`: the caller's role or relation does not allow this.",
        "404" => "`not_found`: the named user or message does not exist.",
        "409" => "`conflict`: the state does not allow this.",
        "413" => "`payload_too_large`: the body is over the configured limit (default 64 KiB).",
        "429" => "`rate_limited`: the client IP's or user's bucket is empty; see Retry-After.",
        "500" => "`internal`: an unexpected error (logged with the request id; never detailed).",
        "503" => "`unavailable`: the database or a bounded wait is over its limit; retry later.",
        _ => "See docs/API.md.",
    }
}

fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Schema::Object(
            ObjectBuilder::new().schema_type(Type::String).build(),
        ))
        .description(Some(description))
        .build()
}

fn integer_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .build(),
        ))
        .description(Some(description))
        .build()
}
