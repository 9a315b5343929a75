//! A bounded cache that keeps recently used entries: two generations of at most `capacity / 2`
//! entries each. Lookups promote an entry from the old generation to the young one; when the
//! young generation is full it becomes the old one and the previous old one is dropped. Every
//! operation is O(1) and memory never exceeds `capacity` entries.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
pub struct RecentCache<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    generation_size: usize,
}

impl<K: Hash + Eq, V: Clone> RecentCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        RecentCache {
            young: HashMap::new(),
            old: HashMap::new(),
            generation_size: (capacity / 2).max(1),
        }
    }

    pub fn get<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(value) = self.young.get(key) {
            return Some(value.clone());
        }
        let (key, value) = self.old.remove_entry(key)?;
        self.insert(key, value.clone());
        Some(value)
    }

    pub fn insert(&mut self, key: K, value: V) {
        if self.young.len() >= self.generation_size && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }

    pub fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.young.remove(key);
        self.old.remove(key);
    }

    pub fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_capacity_and_keeps_what_is_used() {
        let mut cache = RecentCache::new(4);
        for key in 0..100 {
            cache.insert(key, key * 10);
            assert_eq!(cache.get(&0), Some(0), "a hot entry stays");
            assert!(cache.len() <= 4);
        }
        assert_eq!(cache.get(&99), Some(990));
        assert_eq!(cache.get(&50), None);
    }

    #[test]
    fn remove_and_clear_forget_entries() {
        let mut cache = RecentCache::new(8);
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.remove("a");
        assert_eq!(cache.get("a"), None);
        cache.clear();
        assert_eq!(cache.get("b"), None);
    }
}
