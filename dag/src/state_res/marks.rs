//! Per-resolution scratch marks over interned events that are cleared in O(1).
//!
//! A resolver lives across many resolutions of a growing room; allocating or zeroing a set the
//! size of the room for each of them would make a DAG walk quadratic. Each mark is instead the
//! number of the pass that set it.

#[derive(Debug)]
pub(crate) struct Marks {
    stamps: Vec<u32>,
    /// Never 0, so that fresh stamps are unmarked.
    pass: u32,
}

impl Default for Marks {
    fn default() -> Self {
        Marks {
            stamps: Vec::new(),
            pass: 1,
        }
    }
}

impl Marks {
    /// Forgets every mark.
    pub(crate) fn clear(&mut self) {
        self.pass = self.pass.wrapping_add(1);
        if self.pass == 0 {
            self.stamps.iter_mut().for_each(|stamp| *stamp = 0);
            self.pass = 1;
        }
    }

    /// Marks `index`; returns whether it was unmarked before.
    pub(crate) fn insert(&mut self, index: u32) -> bool {
        let slot = index as usize;
        if slot >= self.stamps.len() {
            self.stamps.resize(slot + 1, 0);
        }
        let fresh = self.stamps[slot] != self.pass;
        self.stamps[slot] = self.pass;
        fresh
    }

    pub(crate) fn contains(&self, index: u32) -> bool {
        self.stamps.get(index as usize) == Some(&self.pass)
    }
}

/// A map from interned events to small values, cleared in O(1) like [`Marks`].
#[derive(Debug, Default)]
pub(crate) struct Slots {
    marks: Marks,
    values: Vec<u32>,
}

impl Slots {
    pub(crate) fn clear(&mut self) {
        self.marks.clear();
    }

    pub(crate) fn get(&self, index: u32) -> Option<u32> {
        self.marks
            .contains(index)
            .then(|| self.values[index as usize])
    }

    pub(crate) fn set(&mut self, index: u32, value: u32) {
        self.marks.insert(index);
        let slot = index as usize;
        if slot >= self.values.len() {
            self.values.resize(slot + 1, 0);
        }
        self.values[slot] = value;
    }
}
