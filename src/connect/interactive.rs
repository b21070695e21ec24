//! Interactive mode: a prompt with line editing and history (rustyline) on one thread, the
//! connection on the runtime; incoming messages are printed above the prompt through
//! rustyline's external printer, so they never garble the line being typed.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rustyline::error::ReadlineError;
use tokio::sync::mpsc;
use wschannel::{Channel, CloseCode, CloseFrame, ControlPayload, Message};

use super::{escape_controls, hex_preview, runtime_failure, save_binary, Ending, CLOSE_BACKSTOP};
use crate::args::ConnectArgs;

const PROMPT: &str = "> ";

const HELP: &str = "\
Type a line and press Enter to send it as a text message.
  /binary PATH           send a file as one binary message
  /ping [TEXT]           send a ping, show the round-trip time
  /close [CODE] [REASON] close the connection (default 1000)
  /quit                  close with 1000 and exit (also Ctrl-D)
  /help                  this help
  //text                 send a message that starts with /
Incoming text is shown as `< text`, binary as `< [binary N bytes]`.";

/// What the prompt thread hands to the connection loop.
enum Input {
    /// A line, and where to say whether to prompt again.
    Line(String, std_mpsc::SyncSender<Next>),
    /// Ctrl-D or Ctrl-C.
    Quit(std_mpsc::SyncSender<Next>),
}

/// What the prompt thread does after a line.
#[derive(Debug, PartialEq)]
enum Next {
    Prompt,
    Stop,
}

/// The line editor and its printer, made before connecting so that a terminal rustyline
/// cannot drive (`TERM=dumb`) falls back to the pipe mode.
pub struct Prompt {
    editor: rustyline::DefaultEditor,
    printer: Box<dyn rustyline::ExternalPrinter + Send>,
}

impl Prompt {
    /// `None` when the terminal cannot do line editing.
    pub fn new() -> Option<Prompt> {
        let config = rustyline::Config::builder().auto_add_history(true).build();
        let mut editor = rustyline::DefaultEditor::with_config(config).ok()?;
        let printer = editor.create_external_printer().ok()?;
        Some(Prompt { editor, printer: Box::new(printer) })
    }
}

/// Runs the prompt until the connection closes.
pub async fn run(prompt: Prompt, ws: Channel, args: &ConnectArgs) -> Result<()> {
    let Prompt { editor, printer } = prompt;
    let mut out = Output { printer };
    let terminal = Terminal::save();

    let mut banner = format!("connected to {}", args.url);
    if let Some(p) = ws.protocol() {
        banner.push_str(&format!(" (subprotocol {p})"));
    }
    match ws.extension() {
        Some(ext) => banner.push_str(&format!(" with {ext} compression")),
        None if args.deflate => banner.push_str(" without compression (the server declined it)"),
        None => {}
    }
    out.line(&format!("{banner}; /help for commands, Ctrl-D to quit"));

    let (input_tx, mut inputs) = mpsc::channel(1);
    std::thread::spawn(move || prompt_loop(editor, input_tx));
    // True while the prompt thread may be inside `readline` (the terminal is in raw mode).
    let mut prompting = true;

    let (mut tx, mut rx) = ws.split();
    let mut pings: VecDeque<(Bytes, Instant)> = VecDeque::new();
    let mut failure = None;
    let mut we_closed = false;
    let mut closing_since = None;
    let mut saved = 0u64;

    loop {
        let backstop = async {
            match closing_since {
                Some(since) => tokio::time::sleep_until(since + CLOSE_BACKSTOP).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            input = inputs.recv(), if prompting => {
                let (line, ack) = match input {
                    Some(Input::Line(line, ack)) => (Some(line), ack),
                    Some(Input::Quit(ack)) => (None, ack),
                    None => {
                        prompting = false;
                        continue;
                    }
                };
                let command = match &line {
                    None => Command::Close(CloseCode::NORMAL, String::new()),
                    Some(line) => match Command::parse(line) {
                        Ok(c) => c,
                        Err(message) => {
                            out.line(&message);
                            let _ = ack.send(Next::Prompt);
                            continue;
                        }
                    },
                };
                let next = match command {
                    Command::Send(msg) => {
                        if tx.send(msg).await.is_err() {
                            out.line("not sent: the connection is closing");
                        }
                        Next::Prompt
                    }
                    Command::Binary(path) => {
                        match std::fs::read(&path) {
                            Ok(data) => {
                                let n = data.len();
                                match tx.send(Message::binary(data)).await {
                                    Ok(()) => out.line(&format!("sent {path} ({n} bytes)")),
                                    Err(_) => out.line("not sent: the connection is closing"),
                                }
                            }
                            Err(e) => out.line(&format!("cannot read {path}: {e}")),
                        }
                        Next::Prompt
                    }
                    Command::Ping(payload) => {
                        let bytes = payload.as_bytes().clone();
                        match tx.ping(payload).await {
                            Ok(()) => pings.push_back((bytes, Instant::now())),
                            Err(_) => out.line("not sent: the connection is closing"),
                        }
                        Next::Prompt
                    }
                    Command::Help => {
                        out.line(HELP);
                        Next::Prompt
                    }
                    Command::Close(code, reason) => {
                        we_closed = true;
                        // RFC 6455 §7.1.2: start the closing handshake; the server's reply
                        // ends the receiving stream below. Sending (not awaiting `close`)
                        // keeps this loop reading while the reply comes.
                        let frame = CloseFrame::new(code, reason.as_str());
                        match frame {
                            Ok(frame) => {
                                let _ = tx.send(Message::Close(Some(frame))).await;
                                closing_since.get_or_insert_with(tokio::time::Instant::now);
                                prompting = false;
                                Next::Stop
                            }
                            Err(e) => {
                                we_closed = false;
                                out.line(&format!("cannot close with that: {e}"));
                                Next::Prompt
                            }
                        }
                    }
                };
                let _ = ack.send(next);
            }
            item = rx.next() => match item {
                Some(Ok(Message::Text(t))) => {
                    // Escape sequences from the server are shown, not obeyed.
                    out.line(&format!("< {}", escape_controls(t.as_str()).replace('\n', "\n  ")));
                }
                Some(Ok(Message::Binary(b))) => {
                    let mut line = format!("< [binary {} bytes] {}", b.len(), hex_preview(&b));
                    if let Some(dir) = &args.save_binary {
                        saved += 1;
                        match save_binary(dir, saved, &b) {
                            Ok(path) => line.push_str(&format!("\n  saved to {}", path.display())),
                            Err(e) => line.push_str(&format!("\n  cannot save into {}: {e}", dir.display())),
                        }
                    }
                    out.line(&line);
                }
                Some(Ok(Message::Pong(p))) => {
                    // RFC 6455 §5.5.3: a pong answers the most recent ping, and may skip
                    // earlier ones; match by payload.
                    let payload = p.as_bytes();
                    if let Some(i) = pings.iter().position(|(sent, _)| sent == payload) {
                        let (_, at) = pings[i];
                        pings.drain(..=i);
                        let text = String::from_utf8_lossy(payload);
                        out.line(&format!("pong {text:?} in {}", format_rtt(at.elapsed())));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let f = runtime_failure(args, &e);
                    out.line(&escape_controls(&f.message));
                    failure.get_or_insert(f);
                }
                None => break,
            },
            () = backstop => break,
        }
    }

    let ending = Ending::of(&rx, we_closed);
    if prompting {
        // The server ended it while the prompt was waiting for a line: give rustyline a
        // moment to print what is queued, then put the terminal back as we found it (its
        // thread cannot be interrupted; it ends with the process) and write the ending over
        // the prompt it redrew, so no `> ` is left standing (issue 10).
        tokio::time::sleep(Duration::from_millis(100)).await;
        terminal.restore_over_prompt(&ending.describe());
    } else {
        out.line(&ending.describe());
    }
    if let Some(f) = failure {
        return Err(f.into());
    }
    ending.result()?;
    Ok(())
}

/// A line the user typed, understood.
#[derive(Debug, PartialEq)]
enum Command {
    Send(Message),
    Binary(String),
    Ping(ControlPayload),
    Close(CloseCode, String),
    Help,
}

impl Command {
    /// Reads a line; `Err` is the line to show instead.
    fn parse(line: &str) -> Result<Command, String> {
        if let Some(rest) = line.strip_prefix("//") {
            return Ok(Command::Send(Message::text(format!("/{rest}"))));
        }
        let Some(command) = line.strip_prefix('/') else {
            return Ok(Command::Send(Message::text(line)));
        };
        let (name, rest) = command.split_once(' ').unwrap_or((command, ""));
        let rest = rest.trim();
        match name {
            "binary" if rest.is_empty() => Err("usage: /binary PATH".to_owned()),
            "binary" => Ok(Command::Binary(rest.to_owned())),
            "ping" => ControlPayload::try_from_bytes(Bytes::copy_from_slice(rest.as_bytes()))
                .map(Command::Ping)
                .map_err(|_| "a ping carries at most 125 bytes".to_owned()),
            "close" => {
                let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                let code = if code.is_empty() {
                    CloseCode::NORMAL
                } else {
                    code.parse::<u16>().ok().and_then(|c| CloseCode::new(c).ok()).ok_or_else(
                        || {
                            format!(
                                "{code:?} is not a close code you can send: use 1000, 1001, \
                                 1008, 1011, or 3000-4999"
                            )
                        },
                    )?
                };
                Ok(Command::Close(code, reason.trim().to_owned()))
            }
            "quit" | "exit" => Ok(Command::Close(CloseCode::NORMAL, String::new())),
            "help" | "?" => Ok(Command::Help),
            _ => Err(format!(
                "unknown command /{name}: /help lists them; start with // to send a line \
                 beginning with /"
            )),
        }
    }
}

/// Reads lines until told to stop; runs on its own thread, since `readline` blocks.
fn prompt_loop(mut editor: rustyline::DefaultEditor, inputs: mpsc::Sender<Input>) {
    loop {
        let (ack, next) = std_mpsc::sync_channel(1);
        let input = match editor.readline(PROMPT) {
            Ok(line) => Input::Line(line, ack),
            Err(ReadlineError::Eof | ReadlineError::Interrupted) => Input::Quit(ack),
            Err(_) => Input::Quit(ack),
        };
        if inputs.blocking_send(input).is_err() || next.recv() != Ok(Next::Prompt) {
            return;
        }
    }
}

/// Prints above the prompt.
struct Output {
    printer: Box<dyn rustyline::ExternalPrinter + Send>,
}

impl Output {
    fn line(&mut self, text: &str) {
        if self.printer.print(format!("{text}\n")).is_err() {
            let _ = writeln!(io::stdout(), "{text}");
        }
    }
}

/// `0.4 ms`, `12 ms`, `1.20 s`.
fn format_rtt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// The terminal's settings from before the prompt, to put back if the process must exit while
/// rustyline has the terminal in raw mode.
struct Terminal {
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
}

impl Terminal {
    fn save() -> Terminal {
        Terminal {
            #[cfg(unix)]
            saved: nix::sys::termios::tcgetattr(io::stdin()).ok(),
        }
    }

    /// Restores the terminal, erases the prompt's line and writes `last_line` there.
    fn restore_over_prompt(&self, last_line: &str) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
        // Leave bracketed-paste mode, which rustyline turned on; back to the start of the
        // prompt's line and erase it (CR, EL 2); the last line in its place.
        let mut out = io::stdout();
        let _ = write!(out, "\x1b[?2004l\r\x1b[2K{last_line}\n");
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(Command::parse("hi"), Ok(Command::Send(Message::text("hi"))));
        assert_eq!(Command::parse("//x"), Ok(Command::Send(Message::text("/x"))));
        assert_eq!(
            Command::parse("/close 4000 bye now"),
            Ok(Command::Close(CloseCode::new(4000).unwrap(), "bye now".into()))
        );
        assert_eq!(Command::parse("/close"), Ok(Command::Close(CloseCode::NORMAL, String::new())));
        assert!(Command::parse("/close 1006").is_err());
        assert!(Command::parse("/close abc").is_err());
        assert!(Command::parse("/binary").is_err());
        assert_eq!(Command::parse("/binary a b.png"), Ok(Command::Binary("a b.png".into())));
        assert!(matches!(Command::parse("/ping"), Ok(Command::Ping(_))));
        assert!(Command::parse(&format!("/ping {}", "x".repeat(126))).is_err());
        assert!(Command::parse("/nope").is_err());
    }

    #[test]
    fn rtt_units() {
        assert_eq!(format_rtt(Duration::from_micros(400)), "0.4 ms");
        assert_eq!(format_rtt(Duration::from_millis(12)), "12 ms");
        assert_eq!(format_rtt(Duration::from_millis(1200)), "1.20 s");
    }
}
