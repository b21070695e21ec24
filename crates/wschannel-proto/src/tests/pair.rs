//! An in-memory client<->server pair with a fake clock (quinn's `Pair`).

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::connection::{Connection, Event, Role};
use crate::message::Message;
use crate::Config;

pub(super) struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Instant,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
}

impl Pair {
    pub fn new(config: Config) -> Self {
        let now = Instant::now();
        Pair {
            client: Connection::new(Role::Client, config.clone(), now),
            server: Connection::new(Role::Server, config, now),
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// A pair with permessage-deflate negotiated from these configs, as the handshake would.
    pub fn with_deflate(
        config: Config,
        client: &crate::DeflateConfig,
        server: &crate::DeflateConfig,
    ) -> Self {
        use crate::deflate::{client_accept, client_offer, server_accept};
        let mut p = Pair::new(config);
        let offer = client_offer(client);
        let (response, s) = server_accept(Some(&offer), server).expect("offer accepted");
        let c = client_accept(Some(&response), client).expect("valid answer").expect("accepted");
        p.client.set_extension(Box::new(c));
        p.server.set_extension(Box::new(s));
        p
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Moves bytes both ways until neither side has anything to send.
    pub fn drive(&mut self) {
        self.drive_with(usize::MAX);
    }

    /// As [`drive`](Self::drive), one byte per `handle_read`.
    pub fn drive_bytewise(&mut self) {
        self.drive_with(1);
    }

    fn drive_with(&mut self, chunk: usize) {
        loop {
            let mut c2s = BytesMut::new();
            let mut s2c = BytesMut::new();
            self.client.poll_transmit(&mut c2s);
            self.server.poll_transmit(&mut s2c);
            if c2s.is_empty() && s2c.is_empty() {
                break;
            }
            feed(&mut self.server, self.now, c2s, chunk);
            feed(&mut self.client, self.now, s2c, chunk);
            self.client_events.extend(std::iter::from_fn(|| self.client.poll_event()));
            self.server_events.extend(std::iter::from_fn(|| self.server.poll_event()));
        }
    }

    pub fn client_messages(&mut self) -> Vec<Message> {
        self.client_events.extend(std::iter::from_fn(|| self.client.poll_event()));
        messages(&mut self.client_events)
    }

    pub fn server_messages(&mut self) -> Vec<Message> {
        self.server_events.extend(std::iter::from_fn(|| self.server.poll_event()));
        messages(&mut self.server_events)
    }
}

fn feed(conn: &mut Connection, now: Instant, bytes: BytesMut, chunk: usize) {
    let mut input = BytesMut::new();
    for piece in bytes.chunks(chunk) {
        input.extend_from_slice(piece);
        conn.handle_read(now, &mut input);
    }
}

fn messages(events: &mut Vec<Event>) -> Vec<Message> {
    events
        .drain(..)
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}
