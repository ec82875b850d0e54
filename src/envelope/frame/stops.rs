//! Where a run of JSON string text stops: at a quote, a backslash or a control character (the bytes a JSON
//! string may not hold unescaped). Most of a frame is string text, so this is the scanner's inner loop, and
//! the envelope's test of whether a value needs escaping.
//!
//! Sixteen bytes are looked at together. On x86_64 with SSE2, which every x86_64 processor has: a 1 KiB event
//! body's strings took half the time of the eight-bytes-in-a-`u64` test used before (which other targets
//! keep), and short strings no longer end in a byte-by-byte walk to the stop.

/// Bytes that stop a run of string text.
pub(super) const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The position of the first byte at or after `from` that stops a run of string text; `None` when none does
/// (or `from` is past the end).
pub(super) fn first_stop(bytes: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    // Two blocks a step while the text is long: their tests do not wait for each other.
    while let Some(pair) = bytes.get(pos..pos + 32) {
        let (low, high) = pair.split_at(16);
        let found = block_stops(low) | (block_stops(high) << 16);
        if found != 0 {
            return Some(pos + found.trailing_zeros() as usize);
        }
        pos += 32;
    }
    if let Some(block) = bytes.get(pos..pos + 16) {
        let found = block_stops(block);
        if found != 0 {
            return Some(pos + found.trailing_zeros() as usize);
        }
        pos += 16;
    }
    let rest = bytes.get(pos..)?;
    rest.iter()
        .position(|&b| STRING_STOP[usize::from(b)])
        .map(|at| pos + at)
}

/// Whether `bytes` hold a quote, a backslash or a control character: the characters a JSON string must escape.
pub(in crate::envelope) fn needs_escape(bytes: &[u8]) -> bool {
    first_stop(bytes, 0).is_some()
}

/// One bit per byte of `block` (16 bytes), the lowest for the first, set where the byte stops a run.
#[cfg(target_arch = "x86_64")]
fn block_stops(block: &[u8]) -> u32 {
    // SAFETY: `sse2::stops` needs SSE2, which is part of the x86_64 architecture (every x86_64 processor has
    // it, and Rust's x86_64 targets assume it).
    unsafe { sse2::stops(block) }
}

#[cfg(not(target_arch = "x86_64"))]
fn block_stops(block: &[u8]) -> u32 {
    portable::stops(block)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// [`super::block_stops`]: three byte-wise comparisons of the whole block and their sign bits.
    #[target_feature(enable = "sse2")]
    pub(super) fn stops(block: &[u8]) -> u32 {
        let Some(block) = block.first_chunk::<16>() else {
            return 0;
        };
        // SAFETY: the unaligned load reads exactly the 16 bytes of `block`.
        let v = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // A byte below 0x20 (unsigned: SSE2 compares bytes only as signed) is one that min(b, 0x1f) leaves.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

/// Eight bytes at a time in a `u64`, for targets without the above (and as its reference in tests).
#[cfg(any(test, not(target_arch = "x86_64")))]
mod portable {
    use super::STRING_STOP;

    /// [`super::block_stops`]: a word-wise test of each half, then the bytes of a half it flags.
    pub(super) fn stops(block: &[u8]) -> u32 {
        let mut found = 0;
        for (half, word) in block.chunks_exact(8).take(2).enumerate() {
            let bits = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if !may_stop_string(bits) {
                continue;
            }
            for (i, &b) in word.iter().enumerate() {
                if STRING_STOP[usize::from(b)] {
                    found |= 1 << (half * 8 + i);
                }
            }
        }
        found
    }

    /// Whether one of the eight bytes of `word` may be a quote, a backslash or a control character. Exact
    /// when it says no; a yes may be wrong (a borrow across bytes), which only costs a look at each byte.
    pub(super) fn may_stop_string(word: u64) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        (zero_byte(word ^ (ONES * u64::from(b'"')))
            | zero_byte(word ^ (ONES * u64::from(b'\\')))
            | below_space)
            != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eight_byte_test_misses_no_byte_that_ends_a_run() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let word = u64::from_le_bytes(word);
                assert_eq!(
                    portable::may_stop_string(word),
                    STRING_STOP[usize::from(b)],
                    "byte {b:#x} at {at}"
                );
            }
        }
        assert!(!portable::may_stop_string(u64::from_le_bytes(
            *"é—😀!".as_bytes().first_chunk().unwrap()
        )));
    }

    #[test]
    fn a_block_flags_exactly_the_bytes_that_stop_a_run_wherever_they_are() {
        for b in 0..=255u8 {
            for at in 0..16 {
                // Around the byte: text that stops nothing, including bytes above 0x7f (signed below zero).
                let mut block: Vec<u8> = (0..16).map(|i| [b'a', 0xc3, 0xa9, 0x7f][i % 4]).collect();
                block[at] = b;
                let want = if STRING_STOP[usize::from(b)] {
                    1 << at
                } else {
                    0
                };
                assert_eq!(block_stops(&block), want, "byte {b:#x} at {at}");
                assert_eq!(portable::stops(&block), want, "byte {b:#x} at {at}");
            }
        }
        let every: Vec<u8> = vec![b'"'; 16];
        assert_eq!(block_stops(&every), 0xffff);
    }

    #[test]
    fn the_first_stop_is_found_at_every_distance_and_past_the_end_there_is_none() {
        for len in 0..80 {
            let text = vec![b'x'; len];
            assert_eq!(first_stop(&text, 0), None, "len {len}");
            for at in 0..len {
                for b in [b'"', b'\\', b'\n', 0x00, 0x1f] {
                    let mut text = vec![b'x'; len];
                    text[at] = b;
                    // A second stop later changes nothing.
                    if at + 3 < len {
                        text[at + 3] = b'"';
                    }
                    for from in [0, at / 2, at] {
                        assert_eq!(first_stop(&text, from), Some(at), "{b:#x} at {at} of {len}");
                    }
                    assert!(needs_escape(&text));
                }
                if at + 1 < len {
                    let mut text = vec![b'x'; len];
                    text[at] = b'"';
                    assert_eq!(first_stop(&text, at + 1), None, "from after the only stop");
                }
            }
            assert_eq!(first_stop(&text, len + 1), None);
        }
        assert!(!needs_escape("é-x—😀".repeat(20).as_bytes()));
    }
}
