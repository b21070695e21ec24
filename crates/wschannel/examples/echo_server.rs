//! An echo server: every text and binary message goes back unchanged, with the same opcode.
//! A plain `GET /` gets a small HTML page that talks to the echo. This is the server the
//! Autobahn|Testsuite runs against.
//!
//! ```text
//! cargo run -p wschannel --release --example echo_server -- 127.0.0.1:9001
//! AB_DEFLATE=1 cargo run -p wschannel --release --example echo_server   # permessage-deflate
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use wschannel::server::{accept_request, read_request, reject};
use wschannel::{Config, DeflateConfig, Message};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>wschannel echo</title>
<input id="msg" value="Hello!"> <button id="send">send</button>
<pre id="log"></pre>
<script>
const log = (s) => document.getElementById("log").textContent += s + "\n";
const ws = new WebSocket(location.href.replace(/^http/, "ws"));
ws.onopen = () => log("open");
ws.onmessage = (e) => log("echo: " + e.data);
ws.onclose = (e) => log("closed " + e.code);
document.getElementById("send").onclick = () => ws.send(document.getElementById("msg").value);
</script>
"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("echo server on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(tcp).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

async fn serve(mut tcp: TcpStream) -> Result<(), wschannel::Error> {
    let _ = tcp.set_nodelay(true);
    // Autobahn sends messages up to 16 MiB; the defaults (16 MiB frames, 64 MiB messages) fit.
    let mut config = Config::default();
    if std::env::var_os("AB_DEFLATE").is_some_and(|v| v == "1") {
        config = config.deflate(Some(DeflateConfig::default()));
    }
    let (request, leftover) = read_request(&mut tcp, &config).await?;
    if !request.is_websocket_upgrade() {
        if request.method == "GET" && request.path == "/" {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                PAGE.len()
            );
            tcp.write_all(head.as_bytes()).await?;
            tcp.write_all(PAGE.as_bytes()).await?;
            tcp.shutdown().await?;
            return Ok(());
        }
        return reject(tcp, 404, "not found").await;
    }
    let mut ws = accept_request(tcp, &request, leftover, config, None).await?;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(msg).await.is_err() {
                    // The connection is closing or gone; the stream says how it ends.
                    continue;
                }
            }
            // Pings are answered by the library; pongs need nothing.
            Ok(_) => {}
            // The peer broke the protocol: the library already sent the close code.
            Err(_) => {}
        }
    }
    Ok(())
}
