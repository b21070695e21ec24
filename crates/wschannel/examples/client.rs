//! Connects, sends "Hello!", prints the echo and closes.
//!
//! ```text
//! cargo run -p wschannel --example client -- ws://127.0.0.1:8080 [SUBPROTOCOL]
//! ```

use futures_util::{SinkExt, StreamExt};
use wschannel::{CloseCode, Message};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), wschannel::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:8080".to_owned());
    let mut builder = wschannel::ClientBuilder::new();
    if let Some(protocol) = std::env::args().nth(2) {
        builder = builder.protocol(protocol);
    }
    let mut ws = builder.connect(&url).await?;
    println!("connected to {url} (subprotocol {:?})", ws.protocol());

    ws.send(Message::text("Hello!")).await?;
    while let Some(msg) = ws.next().await {
        match msg? {
            Message::Text(t) => {
                println!("echo: {t}");
                break;
            }
            Message::Binary(b) => {
                println!("echo: {} bytes", b.len());
                break;
            }
            other => println!("received {other:?}"),
        }
    }

    ws.close(CloseCode::NORMAL, "done").await?;
    println!("closed: {:?} {:?}", ws.close_code(), ws.close_reason());
    Ok(())
}
