//! The Autobahn|Testsuite client driver: runs every case of a fuzzing server as an echo client.
//!
//! ```text
//! AB_URL=ws://127.0.0.1:9001 AB_AGENT=wschannel \
//!     cargo run -p wschannel --release --example autobahn_client
//! ```
//!
//! With `AB_DEFLATE=1` it offers permessage-deflate (RFC 7692) on every connection, for
//! sections 12 and 13.

use futures_util::{SinkExt, StreamExt};
use wschannel::{Channel, ClientBuilder, Config, DeflateConfig, Message};

#[tokio::main]
async fn main() -> Result<(), wschannel::Error> {
    let base = std::env::var("AB_URL").unwrap_or_else(|_| "ws://127.0.0.1:9001".to_owned());
    let base = base.trim_end_matches('/');
    let agent = std::env::var("AB_AGENT").unwrap_or_else(|_| "wschannel".to_owned());
    let mut config = Config::default();
    if std::env::var_os("AB_DEFLATE").is_some_and(|v| v == "1") {
        config = config.deflate(Some(DeflateConfig::default()));
    }
    let client = ClientBuilder::new().config(config);

    let mut ws = wschannel::connect(&format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.next().await {
        Some(Ok(Message::Text(t))) => t.trim().parse().unwrap_or(0),
        other => {
            eprintln!("getCaseCount: unexpected {other:?}");
            0
        }
    };
    drain(ws).await;
    println!("{count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match client.connect(&url).await {
            Ok(ws) => echo(ws).await,
            Err(e) => eprintln!("case {case}: {e}"),
        }
    }

    let ws = wschannel::connect(&format!("{base}/updateReports?agent={agent}")).await?;
    drain(ws).await;
    println!("reports updated");
    Ok(())
}

/// Echoes text and binary messages until the stream ends; errors end the case, not the run.
async fn echo(mut ws: Channel) {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(msg).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => {}
        }
    }
}

/// Reads until the server closes.
async fn drain(mut ws: Channel) {
    while ws.next().await.is_some() {}
}
