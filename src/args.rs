//! Command-line arguments: parsed by clap, validated once into ready configs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// WebSocket echo server and client.
#[derive(Debug, Parser)]
#[command(name = "wschannel", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  wschannel serve                          echo server on 127.0.0.1:8080
  wschannel serve --listen 0.0.0.0:9001    listen on every interface, port 9001
  wschannel serve --tls-self-signed        wss:// and https:// with a throwaway cert";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the echo server (with a browser test page at /).
    Serve(ServeArgs),
}

/// `wschannel serve`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  wschannel serve
  wschannel serve --listen 127.0.0.1:0 --greeting 'hi there'
  wschannel serve --tls-cert cert.pem --tls-key key.pem
  RUST_LOG=debug wschannel serve")]
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
    /// Most connections at once; beyond it new ones get HTTP 503.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,
    /// Time allowed for a client to send its HTTP request (and TLS handshake).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,
    /// Close a connection after this long without a message from the client.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Outgoing bytes buffered per connection before echoing waits for the client to read.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub write_buffer: usize,
    /// On SIGINT/SIGTERM, how long connections get to finish closing.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub grace_period: Duration,
}
