//! Sends through the full HTTP path: session, CSRF, rate limits (raised out of the way),
//! validation, the messaging policy (directory look-ups) and the append to the event log.

use std::sync::Arc;

use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::client::Session;
use crate::data::{text, Population};
use crate::measurement::Measurement;
use crate::runner::{closed_loop, StepTiming};

/// The user of send client `i`: patients and clinicians alternate, heavy users first.
pub fn sender_of(population: &Population, i: usize) -> u32 {
    let half = u32::try_from(i / 2).unwrap_or(0);
    if i % 2 == 0 {
        half % population.patients
    } else {
        population.clinician(half)
    }
}

/// Whom `sender` writes to on its `n`-th send: a patient writes to another patient, a
/// clinician to one of their approved patients.
pub fn recipient_for(population: &Population, sender: u32, rng: &mut impl Rng) -> u32 {
    if sender < population.patients {
        let pick = rng.gen_range(0..population.patients);
        if pick == sender {
            (pick + 1) % population.patients
        } else {
            pick
        }
    } else {
        let count = population.patient_count(sender).max(1);
        population.patient_of(sender, rng.gen_range(0..count))
    }
}

/// The usernames the send clients log in as.
pub fn sender_names(population: &Population, clients: usize) -> Vec<String> {
    (0..clients)
        .map(|i| population.username(sender_of(population, i)))
        .collect()
}

/// `clients` concurrent senders (the first `clients` of `senders`) for one step.
pub async fn measure_sends(
    senders: &[Arc<Session>],
    population: &Population,
    clients: usize,
    timing: StepTiming,
    bar: &ProgressBar,
) -> Measurement {
    let senders: Arc<Vec<Arc<Session>>> = Arc::new(senders.iter().take(clients).cloned().collect());
    let population = Arc::new(population.clone());
    let step_seed = clients as u64;
    closed_loop(senders.len(), timing, bar, move |client, n| {
        let (senders, population) = (senders.clone(), population.clone());
        async move {
            let Some(session) = senders.get(client) else {
                return Err("no session".to_owned());
            };
            let mut rng = StdRng::seed_from_u64((step_seed << 48) ^ ((client as u64) << 32) ^ n);
            let sender = sender_of(&population, client);
            let recipient = population.username(recipient_for(&population, sender, &mut rng));
            let subject = text::subject(&mut rng);
            let content = text::content(&mut rng);
            session
                .send(&recipient, &subject, &content)
                .await
                .map(|_| ())
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::Role;

    #[test]
    fn every_planned_send_is_allowed_by_the_policy() {
        let population = Population::new(40, 1);
        let mut rng = StdRng::seed_from_u64(9);
        for i in 0..64 {
            let sender = sender_of(&population, i);
            for _ in 0..20 {
                let recipient = recipient_for(&population, sender, &mut rng);
                assert_ne!(sender, recipient);
                assert_eq!(population.role(recipient), Role::Patient);
                if population.role(sender) == Role::Clinician {
                    assert_eq!(population.clinician_of(recipient), sender);
                }
            }
        }
    }
}
