//! Plain reference kernels: one sequential loop per function, decoding each
//! component with [`f32::from_le_bytes`].
//!
//! They are the specification the SIMD kernels are tested against, the path
//! taken on big-endian targets, and the baseline of the benchmarks. They sum
//! left to right with a single accumulator (recursive summation), so their
//! rounding is the textbook one.
//!
//! Like every kernel, they read whole little-endian `f32` components from two
//! byte slices and compare only the common prefix of whole components when the
//! lengths differ: they never read out of bounds and never panic.

/// Iterates over the components of the common prefix of `a` and `b`.
#[inline]
pub(crate) fn pairs<'a>(a: &'a [u8], b: &'a [u8]) -> impl Iterator<Item = (f32, f32)> + 'a {
    a.chunks_exact(4)
        .zip(b.chunks_exact(4))
        .map(|(x, y)| (component(x), component(y)))
}

/// Decodes one little-endian `f32` from exactly four bytes.
#[inline]
fn component(bytes: &[u8]) -> f32 {
    let mut le = [0u8; 4];
    le.copy_from_slice(bytes);
    f32::from_le_bytes(le)
}

/// Inner product `Σ aᵢ·bᵢ` of two little-endian `f32` vectors.
pub fn dot(a: &[u8], b: &[u8]) -> f32 {
    let mut sum = 0.0f32;
    for (x, y) in pairs(a, b) {
        sum += x * y;
    }
    sum
}

/// Squared Euclidean distance `Σ (aᵢ - bᵢ)²` of two little-endian `f32` vectors.
pub fn l2_squared(a: &[u8], b: &[u8]) -> f32 {
    let mut sum = 0.0f32;
    for (x, y) in pairs(a, b) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// Manhattan distance `Σ |aᵢ - bᵢ|` of two little-endian `f32` vectors.
pub fn l1(a: &[u8], b: &[u8]) -> f32 {
    let mut sum = 0.0f32;
    for (x, y) in pairs(a, b) {
        sum += (x - y).abs();
    }
    sum
}

/// Squared L2 norm `Σ aᵢ²` of a little-endian `f32` vector.
pub fn norm_squared(a: &[u8]) -> f32 {
    dot(a, a)
}

/// Number of differing bits between the common prefix of two byte strings.
///
/// Bit strings are packed into little-endian `u64` words, but the count does
/// not depend on how bytes are grouped, so this works byte by byte.
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    let mut count = 0u32;
    for (x, y) in a.iter().zip(b) {
        count += (x ^ y).count_ones();
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn known_answers() {
        let a = bytes(&[1.0, 2.0, 3.0]);
        let b = bytes(&[4.0, -5.0, 6.0]);
        assert_eq!(dot(&a, &b), 4.0 - 10.0 + 18.0);
        assert_eq!(l2_squared(&a, &b), 9.0 + 49.0 + 9.0);
        assert_eq!(l1(&a, &b), 3.0 + 7.0 + 3.0);
        assert_eq!(norm_squared(&a), 14.0);
        assert_eq!(hamming(&[0b1010_1010, 0xff], &[0b0101_1010, 0x00]), 4 + 8);
    }

    #[test]
    fn mismatched_lengths_use_the_common_prefix_of_whole_components() {
        let a = bytes(&[1.0, 2.0, 3.0]);
        let b = bytes(&[1.0, 2.0]);
        assert_eq!(dot(&a, &b), 5.0);
        // A partial trailing component (here 2 of 4 bytes) is ignored.
        assert_eq!(dot(&a[..10], &a), 5.0);
        assert_eq!(l2_squared(&a, &[]), 0.0);
        assert_eq!(hamming(&[0xff, 0xff], &[0x00]), 8);
    }
}
