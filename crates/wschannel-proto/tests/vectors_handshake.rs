//! RFC 6455's own handshake bytes as test vectors: the §1.3 accept key and the §1.3 example
//! request and response (the same exchange §4.1 and §4.2.2 describe).

use wschannel_proto::handshake::{
    accept_key, parse_request, validate_request, write_accept, Accepted, ClientHandshake,
    ClientRequest, Parsed,
};
use wschannel_proto::Config;

/// RFC 6455 §1.3: "the value of the |Sec-WebSocket-Key| header field in the client's handshake
/// were "dGhlIHNhbXBsZSBub25jZQ==" ... giving the value "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="".
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// RFC 6455 §1.3, the client's handshake.
const REQUEST: &str = "GET /chat HTTP/1.1\r\n\
                       Host: server.example.com\r\n\
                       Upgrade: websocket\r\n\
                       Connection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Origin: http://example.com\r\n\
                       Sec-WebSocket-Protocol: chat, superchat\r\n\
                       Sec-WebSocket-Version: 13\r\n\
                       \r\n";

/// RFC 6455 §1.3, the server's handshake.
const RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\n\
                        Upgrade: websocket\r\n\
                        Connection: Upgrade\r\n\
                        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                        Sec-WebSocket-Protocol: chat\r\n\
                        \r\n";

fn rfc_client_request() -> ClientRequest {
    ClientRequest {
        host: "server.example.com".into(),
        path: "/chat".into(),
        origin: Some("http://example.com".into()),
        protocols: vec!["chat".into(), "superchat".into()],
        ..Default::default()
    }
}

#[test]
fn accept_key_rfc6455_1_3() {
    assert_eq!(accept_key(KEY.as_bytes()), ACCEPT);
}

#[test]
fn client_writes_the_rfc_request() {
    let mut out = Vec::new();
    let client = ClientHandshake::with_key(&rfc_client_request(), KEY.into(), &mut out).unwrap();
    assert_eq!(client.key(), KEY);
    assert_eq!(String::from_utf8(out).unwrap(), REQUEST);
}

#[test]
fn server_accepts_the_rfc_request_and_writes_the_rfc_response() {
    // Frame bytes right behind the head (RFC 6455 §5.7, a masked "Hello") must not be consumed.
    let mut wire = REQUEST.as_bytes().to_vec();
    wire.extend_from_slice(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    let Ok(Parsed::Complete { value, consumed }) = parse_request(&wire, &Config::default()) else {
        panic!("the RFC request is one complete head");
    };
    assert_eq!(consumed, REQUEST.len());
    assert_eq!(value.method, "GET");
    assert_eq!(value.path, "/chat");
    assert_eq!(value.version, 1);
    assert_eq!(value.header("host"), Some(&b"server.example.com"[..]));
    assert!(value.is_websocket_upgrade());
    assert_eq!(value.origin(), Some("http://example.com"));
    assert_eq!(value.protocols(), ["chat", "superchat"]);

    let upgrade = validate_request(&value).unwrap();
    assert_eq!(upgrade.key, KEY);
    assert_eq!(upgrade.protocols, ["chat", "superchat"]);
    assert_eq!(upgrade.extensions, None);

    let mut out = Vec::new();
    write_accept(&upgrade, Some("chat"), &[], &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), RESPONSE);
}

#[test]
fn client_accepts_the_rfc_response() {
    let client =
        ClientHandshake::with_key(&rfc_client_request(), KEY.into(), &mut Vec::new()).unwrap();
    let mut wire = RESPONSE.as_bytes().to_vec();
    // RFC 6455 §5.7: an unmasked "Hello" from the server follows the head.
    wire.extend_from_slice(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let Ok(Parsed::Complete { value, consumed }) = client.parse_response(&wire, &Config::default())
    else {
        panic!("the RFC response is one complete head");
    };
    assert_eq!(consumed, RESPONSE.len());
    assert_eq!(&wire[consumed..], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(value.status, 101);
    assert_eq!(value.reason, "Switching Protocols");
    assert_eq!(
        client.validate(&value).unwrap(),
        Accepted { protocol: Some("chat".into()), extensions: None }
    );
}
