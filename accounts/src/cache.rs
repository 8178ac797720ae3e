//! A bounded in-process cache that answers from memory only while it hears every change.
//!
//! A cache is *live* while its process listens for account changes ([`crate::changes`]) and
//! *dark* otherwise: dark, it is empty and every look-up goes to the database. A value read
//! from the database is stored only if no invalidation arrived while it was read: the reader
//! takes a [`Ticket`] before its query, and [`Cache::insert`] refuses the value when an
//! invalidation (or a change of liveness) came in since, because the value may predate it.
//! Invalidations arrive after the change committed, so a value stored under a valid ticket was
//! read after every change that has been announced so far.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// At most `capacity` values by key, kept correct by invalidation.
#[derive(Debug)]
pub struct Cache<K, V> {
    /// The `cache` label of its metrics.
    name: &'static str,
    capacity: usize,
    state: Mutex<State<K, V>>,
}

#[derive(Debug)]
struct State<K, V> {
    entries: HashMap<K, V>,
    /// Bumped by every invalidation and every change of liveness.
    generation: u64,
    live: bool,
}

/// Taken before a database read: the value read may be stored only if nothing was invalidated
/// since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl<K: Eq + Hash + Clone, V: Clone> Cache<K, V> {
    /// An empty, dark cache of at most `capacity` values (0 never stores anything).
    pub fn new(name: &'static str, capacity: usize) -> Self {
        Self {
            name,
            capacity,
            state: Mutex::new(State {
                entries: HashMap::new(),
                generation: 0,
                live: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<K, V>> {
        // Nothing panics while holding the lock; should it ever, the map is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of `key`, when the cache is live and holds it.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_if(key, |_| true)
    }

    /// The value of `key` when the cache is live, holds it, and it is still `usable`; one that
    /// is not is dropped (a miss).
    pub fn get_if<Q>(&self, key: &Q, usable: impl Fn(&V) -> bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (found, outcome) = {
            let mut state = self.state();
            if !state.live || self.capacity == 0 {
                (None, "bypass")
            } else {
                match state.entries.get(key) {
                    Some(value) if usable(value) => (Some(value.clone()), "hit"),
                    Some(_) => {
                        // Nothing changed, it only aged: no invalidation.
                        state.entries.remove(key);
                        (None, "miss")
                    }
                    None => (None, "miss"),
                }
            }
        };
        metrics::counter!("account_cache_lookups_total", "cache" => self.name, "outcome" => outcome)
            .increment(1);
        found
    }

    /// A ticket for a database read whose result may be stored; `None` while the cache is dark
    /// (or has no room at all).
    pub fn ticket(&self) -> Option<Ticket> {
        let state = self.state();
        (state.live && self.capacity > 0).then_some(Ticket(state.generation))
    }

    /// Stores `value` read under `ticket`; refused (false) when anything was invalidated since
    /// the ticket was taken. A full cache first drops one entry.
    pub fn insert(&self, ticket: Ticket, key: K, value: V) -> bool {
        let mut state = self.state();
        if !state.live || state.generation != ticket.0 || self.capacity == 0 {
            return false;
        }
        if state.entries.len() >= self.capacity && !state.entries.contains_key(&key) {
            // Any entry will do: a wrong guess costs one database read later.
            if let Some(victim) = state.entries.keys().next().cloned() {
                state.entries.remove(&victim);
            }
        }
        state.entries.insert(key, value);
        true
    }

    /// Forgets `key` because its truth changed.
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut state = self.state();
        state.generation += 1;
        state.entries.remove(key);
    }

    /// Forgets every entry for which `changed` holds, because their truth changed.
    pub fn invalidate_where(&self, changed: impl Fn(&K, &V) -> bool) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.retain(|key, value| !changed(key, value));
    }

    /// Empties the cache and answers nothing from memory until [`Cache::go_live`].
    pub fn go_dark(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.live = false;
        state.entries.clear();
    }

    /// Starts answering from memory again, empty.
    pub fn go_live(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.live = true;
        state.entries.clear();
    }

    /// Whether look-ups may be answered from memory.
    pub fn is_live(&self) -> bool {
        self.state().live
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(capacity: usize) -> Cache<String, u32> {
        let cache = Cache::new("test", capacity);
        cache.go_live();
        cache
    }

    #[test]
    fn a_dark_cache_stores_and_answers_nothing() {
        let cache: Cache<String, u32> = Cache::new("test", 10);
        assert_eq!(cache.ticket(), None);
        let cache = live(10);
        let ticket = cache.ticket().expect("live");
        assert!(cache.insert(ticket, "a".into(), 1));
        cache.go_dark();
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.ticket(), None);
        assert!(!cache.insert(ticket, "a".into(), 1));
        cache.go_live();
        assert_eq!(cache.get("a"), None, "back live, but empty");
    }

    #[test]
    fn a_value_read_before_an_invalidation_is_not_stored() {
        let cache = live(10);
        let before = cache.ticket().expect("live");
        cache.invalidate("a");
        assert!(
            !cache.insert(before, "a".into(), 1),
            "may predate the change"
        );
        let after = cache.ticket().expect("live");
        assert!(cache.insert(after, "a".into(), 2));
        assert_eq!(cache.get("a"), Some(2));
    }

    #[test]
    fn losing_and_regaining_the_listener_refuses_reads_from_before() {
        let cache = live(10);
        let before = cache.ticket().expect("live");
        cache.go_dark();
        cache.go_live();
        assert!(!cache.insert(before, "a".into(), 1));
    }

    #[test]
    fn an_aged_value_is_dropped_without_refusing_reads_in_flight() {
        let cache = live(10);
        let ticket = cache.ticket().expect("live");
        assert!(cache.insert(ticket, "old".into(), 1));
        assert_eq!(cache.get_if("old", |value| *value > 1), None);
        assert!(cache.is_empty());
        assert!(
            cache.insert(ticket, "a".into(), 1),
            "nothing was invalidated"
        );
    }

    #[test]
    fn invalidation_by_predicate_keeps_the_rest() {
        let cache = live(10);
        let ticket = cache.ticket().expect("live");
        for (key, value) in [("a", 1), ("b", 2), ("c", 1)] {
            assert!(cache.insert(ticket, key.into(), value));
        }
        cache.invalidate_where(|_, value| *value == 1);
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b"), Some(2));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_size_is_bounded_and_zero_stores_nothing() {
        let cache = live(3);
        for i in 0..100u32 {
            let ticket = cache.ticket().expect("live");
            assert!(cache.insert(ticket, i.to_string(), i));
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get("99"), Some(99), "the newest value is kept");
        let none = live(0);
        assert_eq!(none.ticket(), None);
        assert!(none.is_empty());
    }
}
