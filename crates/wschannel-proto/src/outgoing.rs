//! The bytes a connection has queued for the peer: encoded frames, with large payloads kept by
//! reference between them instead of copied.
//!
//! A server's frames are not masked, so a large payload goes out exactly as the user handed it
//! over. Copying it into the output buffer would cost a pass over every byte (a quarter of the
//! CPU of a 64 KiB echo); instead [`Outgoing`] keeps the payload's [`Bytes`] and the writer
//! sends the frame header and the payload together with one vectored write. The connection
//! does this only when told the transport writes vectored
//! ([`Connection::set_vectored_min`](crate::Connection::set_vectored_min)).
//!
//! `Outgoing` implements [`Buf`]: [`Buf::chunk`] is the next contiguous run and
//! [`Buf::chunks_vectored`] fills `IoSlice`s for `writev`. The encoded bytes are never moved
//! while written: a read position walks over them and the buffer starts again at its
//! beginning once everything is written, so a buffer that is reused never has to be reclaimed
//! or grown again.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Queued output. See the module docs.
#[derive(Debug, Default)]
pub struct Outgoing {
    /// Encoded frames (headers, small payloads); `buf[pos..]` is unwritten.
    buf: BytesMut,
    pos: usize,
    /// Payloads kept by reference, in order; each goes right after `buf[..at]`.
    bodies: VecDeque<Body>,
    /// Unwritten bytes in `bodies`.
    body_len: usize,
}

#[derive(Debug)]
struct Body {
    at: usize,
    bytes: Bytes,
}

impl Outgoing {
    /// An empty queue that allocates on first use.
    pub fn new() -> Self {
        Outgoing::default()
    }

    /// Unwritten bytes.
    pub fn len(&self) -> usize {
        self.buf.len() - self.pos + self.body_len
    }

    /// Whether everything was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether some payload is kept by reference (the bytes are not contiguous).
    pub fn has_bodies(&self) -> bool {
        !self.bodies.is_empty()
    }

    /// How many encoded bytes the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The buffer frames are encoded into (appending only).
    pub(crate) fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Queues `bytes` by reference after everything queued so far.
    pub(crate) fn push_body(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.body_len += bytes.len();
        self.bodies.push_back(Body { at: self.buf.len(), bytes });
    }

    /// Moves everything unwritten in `other` to the end of `self`; `other` is left empty
    /// (with its capacity).
    pub fn append(&mut self, other: &mut Outgoing) {
        let shift = self.buf.len() as isize - other.pos as isize;
        self.buf.extend_from_slice(&other.buf[other.pos..]);
        for body in other.bodies.drain(..) {
            let at = (body.at as isize + shift) as usize;
            self.body_len += body.bytes.len();
            self.bodies.push_back(Body { at, bytes: body.bytes });
        }
        other.clear();
    }

    /// Drops everything queued; the buffer starts again at its beginning.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.body_len = 0;
        if !self.bodies.is_empty() {
            self.bodies.clear();
        }
    }

    /// Gives back the memory of an empty queue.
    pub fn release(&mut self) {
        if self.is_empty() && (self.buf.capacity() > 0 || self.bodies.capacity() > 0) {
            *self = Outgoing::default();
        }
    }

    /// Drops what is queued and takes the encoded-bytes buffer out (to keep its memory
    /// elsewhere), leaving a queue without capacity.
    pub fn take_buffer(&mut self) -> BytesMut {
        self.clear();
        std::mem::take(&mut self.buf)
    }

    /// Uses `buf` (cleared) as the encoded-bytes buffer of an empty queue.
    pub fn set_buffer(&mut self, mut buf: BytesMut) {
        debug_assert!(self.is_empty());
        buf.clear();
        self.clear();
        self.buf = buf;
    }

    /// Swaps the unwritten encoded bytes of a queue without bodies with `other`'s buffer: `other`
    /// receives them, and the queue goes on (empty) with `other`'s memory.
    pub(crate) fn swap_encoded(&mut self, other: &mut BytesMut) {
        debug_assert!(self.bodies.is_empty());
        self.buf.advance(self.pos);
        std::mem::swap(&mut self.buf, other);
        self.buf.clear();
        self.pos = 0;
    }

    /// Where the next run of encoded bytes ends: the next body's place, or the end.
    fn run_end(&self) -> usize {
        self.bodies.front().map_or(self.buf.len(), |b| b.at)
    }
}

impl Buf for Outgoing {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        let end = self.run_end();
        if self.pos < end {
            return &self.buf[self.pos..end];
        }
        match self.bodies.front() {
            Some(body) => &body.bytes,
            None => &[],
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        fn push<'a>(dst: &mut [IoSlice<'a>], n: &mut usize, s: &'a [u8]) {
            if !s.is_empty() && *n < dst.len() {
                dst[*n] = IoSlice::new(s);
                *n += 1;
            }
        }
        let mut n = 0;
        let mut pos = self.pos;
        for body in &self.bodies {
            if n == dst.len() {
                return n;
            }
            push(dst, &mut n, &self.buf[pos..body.at]);
            pos = body.at;
            push(dst, &mut n, &body.bytes);
        }
        push(dst, &mut n, &self.buf[pos..]);
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.len(), "advance past the end of the queued output");
        while cnt > 0 {
            let end = self.run_end();
            if self.pos < end {
                let step = cnt.min(end - self.pos);
                self.pos += step;
                cnt -= step;
                continue;
            }
            let body = self.bodies.front_mut().expect("bytes remain, so a body does");
            let step = cnt.min(body.bytes.len());
            body.bytes.advance(step);
            self.body_len -= step;
            cnt -= step;
            if body.bytes.is_empty() {
                self.bodies.pop_front();
            }
        }
        if self.is_empty() {
            // Everything written: start again at the beginning of the buffer.
            self.buf.clear();
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Everything unwritten, in order, through `chunk`/`advance` in steps of at most `step`.
    fn drain(out: &mut Outgoing, step: usize) -> Vec<u8> {
        let mut v = Vec::new();
        while out.has_remaining() {
            let c = out.chunk();
            let n = c.len().min(step);
            v.extend_from_slice(&c[..n]);
            out.advance(n);
        }
        v
    }

    fn vectored(out: &Outgoing) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = out.chunks_vectored(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn bodies_go_between_the_encoded_bytes() {
        let mut out = Outgoing::new();
        out.buf_mut().extend_from_slice(b"h1");
        out.push_body(Bytes::from_static(b"BODY1"));
        out.buf_mut().extend_from_slice(b"h2");
        out.push_body(Bytes::from_static(b"BODY2"));
        out.buf_mut().extend_from_slice(b"tail");
        assert_eq!(out.len(), 18);
        assert_eq!(vectored(&out), b"h1BODY1h2BODY2tail");
        assert_eq!(drain(&mut out, 3), b"h1BODY1h2BODY2tail");
        assert!(out.is_empty());
        assert_eq!(out.pos, 0, "rewound once written");
    }

    #[test]
    fn few_slices_take_a_prefix() {
        let mut out = Outgoing::new();
        out.buf_mut().extend_from_slice(b"a");
        out.push_body(Bytes::from_static(b"b"));
        out.buf_mut().extend_from_slice(b"c");
        let mut slices = [IoSlice::new(&[]); 2];
        assert_eq!(out.chunks_vectored(&mut slices), 2);
        assert_eq!(&*slices[0], b"a");
        assert_eq!(&*slices[1], b"b");
    }

    proptest! {
        /// Any mix of encoded bytes and bodies, appended to a partly written queue and drained
        /// in any step size, yields the bytes in the order they were queued.
        #[test]
        fn order_is_kept(
            first in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..20), prop::collection::vec(any::<u8>(), 0..20)), 0..6),
            second in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..20), prop::collection::vec(any::<u8>(), 0..20)), 0..6),
            written in 0usize..64,
            step in 1usize..16,
        ) {
            let fill = |parts: &[(Vec<u8>, Vec<u8>)], out: &mut Outgoing, expect: &mut Vec<u8>| {
                for (enc, body) in parts {
                    out.buf_mut().extend_from_slice(enc);
                    out.push_body(Bytes::copy_from_slice(body));
                    expect.extend_from_slice(enc);
                    expect.extend_from_slice(body);
                }
            };
            let mut a = Outgoing::new();
            let mut expect = Vec::new();
            fill(&first, &mut a, &mut expect);
            let skip = written.min(a.len());
            a.advance(skip);
            expect.drain(..skip);
            let mut b = Outgoing::new();
            fill(&second, &mut b, &mut expect);
            a.append(&mut b);
            prop_assert!(b.is_empty());
            prop_assert_eq!(a.len(), expect.len());
            prop_assert_eq!(vectored(&a).len() <= expect.len(), true);
            prop_assert!(expect.starts_with(&vectored(&a)));
            prop_assert_eq!(drain(&mut a, step), expect);
        }
    }
}
