//! The SPA's own files from `WEB_DIR`, and nothing else that happens to sit there.
//!
//! The decision is taken on the decoded, normalized path, never on the raw one: `%65%32%65`,
//! `//e2e/…` and `./e2e/…` all name `e2e/`. A file is served only when every segment is a plain
//! name (no `..`, nothing starting with a dot), it is not under a test or tooling folder, and its
//! type is one the SPA is made of (HTML, JavaScript, CSS, images, fonts). Paths without an
//! extension are the SPA's own routes and get `index.html`; anything else is a 404 in the API's
//! envelope. READMEs, dotfiles, test files and package manifests are therefore never served.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use http_edge::ApiError;
use percent_encoding::percent_decode_str;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// Extensions of the files the SPA is made of.
const SERVED_EXTENSIONS: &[&str] = &[
    "html",
    "js",
    "css",
    "svg",
    "png",
    "ico",
    "webp",
    "woff2",
    "webmanifest",
];

/// Folders beside the SPA that are not part of it.
const HIDDEN_FOLDERS: &[&str] = &["e2e", "node_modules", "test", "tests"];

/// What a request path names under the web root.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A file of the SPA, relative to the web root.
    File(PathBuf),
    /// An SPA route: answer `index.html`.
    Index,
    /// Not something the gateway serves.
    NotServed,
}

/// Classifies a raw request path.
pub fn target(raw_path: &str) -> Target {
    let Ok(decoded) = percent_decode_str(raw_path).decode_utf8() else {
        return Target::NotServed;
    };
    let mut segments = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => continue,
            s if s.starts_with('.') || s.contains('\\') || s.contains('\0') => {
                return Target::NotServed
            }
            s => segments.push(s),
        }
    }
    let Some(last) = segments.last() else {
        return Target::Index;
    };
    if segments.iter().any(|s| HIDDEN_FOLDERS.contains(s)) {
        return Target::NotServed;
    }
    match Path::new(last).extension().and_then(|e| e.to_str()) {
        None => Target::Index,
        Some(ext) if SERVED_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) => {
            Target::File(segments.iter().collect())
        }
        Some(_) => Target::NotServed,
    }
}

/// The web root, for [`serve`].
#[derive(Debug, Clone)]
pub struct WebRoot(pub Arc<PathBuf>);

/// Answers a non-API path from the web root.
pub async fn serve(State(root): State<WebRoot>, request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return ApiError::MethodNotAllowed.into_response();
    }
    let file = match target(request.uri().path()) {
        Target::Index => root.0.join("index.html"),
        Target::File(relative) => root.0.join(relative),
        Target::NotServed => return not_found(),
    };
    // Only regular files: a symlink or folder of that name is not part of the SPA.
    match tokio::fs::symlink_metadata(&file).await {
        Ok(meta) if meta.is_file() => {}
        _ => return not_found(),
    }
    match ServeFile::new(&file).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

fn not_found() -> Response {
    ApiError::NotFound("no such page".into()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spa_files_are_served_whatever_the_spelling() {
        let file = |p: &str| Target::File(PathBuf::from(p));
        let cases = [
            ("/", Target::Index),
            ("/inbox", Target::Index),
            ("/conversation/alice", Target::Index),
            ("/js/main.js", file("js/main.js")),
            ("/js//views/inbox.js", file("js/views/inbox.js")),
            ("/styles.css", file("styles.css")),
            ("/%73tyles.css", file("styles.css")),
            ("/favicon.svg", file("favicon.svg")),
            ("/e2e/flows.test.mjs", Target::NotServed),
            ("/%65%32%65/mock-api.mjs", Target::NotServed),
            ("//e2e/package.json", Target::NotServed),
            ("/./e2e/mock-api.js", Target::NotServed),
            ("/js/../e2e/x.js", Target::NotServed),
            ("/%2e%2e/Cargo.toml", Target::NotServed),
            ("/README.md", Target::NotServed),
            ("/.gitignore", Target::NotServed),
            ("/.git/config", Target::NotServed),
            ("/js/%2Egit", Target::NotServed),
            ("/e2e/node_modules/x/index.js", Target::NotServed),
            ("/%ff.js", Target::NotServed),
        ];
        for (path, expected) in cases {
            assert_eq!(target(path), expected, "{path}");
        }
    }
}
