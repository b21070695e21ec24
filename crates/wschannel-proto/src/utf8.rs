//! Incremental UTF-8 validation across fragments (RFC 6455 §8.1), failing at the first byte that
//! cannot continue a valid sequence rather than at the end of the message.

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
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                Some(_) => Err(Utf8Error),
                None => {
                    // The tail is a valid but unfinished code point: carry it.
                    let tail = &data[e.valid_up_to()..];
                    self.partial[..tail.len()].copy_from_slice(tail);
                    // A valid unfinished prefix is at most 3 bytes long.
                    self.partial_len = tail.len() as u8;
                    Ok(())
                }
            },
        }
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

/// Validates a whole string at once (the fast path for unfragmented text).
#[inline]
pub fn validate(data: &[u8]) -> Result<(), Utf8Error> {
    simdutf8::basic::from_utf8(data).map(|_| ()).map_err(|_| Utf8Error)
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
    fn unfinished_code_point_fails_at_finish() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"\xe2\x82").is_ok());
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(Utf8Error));
    }
}
