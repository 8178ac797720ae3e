//! Subjects and contents that read like messages, with topic words the search measurement
//! looks for (each topic word appears in a fair share of messages).

use rand::seq::SliceRandom;
use rand::Rng;

/// Words that searches look for: every message mentions one or two of them.
pub const TOPICS: &[&str] = &[
    "appointment",
    "medication",
    "sleep",
    "anxiety",
    "budget",
    "therapy",
    "exercise",
    "journal",
    "family",
    "breathing",
    "panic",
    "mood",
    "insurance",
    "progress",
    "session",
    "weekend",
];

const FILLER: &[&str] = &[
    "i",
    "you",
    "we",
    "the",
    "a",
    "and",
    "but",
    "so",
    "about",
    "today",
    "yesterday",
    "tomorrow",
    "felt",
    "feel",
    "better",
    "worse",
    "really",
    "quite",
    "tired",
    "calm",
    "talked",
    "tried",
    "noticed",
    "again",
    "after",
    "before",
    "work",
    "home",
    "walk",
    "morning",
    "evening",
    "night",
    "week",
    "plan",
    "notes",
    "questions",
    "thanks",
    "hope",
    "maybe",
    "could",
    "should",
    "next",
    "time",
    "helped",
    "started",
    "stopped",
    "doctor",
    "check",
    "in",
    "with",
    "for",
    "on",
    "was",
    "is",
    "it",
    "my",
    "your",
    "our",
    "some",
    "more",
    "less",
    "still",
    "good",
    "hard",
];

/// A subject of two to five words, capitalised, mentioning a topic.
pub fn subject(rng: &mut impl Rng) -> String {
    let topic = pick(rng, TOPICS);
    let words = rng.gen_range(1..=4);
    let mut text = String::new();
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(pick(rng, FILLER));
    }
    text.push(' ');
    text.push_str(topic);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// A content of 5 to about 120 words (most short), with one or two topic words.
pub fn content(rng: &mut impl Rng) -> String {
    let words = if rng.gen_bool(0.8) {
        rng.gen_range(5..30)
    } else {
        rng.gen_range(30..120)
    };
    let topics = [pick(rng, TOPICS), pick(rng, TOPICS)];
    let mut text = String::with_capacity(words * 7);
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        let word = if i == 2 || (i == words / 2 && rng.gen_bool(0.5)) {
            topics[i % 2]
        } else {
            pick(rng, FILLER)
        };
        text.push_str(word);
    }
    text.push('.');
    text
}

fn pick<'a>(rng: &mut impl Rng, words: &[&'a str]) -> &'a str {
    words.choose(rng).copied().unwrap_or("note")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn texts_fit_the_api_limits_and_mention_a_topic() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..500 {
            let s = subject(&mut rng);
            let c = content(&mut rng);
            assert!(events::limits::check_subject(Some(&s)).is_ok(), "{s}");
            assert!(events::limits::check_content(&c).is_ok(), "{c}");
            assert!(TOPICS.iter().any(|t| c.contains(t)), "{c}");
        }
    }
}
