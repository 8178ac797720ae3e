//! Session endpoints and the layers every service router gets.

use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use serde::{Deserialize, Serialize};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::client::{request_id_layer, ClientInfo};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::sessions::cookie_name;
use crate::Edge;

/// `POST /api/auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

/// `POST /api/auth/login` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub username: String,
    pub role: String,
    pub display_name: String,
    pub csrf_token: String,
}

/// `GET /api/auth/me` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub username: String,
    pub role: String,
    pub display_name: String,
}

/// `GET /api/csrf-token` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CsrfTokenBody {
    pub csrf_token: String,
}

/// Log in: a session cookie and the session's CSRF token.
#[utoipa::path(post, path = "/api/auth/login", tag = "sessions", request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in: the `hs_session` cookie is set (HttpOnly, SameSite=Lax; Secure \
            when configured) and the body carries the session's CSRF token.", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "`hs_session=...; Path=/; HttpOnly; SameSite=Lax`"))),
        (status = 400, body = crate::ErrorBody, description = "`invalid_input`: malformed JSON or a missing field."),
        (status = 401, body = crate::ErrorBody,
            description = "`unauthenticated`: wrong username or password (the same answer for both).")))]
pub async fn login(
    State(edge): State<Edge>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    edge.take_ip(client.ip).await?;
    edge.take_login(&body.username, client.ip)?;
    let throttle = &edge.login_throttle;
    let pool = edge.sessions.pool().clone();
    let Some(user) = accounts::authenticate(&pool, &body.username, &body.password).await? else {
        throttle.failed(&body.username, client.ip, std::time::Instant::now());
        tracing::info!(ip = %client.ip, "login failed");
        return Err(ApiError::BadCredentials);
    };
    throttle.succeeded(&body.username);
    let (token, csrf_token) = edge.sessions.create(&user.username).await?;
    tracing::info!(user = %user.username, "login");
    let cookie = session_cookie_header(&edge, &token, edge.settings.session_ttl.as_secs())?;
    let body = LoginResponse {
        username: user.username,
        role: user.role.to_string(),
        display_name: user.display_name,
        csrf_token,
    };
    Ok(([(header::SET_COOKIE, cookie)], ApiJson(body)).into_response())
}

fn session_cookie_header(edge: &Edge, value: &str, max_age: u64) -> Result<HeaderValue, ApiError> {
    let secure = if edge.settings.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let name = cookie_name(edge.settings.cookie_secure);
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .map_err(ApiError::internal)
}

/// Log out: the session is revoked server-side and the cookie cleared.
#[utoipa::path(post, path = "/api/auth/logout", tag = "sessions",
    responses((status = 204, description = "Logged out: the session is revoked server-side and the cookie cleared.",
        headers(("Set-Cookie" = String, description = "`hs_session=; Max-Age=0`")))))]
pub async fn logout(State(edge): State<Edge>, caller: Caller) -> Result<Response, ApiError> {
    let revoked = edge.sessions.revoke(&caller.session_token).await?;
    // Ended on every instance before the answer says so.
    edge.changes.propagate(edge.sessions.pool(), &revoked).await;
    let cookie = session_cookie_header(&edge, "", 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Who the session belongs to.
#[utoipa::path(get, path = "/api/auth/me", tag = "sessions",
    responses((status = 200, description = "The session's user.", body = MeResponse)))]
pub async fn me(caller: Caller) -> ApiJson<MeResponse> {
    ApiJson(MeResponse {
        username: caller.username,
        role: caller.role.to_string(),
        display_name: caller.display_name,
    })
}

/// The CSRF token bound to this session.
#[utoipa::path(get, path = "/api/csrf-token", tag = "sessions",
    responses((status = 200, description = "The CSRF token bound to this session.", body = CsrfTokenBody)))]
pub async fn csrf_token(caller: Caller) -> ApiJson<CsrfTokenBody> {
    ApiJson(CsrfTokenBody {
        csrf_token: caller.csrf_token,
    })
}

/// Login and logout (state-changing: served by the command side).
pub fn session_command_routes<S>() -> Router<S>
where
    Edge: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
}

/// `me` and the CSRF token (reads: served by the query side).
pub fn session_query_routes<S>() -> Router<S>
where
    Edge: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/auth/me", get(me))
        .route("/api/csrf-token", get(csrf_token))
}

/// Answers `404 not_found` in the envelope (for unknown API paths).
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::Internal("handler panicked".into()).into_response()
}

/// Unknown paths and wrong methods answer in the envelope (404, 405). The gateway, which also
/// serves the SPA, sets its own fallback instead.
pub fn api_fallbacks(router: Router) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The layers every public router gets, once: JSON 405, the body limit (413), panics as
/// opaque 500s, request ids, and a trace span per request named by its matched route.
pub fn common_layers(router: Router, body_limit_bytes: usize) -> Router {
    router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(crate::metrics::record_request))
        .layer(middleware::from_fn(request_id_layer))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    route,
                    request_id = tracing::field::Empty,
                    user = tracing::field::Empty,
                )
            }),
        )
}
