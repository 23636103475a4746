//! Chunk bytes as a reader holds them: borrowed from the transaction (LMDB: the memory
//! map), or copied into the reader's own memory.
//!
//! A copy is what keeps the graph walk's bytes (links and compact codes) in memory when the
//! process runs under a memory limit smaller than its store: page-cache pages are evicted
//! by the rescoring's reads of full vectors, a reader's own allocation is not (with no
//! swap, as on most servers). See [`Reader::hold_in_memory`](crate::Reader::hold_in_memory).

/// The bytes of one chunk, as stored (trailer included).
pub enum Held<B> {
    /// Borrowed from the transaction.
    Store(B),
    /// Copied into memory the reader owns.
    Copy(Box<[u8]>),
}

impl<B: AsRef<[u8]>> Held<B> {
    /// Copies borrowed bytes into owned memory; returns how many bytes were copied (0 when
    /// they already were).
    pub fn copy_in(&mut self) -> usize {
        match self {
            Held::Store(bytes) => {
                let copy: Box<[u8]> = bytes.as_ref().into();
                let len = copy.len();
                *self = Held::Copy(copy);
                len
            }
            Held::Copy(_) => 0,
        }
    }
}

/// The page size prefetching steps by: one read per page brings the page into memory.
const PAGE: usize = 4096;

/// Reads one byte of every page `chunks` span, in parallel on the current rayon pool, so
/// that a store's pages not in memory are read from disk now rather than by the searches
/// that need them; returns the bytes spanned. The reads are kept (`black_box`), never
/// optimized away.
pub fn touch_pages(chunks: &[&[u8]]) -> u64 {
    use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
    chunks
        .par_iter()
        .map(|bytes| {
            let mut sum = 0u8;
            for at in (0..bytes.len()).step_by(PAGE) {
                sum = sum.wrapping_add(bytes[at]);
            }
            if let Some(&last) = bytes.last() {
                sum = sum.wrapping_add(last);
            }
            std::hint::black_box(sum);
            bytes.len() as u64
        })
        .sum()
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Held<B> {
    #[inline(always)]
    fn as_ref(&self) -> &[u8] {
        match self {
            Held::Store(bytes) => bytes.as_ref(),
            Held::Copy(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Held;

    #[test]
    fn a_copy_reads_the_same_bytes_and_is_made_once() {
        let mut held: Held<Vec<u8>> = Held::Store(vec![1, 2, 3]);
        assert_eq!(held.as_ref(), &[1, 2, 3]);
        assert_eq!(held.copy_in(), 3);
        assert!(matches!(held, Held::Copy(_)));
        assert_eq!(held.as_ref(), &[1, 2, 3]);
        assert_eq!(held.copy_in(), 0);
    }
}
