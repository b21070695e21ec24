//! UTF-8 (RFC 6455 §8.1): [`Utf8Bytes`], the validated text type, and the validators behind it:
//! [`validate`] for a whole string and [`Utf8Validator`] for text that arrives in pieces, failing
//! at the first byte that cannot continue a valid sequence rather than at the end of the message.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::error::UsageError;

/// Validates a byte stream that arrives in pieces.
///
/// Pieces may split a code point anywhere; up to three bytes of an unfinished code point are
/// carried to the next piece. [`Utf8Validator::feed`] fails as soon as the bytes seen so far
/// cannot be the start of valid UTF-8.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

/// The bytes fed so far are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error;

impl Utf8Validator {
    /// A validator at the start of a string.
    pub const fn new() -> Self {
        Utf8Validator { partial: [0; 4], partial_len: 0 }
    }

    /// Feeds the next piece.
    ///
    /// # Errors
    /// When the bytes so far cannot be a prefix of valid UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.partial_len > 0 {
            // Complete the carried code point one byte at a time (at most 3 more bytes).
            while self.partial_len > 0 {
                let Some((&b, rest)) = data.split_first() else {
                    return Ok(());
                };
                self.partial[usize::from(self.partial_len)] = b;
                self.partial_len += 1;
                data = rest;
                match std::str::from_utf8(&self.partial[..usize::from(self.partial_len)]) {
                    Ok(_) => self.partial_len = 0,
                    Err(e) if e.error_len().is_some() => return Err(Utf8Error),
                    Err(_) => {} // still a valid prefix: need more
                }
            }
        }
        // Validate up to the start of a code point the piece cuts off with the fast `basic`
        // validator, and carry that unfinished code point (at most 3 bytes). Text split at
        // arbitrary points (TCP reads) nearly always ends inside a multi-byte code point, and
        // `compat`, which reports where it stopped, is slower on the whole piece.
        let cut = unfinished_tail(data);
        let (whole, tail) = data.split_at(cut);
        validate(whole)?;
        if !tail.is_empty() {
            // Fail fast: the carried bytes must be able to start a valid code point.
            if !is_valid_prefix(tail) {
                return Err(Utf8Error);
            }
            self.partial[..tail.len()].copy_from_slice(tail);
            self.partial_len = tail.len() as u8;
        }
        Ok(())
    }

    /// Ends the string.
    ///
    /// # Errors
    /// When the string ended inside a code point.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.partial_len == 0;
        *self = Self::new();
        if complete {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }

    /// True when no unfinished code point is carried.
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }
}

/// True when `bytes` (a few carried bytes) can be continued into valid UTF-8.
fn is_valid_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Where the code point that `data` may cut off starts: `data.len()` when the last lead byte
/// within the last 3 bytes announces no more bytes than follow it (or there is none: then the
/// validator decides), otherwise that lead byte's index.
fn unfinished_tail(data: &[u8]) -> usize {
    let len = data.len();
    for back in 1..=len.min(3) {
        let b = data[len - back];
        if b & 0xc0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let needed = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xff => 4,
            _ => 1, // ASCII
        };
        return if needed > back { len - back } else { len };
    }
    len
}

/// The longest prefix of `s` that is at most `max_len` bytes long and ends at a char boundary:
/// how text is cut to fit a close reason (123 bytes), a preview or a log line.
///
/// # Examples
///
/// ```
/// use wschannel_proto::utf8::truncate;
/// assert_eq!(truncate("naïve", 3), "na"); // 'ï' is two bytes: cut before it
/// assert_eq!(truncate("naïve", 4), "naï");
/// assert_eq!(truncate("short", 123), "short");
/// ```
pub fn truncate(s: &str, max_len: usize) -> &str {
    if s.len() <= max_len {
        return s;
    }
    let mut end = max_len;
    // A char is at most 4 bytes: at most 3 steps back.
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Validates a whole string at once (the fast path for unfragmented text).
#[inline]
pub fn validate(data: &[u8]) -> Result<(), Utf8Error> {
    simdutf8::basic::from_utf8(data).map(|_| ()).map_err(|_| Utf8Error)
}

/// Validated UTF-8 bytes: a cheaply cloneable string.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// A string from a `'static` str, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// Validates `bytes` as UTF-8.
    ///
    /// # Errors
    /// [`UsageError::InvalidUtf8`] when `bytes` is not valid UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, UsageError> {
        match validate(&bytes) {
            Ok(()) => Ok(Utf8Bytes(bytes)),
            Err(_) => Err(UsageError::InvalidUtf8),
        }
    }

    /// Wraps bytes the caller has validated as UTF-8, without validating them again.
    ///
    /// The one constructor that does not check: [`as_str`](Self::as_str) trusts every
    /// `Utf8Bytes` to hold UTF-8, so a caller must have run [`validate`] or a finished
    /// [`Utf8Validator`] over exactly these bytes. Crate-private on purpose; its callers
    /// are the decoder's three places that produce text (whole message, reassembled message,
    /// close reason).
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// The string, in O(1): the bytes were validated once, when this value was made.
    // The one `unsafe` of this module (the crate denies it elsewhere): `from_utf8` here would
    // re-validate the whole payload on every `len()`, `==`, `Display` and `Deref`.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: `self.0` is valid UTF-8. Every constructor establishes it: `new` and
        // `Default` (empty), `from_static`, `From<&str>` and `From<String>` (from a `str`),
        // `try_from_bytes` (validates), and the crate-private `from_validated`, whose callers
        // validated the bytes first (see there). The field is private to this module and `Bytes`
        // is immutable, so nothing can change the bytes after construction.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Converts into the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Self {
        s.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREVIEW: usize = 64;
        let s = self.as_str();
        if s.len() <= PREVIEW {
            fmt::Debug::fmt(s, f)
        } else {
            write!(f, "{:?}… ({} bytes)", truncate(s, PREVIEW), s.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_validate(data: &[u8], at: &[usize]) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        let mut prev = 0;
        for &i in at {
            v.feed(&data[prev..i])?;
            prev = i;
        }
        v.feed(&data[prev..])?;
        v.finish()
    }

    #[test]
    fn every_two_way_split_agrees_with_std() {
        let samples: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "a€b𝄞c".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xe2\x82",
            b"\xc0\xaf",
            b"ok\xff",
        ];
        for s in samples {
            let expect = std::str::from_utf8(s).is_ok();
            for i in 0..=s.len() {
                assert_eq!(split_validate(s, &[i]).is_ok(), expect, "{s:?} at {i}");
            }
        }
    }

    /// Text with code points of every length, then some bytes overwritten with bytes that
    /// are often invalid where they land (continuations, surrogates, overlongs, 0xf5..).
    fn mostly_utf8() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let chars = proptest::collection::vec(
            prop_oneof![any::<char>(), Just('a'), Just('é'), Just('€'), Just('𝄞')],
            0..200,
        );
        let hits = proptest::collection::vec(
            (
                any::<usize>(),
                prop_oneof![
                    Just(0x80u8),
                    Just(0xbf),
                    Just(0xc0),
                    Just(0xe0),
                    Just(0xed),
                    Just(0xf0),
                    Just(0xf4),
                    Just(0xf5),
                    Just(0xff),
                    any::<u8>()
                ],
            ),
            0..3,
        );
        (chars, hits).prop_map(|(chars, hits)| {
            let mut bytes = chars.into_iter().collect::<String>().into_bytes();
            for (at, b) in hits {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = b;
                }
            }
            bytes
        })
    }

    proptest::proptest! {
        /// Fed in any pieces, the validator agrees with std at every step: a piece fails
        /// exactly when the bytes so far stop being a prefix of valid UTF-8, and `finish`
        /// succeeds exactly when the whole is valid.
        #[test]
        fn pieces_agree_with_std_at_every_step(
            bytes in mostly_utf8(),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..6),
        ) {
            let mut cuts: Vec<usize> =
                cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut v = Utf8Validator::new();
            let mut prev = 0;
            for &cut in &cuts {
                let fed = v.feed(&bytes[prev..cut]).is_ok();
                let prefix_ok = is_valid_prefix(&bytes[..cut]);
                proptest::prop_assert_eq!(fed, prefix_ok, "pieces up to {}", cut);
                if !fed {
                    return Ok(());
                }
                prev = cut;
            }
            proptest::prop_assert_eq!(v.finish().is_ok(), std::str::from_utf8(&bytes).is_ok());
            proptest::prop_assert_eq!(validate(&bytes).is_ok(), std::str::from_utf8(&bytes).is_ok());
        }
    }

    #[test]
    fn fails_fast_at_first_impossible_byte() {
        // RFC 6455 §8.1 / Autobahn 6.4: the prefix "κόσμε" then 0xf4 0x90 is already invalid,
        // long before the message ends.
        let mut v = Utf8Validator::new();
        assert!(v.feed("κόσμε".as_bytes()).is_ok());
        assert!(v.feed(b"\xf4").is_ok(), "0xf4 alone can start a valid code point");
        assert_eq!(v.feed(b"\x90"), Err(Utf8Error));
    }

    #[test]
    fn truncate_cuts_at_the_last_char_boundary_within_the_limit() {
        let s = "a€b𝄞c"; // 1 + 3 + 1 + 4 + 1 bytes
        let expect = ["", "a", "a", "a", "a€", "a€b", "a€b", "a€b", "a€b", "a€b𝄞", "a€b𝄞c"];
        for (max, want) in expect.iter().enumerate() {
            assert_eq!(truncate(s, max), *want, "max {max}");
        }
        assert_eq!(truncate(s, usize::MAX), s);
    }

    #[test]
    fn unfinished_code_point_fails_at_finish() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"\xe2\x82").is_ok());
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(Utf8Error));
    }

    #[test]
    fn every_utf8bytes_constructor_gives_back_its_str() {
        let s = "héllo 𝄞";
        let all = [
            Utf8Bytes::from_static(s),
            Utf8Bytes::from(s),
            Utf8Bytes::from(s.to_owned()),
            Utf8Bytes::try_from_bytes(Bytes::from_static(s.as_bytes())).unwrap(),
            Utf8Bytes::from_validated(Bytes::from_static(s.as_bytes())),
        ];
        for t in all {
            assert_eq!(t.as_str(), s);
            assert_eq!(t.len(), s.len());
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(Utf8Bytes::new().as_str(), "");
        assert_eq!(Utf8Bytes::default().as_str(), "");
    }

    #[test]
    fn utf8bytes_rejects_invalid() {
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"ok")).unwrap(), "ok");
    }
}
