//! [`DamagedStore`]: a store wrapper whose transactions damage one value as it is read.
//!
//! It borrows the store it wraps, so one built index serves every trial: the damage lives
//! only in what the wrapper's transactions hand out, and the write transactions of a trial
//! are dropped, never committed. A write transaction that overwrites or deletes the damaged
//! key reads its own new value back undamaged from then on (the damage is in the committed
//! bytes, not in the transaction's writes).

use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, OnceLock};

use hannoy_graph::store::{KvStore, ReadTxn, SharedGet, StoreResult, WriteTxn};

use super::mutate::Damage;

/// A key or value read through a [`DamagedStore`]: as stored, or damaged.
pub enum Value<B> {
    /// The bytes the store holds.
    Stored(B),
    /// The damaged bytes standing in for them.
    Damaged(Arc<[u8]>),
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Value<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Value::Stored(bytes) => bytes.as_ref(),
            Value::Damaged(bytes) => bytes,
        }
    }
}

/// Wraps a store; its read and write transactions damage the value of
/// [`Damage::key`] as it is read (by `get` or in a range), the same way every time.
pub struct DamagedStore<'a, S> {
    inner: &'a S,
    damage: Option<Arc<Damage>>,
}

impl<'a, S: KvStore> DamagedStore<'a, S> {
    /// Wraps `inner`; `None` reads it undamaged (the baseline of a trial).
    pub fn new(inner: &'a S, damage: Option<Damage>) -> Self {
        DamagedStore {
            inner,
            damage: damage.map(Arc::new),
        }
    }
}

/// What a transaction needs to damage its reads: the damage and, computed on first use,
/// the damaged value (`None` when the key is absent).
struct Damager {
    damage: Option<Arc<Damage>>,
    damaged: OnceLock<Option<Arc<[u8]>>>,
    /// Set once a write transaction overwrote or deleted the key.
    written: bool,
}

impl Damager {
    fn new(damage: Option<Arc<Damage>>) -> Self {
        Damager {
            damage,
            damaged: OnceLock::new(),
            written: false,
        }
    }

    fn targets(&self, key: &[u8]) -> bool {
        !self.written && self.damage.as_ref().is_some_and(|d| d.key == key)
    }

    /// The damaged value of the target key, reading it (and its donor) from `txn`.
    fn damaged<B: AsRef<[u8]>>(
        &self,
        get: impl Fn(&[u8]) -> StoreResult<Option<B>>,
    ) -> StoreResult<Option<Arc<[u8]>>> {
        if let Some(done) = self.damaged.get() {
            return Ok(done.clone());
        }
        let damage = self.damage.as_ref().expect("only called for a target");
        let original = get(&damage.key)?;
        let value = match original {
            None => None,
            Some(original) => {
                let donor = match &damage.donor {
                    Some(key) => get(key)?.map(|v| v.as_ref().to_vec()),
                    None => None,
                };
                Some(Arc::from(damage.apply(original.as_ref(), donor.as_deref())))
            }
        };
        Ok(self.damaged.get_or_init(|| value).clone())
    }

    fn get<B: AsRef<[u8]>>(
        &self,
        get: impl Fn(&[u8]) -> StoreResult<Option<B>>,
        key: &[u8],
    ) -> StoreResult<Option<Value<B>>> {
        if self.targets(key) {
            return Ok(self.damaged(get)?.map(Value::Damaged));
        }
        Ok(get(key)?.map(Value::Stored))
    }

    fn touch(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) {
        if let Some(damage) = &self.damage
            && (start, end).contains::<[u8]>(damage.key.as_slice())
        {
            self.written = true;
        }
    }
}

/// An iterator of a [`DamagedStore`] transaction: the inner one, with the target's value
/// damaged.
pub struct DamagedIter<'t, T: ReadTxn + 't> {
    inner: T::Iter<'t>,
    txn: &'t T,
    damager: &'t Damager,
}

impl<'t, T: ReadTxn + 't> Iterator for DamagedIter<'t, T> {
    type Item = StoreResult<(Value<T::Bytes<'t>>, Value<T::Bytes<'t>>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.inner.next()?;
        Some(entry.and_then(|(key, value)| {
            if !self.damager.targets(key.as_ref()) {
                return Ok((Value::Stored(key), Value::Stored(value)));
            }
            // The key is there, so its damaged value is too.
            let damaged = self
                .damager
                .damaged(|key| self.txn.get(key))?
                .unwrap_or_else(|| Arc::from([]));
            Ok((Value::Stored(key), Value::Damaged(damaged)))
        }))
    }
}

/// A read transaction of a [`DamagedStore`].
pub struct DamagedReadTxn<T> {
    inner: T,
    damager: Damager,
}

/// A write transaction of a [`DamagedStore`]; its writes go to the wrapped store's
/// transaction unchanged.
pub struct DamagedWriteTxn<T> {
    inner: T,
    damager: Damager,
}

impl<S: KvStore> KvStore for DamagedStore<'_, S> {
    type ReadTxn<'s>
        = DamagedReadTxn<S::ReadTxn<'s>>
    where
        Self: 's;
    type WriteTxn<'s>
        = DamagedWriteTxn<S::WriteTxn<'s>>
    where
        Self: 's;

    fn read_txn(&self) -> StoreResult<Self::ReadTxn<'_>> {
        Ok(DamagedReadTxn {
            inner: self.inner.read_txn()?,
            damager: Damager::new(self.damage.clone()),
        })
    }

    fn write_txn(&self) -> StoreResult<Self::WriteTxn<'_>> {
        Ok(DamagedWriteTxn {
            inner: self.inner.write_txn()?,
            damager: Damager::new(self.damage.clone()),
        })
    }
}

macro_rules! damaged_reads {
    ($txn:ident) => {
        impl<T: ReadTxn> ReadTxn for $txn<T> {
            type Bytes<'t>
                = Value<T::Bytes<'t>>
            where
                Self: 't;
            type Iter<'t>
                = DamagedIter<'t, T>
            where
                Self: 't;

            fn get(&self, key: &[u8]) -> StoreResult<Option<Self::Bytes<'_>>> {
                self.damager.get(|key| self.inner.get(key), key)
            }

            // The inner transaction's, damaged the same way: a reader on a store that
            // offers one looks chunks up on first use, and that is what gets damaged.
            fn shared_get(&self) -> Option<SharedGet<'_, Self::Bytes<'_>>> {
                let inner = self.inner.shared_get()?;
                let damager = &self.damager;
                Some(Arc::new(move |key| damager.get(|key| inner(key), key)))
            }

            fn stored_len(&self, len: usize) -> usize {
                self.inner.stored_len(len)
            }

            fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<Self::Iter<'_>> {
                Ok(DamagedIter {
                    inner: self.inner.range(start, end)?,
                    txn: &self.inner,
                    damager: &self.damager,
                })
            }
        }
    };
}

damaged_reads!(DamagedReadTxn);
damaged_reads!(DamagedWriteTxn);

impl<T: WriteTxn> WriteTxn for DamagedWriteTxn<T> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.damager
            .touch(Bound::Included(key), Bound::Included(key));
        self.inner.put(key, value)
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<bool> {
        self.damager
            .touch(Bound::Included(key), Bound::Included(key));
        self.inner.delete(key)
    }

    fn delete_range(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<u64> {
        self.damager.touch(start, end);
        self.inner.delete_range(start, end)
    }

    fn commit(self) -> StoreResult<()> {
        self.inner.commit()
    }
}

#[cfg(test)]
mod tests {
    use hannoy_storage::memory::MemoryStore;

    use super::*;
    use crate::damage::mutate::Kind;
    use crate::store_suite::{all, get};

    #[test]
    fn only_the_target_is_damaged_until_the_write_txn_overwrites_it() {
        let store = MemoryStore::new();
        let mut wtxn = store.write_txn().unwrap();
        for key in [b"a", b"b", b"c"] {
            wtxn.put(key, b"value").unwrap();
        }
        wtxn.commit().unwrap();
        let undamaged = all(&store.read_txn().unwrap());
        let damage = Damage {
            key: b"b".to_vec(),
            kind: Kind::Donor,
            donor: Some(b"zzz".to_vec()),
            seed: 1,
        };
        let damaged = DamagedStore::new(&store, Some(damage.clone()));

        let rtxn = damaged.read_txn().unwrap();
        let expected = damage.apply(b"value", None);
        assert!(expected.is_empty(), "an absent donor gives an empty value");
        assert_eq!(get(&rtxn, b"b"), Some(expected.clone()));
        assert_eq!(get(&rtxn, b"a"), Some(b"value".to_vec()));
        let mut through_range = undamaged.clone();
        through_range[1].1 = expected.clone();
        assert_eq!(all(&rtxn), through_range);

        let mut wtxn = damaged.write_txn().unwrap();
        assert_eq!(get(&wtxn, b"b"), Some(expected));
        wtxn.put(b"b", b"new").unwrap();
        assert_eq!(get(&wtxn, b"b"), Some(b"new".to_vec()));
        drop(wtxn);
        // The wrapped store is never changed.
        assert_eq!(all(&store.read_txn().unwrap()), undamaged);
        assert_eq!(
            all(&DamagedStore::new(&store, None).read_txn().unwrap()),
            undamaged
        );
    }
}
