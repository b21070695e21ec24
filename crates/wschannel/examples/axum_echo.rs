//! An axum app with a normal route and a WebSocket route on one port: `GET /` answers 200 with a
//! short text; `/ws` upgrades (choosing the subprotocol `chat` when the client offers it) and
//! echoes every text and binary message with its opcode.
//!
//! ```text
//! cargo run -p wschannel --features axum --example axum_echo -- 127.0.0.1:3000
//! ```
//!
//! The first line on stdout is `LISTENING ADDR:PORT` (with the port the system chose for port
//! 0), for scripts and tests.

use std::io::Write;
use std::process::ExitCode;

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use wschannel::axum::{WebSocket, WebSocketUpgrade};
use wschannel::Message;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(addr), None) = (args.next(), args.next()) else {
        eprintln!("usage: axum_echo ADDR:PORT   (for example 127.0.0.1:3000; port 0 picks one)");
        return ExitCode::from(2);
    };
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("axum_echo: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("axum_echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "LISTENING {local}").and_then(|()| stdout.flush());
    drop(stdout);

    let app = Router::new().route("/", get(index)).route("/ws", get(ws_handler));
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axum_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn index() -> &'static str {
    "wschannel axum echo: WebSocket at /ws (subprotocol chat)\n"
}

async fn ws_handler(ws: WebSocketUpgrade) -> Response {
    ws.protocols(["chat"]).max_message_size(16 << 20).on_upgrade(echo)
}

/// Echoes text as text and binary as binary until the client closes (the channel answers pings
/// and the close itself).
async fn echo(mut socket: WebSocket) {
    while let Some(msg) = socket.next().await {
        match msg {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if let Err(e) = socket.send(msg).await {
                    eprintln!("axum_echo: send failed: {e}");
                    return;
                }
            }
            Ok(_) => {} // pings, pongs: the channel has answered them
            Err(e) => {
                eprintln!("axum_echo: {e}");
                return;
            }
        }
    }
}
