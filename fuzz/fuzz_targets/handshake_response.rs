//! `ClientHandshake::parse_response` and `validate` on arbitrary bytes.
//!
//! Input layout: `[limits, offer, stream...]`; `limits` picks the head limits, `offer` which
//! subprotocols and extensions the client offered. Checks: no panic; a complete head is within
//! the limits and the input, parses the same from its own bytes and is `Partial` from a shorter
//! prefix; an accepted response chose only what was offered; a `ResponseReader` fed the bytes
//! in segments answers as the one-shot parse (issue 11).
#![no_main]

use libfuzzer_sys::fuzz_target;

use wschannel_proto::handshake::{ClientHandshake, ClientRequest, Parsed, ResponseReader};

fuzz_target!(|data: &[u8]| {
    let [limits, offer, ref stream @ ..] = *data else {
        return;
    };
    let config = wschannel_fuzz::handshake_config(limits);
    let protocols: Vec<String> = ["chat", "superchat", "v2.json"]
        .iter()
        .enumerate()
        .filter(|(i, _)| offer & (1 << i) != 0)
        .map(|(_, p)| (*p).to_owned())
        .collect();
    let extensions =
        (offer & 0x08 != 0).then(|| "permessage-deflate; client_max_window_bits".to_owned());
    let req = ClientRequest {
        host: "example.com".into(),
        path: "/chat".into(),
        protocols: protocols.clone(),
        extensions,
        ..Default::default()
    };
    // RFC 6455 §1.3's example key, so a fuzzer-found response can carry the right accept value
    // (s3pPLMBiTxaQ9kYGzzhZRbK+xOo=); a dictionary entry helps it get there.
    let client =
        ClientHandshake::with_key(&req, "dGhlIHNhbXBsZSBub25jZQ==".into(), &mut Vec::new())
            .expect("a valid request");

    let one_shot = client.parse_response(stream, &config);
    let mut reader = ResponseReader::new(&config);
    let step = usize::from(limits >> 1) + 1;
    wschannel_fuzz::check_segments(stream, step, &one_shot, |buf| reader.read(buf));
    let Ok(parsed) = one_shot else {
        return;
    };
    let Parsed::Complete { value: response, consumed } = parsed else {
        assert!(stream.len() < config.max_handshake_bytes, "Partial beyond the head limit");
        return;
    };
    assert!(consumed <= stream.len() && consumed <= config.max_handshake_bytes);
    let again = client.parse_response(&stream[..consumed], &config);
    assert_eq!(again, Ok(Parsed::Complete { value: response.clone(), consumed }));
    if consumed > 0 {
        let cut = usize::from(limits) % consumed;
        assert_eq!(client.parse_response(&stream[..cut], &config), Ok(Parsed::Partial));
    }
    let _ = response.header("Sec-WebSocket-Accept");
    if let Ok(accepted) = client.validate(&response) {
        assert_eq!(response.status, 101);
        if let Some(p) = &accepted.protocol {
            assert!(protocols.contains(p), "chose {p:?}, offered {protocols:?}");
        }
        if accepted.extensions.is_some() {
            assert!(offer & 0x08 != 0, "an extension that was not offered");
        }
    }
});
