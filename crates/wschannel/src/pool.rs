//! Spare buffers, per thread: a quiet connection gives back the read and write buffers a burst
//! grew, and the next connection (or its next burst) takes one instead of allocating.
//!
//! Why not leave it to the allocator: with few connections, freeing a 128 KiB buffer at the top
//! of the heap makes glibc return the memory to the kernel, and the next burst faults it back
//! in page by page; with many, each connection keeping its own buffers makes the working set
//! too large for the caches. A small pool per thread keeps the same warm memory in use and
//! bounds what idle connections hold to nothing. At most [`SPARES`] buffers of at most
//! [`MAX_SPARE`] bytes each are kept per thread.

use std::cell::RefCell;

use bytes::BytesMut;

/// Buffers kept per thread.
const SPARES: usize = 8;
/// Larger buffers are freed, not kept.
const MAX_SPARE: usize = 256 << 10;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A spare buffer that can hold at least `min` bytes, or an empty one (that allocates on first
/// use) when there is none.
pub(crate) fn take(min: usize) -> BytesMut {
    SPARE
        .try_with(|spare| {
            let mut spare = spare.borrow_mut();
            let i = spare.iter().rposition(|b| b.capacity() >= min)?;
            Some(spare.swap_remove(i))
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps `buf` for reuse if it is empty, nothing else points into it, and there is room.
pub(crate) fn give(mut buf: BytesMut) {
    if !buf.is_empty() || buf.capacity() == 0 {
        return;
    }
    // Rewind to the start of the allocation; this succeeds without allocating when no message
    // still points into it. (One that a message still holds allocates anew when it is next
    // reserved, as it would have without the pool.)
    let _ = buf.try_reclaim(buf.capacity() + 1);
    give_rewound(buf);
}

/// [`give`] for a buffer that needs no rewinding: one that was never advanced or split (a write
/// buffer: see `wschannel_proto::Outgoing`), or one rewound since it was last read into.
pub(crate) fn give_rewound(buf: BytesMut) {
    if !buf.is_empty() || buf.capacity() == 0 || buf.capacity() > MAX_SPARE {
        return;
    }
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARES {
            spare.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_back_whole() {
        let mut buf = BytesMut::with_capacity(64 << 10);
        buf.extend_from_slice(&[1; 1000]);
        let head = buf.split_to(1000);
        drop(head);
        let at = buf.as_ptr() as usize;
        give(buf);
        let again = take(64 << 10);
        assert!(again.capacity() >= 64 << 10);
        assert_eq!(again.as_ptr() as usize, at - 1000, "the same memory, rewound");
        assert_eq!(take(1).capacity(), 0, "and it was the only one");
    }

    #[test]
    fn buffers_with_bytes_or_too_large_are_not_kept() {
        let mut full = BytesMut::with_capacity(4096);
        full.extend_from_slice(b"x");
        give(full);
        give(BytesMut::with_capacity(MAX_SPARE * 2));
        assert_eq!(take(1).capacity(), 0);
    }
}
