//! What a user's next request refers to by a random id and the server keeps in memory only, for
//! a while: search uploads, and the state an undo puts back. Each entry belongs to the user who
//! made it; entries expire, the oldest goes first when the holder is full, and all of a user's
//! go at sign-out. Nothing is written to disk, and nothing the client sends back is trusted but
//! the id.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::UserId;

pub struct Held<T> {
    entries: Mutex<Vec<Entry<T>>>,
    keep: Duration,
    max: usize,
}

struct Entry<T> {
    id: String,
    owner: UserId,
    at: Instant,
    value: Arc<T>,
}

impl<T> Held<T> {
    pub fn new(keep: Duration, max: usize) -> Held<T> {
        Held { entries: Mutex::new(Vec::new()), keep, max }
    }

    fn live(&self) -> MutexGuard<'_, Vec<Entry<T>>> {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|e| e.at.elapsed() < self.keep);
        entries
    }

    /// A new id: a random secret, so that one user cannot guess another's.
    pub fn new_id() -> String {
        crate::app::users::random_secret()
    }

    /// Keeps `value` for `owner` under `id` (from [`Held::new_id`]).
    pub fn add(&self, owner: UserId, id: String, value: T) -> Arc<T> {
        let value = Arc::new(value);
        let mut entries = self.live();
        if entries.len() >= self.max {
            entries.remove(0);
        }
        entries.push(Entry { id, owner, at: Instant::now(), value: value.clone() });
        value
    }

    pub fn get(&self, id: &str, owner: UserId) -> Option<Arc<T>> {
        self.live().iter().find(|e| e.id == id && e.owner == owner).map(|e| e.value.clone())
    }

    /// Gets and drops it, when `wanted` accepts it: for what may be used once, and only where
    /// it was offered (an entry `wanted` refuses stays).
    pub fn take_if(&self, id: &str, owner: UserId, wanted: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        let mut entries = self.live();
        let at = entries.iter().position(|e| e.id == id && e.owner == owner && wanted(&e.value))?;
        Some(entries.remove(at).value)
    }

    /// Drops everything of `owner` (at sign-out).
    pub fn forget(&self, owner: UserId) {
        self.live().retain(|e| e.owner != owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_their_owners_expire_and_are_taken_once() {
        let held = Held::new(Duration::from_millis(200), 2);
        let add = |owner: i64, v: &'static str| {
            let id = Held::<&str>::new_id();
            held.add(UserId(owner), id.clone(), v);
            id
        };
        let a = add(1, "a");
        assert!(held.get(&a, UserId(2)).is_none(), "another user's entry");
        assert_eq!(held.get(&a, UserId(1)).as_deref(), Some(&"a"));
        assert!(held.take_if(&a, UserId(1), |v| *v == "other").is_none(), "refused");
        assert_eq!(held.take_if(&a, UserId(1), |_| true).as_deref(), Some(&"a"), "a refusal leaves it");
        assert!(held.take_if(&a, UserId(1), |_| true).is_none(), "taken twice");
        let (b, c, d) = (add(1, "b"), add(2, "c"), add(2, "d"));
        assert!(held.get(&b, UserId(1)).is_none(), "the oldest goes when full");
        held.forget(UserId(2));
        assert!(held.get(&c, UserId(2)).is_none() && held.get(&d, UserId(2)).is_none());
        let e = add(1, "e");
        std::thread::sleep(Duration::from_millis(250));
        assert!(held.get(&e, UserId(1)).is_none(), "expired");
    }
}
