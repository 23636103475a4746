//! A table whose places are filled on first use, from several threads at once.
//!
//! What lets a reader open in constant time: its chunk tables are made empty, and each
//! chunk is looked up (and checked) the first time a search needs it. The table is two
//! levels deep, so that making one allocates only a small array of segments (one per
//! [`SEGMENT`] places) rather than a place per chunk; a segment is allocated on the first
//! use of one of its places. A read of a filled place is two loads and two branches.

use std::sync::OnceLock;

/// Places per segment.
const SEGMENT: usize = 256;

/// [`SEGMENT`] places (fewer in the last segment), allocated on first use.
type Segment<V> = OnceLock<Box<[OnceLock<V>]>>;

/// A table of `len` places, each set at most once.
pub struct LazyTable<V> {
    segments: Box<[Segment<V>]>,
    len: usize,
}

impl<V> LazyTable<V> {
    /// An empty table of `len` places (allocates `len / 256` segment pointers).
    pub fn new(len: usize) -> Self {
        let segments = (0..len.div_ceil(SEGMENT))
            .map(|_| OnceLock::new())
            .collect();
        LazyTable { segments, len }
    }

    /// The number of places.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The value in `place`, if it was set.
    #[inline(always)]
    pub fn get(&self, place: usize) -> Option<&V> {
        let segment = self.segments.get(place / SEGMENT)?.get()?;
        segment.get(place % SEGMENT)?.get()
    }

    /// The value in `place` (out of range: `None`), made by `make` if the place is empty.
    /// Threads that race to fill one place may each run `make`; the first value stored
    /// wins and every caller gets it. An error leaves the place empty.
    pub fn get_or_try_set<E>(
        &self,
        place: usize,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<Option<&V>, E> {
        let Some(cell) = self.cell(place) else {
            return Ok(None);
        };
        if let Some(value) = cell.get() {
            return Ok(Some(value));
        }
        let value = make()?;
        // Another thread may have set it meanwhile: keep theirs (the same bytes).
        let _ = cell.set(value);
        Ok(cell.get())
    }

    /// Sets `place` to `value` unless it is set already (out of range: nothing).
    pub fn set(&self, place: usize, value: V) {
        if let Some(cell) = self.cell(place) {
            let _ = cell.set(value);
        }
    }

    /// Every value set, mutably.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.segments
            .iter_mut()
            .filter_map(OnceLock::get_mut)
            .flat_map(|segment| segment.iter_mut().filter_map(OnceLock::get_mut))
    }

    /// The cell of `place`, its segment allocated if it was not.
    fn cell(&self, place: usize) -> Option<&OnceLock<V>> {
        if place >= self.len {
            return None;
        }
        let first = place / SEGMENT * SEGMENT;
        let segment = self.segments.get(place / SEGMENT)?.get_or_init(|| {
            let places = SEGMENT.min(self.len - first);
            (0..places).map(|_| OnceLock::new()).collect()
        });
        segment.get(place - first)
    }
}

#[cfg(test)]
mod tests {
    use super::LazyTable;

    #[test]
    fn places_fill_once_and_out_of_range_is_none() {
        let mut table: LazyTable<u32> = LazyTable::new(600);
        assert_eq!(table.len(), 600);
        assert_eq!(table.get(5), None);
        let made: Result<_, ()> = table.get_or_try_set(5, || Ok(7));
        assert_eq!(made, Ok(Some(&7)));
        // A second fill keeps the first value and does not run `make`.
        let again: Result<_, ()> = table.get_or_try_set(5, || panic!("filled twice"));
        assert_eq!(again, Ok(Some(&7)));
        assert_eq!(table.get_or_try_set(599, || Err("bad")), Err("bad"));
        assert_eq!(table.get(599), None);
        table.set(599, 9);
        table.set(599, 10);
        assert_eq!(table.get(599), Some(&9));
        let none: Result<_, ()> = table.get_or_try_set(600, || Ok(1));
        assert_eq!(none, Ok(None));
        table.set(600, 1);
        assert_eq!(table.get(600), None);
        let mut values: Vec<u32> = table.values_mut().map(|v| *v).collect();
        values.sort();
        assert_eq!(values, [7, 9]);
    }

    #[test]
    fn threads_filling_one_place_agree() {
        let table: LazyTable<usize> = LazyTable::new(1000);
        let table = &table;
        let seen: Vec<usize> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    scope
                        .spawn(move || *table.get_or_try_set::<()>(777, || Ok(t)).unwrap().unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(seen.iter().all(|&v| v == seen[0]));
    }
}
