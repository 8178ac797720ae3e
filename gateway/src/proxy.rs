//! Split mode: `/api/*` is forwarded to separately running services — reads (`GET`, `HEAD`) to
//! the query service, everything else to the command service — with the request id and the
//! client IP passed on (`X-Request-Id`, `X-Forwarded-For`; the services must list the gateway in
//! `TRUSTED_PROXIES`). Answers stream through as they come (Server-Sent Events included); a
//! `text/event-stream` answer ends when the gateway starts to stop, so that its client
//! reconnects (to another instance, or after the restart) instead of holding the shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::uri::{Authority, Scheme};
use axum::http::{header, HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use http_edge::ApiError;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

/// Where split mode sends requests.
#[derive(Clone)]
pub struct Upstreams {
    commands: (Scheme, Authority),
    queries: (Scheme, Authority),
    trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    client: Client<HttpConnector, Body>,
    /// Cancelled when the gateway starts to stop: proxied event streams end then.
    stopping: CancellationToken,
}

/// An upstream address is not an `http://host:port` URL.
#[derive(Debug, thiserror::Error)]
#[error("upstream `{0}` must be an http://host:port URL")]
pub struct BadUpstream(String);

fn parse_upstream(url: &str) -> Result<(Scheme, Authority), BadUpstream> {
    let uri: Uri = url.parse().map_err(|_| BadUpstream(url.to_owned()))?;
    match (uri.scheme(), uri.authority()) {
        (Some(scheme), Some(authority)) if *scheme == Scheme::HTTP => {
            Ok((scheme.clone(), authority.clone()))
        }
        _ => Err(BadUpstream(url.to_owned())),
    }
}

impl Upstreams {
    /// Upstreams at the given `http://host:port` URLs.
    pub fn new(
        commands: &str,
        queries: &str,
        trusted_proxies: Vec<std::net::IpAddr>,
    ) -> Result<Self, BadUpstream> {
        Ok(Self {
            commands: parse_upstream(commands)?,
            queries: parse_upstream(queries)?,
            trusted_proxies: Arc::new(trusted_proxies),
            client: Client::builder(TokioExecutor::new()).build_http(),
            stopping: CancellationToken::new(),
        })
    }

    /// The signal that ends proxied event streams (cancel it when the gateway stops).
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }
}

/// Whether an answer is a Server-Sent Events stream.
fn is_event_stream(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwards one request to its upstream.
pub async fn forward(State(upstreams): State<Upstreams>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let client_ip = http_edge::client_ip(peer, request.headers(), &upstreams.trusted_proxies);
    let (mut parts, body) = request.into_parts();
    let (scheme, authority) = if matches!(parts.method, Method::GET | Method::HEAD) {
        upstreams.queries.clone()
    } else {
        upstreams.commands.clone()
    };
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| axum::http::uri::PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme(scheme)
        .authority(authority.clone())
        .path_and_query(path)
        .build();
    let Ok(uri) = uri else {
        return ApiError::InvalidInput("malformed request target".into()).into_response();
    };
    parts.uri = uri;
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
        parts.headers.insert(header::HOST, host);
    }
    if let Ok(ip) = HeaderValue::from_str(&client_ip.to_string()) {
        parts
            .headers
            .insert(HeaderName::from_static("x-forwarded-for"), ip);
    }
    match upstreams
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(name);
            }
            let body = if is_event_stream(&parts.headers) {
                let stopping = upstreams.stopping.clone().cancelled_owned();
                Body::from_stream(futures::StreamExt::take_until(
                    Body::new(body).into_data_stream(),
                    stopping,
                ))
            } else {
                Body::new(body)
            };
            Response::from_parts(parts, body)
        }
        Err(err) => {
            tracing::warn!(error = %err, "upstream unreachable");
            ApiError::Unavailable.into_response()
        }
    }
}
