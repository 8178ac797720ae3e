//! The metadata every event carries: who, from where, as part of which request.

use std::collections::HashMap;

use http_edge::Caller;

/// `actor`, `role`, `request_id`, `correlation_id`, `client_ip`, `user_agent`.
pub fn event_metadata(caller: &Caller, correlation_id: Option<&str>) -> HashMap<String, String> {
    let client = &caller.client;
    let mut metadata = HashMap::from([
        ("actor".to_owned(), caller.username.clone()),
        ("role".to_owned(), caller.role.to_string()),
        ("request_id".to_owned(), client.request_id.clone()),
        (
            "correlation_id".to_owned(),
            correlation_id.unwrap_or(&client.request_id).to_owned(),
        ),
        ("client_ip".to_owned(), client.ip.to_string()),
    ]);
    if let Some(agent) = &client.user_agent {
        metadata.insert("user_agent".to_owned(), agent.clone());
    }
    metadata
}
