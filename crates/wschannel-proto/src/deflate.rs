//! permessage-deflate (RFC 7692): negotiation in both roles, and [`PerMessageDeflate`], the
//! [`Extension`] that compresses and inflates messages.
//!
//! Off unless a [`DeflateConfig`] is set in [`Config::deflate`](crate::Config::deflate).
//! Then a client offers it with [`client_offer`] and checks the answer with [`client_accept`];
//! a server answers the first acceptable offer with [`server_accept`] (or declines them all,
//! and the connection goes on uncompressed). Each yields the extension to install with
//! [`Connection::set_extension`](crate::Connection::set_extension).
//!
//! # Windows, and why 8 bits is never used to compress
//!
//! Compression runs on zlib-rs (through flate2), which can only compress with a window of 9 to
//! 15 bits: zlib turns a request for 8 into 9 (its 256-byte window has a known bug), and
//! compressing with a larger window than negotiated would let the peer's inflater fail on a
//! back-reference it cannot reach. So this end never compresses with 8:
//! - a server **declines** an offer whose `server_max_window_bits` is 8 and takes the next
//!   offer (RFC 7692 §7.1.2.1: "A server declines an extension negotiation offer with this
//!   parameter if the server doesn't support it");
//! - a client whose server answers `client_max_window_bits=8` keeps the extension (the answer
//!   is valid) but sends **every message uncompressed** (RSV1 clear, RFC 7692 §6: compression
//!   is per message), so it never uses a window larger than 256 bytes; it still inflates what
//!   the server compresses.
//!
//! Inflating accepts any window up to the negotiated one: a peer limited to 8 bits is inflated
//! with a 9-bit window (a larger window decodes every stream a smaller one does).
//!
//! # Memory per connection
//!
//! Each direction's state is created at the first compressed message in that direction. The
//! compressor uses zlib's default `memLevel` 8 (flate2 does not expose it); measured with
//! zlib-rs (`tests/deflate_memory.rs`): 380 KB at 15 window bits, 251 KB at 9; the inflater
//! 47.5 KB at either. A direction without context takeover does not need its state between
//! messages: [`Extension::release_buffers`] (called when the connection goes quiet) drops it.
//! Per-connection numbers are in the README.
//!
//! # Backends (measured before choosing)
//!
//! flate2 1.1 on zlib-rs 0.6 against its default miniz_oxide, 4 KiB messages with context
//! takeover, on this project's 2-core machine: Autobahn's JSON file at level 6, 59 vs 67 MB/s
//! compressing and 359 vs 135 MB/s inflating; at level 1, 868 vs 57 MB/s and 1811 vs 44 MB/s;
//! German text (Faust) at level 6, 25 vs 13 MB/s and 163 vs 115 MB/s. miniz_oxide also cannot
//! compress with a window smaller than 15 bits, which `client_max_window_bits` and
//! `server_max_window_bits` require.

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::{HandshakeError, ProtocolError};
use crate::extension::{Extension, ExtensionStats};
use crate::handshake::{extension_name, is_token, list_items, trim_ows};

/// The extension token (RFC 7692 §5).
pub const NAME: &str = "permessage-deflate";

/// RFC 7692 §7.2.1/§7.2.2: the tail a sender strips and a receiver appends.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest piece of output inflated at once (the message size limit is checked after each).
const INFLATE_CHUNK_MAX: usize = 256 << 10;

/// An inflated message with more spare capacity than this is shrunk before it is handed out.
const KEEP_SLACK: usize = 1024;

/// How this end uses permessage-deflate; set it in [`Config::deflate`](crate::Config::deflate)
/// to negotiate the extension (without it, nothing is offered or accepted).
///
/// "Window bits" are the base-2 logarithm of the LZ77 window (RFC 7692 §7.1.2): 15 is 32 KiB.
/// Build it with [`DeflateConfig::default`] and the setters, which clamp values into range.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// zlib compression level, 0 (store) to 9 (smallest). Default: 6, zlib's default.
    pub level: u32,
    /// Data messages shorter than this many bytes are sent uncompressed (compressing a few
    /// bytes costs more than it saves). Fragmented messages are always compressed.
    /// Default: 256.
    pub threshold: usize,
    /// The largest window this end compresses with, 9 to 15: a smaller one saves memory
    /// (see the module docs) at some cost in ratio. Default: 15.
    pub max_window_bits: u8,
    /// The largest window the peer may compress with, 9 to 15: bounds the inflater's memory.
    /// Below 15 a client asks for it (`server_max_window_bits`) and a server that cannot
    /// honour it declines the extension; a server asks for it only when the client allows it
    /// (`client_max_window_bits` in the offer). Default: 15.
    pub peer_max_window_bits: u8,
    /// Compress each message on its own ("no context takeover"): worse ratio, but no
    /// compressor state is kept between messages. Default: false.
    pub no_context_takeover: bool,
    /// Ask the peer to compress each message on its own. A server always gets it; a client
    /// fails the handshake if the server does not agree. Default: false.
    pub peer_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            threshold: 256,
            max_window_bits: 15,
            peer_max_window_bits: 15,
            no_context_takeover: false,
            peer_no_context_takeover: false,
        }
    }
}

impl DeflateConfig {
    /// Sets the compression level (at most 9).
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Sets the size below which messages are sent uncompressed.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets the largest window this end compresses with (clamped to 9..=15).
    pub fn max_window_bits(mut self, bits: u8) -> Self {
        self.max_window_bits = bits.clamp(9, 15);
        self
    }

    /// Sets the largest window the peer may compress with (clamped to 9..=15).
    pub fn peer_max_window_bits(mut self, bits: u8) -> Self {
        self.peer_max_window_bits = bits.clamp(9, 15);
        self
    }

    /// Compress each message on its own.
    pub fn no_context_takeover(mut self, on: bool) -> Self {
        self.no_context_takeover = on;
        self
    }

    /// Ask the peer to compress each message on its own.
    pub fn peer_no_context_takeover(mut self, on: bool) -> Self {
        self.peer_no_context_takeover = on;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Negotiation (RFC 7692 §5, §7.1)
// ---------------------------------------------------------------------------------------------

/// The parameters of one permessage-deflate offer or response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `None`: absent; `Some(None)`: present without a value.
    server_max_window_bits: Option<Option<u8>>,
    client_max_window_bits: Option<Option<u8>>,
}

impl Params {
    /// Parses the parameters after `permessage-deflate` in one extension item.
    ///
    /// RFC 7692 §5.1/§5.2: an unknown parameter, a parameter given twice or an invalid value
    /// makes the whole offer (or response) invalid.
    fn parse(item: &[u8]) -> Result<Params, &'static str> {
        let mut params = Params::default();
        for param in split_params(item).skip(1) {
            let (name, value) = match param.iter().position(|&b| b == b'=') {
                Some(i) => (trim_ows(&param[..i]), Some(unquote(trim_ows(&param[i + 1..]))?)),
                None => (trim_ows(param), None),
            };
            let flag = |seen: &mut bool| {
                if value.is_some() {
                    return Err("a no_context_takeover parameter has no value");
                }
                if std::mem::replace(seen, true) {
                    return Err("a parameter appears twice");
                }
                Ok(())
            };
            let bits = |seen: &mut Option<Option<u8>>| {
                if seen.is_some() {
                    return Err("a parameter appears twice");
                }
                *seen = Some(value.as_deref().map(window_bits).transpose()?);
                Ok(())
            };
            match name.to_ascii_lowercase().as_slice() {
                b"server_no_context_takeover" => flag(&mut params.server_no_context_takeover)?,
                b"client_no_context_takeover" => flag(&mut params.client_no_context_takeover)?,
                b"server_max_window_bits" => bits(&mut params.server_max_window_bits)?,
                b"client_max_window_bits" => bits(&mut params.client_max_window_bits)?,
                b"" => return Err("an empty parameter"),
                _ => return Err("an unknown parameter"),
            }
        }
        Ok(params)
    }
}

/// A client's offer for `config`: one `permessage-deflate` item for `Sec-WebSocket-Extensions`.
///
/// It always allows the server to limit the client's window (`client_max_window_bits`, as
/// browsers offer it), and asks for what `config` asks of the peer.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from(NAME);
    if config.no_context_takeover {
        // RFC 7692 §7.1.1.2: a hint that the client will not use context takeover.
        offer.push_str("; client_no_context_takeover");
    }
    if config.peer_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.peer_max_window_bits < 15 {
        offer.push_str(&format!("; server_max_window_bits={}", config.peer_max_window_bits));
    }
    // RFC 7692 §7.1.2.2: with a value it is a hint of the window the client will use.
    match config.max_window_bits {
        15 => offer.push_str("; client_max_window_bits"),
        bits => offer.push_str(&format!("; client_max_window_bits={bits}")),
    }
    offer
}

/// Checks a server's answer to [`client_offer`]`(config)`: `response` is the response's
/// `Sec-WebSocket-Extensions` ([`Accepted::extensions`](crate::handshake::Accepted)).
/// `Ok(None)`: the server declined compression.
///
/// # Errors
/// [`HandshakeError::ExtensionResponse`] when the answer is malformed (RFC 7692 §5.2), holds
/// permessage-deflate twice, or grants something the offer did not allow (RFC 7692 §7.1): the
/// client must then fail the connection.
pub fn client_accept(
    response: Option<&str>,
    config: &DeflateConfig,
) -> Result<Option<PerMessageDeflate>, HandshakeError> {
    let Some(response) = response else {
        return Ok(None);
    };
    let fail = |reason| HandshakeError::ExtensionResponse { value: response.to_owned(), reason };
    let mut found = None;
    for item in list_items(response.as_bytes()) {
        if !extension_name(item).eq_ignore_ascii_case(NAME.as_bytes()) {
            // Not offered: the handshake's own check refuses it.
            return Err(fail("it names an extension that was not offered"));
        }
        if found.is_some() {
            return Err(fail("it accepts permessage-deflate twice"));
        }
        found = Some(Params::parse(item).map_err(fail)?);
    }
    let Some(p) = found else {
        return Ok(None);
    };
    // RFC 7692 §7.1.1.1: server_no_context_takeover asked for must be granted.
    if config.peer_no_context_takeover && !p.server_no_context_takeover {
        return Err(fail("it does not grant server_no_context_takeover, which was asked for"));
    }
    // RFC 7692 §7.1.2.1: a value, and not more than offered; when a limit was offered, the
    // server must accept it by answering with the parameter.
    let rx_window = match p.server_max_window_bits {
        Some(None) => return Err(fail("server_max_window_bits has no value")),
        Some(Some(bits)) if bits > config.peer_max_window_bits => {
            return Err(fail("server_max_window_bits is larger than offered"))
        }
        Some(Some(bits)) => bits,
        None if config.peer_max_window_bits < 15 => {
            return Err(fail("it does not grant server_max_window_bits, which was asked for"))
        }
        None => 15,
    };
    // RFC 7692 §7.1.2.2: a value no larger than the one offered (the offer always allows it).
    let tx_window = match p.client_max_window_bits {
        Some(None) => return Err(fail("client_max_window_bits has no value")),
        Some(Some(bits)) if bits > config.max_window_bits => {
            return Err(fail("client_max_window_bits is larger than offered"))
        }
        Some(Some(bits)) => bits,
        None => config.max_window_bits,
    };
    Ok(Some(PerMessageDeflate::new(
        config,
        Negotiated {
            tx_window,
            tx_no_context_takeover: p.client_no_context_takeover || config.no_context_takeover,
            rx_window,
            rx_no_context_takeover: p.server_no_context_takeover,
        },
    )))
}

/// A server's answer to a client's `Sec-WebSocket-Extensions` offers (RFC 7692 §5.1): the
/// first permessage-deflate offer it can accept, as the response header value to send and the
/// extension to install. `None`: no acceptable offer (the connection goes on uncompressed).
///
/// Declined: offers with an unknown or repeated parameter or an invalid value (§5.1), and
/// offers limiting the server's window to 8 bits (see the module docs).
pub fn server_accept(
    offers: Option<&str>,
    config: &DeflateConfig,
) -> Option<(String, PerMessageDeflate)> {
    let offers = offers?;
    for item in list_items(offers.as_bytes()) {
        if !extension_name(item).eq_ignore_ascii_case(NAME.as_bytes()) {
            continue;
        }
        let Ok(offer) = Params::parse(item) else {
            continue;
        };
        let tx_window = match offer.server_max_window_bits {
            // RFC 7692 §7.1.2.1: in an offer it has a value.
            Some(None) => continue,
            Some(Some(bits)) => bits.min(config.max_window_bits),
            None => config.max_window_bits,
        };
        if tx_window < 9 {
            continue;
        }
        let tx_no_context_takeover = offer.server_no_context_takeover || config.no_context_takeover;
        // RFC 7692 §7.1.2.2: the client's window can be limited only when it offered the
        // parameter; a value in the offer is the largest it will use.
        let (rx_window, send_rx_window) = match offer.client_max_window_bits {
            Some(offered) => {
                let allowed = offered.unwrap_or(15);
                let bits = allowed.min(config.peer_max_window_bits);
                (bits, bits < allowed)
            }
            None => (15, false),
        };
        let mut response = String::from(NAME);
        if tx_no_context_takeover {
            response.push_str("; server_no_context_takeover");
        }
        if config.peer_no_context_takeover {
            response.push_str("; client_no_context_takeover");
        }
        if offer.server_max_window_bits.is_some() || tx_window < 15 {
            response.push_str(&format!("; server_max_window_bits={tx_window}"));
        }
        if send_rx_window {
            response.push_str(&format!("; client_max_window_bits={rx_window}"));
        }
        let negotiated = Negotiated {
            tx_window,
            tx_no_context_takeover,
            rx_window,
            // Only what the response says binds the client: its own client_no_context_takeover
            // in the offer is a hint (RFC 7692 §7.1.1.2) that Autobahn's client, for one, does
            // not follow when the response leaves it out. Resetting on a hint breaks the next
            // message that refers back.
            rx_no_context_takeover: config.peer_no_context_takeover,
        };
        return Some((response, PerMessageDeflate::new(config, negotiated)));
    }
    None
}

/// Splits an extension item at the `;` outside quoted strings.
fn split_params(item: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(item);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in s.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if b == b';' && !quoted {
                rest = Some(&s[i + 1..]);
                return Some(&s[..i]);
            }
        }
        rest = None;
        Some(s)
    })
}

/// A parameter value: a token, or a quoted string whose unescaped content is a token
/// (RFC 6455 §9.1).
fn unquote(v: &[u8]) -> Result<Vec<u8>, &'static str> {
    let inner = match v {
        [b'"', inner @ .., b'"'] => {
            let mut out = Vec::with_capacity(inner.len());
            let mut bytes = inner.iter();
            while let Some(&b) = bytes.next() {
                match b {
                    b'\\' => out.push(*bytes.next().ok_or("a quoted value ends in a backslash")?),
                    b'"' => return Err("a quoted value has a stray quote"),
                    b => out.push(b),
                }
            }
            out
        }
        v => v.to_vec(),
    };
    match std::str::from_utf8(&inner) {
        Ok(s) if is_token(s) => Ok(inner),
        _ => Err("a parameter value is not a token"),
    }
}

/// RFC 7692 §7.1.2: a window size is a decimal 8 to 15, without leading zeros.
fn window_bits(v: &[u8]) -> Result<u8, &'static str> {
    match v {
        [d @ b'8'..=b'9'] => Ok(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Ok(10 + d - b'0'),
        _ => Err("a window size is not a number from 8 to 15"),
    }
}

// ---------------------------------------------------------------------------------------------
// The extension
// ---------------------------------------------------------------------------------------------

/// What the two ends agreed on, from this end's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Negotiated {
    /// The window this end may compress with (8: it sends uncompressed).
    tx_window: u8,
    tx_no_context_takeover: bool,
    /// The window the peer may compress with.
    rx_window: u8,
    rx_no_context_takeover: bool,
}

/// The negotiated permessage-deflate extension of one connection (RFC 7692): compresses
/// outbound data messages with RSV1 set and inflates inbound ones, streaming, with the message
/// size limit checked on the inflated size as it grows.
pub struct PerMessageDeflate {
    level: Compression,
    threshold: usize,
    negotiated: Negotiated,
    /// Created at the first compressed message each way (see the module docs on memory).
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
    /// The compressed frame payload being built.
    tx: Vec<u8>,
    /// The inflated message in progress.
    rx: Vec<u8>,
    /// The peer ended its deflate stream (a block with BFINAL set) within this message.
    rx_ended: bool,
    /// Compressed bytes received of the message in progress.
    rx_wire: usize,
    stats: ExtensionStats,
}

impl PerMessageDeflate {
    fn new(config: &DeflateConfig, negotiated: Negotiated) -> Self {
        PerMessageDeflate {
            level: Compression::new(config.level.min(9)),
            threshold: config.threshold,
            negotiated,
            compressor: None,
            decompressor: None,
            tx: Vec::new(),
            rx: Vec::new(),
            rx_ended: false,
            rx_wire: 0,
            stats: ExtensionStats::default(),
        }
    }

    /// Whether this end compresses what it sends: false when the peer limited its window to
    /// 8 bits, which this end cannot honour except by sending uncompressed.
    pub fn compresses(&self) -> bool {
        self.negotiated.tx_window >= 9
    }

    /// Inflates `input` onto `self.rx`, checking the size limit after every chunk of output.
    fn inflate(
        &mut self,
        input: &[u8],
        flush: FlushDecompress,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if self.rx_ended {
            // RFC 7692 §7.2.3.4: after a block with BFINAL set, what follows in the message
            // (a padding byte, the appended tail) carries no data.
            return Ok(());
        }
        // Inflating with a window at least the peer's decodes everything the peer may send;
        // flate2 accepts 9..=15.
        let bits = self.negotiated.rx_window.clamp(9, 15);
        let d =
            self.decompressor.get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut pos = 0;
        loop {
            // One byte past the limit proves it was crossed.
            let room = limit.saturating_add(1).saturating_sub(self.rx.len());
            let guess = self.rx.len().max(input.len().saturating_mul(4));
            let chunk = room.min(guess.clamp(4096, INFLATE_CHUNK_MAX));
            let start = self.rx.len();
            if self.rx.capacity() < start + chunk {
                // Grow by doubling, but never past the limit: a bomb gets at most limit + 1
                // bytes of buffer (Vec's own doubling would reach twice the limit).
                let target = self
                    .rx
                    .capacity()
                    .saturating_mul(2)
                    .max(start + chunk)
                    .min(limit.saturating_add(1));
                self.rx.reserve_exact(target - start);
            }
            self.rx.resize(start + chunk, 0);
            let (in0, out0) = (d.total_in(), d.total_out());
            let status = d.decompress(&input[pos..], &mut self.rx[start..], flush);
            let consumed = (d.total_in() - in0) as usize;
            let produced = (d.total_out() - out0) as usize;
            self.rx.truncate(start + produced);
            pos += consumed;
            let status =
                status.map_err(|_| ProtocolError::Extension("invalid permessage-deflate data"))?;
            if self.rx.len() > limit {
                return Err(ProtocolError::MessageTooLarge { size: self.rx.len() as u64, limit });
            }
            match status {
                Status::StreamEnd => {
                    self.rx_ended = true;
                    return Ok(());
                }
                // All input taken and output to spare: nothing more is pending.
                _ if pos == input.len() && produced < chunk => return Ok(()),
                // A flood of empty blocks makes no output but is consumed: never a reason to
                // loop without progress.
                _ if consumed == 0 && produced == 0 => {
                    return if pos == input.len() {
                        Ok(())
                    } else {
                        Err(ProtocolError::Extension("permessage-deflate data makes no progress"))
                    };
                }
                _ => {}
            }
        }
    }
}

impl Extension for PerMessageDeflate {
    fn name(&self) -> &str {
        NAME
    }

    fn rsv_mask(&self) -> u8 {
        // RFC 7692 §6: the "Per-Message Compressed" bit is RSV1.
        0b100
    }

    fn decode(&mut self, payload: &[u8], limit: usize) -> Result<&[u8], ProtocolError> {
        let start = self.rx.len();
        self.stats.wire_bytes_in += payload.len() as u64;
        self.rx_wire += payload.len();
        self.inflate(payload, FlushDecompress::None, limit)?;
        Ok(&self.rx[start..])
    }

    fn decode_finish(&mut self, limit: usize) -> Result<Bytes, ProtocolError> {
        // RFC 7692 §7.2.2: append 00 00 ff ff to the payload and inflate. An empty payload
        // holds no block for the tail to end (some peers send an empty message so): it is
        // an empty message, and the inflater's state is left as it was.
        if self.rx_wire > 0 {
            self.inflate(&TAIL, FlushDecompress::Sync, limit)?;
        }
        self.rx_wire = 0;
        if self.rx_ended || self.negotiated.rx_no_context_takeover {
            // The peer starts its next message with an empty window (RFC 7692 §7.1.1), or has
            // ended its stream: the next message is a new one.
            if let Some(d) = self.decompressor.as_mut() {
                d.reset(false);
            }
        }
        self.rx_ended = false;
        self.stats.messages_in += 1;
        self.stats.bytes_in += self.rx.len() as u64;
        let mut message = std::mem::take(&mut self.rx);
        if message.capacity() - message.len() > KEEP_SLACK {
            // The message's bytes leave with it: do not let a small one hold a large chunk.
            message.shrink_to_fit();
        }
        Ok(Bytes::from(message))
    }

    fn decoded_len(&self) -> usize {
        self.rx.len()
    }

    fn decode_abort(&mut self) {
        self.rx = Vec::new();
        self.rx_ended = false;
        self.rx_wire = 0;
        self.decompressor = None;
    }

    fn encode_rsv(&self, len: Option<usize>) -> u8 {
        match len {
            _ if !self.compresses() => 0,
            Some(n) if n < self.threshold => 0,
            _ => 0b100,
        }
    }

    fn encode(&mut self, payload: &[u8], fin: bool) -> Result<&[u8], &'static str> {
        let bits = self.negotiated.tx_window.clamp(9, 15);
        let level = self.level;
        let c = self
            .compressor
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        self.tx.clear();
        self.tx.reserve(payload.len() / 2 + 64);
        // RFC 7692 §7.2.1: the whole message is one sync-flushed run; a fragment before the
        // last needs no flush (its output may even be empty).
        let flush = if fin { FlushCompress::Sync } else { FlushCompress::None };
        let start = c.total_in();
        loop {
            if self.tx.capacity() - self.tx.len() < 64 {
                self.tx.reserve(self.tx.capacity().max(256));
            }
            let consumed = (c.total_in() - start) as usize;
            let status = c.compress_vec(&payload[consumed..], &mut self.tx, flush);
            if status.is_err() {
                self.compressor = None;
                return Err("permessage-deflate compression failed");
            }
            let done = (c.total_in() - start) as usize == payload.len();
            // zlib: output space left over means the flush is complete.
            if done && self.tx.len() < self.tx.capacity() {
                break;
            }
        }
        self.stats.bytes_out += payload.len() as u64;
        if fin {
            // RFC 7692 §7.2.1: remove the 00 00 ff ff the sync flush ended with.
            if self.tx.ends_with(&TAIL) {
                self.tx.truncate(self.tx.len() - TAIL.len());
            } else if self.tx.is_empty() {
                // Nothing since the last flush (an empty message): zlib emits no block at
                // all. RFC 7692 §7.2.1: "append an empty DEFLATE block with no compression"
                // (00 00 00 ff ff) and strip the tail: 00.
                self.tx.push(0x00);
            } else {
                self.compressor = None;
                return Err("permessage-deflate compression did not end in a sync flush");
            }
            if self.negotiated.tx_no_context_takeover {
                c.reset();
            }
            self.stats.messages_out += 1;
        }
        self.stats.wire_bytes_out += self.tx.len() as u64;
        Ok(&self.tx)
    }

    fn release_buffers(&mut self) {
        if self.tx.capacity() > 0 {
            self.tx = Vec::new();
        }
        if self.rx.is_empty() && self.rx.capacity() > 0 {
            self.rx = Vec::new();
        }
        // Without context takeover nothing carries over to the next message.
        if self.negotiated.tx_no_context_takeover {
            self.compressor = None;
        }
        if self.negotiated.rx_no_context_takeover && self.rx.is_empty() {
            self.decompressor = None;
        }
    }

    fn stats(&self) -> ExtensionStats {
        self.stats
    }
}

impl std::fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("level", &self.level.level())
            .field("threshold", &self.threshold)
            .field("negotiated", &self.negotiated)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(offers: &str) -> Option<String> {
        server_accept(Some(offers), &DeflateConfig::default()).map(|(r, _)| r)
    }

    fn negotiated(offers: &str, config: &DeflateConfig) -> Negotiated {
        server_accept(Some(offers), config).expect("accepted").1.negotiated
    }

    #[test]
    fn parameters_with_and_without_values() {
        let p = Params::parse(
            b"permessage-deflate; server_no_context_takeover ;client_no_context_takeover; \
              server_max_window_bits=10; client_max_window_bits",
        )
        .unwrap();
        assert_eq!(
            p,
            Params {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(Some(10)),
                client_max_window_bits: Some(None),
            }
        );
        // Quoted values (RFC 6455 §9.1), names in any case.
        let p = Params::parse(b"permessage-deflate; Client_Max_Window_Bits=\"15\"").unwrap();
        assert_eq!(p.client_max_window_bits, Some(Some(15)));
        assert_eq!(Params::parse(b"permessage-deflate").unwrap(), Params::default());
    }

    #[test]
    fn malformed_parameters_are_refused() {
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; foo=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; server_max_window_bits=",
            "permessage-deflate; server_max_window_bits=\"1 0\"",
            "permessage-deflate; server_max_window_bits=\"10",
            "permessage-deflate; ; server_no_context_takeover",
        ] {
            assert!(Params::parse(bad.as_bytes()).is_err(), "{bad}");
            assert_eq!(accept(bad), None, "a server declines {bad}");
        }
    }

    #[test]
    fn the_server_takes_the_first_acceptable_offer() {
        assert_eq!(accept("permessage-deflate").as_deref(), Some("permessage-deflate"));
        assert_eq!(
            accept(
                "x-webkit-deflate-frame, permessage-deflate; foo, permessage-deflate; \
                 server_no_context_takeover, permessage-deflate"
            )
            .as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        // 8 bits cannot be honoured when compressing: the next offer is taken.
        assert_eq!(
            accept("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9")
                .as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
        assert_eq!(accept("permessage-deflate; server_max_window_bits=8"), None);
        // In an offer server_max_window_bits has a value.
        assert_eq!(accept("permessage-deflate; server_max_window_bits"), None);
        assert_eq!(accept("x-foo, x-bar"), None);
        assert_eq!(server_accept(None, &DeflateConfig::default()).map(|(r, _)| r), None);
    }

    #[test]
    fn the_server_answers_within_its_config() {
        let small = DeflateConfig::default()
            .max_window_bits(10)
            .peer_max_window_bits(11)
            .peer_no_context_takeover(true);
        let offer = "permessage-deflate; client_max_window_bits";
        assert_eq!(
            server_accept(Some(offer), &small).unwrap().0,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits=11"
        );
        let n = negotiated(offer, &small);
        assert_eq!((n.tx_window, n.rx_window, n.rx_no_context_takeover), (10, 11, true));
        // Without client_max_window_bits in the offer the client's window cannot be limited.
        let n = negotiated("permessage-deflate", &small);
        assert_eq!(n.rx_window, 15);
        // A client's own limit is kept when smaller.
        let n = negotiated("permessage-deflate; client_max_window_bits=9", &small);
        assert_eq!(n.rx_window, 9);
        // The offer's server_max_window_bits is answered with the smaller of the two.
        let n =
            negotiated("permessage-deflate; server_max_window_bits=12", &DeflateConfig::default());
        assert_eq!(n.tx_window, 12);
    }

    #[test]
    fn client_offers_follow_the_config() {
        assert_eq!(
            client_offer(&DeflateConfig::default()),
            "permessage-deflate; client_max_window_bits"
        );
        let c = DeflateConfig::default()
            .no_context_takeover(true)
            .peer_no_context_takeover(true)
            .max_window_bits(9)
            .peer_max_window_bits(12);
        assert_eq!(
            client_offer(&c),
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; \
             server_max_window_bits=12; client_max_window_bits=9"
        );
    }

    #[test]
    fn the_client_refuses_answers_it_did_not_allow() {
        let plain = DeflateConfig::default();
        let strict =
            DeflateConfig::default().peer_max_window_bits(10).peer_no_context_takeover(true);
        for (config, response) in [
            (&plain, "permessage-deflate; foo"),
            (&plain, "permessage-deflate, permessage-deflate"),
            (&plain, "permessage-deflate; client_max_window_bits"),
            (&plain, "permessage-deflate; server_max_window_bits"),
            (&plain, "permessage-deflate; server_no_context_takeover=x"),
            (&plain, "x-foo"),
            (&strict, "permessage-deflate; server_no_context_takeover"),
            (&strict, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11"),
            (&strict, "permessage-deflate; server_max_window_bits=10"),
            (
                &DeflateConfig::default().max_window_bits(10),
                "permessage-deflate; client_max_window_bits=11",
            ),
        ] {
            let err = client_accept(Some(response), config).unwrap_err();
            assert!(matches!(err, HandshakeError::ExtensionResponse { .. }), "{response}: {err}");
        }
        let ok = client_accept(
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
            &strict,
        )
        .unwrap()
        .unwrap();
        assert_eq!((ok.negotiated.rx_window, ok.negotiated.rx_no_context_takeover), (9, true));
        assert!(client_accept(None, &plain).unwrap().is_none());
        // A server may limit its own window and ask for no context takeover unasked.
        let ok = client_accept(
            Some("permessage-deflate; server_max_window_bits=11; client_no_context_takeover"),
            &plain,
        )
        .unwrap()
        .unwrap();
        assert_eq!((ok.negotiated.rx_window, ok.negotiated.tx_no_context_takeover), (11, true));
    }

    #[test]
    fn a_client_limited_to_8_bits_sends_uncompressed() {
        let ext = client_accept(
            Some("permessage-deflate; client_max_window_bits=8"),
            &DeflateConfig::default(),
        )
        .unwrap()
        .unwrap();
        assert!(!ext.compresses());
        assert_eq!(ext.encode_rsv(Some(1 << 20)), 0);
        assert_eq!(ext.encode_rsv(None), 0);
    }

    #[test]
    fn threshold_decides_per_message() {
        let (_, ext) =
            server_accept(Some("permessage-deflate"), &DeflateConfig::default()).unwrap();
        assert_eq!(ext.encode_rsv(Some(255)), 0);
        assert_eq!(ext.encode_rsv(Some(256)), 0b100);
        assert_eq!(ext.encode_rsv(None), 0b100);
    }
}
