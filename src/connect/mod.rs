//! `wschannel connect URL`: interactive on a terminal, a pipe for scripts otherwise.
//!
//! Every failure becomes a [`Failure`]: one line that says what to do next, and an exit code
//! for the stage that failed (see the table in `wschannel connect --help`).

mod interactive;
mod pipe;

use std::borrow::Cow;
use std::fmt;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use wschannel::{
    ClientBuilder, CloseCode, Config, DeflateConfig, Error, ProtocolError, ProxyError,
    ProxyErrorKind, ProxyRefusal, Stage,
};

use crate::args::ConnectArgs;

/// Exit codes, one per stage that can fail. Documented in `--help` and the README.
pub mod code {
    /// Anything else: a file or stdin could not be read, stdout could not be written.
    pub const OTHER: u8 = 1;
    /// Bad command line, URL, proxy URL or `--ca-cert` file (clap uses 2 for usage errors too).
    pub const USAGE: u8 = 2;
    /// The host name did not resolve.
    pub const DNS: u8 = 3;
    /// TCP: refused, unreachable, timed out.
    pub const CONNECT: u8 = 4;
    /// The TLS handshake failed.
    pub const TLS: u8 = 5;
    /// The server answered the upgrade with another HTTP status.
    pub const HTTP: u8 = 6;
    /// A bad handshake answer, or the server broke the protocol afterwards.
    pub const PROTOCOL: u8 = 7;
    /// The connection ended without a close frame (1006), or keepalive gave up.
    pub const ABNORMAL: u8 = 8;
    /// The proxy: unreachable, refused the tunnel, wants credentials, broke its protocol or
    /// timed out (an unusable proxy URL is [`USAGE`]).
    pub const PROXY: u8 = 9;
}

/// A failure of `wschannel connect`: the line to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code for an error `run` (or any other command) returned: the [`Failure`]'s code,
/// else 1.
pub fn exit_code(e: &anyhow::Error) -> ExitCode {
    ExitCode::from(e.downcast_ref::<Failure>().map_or(code::OTHER, |f| f.code))
}

/// Connects, then runs the interactive mode when stdin and stdout are terminals that
/// rustyline can drive (and not `--one-message`), the pipe mode otherwise.
pub async fn run(args: ConnectArgs) -> Result<()> {
    let builder = client(&args)?;
    if let Some(dir) = &args.save_binary {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(code::USAGE, format!("cannot create --save-binary {}: {e}", dir.display()))
        })?;
    }
    let on_terminal = !args.one_message && io::stdin().is_terminal() && io::stdout().is_terminal();
    // A terminal rustyline cannot drive (TERM=dumb) gets the pipe mode.
    let prompt = if on_terminal { interactive::Prompt::new() } else { None };
    let ws = builder.connect(&args.url).await.map_err(|e| connect_failure(&args, e))?;
    match prompt {
        Some(prompt) => interactive::run(prompt, ws, &args).await,
        None => pipe::run(ws, &args).await,
    }
}

/// The client options from the command line.
fn client(args: &ConnectArgs) -> Result<ClientBuilder, Failure> {
    let config = Config::default()
        .max_message_size(args.max_message_size)
        .max_frame_size(args.max_message_size)
        .ping_interval(args.ping_interval)
        .ping_timeout(args.ping_timeout)
        .deflate(args.deflate.then(|| DeflateConfig::default().level(args.deflate_level)));
    let mut b = ClientBuilder::new()
        .connect_timeout(args.connect_timeout)
        .config(config)
        .danger_insecure_skip_verify(args.insecure);
    for p in &args.subprotocols {
        b = b.protocol(p);
    }
    for (name, value) in &args.headers {
        b = b.header(name, value);
    }
    if let Some(origin) = &args.origin {
        b = b.origin(origin);
    }
    if args.no_proxy {
        b = b.no_proxy();
    } else if let Some(proxy) = &args.proxy {
        b = b.proxy(proxy).map_err(|e| match e {
            Error::Proxy(e) => proxy_failure(&e),
            e => Failure::new(code::USAGE, format!("--proxy: {e}")),
        })?;
    }
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            Failure::new(code::USAGE, format!("cannot read --ca-cert {}: {e}", path.display()))
        })?;
        b = b.root_certificates_pem(&pem).map_err(|e| {
            Failure::new(
                code::USAGE,
                format!(
                    "--ca-cert {}: {e}; give a PEM file with CERTIFICATE blocks",
                    path.display()
                ),
            )
        })?;
    }
    Ok(b)
}

/// One line for a failed connect, saying what to do next, with the stage's exit code.
fn connect_failure(args: &ConnectArgs, e: Error) -> Failure {
    let timeout = humantime::format_duration(args.connect_timeout);
    match e {
        Error::InvalidUrl { url, reason } => {
            Failure::new(code::USAGE, format!("invalid URL {url:?}: {reason}"))
        }
        Error::Dns { host, source } => Failure::new(
            code::DNS,
            format!("could not resolve host {host:?} ({source}): check the host name and your network"),
        ),
        Error::Connect { addr, source } => {
            let message = match source.kind() {
                io::ErrorKind::ConnectionRefused => format!(
                    "connection refused by {addr}: is a server listening there? try `wschannel serve --listen {addr}`"
                ),
                io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
                    format!("cannot reach {addr} ({source}): check your network connection")
                }
                io::ErrorKind::TimedOut => format!(
                    "connecting to {addr} timed out: is the host up and the port open (no firewall)?"
                ),
                _ => format!("could not connect to {addr}: {source}"),
            };
            Failure::new(code::CONNECT, message)
        }
        Error::Timeout { stage } => match stage {
            Stage::Dns => Failure::new(
                code::DNS,
                format!("DNS lookup did not finish in {timeout}: check your network, or raise --connect-timeout"),
            ),
            Stage::Tls => Failure::new(
                code::TLS,
                format!("the TLS handshake did not finish in {timeout}: is it a TLS server? or raise --connect-timeout"),
            ),
            Stage::Proxy => Failure::new(
                code::PROXY,
                format!(
                    "the proxy did not open the tunnel in {timeout}: is it that kind of proxy \
                     (http:// or socks5://)? raise --connect-timeout, or connect directly with \
                     --no-proxy"
                ),
            ),
            Stage::Handshake => Failure::new(
                code::PROTOCOL,
                format!(
                    "the server accepted the connection but did not answer the WebSocket upgrade in {timeout}: \
                     is it a WebSocket server, and is the scheme right (ws:// or wss://)?"
                ),
            ),
            _ => Failure::new(
                code::CONNECT,
                format!("connecting did not finish in {timeout}: is the host up and the port open? or raise --connect-timeout"),
            ),
        },
        Error::Tls { host, source } => {
            let text = source.to_string();
            let hint = if text.contains("certificate") || text.contains("Certificate") {
                "trust its CA with --ca-cert PEM, or skip the check with --insecure (testing only)"
            } else {
                "is it a TLS server (for plain WebSocket use ws://)?"
            };
            Failure::new(code::TLS, format!("TLS handshake with {host} failed ({text}): {hint}"))
        }
        Error::TlsConfig(reason) => {
            Failure::new(code::USAGE, format!("unusable TLS settings: {reason}"))
        }
        Error::Http(r) => {
            let hint = match r.status {
                301 | 302 | 303 | 307 | 308 => match r.header("Location") {
                    Some(to) => format!("it redirects to {to}; connect to that URL"),
                    None => "it redirects; check the URL".to_owned(),
                },
                426 => "it wants another protocol version; see its answer below".to_owned(),
                401 | 403 => {
                    "check your credentials (-H 'Authorization: ...'), --origin and --subprotocol"
                        .to_owned()
                }
                404 => "check the URL path".to_owned(),
                429 | 503 => "the server is busy; try again later".to_owned(),
                _ => "see the server's answer below".to_owned(),
            };
            let mut message = format!(
                "the server answered HTTP {} {} instead of a WebSocket upgrade: {hint}",
                r.status, r.reason
            );
            let body = String::from_utf8_lossy(&r.body);
            let body = body.trim_end();
            if !body.is_empty() {
                message.push('\n');
                message.push_str(body);
            }
            Failure::new(code::HTTP, message)
        }
        Error::Proxy(e) => proxy_failure(&e),
        Error::Handshake(e) => Failure::new(
            code::PROTOCOL,
            format!("the WebSocket handshake failed: {e}; is {} a WebSocket endpoint?", args.url),
        ),
        Error::Io(e) => Failure::new(
            code::PROTOCOL,
            format!(
                "the connection failed during the WebSocket handshake ({e}): is it a WebSocket server, \
                 and is the scheme right (ws:// or wss://)?"
            ),
        ),
        e => Failure::new(code::OTHER, e.to_string()),
    }
}

/// One line for a proxy that failed, naming it (password hidden) and where it came from.
fn proxy_failure(e: &ProxyError) -> Failure {
    let proxy = &e.proxy;
    let (from, fix) = match e.variable {
        Some(name) => (format!(" (from ${name})"), format!("fix ${name}")),
        None => (String::new(), "fix --proxy".to_owned()),
    };
    let target = &e.target;
    match &e.kind {
        ProxyErrorKind::InvalidUrl(reason) => Failure::new(
            code::USAGE,
            format!(
                "invalid proxy URL {proxy:?}{from}: {reason}; {fix}, or connect directly with \
                 --no-proxy"
            ),
        ),
        ProxyErrorKind::Unreachable(source) => Failure::new(
            code::PROXY,
            format!(
                "cannot reach the proxy {proxy}{from}: {source}; is it running at that \
                 address? {fix}, or connect directly with --no-proxy (or list the host in \
                 NO_PROXY)"
            ),
        ),
        ProxyErrorKind::Refused(ProxyRefusal::Http { status, reason }) => Failure::new(
            code::PROXY,
            format!(
                "the proxy {proxy}{from} refused to connect to {target} with HTTP {status} \
                 {reason}: it does not allow this host or port; ask its administrator, or \
                 connect directly with --no-proxy"
            ),
        ),
        ProxyErrorKind::Refused(r @ ProxyRefusal::Socks { reply }) => Failure::new(
            code::PROXY,
            format!(
                "the SOCKS5 proxy {proxy}{from} could not connect to {target}: reply \
                 {reply:#04x}, {}; is a server listening at {target}, and may the proxy reach \
                 it?",
                r.meaning()
            ),
        ),
        ProxyErrorKind::AuthRequired { rejected: false } => Failure::new(
            code::PROXY,
            format!(
                "the proxy {proxy}{from} requires a user and password: give them in its URL, \
                 e.g. --proxy http://USER:PASSWORD@HOST:PORT"
            ),
        ),
        ProxyErrorKind::AuthRequired { rejected: true } => Failure::new(
            code::PROXY,
            format!(
                "the proxy {proxy}{from} rejected the user and password: check them \
                 (percent-encode @ : / as %40 %3A %2F)"
            ),
        ),
        ProxyErrorKind::Protocol(what) => Failure::new(
            code::PROXY,
            format!(
                "the proxy {proxy}{from} broke its protocol ({what}): is it an HTTP proxy \
                 (http://) or a SOCKS5 proxy (socks5://)? {fix}"
            ),
        ),
        _ => Failure::new(code::PROXY, e.to_string()),
    }
}

/// One line for an error the connection reported after the handshake.
fn runtime_failure(args: &ConnectArgs, e: &Error) -> Failure {
    match e {
        Error::Protocol(ProtocolError::PingTimeout) => Failure::new(
            code::ABNORMAL,
            format!(
                "no answer to a keepalive ping in {}: the server or the network is gone",
                humantime::format_duration(args.ping_timeout)
            ),
        ),
        Error::Protocol(
            p @ (ProtocolError::MessageTooLarge { .. } | ProtocolError::FrameTooLarge { .. }),
        ) => Failure::new(
            code::PROTOCOL,
            format!("{p}: raise --max-message-size to accept it (closed with 1009)"),
        ),
        Error::Protocol(p) => Failure::new(
            code::PROTOCOL,
            format!("the server broke the WebSocket protocol: {p}; the connection was closed"),
        ),
        Error::Io(e) => Failure::new(
            code::ABNORMAL,
            format!("the connection broke ({e}): the server or the network went away (1006)"),
        ),
        e => Failure::new(code::OTHER, e.to_string()),
    }
}

/// How the connection ended.
struct Ending {
    code: Option<CloseCode>,
    reason: String,
    /// This end sent the first close frame.
    we_closed: bool,
}

impl Ending {
    fn of(rx: &wschannel::Receiver, we_closed: bool) -> Ending {
        Ending {
            code: rx.close_code(),
            reason: rx.close_reason().map(|r| r.as_str().to_owned()).unwrap_or_default(),
            we_closed,
        }
    }

    /// For people: `closed by the server: 1000 (normal closure) "bye"`.
    fn describe(&self) -> String {
        let Some(code) = self.code else {
            return "connection ended".to_owned();
        };
        let who = if self.we_closed { "us" } else { "the server" };
        let mut s = format!("closed by {who}: {}", code.as_u16());
        if let Some(name) = code.name() {
            s.push_str(&format!(" ({name})"));
        }
        if !self.reason.is_empty() {
            s.push_str(&format!(" {:?}", self.reason));
        }
        s
    }

    /// An abnormal end (1006: no close frame) is a failure; any close frame is not.
    fn result(&self) -> Result<(), Failure> {
        if self.code.is_some_and(|c| c != CloseCode::ABNORMAL) {
            return Ok(());
        }
        let message = if self.we_closed {
            "the server did not answer our close (1006): it may have dropped the connection"
        } else {
            "the connection dropped without a close frame (1006): the server or the network went away"
        };
        Err(Failure::new(code::ABNORMAL, message))
    }
}

/// How long to wait for the server's close after ours: the library's close timeout bounds
/// it; this is the backstop.
const CLOSE_BACKSTOP: Duration = Duration::from_secs(12);

/// Text from the network made safe for a terminal: control characters (C0 but newline and
/// tab, DEL and C1, which start escape sequences that can move the cursor, rewrite the screen
/// or set the clipboard through OSC 52) are shown as `\x1b` or `\u{9b}`; a backslash is
/// left as it is. Interactive output and error messages only: the pipe mode stays
/// byte-exact.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Writes binary message number `n` into `dir`, named by what its first bytes say it is. The
/// file must be new: an existing file is not overwritten and a symlink in its place is not
/// followed (`O_CREAT | O_EXCL`), so a message cannot be written anywhere else.
fn save_binary(dir: &Path, n: u64, data: &[u8]) -> io::Result<PathBuf> {
    let ext = match data {
        [0x89, b'P', b'N', b'G', ..] => "png",
        [0xff, 0xd8, 0xff, ..] => "jpg",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        [b'%', b'P', b'D', b'F', ..] => "pdf",
        [0x1f, 0x8b, ..] => "gz",
        [b'P', b'K', 0x03, 0x04, ..] => "zip",
        _ => "bin",
    };
    let path = dir.join(format!("binary-{n:04}.{ext}"));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(
        |e| match e.kind() {
            io::ErrorKind::AlreadyExists => io::Error::new(
                e.kind(),
                format!(
                    "{} already exists (--save-binary writes new files only): use an empty \
                     directory",
                    path.display()
                ),
            ),
            _ => e,
        },
    )?;
    io::Write::write_all(&mut file, data)?;
    Ok(path)
}

/// `89 50 4e 47 …`: the first 16 bytes in hex.
fn hex_preview(data: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in data.iter().take(16).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    if data.len() > 16 {
        s.push_str(" …");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: server text, a `Location` header and rejection bodies reached the terminal
    /// unescaped (OSC 52 sets the clipboard, CSI 2J clears the screen).
    #[test]
    fn control_characters_from_the_network_are_shown_escaped() {
        assert!(matches!(escape_controls("plain text\n\tand ünïcode"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("\x1b]52;c;aGk=\x07 \x1b[2J\r\u{9b}31m\x7f ok\nnext"),
            "\\x1b]52;c;aGk=\\x07 \\x1b[2J\\r\\u{9b}31m\\x7f ok\nnext"
        );
    }

    /// Issue 11: `--save-binary` followed symlinks and overwrote existing files.
    #[cfg(unix)]
    #[test]
    fn save_binary_creates_new_files_only_and_never_follows_a_symlink() {
        let dir = std::env::temp_dir().join(format!("wschannel-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        // binary-0001.bin is a symlink to the victim, binary-0002.bin an existing file.
        std::os::unix::fs::symlink(&victim, dir.join("binary-0001.bin")).unwrap();
        std::fs::write(dir.join("binary-0002.bin"), b"old").unwrap();
        let err = save_binary(&dir, 1, b"evil").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("writes new files only"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        save_binary(&dir, 2, b"new").unwrap_err();
        assert_eq!(std::fs::read(dir.join("binary-0002.bin")).unwrap(), b"old");
        let path = save_binary(&dir, 3, b"\x89PNG\r\n").unwrap();
        assert_eq!(path, dir.join("binary-0003.png"));
        assert_eq!(std::fs::read(&path).unwrap(), b"\x89PNG\r\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hex_preview_is_bounded() {
        assert_eq!(hex_preview(b""), "");
        assert_eq!(hex_preview(&[0x89, 0x50]), "89 50");
        assert!(hex_preview(&[0u8; 100]).ends_with("00 …"));
    }

    #[test]
    fn abnormal_ending_is_a_failure() {
        let end = |code: u16| Ending {
            code: Some(CloseCode::new(code).unwrap_or(CloseCode::ABNORMAL)),
            reason: String::new(),
            we_closed: false,
        };
        assert!(end(1000).result().is_ok());
        assert!(end(4000).result().is_ok());
        assert_eq!(end(1006).result().unwrap_err().code, code::ABNORMAL);
    }
}
