//! The OpenAPI document as a client generator meets it: fetched from the real router, checked
//! against what `docs/API.md` promises (security, every status with its description and error
//! body, the common headers, the input limits). deploy/schemathesis.sh validates the same
//! document against the OpenAPI 3.1 schema and fuzzes the running gateway with it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

mod support;

use support::router;

async fn document(pool: PgPool) -> Value {
    let response = router(pool)
        .oneshot(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("the document is JSON")
}

/// `(path, method, operation)` of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            all.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    assert!(all.len() >= 20, "only {} operations", all.len());
    all
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "schema {name} missing");
    schema
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_session_cookie_and_csrf_header_are_security_schemes_required_by_every_call_but_login(
    pool: PgPool,
) {
    let doc = document(pool).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "hs_session");
    assert_eq!(schemes["csrf"]["in"], "header");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    let not_allowed = &doc["components"]["responses"]["MethodNotAllowed"];
    assert_eq!(
        not_allowed["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    for (path, method, operation) in operations(&doc) {
        let expected = match (path.as_str(), method.as_str()) {
            ("/api/auth/login", _) => serde_json::json!([]),
            (_, "get") => serde_json::json!([{"session": []}]),
            _ => serde_json::json!([{"session": [], "csrf": []}]),
        };
        assert_eq!(operation["security"], expected, "{method} {path}");
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_operation_documents_each_status_it_can_answer_with_a_description_and_the_error_body(
    pool: PgPool,
) {
    let doc = document(pool).await;
    for (path, method, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().expect("responses");
        let public = path == "/api/auth/login";
        let mut expected = vec!["429", "500", "503", "401"];
        if method != "get" && !public {
            expected.push("403");
        }
        if operation["requestBody"].is_object() {
            expected.extend(["400", "413"]);
        }
        for status in expected {
            assert!(responses.contains_key(status), "{method} {path}: {status}");
        }
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no success"
        );
        for (status, response) in responses {
            let description = response["description"].as_str().unwrap_or_default();
            assert!(
                description.len() > 3,
                "{method} {path} {status}: no description"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            if status == "403" && method != "get" && !public {
                assert!(description.contains("csrf_failed"), "{method} {path}");
            }
        }
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_answer_has_x_request_id_and_429_and_503_have_retry_after(pool: PgPool) {
    let doc = document(pool).await;
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            let headers = &response["headers"];
            assert!(
                headers["X-Request-Id"]["schema"].is_object(),
                "{method} {path} {status}"
            );
            if status == "429" || status == "503" {
                assert_eq!(
                    headers["Retry-After"]["schema"]["type"], "integer",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn commands_answer_a_consistency_token_queries_accept_it_and_sends_take_an_idempotency_key(
    pool: PgPool,
) {
    let doc = document(pool).await;
    let commands = [
        ("/api/messages/send", "post", "201"),
        ("/api/messages/{id}/reply", "post", "201"),
        ("/api/clinician/message", "post", "201"),
        ("/api/messages/{id}/read", "patch", "200"),
        ("/api/messages/conversation/{user}/read", "post", "200"),
        ("/api/messages/{id}", "delete", "204"),
        ("/api/admin/messages/{id}/restore", "post", "200"),
    ];
    for (path, method, status) in commands {
        let token =
            &doc["paths"][path][method]["responses"][status]["headers"]["X-Consistency-Token"];
        assert!(token["description"].is_string(), "{method} {path}");
    }
    let header_params = |path: &str, method: &str| -> Vec<Value> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p["in"] == "header")
            .collect()
    };
    for path in [
        "/api/messages/inbox",
        "/api/messages/sent",
        "/api/messages/conversation/{user}",
        "/api/messages/search",
        "/api/messages/unread-count",
        "/api/clinician/patients",
        "/api/admin/messages/deleted",
        "/api/audit/log",
    ] {
        let params = header_params(path, "get");
        assert!(
            params.iter().any(|p| p["name"] == "X-Consistency-Token"),
            "{path}"
        );
    }
    for path in [
        "/api/messages/send",
        "/api/messages/{id}/reply",
        "/api/clinician/message",
    ] {
        let params = header_params(path, "post");
        let key = params
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap_or_else(|| panic!("{path}: no Idempotency-Key"));
        assert_eq!(key["schema"]["maxLength"], 128, "{path}");
        assert_eq!(key["schema"]["minLength"], 1, "{path}");
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn inputs_carry_the_contract_limits_and_closed_sets_are_enums(pool: PgPool) {
    let doc = document(pool).await;
    let username = "^[a-z0-9_.-]{1,64}$";
    let send = &schema(&doc, "SendBody")["properties"];
    assert_eq!(send["recipient"]["pattern"], username);
    assert_eq!(send["subject"]["maxLength"], 255);
    assert_eq!(send["content"]["minLength"], 1);
    assert_eq!(send["content"]["maxLength"], 10000);
    let clinician = &schema(&doc, "ClinicianMessageBody")["properties"];
    assert_eq!(clinician["recipient_username"]["pattern"], username);
    assert_eq!(clinician["message"]["maxLength"], 10000);
    let reply = &schema(&doc, "ReplyBody")["properties"];
    assert_eq!(reply["content"]["minLength"], 1);
    assert_eq!(reply["subject"]["maxLength"], 255);
    let new_user = &schema(&doc, "NewUserBody")["properties"];
    assert_eq!(new_user["username"]["pattern"], username);
    assert_eq!(new_user["role"]["$ref"], "#/components/schemas/Role");
    let approval = &schema(&doc, "ApprovalBody")["properties"];
    assert_eq!(approval["clinician"]["pattern"], username);
    assert_eq!(
        approval["status"]["$ref"],
        "#/components/schemas/ApprovalStatus"
    );
    assert_eq!(
        schema(&doc, "Role")["enum"],
        serde_json::json!(["patient", "clinician", "admin", "auditor"])
    );
    assert_eq!(
        schema(&doc, "ApprovalStatus")["enum"],
        serde_json::json!(["approved", "revoked"])
    );
    for (name, property) in [
        ("LoginResponse", "role"),
        ("MeResponse", "role"),
        ("UserResponse", "role"),
        ("ConversationSummary", "with_role"),
        ("AccessLogEntry", "role"),
    ] {
        assert_eq!(
            schema(&doc, name)["properties"][property]["$ref"],
            "#/components/schemas/Role",
            "{name}.{property}"
        );
    }
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{path}: no {name}"))
    };
    let limit = param("/api/messages/inbox", "limit");
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&serde_json::json!(1), &serde_json::json!(100))
    );
    let q = param("/api/messages/search", "q");
    assert_eq!(q["required"], true);
    assert_eq!(
        (&q["schema"]["minLength"], &q["schema"]["maxLength"]),
        (&serde_json::json!(1), &serde_json::json!(200))
    );
    let user = param("/api/messages/conversation/{user}", "user");
    assert_eq!(user["schema"]["pattern"], username);
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_sent_list_and_the_send_answer_have_their_own_schemas(pool: PgPool) {
    let doc = document(pool).await;
    let answer = |path: &str, method: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .map(|r| r.trim_start_matches("#/components/schemas/").to_owned())
            .unwrap_or_else(|| panic!("{method} {path}: no schema"))
    };
    let list = answer("/api/messages/sent", "get", "200");
    let sent = answer("/api/messages/send", "post", "201");
    assert_ne!(list, sent);
    assert!(schema(&doc, &list)["properties"]["messages"].is_object());
    assert!(schema(&doc, &sent)["properties"]["message_id"].is_object());
}

/// Every `$ref` names something the document defines.
fn dangling(value: &Value, doc: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.trim_start_matches('#');
                if doc.pointer(pointer).is_none() {
                    found.push(target.clone());
                }
            }
            map.values().for_each(|v| dangling(v, doc, found));
        }
        Value::Array(items) => items.iter().for_each(|v| dangling(v, doc, found)),
        _ => {}
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_reference_in_the_document_resolves(pool: PgPool) {
    let doc = document(pool).await;
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    let mut found = Vec::new();
    dangling(&doc, &doc, &mut found);
    assert!(found.is_empty(), "dangling references: {found:?}");
}
