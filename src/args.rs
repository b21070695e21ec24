//! Command-line arguments: parsed by clap, validated once into ready configs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// How every `<TIME>` option reads its value (humantime), for both subcommands' help; a macro
/// so that `concat!` can put it into the longer help texts.
macro_rules! time_help {
    () => {
        "TIME is a number and a unit: 500ms, 10s, 1.5s, 5m (or 5min), 1h, 2d;\n\
         parts add up: 1m30s."
    };
}

/// WebSocket echo server and client.
#[derive(Debug, Parser)]
#[command(name = "wschannel", version, about, after_help = EXAMPLES, term_width = 79)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  wschannel serve                          echo server on 127.0.0.1:8080
  wschannel serve --listen 0.0.0.0:9001    listen on every interface, port 9001
  wschannel serve --tls-self-signed        wss:// and https://, throwaway cert
  wschannel serve --deflate                accept permessage-deflate
  wschannel connect ws://127.0.0.1:8080/   talk to it from the terminal";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the echo server (with a browser test page at /).
    Serve(ServeArgs),
    /// Connect to a server: a prompt on a terminal, else a pipe.
    Connect(ConnectArgs),
}

/// `wschannel serve`.
#[derive(Debug, Args)]
#[command(after_help = concat!(time_help!(), "\n\n", "\
Examples:
  wschannel serve
  wschannel serve --listen 127.0.0.1:0 --greeting 'hi there'
  wschannel serve --tls-cert cert.pem --tls-key key.pem
  wschannel serve --deflate --deflate-level 1
  wschannel serve --ping-interval 10s --ping-timeout 5s
  RUST_LOG=debug wschannel serve"))]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Text message sent to each client when it connects.
    #[arg(long, value_name = "TEXT")]
    pub greeting: Option<String>,
    /// Subprotocol to accept (repeatable); the first one the client offers wins.
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,
    /// TLS certificate chain (PEM): serve wss:// and https://.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a certificate for localhost generated at start.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES")]
    pub max_message_size: usize,
    /// Most WebSocket connections at once; beyond it new ones get HTTP 503.
    ///
    /// Most WebSocket connections at once; beyond it new ones get HTTP 503. Default: the file
    /// descriptor limit (raised to the hard limit at start) less --max-handshakes and 64.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Most connections still in their opening handshake.
    ///
    /// Most connections still in their opening handshake (TLS, HTTP request); when all places
    /// are taken, the oldest handshake is dropped for the newest connection. Default: an
    /// eighth of the file descriptor limit, 16 to 1024.
    #[arg(long, value_name = "N")]
    pub max_handshakes: Option<usize>,
    /// Time allowed for a client to send its HTTP request (and TLS handshake).
    #[arg(long, default_value = "10s", value_name = "TIME", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,
    /// Close after this long without a whole text or binary message.
    ///
    /// Close a connection (1000) after this long without a whole text or binary message from
    /// the client. Pings, pongs and the fragments of an unfinished message do not count, so a
    /// fragmented message must be finished within this time.
    #[arg(long, default_value = "5m", value_name = "TIME", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Keepalive: ping after TIME without traffic (0 or off: none).
    ///
    /// Send a ping after this long without any traffic from the client, to find peers that
    /// are gone (a pulled cable sends no FIN). 0 or off turns keepalive off.
    #[arg(long, default_value = "25s", value_name = "TIME", value_parser = parse_optional_duration)]
    pub ping_interval: OptionalDuration,
    /// End a connection whose keepalive ping gets no answer in TIME.
    ///
    /// After a keepalive ping, end the connection (close 1011, then drop it) when nothing
    /// arrives from the client within this time. A dead peer holds its slot for at most
    /// --ping-interval plus --ping-timeout.
    #[arg(long, default_value = "20s", value_name = "TIME", value_parser = humantime::parse_duration)]
    pub ping_timeout: Duration,
    /// Outgoing bytes buffered per connection before echoing waits for the client to read.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub write_buffer: usize,
    /// On SIGINT/SIGTERM, how long connections get to finish closing.
    #[arg(long, default_value = "5s", value_name = "TIME", value_parser = humantime::parse_duration)]
    pub grace_period: Duration,
    /// Accept permessage-deflate (RFC 7692) compression.
    #[arg(long)]
    pub deflate: bool,
    /// Compression level with --deflate: 0 (none) to 9 (smallest).
    #[arg(long, default_value_t = 6, value_name = "0-9", requires = "deflate",
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub deflate_level: u32,
}

/// `wschannel connect`.
#[derive(Debug, Args)]
#[command(after_help = time_help!(), after_long_help = CONNECT_HELP)]
pub struct ConnectArgs {
    /// The server's ws:// or wss:// URL.
    pub url: String,
    /// Send stdin lines as text (the default).
    #[arg(long, conflicts_with = "binary")]
    pub text: bool,
    /// Send stdin lines as binary messages.
    #[arg(long)]
    pub binary: bool,
    /// Binary as base64, in and out.
    ///
    /// Print incoming binary messages as base64, and with --binary decode each stdin line
    /// from base64.
    #[arg(long)]
    pub base64: bool,
    /// Send all of stdin, print one reply, exit.
    ///
    /// Send all of stdin as one message (less one trailing newline), print the first
    /// message that arrives, close with 1000 and exit.
    #[arg(short = '1', long)]
    pub one_message: bool,
    /// Quiet time before closing at the end of stdin.
    ///
    /// After the end of stdin, keep printing what arrives and close (1000) once nothing has
    /// arrived for this long, so the replies to the last lines are not cut off. 0 closes at
    /// once. A server that never goes quiet keeps the connection open.
    #[arg(long, default_value = "500ms", value_name = "TIME", value_parser = humantime::parse_duration)]
    pub linger: Duration,
    /// Add a request header (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Offer a subprotocol (repeatable).
    ///
    /// Offer a subprotocol; repeat it to offer several, in order of preference.
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,
    /// Send this Origin header.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// Time allowed to connect.
    ///
    /// Time allowed for DNS, TCP, TLS and the upgrade together (10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_name = "TIME", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Keepalive: ping after TIME idle (off).
    ///
    /// Send a ping after this long without traffic from the server; off by default.
    #[arg(long, value_name = "TIME", value_parser = humantime::parse_duration)]
    pub ping_interval: Option<Duration>,
    /// Give up on an unanswered ping.
    ///
    /// With --ping-interval: end with exit code 8 when a ping gets no answer in this time.
    #[arg(long, default_value = "20s", value_name = "TIME", value_parser = humantime::parse_duration)]
    pub ping_timeout: Duration,
    /// Trust these CA certificates (wss://).
    ///
    /// Trust the certificates in this PEM file for wss://, besides the built-in roots: for
    /// your own CA or a self-signed server.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Skip certificate checks (testing only).
    ///
    /// Accept any certificate for wss://: still encrypted, but anyone on the path can
    /// pretend to be the server.
    #[arg(long)]
    pub insecure: bool,
    /// Connect through this proxy (http://, socks5://, socks5h://).
    ///
    /// Connect through this proxy instead of the environment's: http://USER:PASS@HOST:PORT
    /// for HTTP CONNECT (USER:PASS@ is optional and sent as basic auth; port 80 by default),
    /// socks5:// for SOCKS5 with the host resolved here, socks5h:// for SOCKS5 with the proxy
    /// resolving it (port 1080 by default). Percent-encode @ : / in the user and password
    /// (%40 %3A %2F).
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    pub proxy: Option<String>,
    /// Connect directly, ignoring the proxy environment.
    ///
    /// Connect directly: ignore http_proxy, https_proxy, all_proxy and no_proxy.
    #[arg(long)]
    pub no_proxy: bool,
    /// Largest incoming message.
    ///
    /// Largest incoming message, in bytes; a bigger one ends the connection (1009, exit 7).
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    pub max_message_size: usize,
    /// Save incoming binary messages in DIR.
    ///
    /// Write each incoming binary message to DIR/binary-NNNN.EXT (EXT from its first
    /// bytes: png, jpg, gif, webp, pdf, gz, zip, else bin), so an image can be opened. Files
    /// are created new: an existing file or symlink of that name is an error, never
    /// overwritten or followed.
    #[arg(long, value_name = "DIR")]
    pub save_binary: Option<PathBuf>,
    /// Offer permessage-deflate compression.
    ///
    /// Offer permessage-deflate (RFC 7692); the server may decline, and the connection then
    /// goes on uncompressed (the interactive banner says which).
    #[arg(long)]
    pub deflate: bool,
    /// Compression level with --deflate (0-9).
    #[arg(long, default_value_t = 6, value_name = "0-9", requires = "deflate",
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub deflate_level: u32,
}

const CONNECT_HELP: &str = concat!(
    "\
On a terminal, connect is interactive: type a line and Enter sends it as
text. Incoming text is shown as `< text`, binary as `< [binary N bytes]`
and a hex preview, and the close code and reason when the connection ends.
Commands: /binary PATH, /ping [TEXT] (shows the round-trip time),
/close [CODE] [REASON], /quit (or Ctrl-D), /help. Start a line with //
to send a message that starts with /.

Otherwise (stdin or stdout is not a terminal) it is a pipe: each stdin line
is one message, each incoming message one stdout line (binary as raw bytes,
or base64 with --base64). After the end of stdin, once the server has been
quiet for --linger, it closes with 1000 and waits for the server's close;
it exits when the server closes.

",
    time_help!(),
    "

Proxies: without --proxy or --no-proxy, the environment is read as curl
reads it: http_proxy for ws:// (lower case only), https_proxy or
HTTPS_PROXY for wss://, else all_proxy or ALL_PROXY; the lower-case name
wins when both are set. no_proxy (or NO_PROXY) lists hosts to reach
directly, separated by commas: * for all, example.com (and its subdomains),
.example.com, 10.0.0.1, ::1, 10.0.0.0/8; a name or address may end in :PORT
(IPv6 in brackets: [::1]:8080). The environment applies to every other
host, 127.0.0.1 and localhost included.

Exit codes:
  0  closed (by either side, with a close frame), or stdout was closed
  1  other failure (reading a file or stdin, writing stdout)
  2  bad command line, URL, proxy URL or --ca-cert file
  3  DNS: the host name did not resolve
  4  TCP: connection refused, network unreachable or timed out
  5  TLS: handshake failed (untrusted certificate, not a TLS server)
  6  HTTP: the server refused the upgrade (status and body are printed)
  7  protocol: a bad handshake answer, or the server broke RFC 6455
  8  abnormal close: the connection dropped without a close frame (1006)
     or a keepalive ping went unanswered
  9  proxy: unreachable, refused the tunnel (HTTP status or SOCKS reply),
     wants or rejected the user and password, or did not answer in time
     (a bad proxy URL is 2)

Examples:
  wschannel connect ws://127.0.0.1:8080/
  echo hello | wschannel connect ws://127.0.0.1:8080/
  wschannel connect -1 wss://example.com/api < request.json
  wschannel connect --subprotocol chat -H 'Authorization: Bearer t0k3n' URL
  wschannel connect --ca-cert ca.pem wss://localhost:8443/
  wschannel connect --deflate ws://127.0.0.1:8080/
  wschannel connect --save-binary /tmp/in ws://127.0.0.1:8080/
  wschannel connect --proxy http://user:pass@proxy:3128 wss://example.com/
  wschannel connect --proxy socks5h://127.0.0.1:1080 ws://example.com/
  https_proxy=http://proxy:3128 wschannel connect wss://example.com/
  wschannel connect --no-proxy ws://127.0.0.1:8080/"
);

/// A duration that can be off: `0` or `off` is `None`.
pub type OptionalDuration = Option<Duration>;

/// `25s`, `500ms`; `0` or `off` for none.
fn parse_optional_duration(s: &str) -> Result<OptionalDuration, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (or 0 or off for none)"))?;
    Ok((!d.is_zero()).then_some(d))
}

/// `-H 'Name: value'` into a header pair.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) =
        s.split_once(':').ok_or_else(|| format!("{s:?} has no ':'; write it as NAME:VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("{s:?} has an empty header name; write it as NAME:VALUE"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Issue 10: `serve` showed `<HANDSHAKE_TIMEOUT>`, `<IDLE_TIMEOUT>`, `<GRACE_PERIOD>` where
    /// `connect` showed `<TIME>`; now every duration is a `<TIME>`, with its units in the help.
    #[test]
    fn every_duration_option_is_a_time_with_its_units_and_short_help_fits_79_columns() {
        let cases = [
            (
                "serve",
                &[
                    "--handshake-timeout",
                    "--idle-timeout",
                    "--ping-interval",
                    "--ping-timeout",
                    "--grace-period",
                ][..],
            ),
            (
                "connect",
                &["--linger", "--connect-timeout", "--ping-interval", "--ping-timeout"][..],
            ),
        ];
        for (name, durations) in cases {
            let mut cli = Cli::command();
            cli.build();
            let sub = cli.find_subcommand_mut(name).unwrap();
            let short = sub.render_help().to_string();
            let long = sub.render_long_help().to_string();
            for help in [&short, &long] {
                for option in durations {
                    assert!(help.contains(&format!("{option} <TIME>")), "{name}: {option}\n{help}");
                }
                assert!(help.contains("TIME is a number and a unit: 500ms, 10s"), "{help}");
            }
            for line in short.lines() {
                assert!(line.chars().count() <= 79, "{name} -h: {line:?}");
            }
        }
    }

    /// Issue 11: keepalive is on by default in `serve` and `0` or `off` turns it off.
    #[test]
    fn serve_keepalive_defaults_on_and_turns_off_with_0_or_off() {
        let serve = |extra: &[&str]| match Cli::parse_from(
            ["wschannel", "serve"].iter().chain(extra).copied(),
        ) {
            Cli { command: Command::Serve(args) } => args,
            other => panic!("{other:?}"),
        };
        assert_eq!(serve(&[]).ping_interval, Some(Duration::from_secs(25)));
        assert_eq!(serve(&[]).ping_timeout, Duration::from_secs(20));
        assert_eq!(serve(&["--ping-interval", "off"]).ping_interval, None);
        assert_eq!(serve(&["--ping-interval", "0"]).ping_interval, None);
        assert_eq!(serve(&["--ping-interval", "1s"]).ping_interval, Some(Duration::from_secs(1)));
        let err = Cli::try_parse_from(["wschannel", "serve", "--ping-interval", "soon"]);
        assert!(err.unwrap_err().to_string().contains("or 0 or off for none"));
    }
}
