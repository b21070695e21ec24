//! `handshake::parse_request` (and `validate_request`, `write_accept`) on arbitrary bytes.
//!
//! Input layout: `[limits, stream...]`; `limits` picks small or default head and header-count
//! limits. Checks: no panic; a complete head is within the limits and the input, parses the
//! same from any longer prefix and is `Partial` from any shorter one; an accepted upgrade's
//! 101 response is accepted by a client that sent that key; a rejection's status is a 4xx/5xx
//! and its response parses with that status; a `RequestReader` fed the bytes in segments
//! answers as the one-shot parse (issue 11).
#![no_main]

use libfuzzer_sys::fuzz_target;

use wschannel_proto::handshake::{
    parse_request, validate_request, write_accept, write_reject, ClientHandshake, ClientRequest,
    Parsed, RequestReader,
};
use wschannel_proto::Config;

fuzz_target!(|data: &[u8]| {
    let Some((&limits, stream)) = data.split_first() else {
        return;
    };
    let config = wschannel_fuzz::handshake_config(limits);
    let one_shot = parse_request(stream, &config);
    let mut reader = RequestReader::new(&config);
    let step = usize::from(limits >> 1) + 1;
    wschannel_fuzz::check_segments(stream, step, &one_shot, |buf| reader.read(buf));
    let Ok(parsed) = one_shot else {
        return;
    };
    let Parsed::Complete { value: request, consumed } = parsed else {
        assert!(stream.len() < config.max_handshake_bytes, "Partial beyond the head limit");
        return;
    };
    assert!(consumed <= stream.len() && consumed <= config.max_handshake_bytes);
    // The caller re-parses with everything read so far: the answer must not depend on where
    // the reads were cut.
    let again = parse_request(&stream[..consumed], &config);
    assert_eq!(again, Ok(Parsed::Complete { value: request.clone(), consumed }));
    if consumed > 0 {
        let cut = usize::from(limits) % consumed;
        assert_eq!(parse_request(&stream[..cut], &config), Ok(Parsed::Partial), "cut {cut}");
    }

    let _ = request.is_websocket_upgrade();
    let _ = request.origin();
    match validate_request(&request) {
        Ok(upgrade) => {
            let chosen = upgrade.protocols.first().cloned();
            let mut response = Vec::new();
            write_accept(&upgrade, chosen.as_deref(), &[], &mut response);
            // A client that sent this key (and offered the chosen protocol) accepts it.
            let offer = ClientRequest {
                host: "example.com".into(),
                protocols: chosen.iter().cloned().collect(),
                ..Default::default()
            };
            let mut sink = Vec::new();
            let client = ClientHandshake::with_key(&offer, upgrade.key.clone(), &mut sink)
                .expect("a validated key and a token protocol make a valid request");
            let Ok(Parsed::Complete { value, consumed }) =
                client.parse_response(&response, &Config::default())
            else {
                panic!("our own 101 response does not parse: {response:?}");
            };
            assert_eq!(consumed, response.len());
            let accepted = client.validate(&value).expect("our own 101 response is accepted");
            assert_eq!(accepted.protocol, chosen);
        }
        Err(e) => {
            let status = e.status();
            assert!((400..=599).contains(&status), "{e:?} -> {status}");
            let mut response = Vec::new();
            write_reject(status, &e.to_string(), &[], &mut response);
            let probe = ClientRequest { host: "example.com".into(), ..Default::default() };
            let client = ClientHandshake::with_key(
                &probe,
                "dGhlIHNhbXBsZSBub25jZQ==".into(),
                &mut Vec::new(),
            )
            .expect("a valid request");
            match client.parse_response(&response, &Config::default()) {
                Ok(Parsed::Complete { value, .. }) => assert_eq!(value.status, status),
                other => panic!("our own rejection does not parse: {other:?}"),
            }
        }
    }
});
