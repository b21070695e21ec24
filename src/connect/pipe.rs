//! Pipe mode: stdin lines out as messages, messages in as stdout lines.

use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use wschannel::{Channel, CloseCode, Message, Sender};

use super::{code, runtime_failure, save_binary, Ending, Failure, CLOSE_BACKSTOP};
use crate::args::ConnectArgs;

/// Runs until the connection closes. After the end of stdin, once the server has been quiet
/// for `--linger` (with `--one-message`: once the first message arrived), it closes with 1000
/// and waits for the server's close.
pub async fn run(ws: Channel, args: &ConnectArgs) -> Result<()> {
    let (tx, mut rx) = ws.split();
    let lines = read_stdin(args.one_message);
    let signals = Arc::new(Signals::default());
    tokio::spawn(send_lines(tx, lines, signals.clone(), Input::from(args)));
    let mut failure = None;
    let mut stdout_gone = false;
    let mut eof_at: Option<Instant> = None;
    let mut last_rx = Instant::now();
    let mut closing_since: Option<Instant> = None;
    let mut saved = 0u64;
    let mut printed = 0u64;

    loop {
        // After the end of stdin, close once the server has been quiet for --linger, so
        // the replies to the last lines are not cut off; then wait (bounded) for its close.
        let timer = async {
            match (closing_since, eof_at) {
                (Some(since), _) => tokio::time::sleep_until(since + CLOSE_BACKSTOP).await,
                (None, Some(eof)) if !args.one_message => {
                    tokio::time::sleep_until(eof.max(last_rx) + args.linger).await
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            () = signals.eof.notified(), if eof_at.is_none() => {
                eof_at = Some(Instant::now());
            }
            item = rx.next() => match item {
                Some(Ok(msg)) => {
                    last_rx = Instant::now();
                    let data = match msg {
                        Message::Text(t) => t.into_bytes(),
                        Message::Binary(b) => {
                            if let Some(dir) = &args.save_binary {
                                saved += 1;
                                save_binary(dir, saved, &b).map_err(|e| {
                                    Failure::new(code::OTHER, format!("cannot write into --save-binary {}: {e}", dir.display()))
                                })?;
                            }
                            if args.base64 {
                                base64::engine::general_purpose::STANDARD.encode(&b).into()
                            } else {
                                b
                            }
                        }
                        // Pings are answered by the library; pongs answer our keepalive.
                        _ => continue,
                    };
                    // With --one-message only the first message is printed.
                    let one_done = args.one_message && printed > 0;
                    if !stdout_gone && !one_done {
                        printed += 1;
                        match write_line(&data) {
                            Ok(()) => {}
                            // A reader that went away (`| head -1`) is not a failure: close
                            // politely and exit 0.
                            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                                stdout_gone = true;
                                signals.close_now.notify_one();
                                closing_since.get_or_insert_with(Instant::now);
                            }
                            Err(e) => {
                                failure.get_or_insert(Failure::new(code::OTHER, format!("cannot write to stdout: {e}")));
                                signals.close_now.notify_one();
                                closing_since.get_or_insert_with(Instant::now);
                            }
                        }
                    }
                    if args.one_message {
                        signals.close_now.notify_one();
                        closing_since.get_or_insert_with(Instant::now);
                    }
                }
                Some(Err(e)) => {
                    failure.get_or_insert(runtime_failure(args, &e));
                }
                None => break,
            },
            () = timer => {
                if closing_since.is_some() {
                    break;
                }
                signals.close_now.notify_one();
                closing_since = Some(Instant::now());
            }
        }
    }
    if stdout_gone {
        return Ok(());
    }
    if let Some(f) = failure {
        return Err(f.into());
    }
    if let Some(f) = signals.take_failure() {
        return Err(f.into());
    }
    let we_closed = rx.close_initiator() == Some(wschannel::Initiator::Local);
    let ending = Ending::of(&rx, we_closed);
    if ending.code.is_none() {
        return Err(Failure::new(
            code::ABNORMAL,
            "the server did not finish the closing handshake in time (1006)",
        )
        .into());
    }
    if !ending.code.is_some_and(|c| c == CloseCode::NORMAL || c == CloseCode::GOING_AWAY) {
        eprintln!("wschannel: {}", ending.describe());
    }
    ending.result()?;
    Ok(())
}

/// Between the stdin task and the connection loop.
#[derive(Default)]
struct Signals {
    /// The stdin task reached the end of stdin.
    eof: Notify,
    /// The loop wants the close started.
    close_now: Notify,
    /// Why the stdin task stopped early.
    failure: Mutex<Option<Failure>>,
}

impl Signals {
    fn fail(&self, f: Failure) {
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(f);
        }
    }

    fn take_failure(&self) -> Option<Failure> {
        self.failure.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// How stdin lines become messages.
#[derive(Clone, Copy)]
struct Input {
    binary: bool,
    base64: bool,
}

impl From<&ConnectArgs> for Input {
    fn from(args: &ConnectArgs) -> Self {
        Input { binary: args.binary, base64: args.base64 }
    }
}

impl Input {
    fn message(self, n: u64, line: Vec<u8>) -> Result<Message, Failure> {
        if !self.binary {
            return String::from_utf8(line).map(Message::text).map_err(|_| {
                Failure::new(
                    code::OTHER,
                    format!("stdin line {n} is not UTF-8 text: send it with --binary"),
                )
            });
        }
        if self.base64 {
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(line.trim_ascii()).map_err(|e| {
                    Failure::new(code::OTHER, format!("stdin line {n} is not base64 ({e}): drop --base64 to send lines as they are"))
                })?;
            return Ok(Message::binary(decoded));
        }
        Ok(Message::binary(line))
    }
}

/// Sends each stdin line; at the end of stdin says so and waits to be told to close; on bad
/// input closes at once. Closing drives the connection until the closing handshake is over (the library bounds that).
async fn send_lines(
    mut tx: Sender,
    mut lines: mpsc::Receiver<io::Result<Vec<u8>>>,
    signals: Arc<Signals>,
    input: Input,
) {
    let mut n = 0;
    loop {
        let line = tokio::select! {
            biased;
            () = signals.close_now.notified() => break,
            line = lines.recv() => line,
        };
        let line = match line {
            Some(Ok(line)) => line,
            Some(Err(e)) => {
                signals.fail(Failure::new(code::OTHER, format!("cannot read stdin: {e}")));
                break;
            }
            None => {
                signals.eof.notify_one();
                signals.close_now.notified().await;
                break;
            }
        };
        n += 1;
        let msg = match input.message(n, line) {
            Ok(msg) => msg,
            Err(f) => {
                signals.fail(f);
                break;
            }
        };
        // `Closed`: the server closed first; the receiving side reports how.
        if tx.send(msg).await.is_err() {
            return;
        }
    }
    // RFC 6455 §7.1.2: start the closing handshake; the reply ends the receiving stream.
    let _ = tx.close(CloseCode::NORMAL, "").await;
}

/// Reads stdin on its own thread (a blocking read cannot be cancelled, so it must not hold up
/// the runtime's exit): one item per line without its line ending, or all of stdin as one
/// item for `--one-message`.
fn read_stdin(whole: bool) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        if whole {
            let mut all = Vec::new();
            let result = stdin.read_to_end(&mut all).map(|_| {
                strip_line_end(&mut all);
                all
            });
            let _ = tx.blocking_send(result);
            return;
        }
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    strip_line_end(&mut line);
                    if tx.blocking_send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// Drops one trailing `\n` or `\r\n`.
fn strip_line_end(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

/// Writes one message and a newline, and flushes, so a reader sees each message at once.
fn write_line(data: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(data)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_are_stripped_once() {
        for (input, want) in
            [(&b"a\n"[..], &b"a"[..]), (b"a\r\n", b"a"), (b"a", b"a"), (b"a\n\n", b"a\n")]
        {
            let mut v = input.to_vec();
            strip_line_end(&mut v);
            assert_eq!(v, want);
        }
    }

    #[test]
    fn text_lines_must_be_utf8() {
        let text = Input { binary: false, base64: false };
        assert!(text.message(1, b"\xff".to_vec()).is_err());
        let b64 = Input { binary: true, base64: true };
        assert_eq!(b64.message(1, b"aGk=".to_vec()).unwrap(), Message::binary(&b"hi"[..]));
    }
}
