//! `frame::parse_header` on arbitrary bytes: never panics; a parsed header re-encodes to bytes
//! that parse to the same header, and to the input's own bytes unless the input used a longer
//! length encoding than needed (RFC 6455 §5.2 allows the parser to accept those).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

use wschannel_proto::frame::{parse_header, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(Some((header, consumed))) = parse_header(data) else {
        return;
    };
    assert!(consumed <= data.len() && consumed <= MAX_HEADER_LEN);
    // RFC 6455 §5.2: the 64-bit length's most significant bit is 0; §5.5: control frames are
    // final and at most 125 bytes.
    assert!(header.payload_len <= i64::MAX as u64);
    assert!(header.rsv <= 0b111);
    if header.opcode.is_control() {
        assert!(header.fin && header.payload_len <= 125);
    }

    // The header alone parses the same, and every shorter prefix asks for more.
    assert_eq!(parse_header(&data[..consumed]), Ok(Some((header, consumed))));
    for i in 0..consumed {
        assert_eq!(parse_header(&data[..i]), Ok(None), "prefix {i} of {consumed}");
    }

    let mut out = BytesMut::new();
    header.encode(&mut out);
    assert_eq!(out.len(), header.encoded_len());
    assert_eq!(parse_header(&out), Ok(Some((header, out.len()))));
    if out.len() == consumed {
        // Minimal length encoding: byte for byte the same header.
        assert_eq!(&out[..], &data[..consumed]);
    } else {
        // Only a non-minimal length (126 with a value under 126, or 127 with a value under
        // 65536) makes the input longer than the re-encoding.
        assert!(consumed > out.len());
        let len7 = data[1] & 0x7F;
        assert!(len7 == 126 || len7 == 127, "len7 {len7}");
    }
});
