//! A bounded set of recently seen keys: the oldest is forgotten first. Used
//! where remembering "recently" is enough and remembering forever would grow
//! without bound (message ids for de-duplication, cancelled request ids).

use std::collections::{HashSet, VecDeque};

#[derive(Debug)]
pub(crate) struct Recent {
    capacity: usize,
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Recent {
    pub(crate) fn new(capacity: usize) -> Self {
        Recent {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Records `key`; false if it was already recorded.
    pub(crate) fn insert(&mut self, key: &str) -> bool {
        if self.set.contains(key) {
            return false;
        }
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(key.to_owned());
        self.set.insert(key.to_owned());
        true
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let mut r = Recent::new(3);
        for k in ["a", "b", "c", "d"] {
            assert!(r.insert(k));
        }
        assert!(!r.contains("a"), "the oldest was forgotten");
        assert!(!r.insert("c"));
        assert!(r.insert("a"));
        assert_eq!(r.set.len(), 3);
    }
}
