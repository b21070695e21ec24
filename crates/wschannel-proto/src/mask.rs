//! Payload masking (RFC 6455 §5.3): XOR each byte with `key[i % 4]`.
//!
//! [`apply_mask`] works 32 bytes at a time in code that the compiler vectorises, compiled twice:
//! for the baseline target and, on x86-64, for AVX2, chosen at run time. The only `unsafe` is
//! that function and its call, behind the CPU check. [`apply_mask_naive`] is its byte-at-a-time
//! twin, kept for the property test that they agree.

/// Masks or unmasks `buf` in place; `offset` is the position of `buf[0]` within the payload,
/// so a payload can be unmasked in pieces as it arrives.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= AVX2_MIN && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `mask_avx2` only requires AVX2, which the CPU was just seen to support.
        #[allow(unsafe_code)]
        unsafe {
            mask_avx2(buf, key, offset)
        };
        return;
    }
    mask_wide(buf, key, offset);
}

/// Below this, the baseline code is as fast (one or two vectors).
#[cfg(target_arch = "x86_64")]
const AVX2_MIN: usize = 128;

/// [`mask_wide`] compiled for AVX2: 32 bytes per instruction instead of 16. Chosen at run time,
/// so a plain `cargo build --release` (baseline x86-64) gets it on any CPU that has it.
/// Measured with `cargo bench -p wschannel-proto --bench codec -- mask/65536`: see
/// bench/RESULTS.md.
///
/// # Safety
/// The CPU must support AVX2. (An `unsafe fn` rather than a safe one with `#[target_feature]`,
/// which needs Rust 1.86; the crate's minimum is 1.85.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn mask_avx2(buf: &mut [u8], key: [u8; 4], offset: usize) {
    mask_wide(buf, key, offset);
}

#[inline(always)]
fn mask_wide(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    let key64 =
        u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    // 32 bytes at a time: XOR with a fixed-length array is a loop LLVM turns into SIMD on the
    // target it compiles for (SSE2 on baseline x86-64, NEON on AArch64, AVX2 in `mask_avx2`).
    // The chunks need no alignment: unaligned vector loads cost the same on current CPUs.
    let mut wide = [0u8; 32];
    for w in wide.chunks_exact_mut(8) {
        w.copy_from_slice(&key64.to_ne_bytes());
    }
    let mut chunks = buf.chunks_exact_mut(32);
    for chunk in &mut chunks {
        for (b, k) in chunk.iter_mut().zip(&wide) {
            *b ^= k;
        }
    }
    // The rest (under 32 bytes) starts at a multiple of 4, so the key's phase is unchanged:
    // whole words, then single bytes.
    let mut words = chunks.into_remainder().chunks_exact_mut(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(w) ^ key64).to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// The reference implementation: one byte at a time.
pub fn apply_mask_naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) & 3];
    }
}

/// The key as seen from payload position `offset`.
#[inline]
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut k = key;
    k.rotate_left(offset & 3);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_5_7_masked_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    #[test]
    fn pieces_with_offsets_equal_whole() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data.clone();
        let (a, b) = pieces.split_at_mut(13);
        apply_mask(a, key, 0);
        apply_mask(b, key, 13);
        assert_eq!(whole, pieces);
        assert_ne!(whole, data);
    }
}
