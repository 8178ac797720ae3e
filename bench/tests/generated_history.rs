//! The generated history is one a live system could have written: every aggregate's sequence
//! runs 1, 2, 3.. in log order, a message's follow-ups and replies come after it, and every
//! message respects the messaging policy.

use std::collections::HashMap;

use bench::data::{Generator, Population};
use chrono::Utc;
use events::{MessageEvent, Role};
use uuid::Uuid;

#[test]
fn the_generated_log_is_in_order_and_within_the_policy() {
    let population = Population::new(60, 1);
    let events: Vec<_> = Generator::new(population.clone(), 3_000, 5, Utc::now()).collect();
    let mut next_sequence: HashMap<Uuid, i64> = HashMap::new();
    let mut replies = 0;
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    let mut last_at = None;
    for generated in &events {
        let id = generated.event.message_id();
        let expected = next_sequence.get(&id).copied().unwrap_or(1);
        assert_eq!(generated.sequence, expected, "{:?}", generated.event);
        next_sequence.insert(id, expected + 1);
        assert!(
            last_at.is_none_or(|t| t <= generated.at),
            "log not in time order"
        );
        last_at = Some(generated.at);
        *kinds.entry(generated.event.name()).or_default() += 1;
        if let MessageEvent::MessageSent {
            sender,
            sender_role,
            recipient,
            recipient_role,
            parent_message_id,
            ..
        } = &generated.event
        {
            assert_ne!(sender, recipient);
            if let Some(parent) = parent_message_id {
                assert!(
                    next_sequence.contains_key(parent),
                    "reply before its parent"
                );
                replies += 1;
            } else if *sender_role == Role::Patient {
                assert_eq!(*recipient_role, Role::Patient, "a patient started a thread");
            } else if *recipient_role == Role::Patient {
                let clinician = population.patients + sender[1..].parse::<u32>().unwrap_or(0);
                let patient: u32 = recipient[1..].parse().unwrap_or(u32::MAX);
                assert_eq!(population.clinician_of(patient), clinician, "not approved");
            }
        }
    }
    assert_eq!(kinds.get("MessageSent").copied(), Some(3_000));
    assert!(replies > 300, "{replies} replies");
    for kind in [
        "MessageRead",
        "MessageDeletedBySender",
        "MessageDeletedByRecipient",
        "MessageHidden",
    ] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind}");
    }
}

#[test]
fn the_same_seed_gives_the_same_history() {
    let population = Population::new(30, 1);
    let end = Utc::now();
    let a: Vec<_> = Generator::new(population.clone(), 200, 1, end)
        .map(|e| e.event)
        .collect();
    let b: Vec<_> = Generator::new(population, 200, 1, end)
        .map(|e| e.event)
        .collect();
    assert_eq!(a, b);
}
