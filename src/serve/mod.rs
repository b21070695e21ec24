//! `wschannel serve`: the echo server, its browser test page, health and metrics, TLS, limits
//! and graceful shutdown.

mod limits;
mod log_limit;
mod metrics;

use std::borrow::Cow;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use wschannel::server::{accept_request, read_request, reject};
use wschannel::tls::TlsAcceptor;
use wschannel::{CloseCode, Config, DeflateConfig, Message};

use crate::args::ServeArgs;
use limits::{FdLimit, Handshakes, Stop, Ticket};
use log_limit::LogLimit;
use metrics::{Direction, MessageCounts, Metrics};

/// The browser test page, served at `/`.
const PAGE: &str = include_str!("page.html");

/// Everything a connection task needs, shared.
struct Server {
    args: ServeArgs,
    config: Config,
    metrics: Metrics,
    tls: Option<TlsAcceptor>,
    slots: Arc<Semaphore>,
    /// The connections still in their opening handshake, capped apart from `slots`.
    handshakes: Arc<Handshakes>,
    shutdown: watch::Receiver<bool>,
    /// Failed handshakes are logged at the default level, but a flood of them is not.
    failure_log: LogLimit,
}

/// At most this many failed handshakes are logged per [`FAILURE_LOG_WINDOW`].
const FAILURE_LOG_BURST: u32 = 20;
const FAILURE_LOG_WINDOW: Duration = Duration::from_secs(60);

/// When accept fails (out of descriptors), it waits this long, doubling per failure up to
/// [`ACCEPT_BACKOFF_MAX`], as Go's `net/http` does: no spinning, and back soon after a
/// descriptor is free.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Runs the server until SIGINT or SIGTERM, then closes every connection with 1001 and exits.
pub async fn run(args: ServeArgs) -> Result<()> {
    let fd_limit = FdLimit::raise();
    let max_handshakes = args
        .max_handshakes
        .unwrap_or_else(|| fd_limit.map_or(1024, FdLimit::default_max_handshakes));
    let max_connections = args.max_connections.unwrap_or_else(|| {
        fd_limit.map_or(10_000, |limit| limit.default_max_connections(max_handshakes))
    });
    match fd_limit {
        Some(limit) => {
            tracing::info!(
                "file descriptor limit {} (soft limit was {}, hard limit {}): \
                 --max-connections {max_connections}, --max-handshakes {max_handshakes}",
                limit.now,
                limit.was,
                limit.hard
            );
            let wanted = (max_connections + max_handshakes) as u64 + limits::FD_RESERVE;
            if wanted > limit.now {
                tracing::warn!(
                    "--max-connections {max_connections} and --max-handshakes {max_handshakes} \
                     need about {wanted} file descriptors but the limit is {}: accept will \
                     pause when they run out; raise the hard limit (ulimit -Hn) or lower them",
                    limit.now
                );
            }
        }
        None => {
            tracing::info!("--max-connections {max_connections}, --max-handshakes {max_handshakes}")
        }
    }
    let tls = tls_acceptor(&args)?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is another server using that port? try --listen 127.0.0.1:0",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    let (ws, http) = if tls.is_some() { ("wss", "https") } else { ("ws", "http") };
    println!("wschannel serve: echo on {ws}://{addr}/ , test page on {http}://{addr}/");

    let config = Config::default()
        .max_message_size(args.max_message_size)
        .max_frame_size(args.max_message_size)
        .write_buffer_size(args.write_buffer)
        .close_timeout(args.grace_period.min(Duration::from_secs(5)))
        .ping_interval(args.ping_interval)
        .ping_timeout(args.ping_timeout)
        .deflate(args.deflate.then(|| DeflateConfig::default().level(args.deflate_level)));
    let (shutdown_tx, shutdown) = watch::channel(false);
    let server = Arc::new(Server {
        slots: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))),
        handshakes: Handshakes::new(max_handshakes),
        args,
        config,
        metrics: Metrics::default(),
        tls,
        shutdown,
        failure_log: LogLimit::new(FAILURE_LOG_BURST, FAILURE_LOG_WINDOW),
    });
    // Every connection task holds a clone; when all are gone, `recv` returns None.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);

    let signal = shutdown_signal();
    tokio::pin!(signal);
    // While accept fails: the wait before the next try, and how many failed in a row.
    let backoff = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(backoff);
    let (mut backing_off, mut delay, mut failures) = (false, ACCEPT_BACKOFF_MIN, 0u64);
    loop {
        tokio::select! {
            accepted = listener.accept(), if !backing_off => match accepted {
                Ok((tcp, peer)) => {
                    if failures > 0 {
                        tracing::info!("accepting again after {failures} failed accepts");
                        (failures, delay) = (0, ACCEPT_BACKOFF_MIN);
                    }
                    // A shed handshake is counted and logged by its own task, with its peer.
                    let (ticket, _shed) = server.handshakes.admit();
                    let server = server.clone();
                    tokio::spawn(server.handle(tcp, peer, ticket, alive_tx.clone()));
                }
                // Out of file descriptors (EMFILE, ENFILE) and the like: keep serving the
                // connections we have and try again after a pause that doubles while it lasts.
                // One line per episode, not per try. (Linux reports EMFILE before it looks at
                // the queue, so this is no sign that a client waits: nothing is shed for it.)
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!(
                            error = %e,
                            handshakes = server.handshakes.len(),
                            open = server.metrics.connections_open.load(Relaxed),
                            "accept failed; pausing accept until it works again (out of file \
                             descriptors? raise the hard limit with ulimit -Hn, or lower \
                             --max-connections / --max-handshakes)"
                        );
                    }
                    failures += 1;
                    backoff.as_mut().reset(tokio::time::Instant::now() + delay);
                    backing_off = true;
                    delay = (delay * 2).min(ACCEPT_BACKOFF_MAX);
                }
            },
            () = &mut backoff, if backing_off => backing_off = false,
            name = &mut signal => {
                // One notice, through the log (stderr, on by default).
                tracing::info!(
                    "{name} received: closing connections (grace period {})",
                    humantime::format_duration(server.args.grace_period)
                );
                break;
            }
        }
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    drop(alive_tx);
    if tokio::time::timeout(server.args.grace_period, alive_rx.recv()).await.is_err() {
        tracing::warn!("grace period over; dropping the remaining connections");
    }
    Ok(())
}

/// Held by every connection task; shutdown waits until all are dropped.
type Alive = mpsc::Sender<()>;

impl Server {
    /// One connection, from accept: `ticket` is its place among the handshakes, given back
    /// once it is upgraded (or shed, which ends it).
    async fn handle(
        self: Arc<Self>,
        tcp: TcpStream,
        peer: SocketAddr,
        mut ticket: Ticket,
        alive: Alive,
    ) {
        let _ = tcp.set_nodelay(true);
        match self.tls.clone() {
            Some(acceptor) => {
                let accept = Box::pin(acceptor.accept(tcp));
                match ticket.within(self.args.handshake_timeout, accept).await {
                    Ok(Ok(tls)) => Box::pin(self.handle_io(tls, peer, ticket, alive)).await,
                    Ok(Err(e)) => self.handshake_failed(peer, "tls", &format!("TLS: {e}")),
                    Err(stop) => self.handshake_stopped(peer, stop, "TLS handshake"),
                }
            }
            None => Box::pin(self.handle_io(tcp, peer, ticket, alive)).await,
        }
    }

    /// A handshake phase timed out or was shed.
    fn handshake_stopped(&self, peer: SocketAddr, stop: Stop, what: &str) {
        match stop {
            Stop::Timeout => {
                let within = humantime::format_duration(self.args.handshake_timeout);
                self.handshake_failed(peer, "timeout", &format!("no {what} within {within}"));
            }
            Stop::Shed => self.handshake_failed(
                peer,
                "shed",
                &format!(
                    "no {what} yet, and --max-handshakes was reached: dropped, the oldest \
                     handshake, for a new connection"
                ),
            ),
        }
    }

    /// Counts a failed handshake for `/metrics` and logs it (peer, reason label, what went
    /// wrong) at the default level, at most [`FAILURE_LOG_BURST`] a minute.
    fn handshake_failed(
        &self,
        peer: SocketAddr,
        reason: &'static str,
        error: &dyn std::fmt::Display,
    ) {
        self.metrics.handshake_failed(reason);
        match self.failure_log.admit(Instant::now()) {
            Some(0) => tracing::info!(%peer, reason, %error, "handshake failed"),
            Some(held_back) => tracing::info!(
                %peer,
                reason,
                %error,
                "handshake failed ({held_back} more since the last one logged were not logged)"
            ),
            None => {}
        }
    }

    /// One connection after TLS, up to the upgrade. The futures of the handshake phases (which
    /// carry parser state and header arrays) are boxed while they run, and once upgraded the
    /// connection goes to a task of its own ([`Server::connection`]), so an open connection
    /// holds only the echo loop's state, and each message's poll goes through nothing else:
    /// nested in this task, every poll passed the accept, TLS and handshake futures' states,
    /// which cost `serve` ~8 % of its CPU per message at 1000 connections × 20 B × 1 in
    /// flight (bench/run, 0.99 → 1.08 of fastwebsockets' messages per CPU-second).
    async fn handle_io<IO>(
        self: Arc<Self>,
        mut io: IO,
        peer: SocketAddr,
        mut ticket: Ticket,
        alive: Alive,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limit = self.args.handshake_timeout;
        let read = ticket.within(limit, Box::pin(read_request(&mut io, &self.config)));
        let (request, leftover) = match read.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return self.handshake_failed(peer, "bad_request", &e),
            Err(stop) => return self.handshake_stopped(peer, stop, "HTTP request"),
        };

        if !request.is_websocket_upgrade() {
            self.metrics.http_requests.fetch_add(1, Relaxed);
            // A client that does not read the answer cannot hold the task: same bound as the
            // request had.
            let answer = Box::pin(self.serve_http(io, &request.method, &request.path));
            let _ = ticket.within(limit, answer).await;
            return;
        }

        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            self.handshake_failed(peer, "too_many_connections", &"--max-connections reached: 503");
            let _ = ticket
                .within(limit, Box::pin(reject(io, 503, "too many connections; try again later")))
                .await;
            return;
        };
        let offered = request.protocols();
        let protocol = offered.iter().find(|p| self.args.subprotocols.contains(p)).cloned();
        let accept = Box::pin(accept_request(
            io,
            &request,
            leftover,
            self.config.clone(),
            protocol.as_deref(),
        ));
        let ws = match ticket.within(limit, accept).await {
            Ok(Ok(ws)) => ws,
            Err(stop) => return self.handshake_stopped(peer, stop, "101 sent"),
            Ok(Err(e)) => {
                let reason = match &e {
                    wschannel::Error::Handshake(h) if h.status() == 426 => "unsupported_version",
                    wschannel::Error::Handshake(_) => "bad_handshake",
                    _ => "io",
                };
                self.handshake_failed(peer, reason, &e);
                return;
            }
        };
        // Upgraded: the handshake place goes to the next connection, and the echo loop runs
        // as a task of its own, so that its future is all that a message's poll goes through
        // and all that an open connection holds (not nested in this one's states).
        drop(ticket);
        let path = request.path.clone();
        tokio::spawn(self.connection(ws, peer, path, slot, alive));
    }

    /// An upgraded connection: echoes every text and binary message with its opcode until the
    /// connection ends, it idles out, or the server shuts down; then counts and logs it. `_slot`
    /// is its place under --max-connections and `_alive` tells shutdown that it still runs.
    ///
    /// One timer per connection, not one per message: each message is only counted, and when
    /// the timer fires it either moves to the new deadline or, if nothing arrived since it was
    /// set, closes the connection. Echoes are queued, not flushed one by one: the channel
    /// writes them out whenever it waits for the socket. The loop is this task's whole future
    /// (not an `echo` future nested in a `connection` one): at 1000 connections each level's
    /// state is one more cold cache line read per message (callgrind's cache simulation).
    async fn connection<IO>(
        self: Arc<Self>,
        mut ws: wschannel::Channel<IO>,
        peer: SocketAddr,
        path: String,
        _slot: OwnedSemaphorePermit,
        _alive: Alive,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.metrics.connections_total.fetch_add(1, Relaxed);
        self.metrics.connections_open.fetch_add(1, Relaxed);
        let started = Instant::now();
        // One shutdown future for the connection's life, polled only when no message is ready;
        // while messages keep coming, a cheap version check before each one sees it.
        let mut shutdown = self.shutdown.clone();
        let shutdown_signal = shutdown.changed();
        tokio::pin!(shutdown_signal);
        if let Some(greeting) = &self.args.greeting {
            // Queued, not flushed: a client that never reads must not stall us here, before
            // the idle timeout below applies.
            let _ = ws.feed(Message::text(greeting.as_str())).await;
        }
        let idle = self.args.idle_timeout;
        let mut activity = Activity::new();
        let timer = tokio::time::sleep_until(activity.at + idle);
        // Message counts go to the shared metrics in one go when the connection waits.
        let mut counts = MessageCounts::default();
        tokio::pin!(timer);
        // Whether the shutdown signal and the timer hold this task's waker. Once they do, they
        // keep it until they fire (or the timer is reset), so while messages flow they are not
        // polled again: a version check and an elapsed flag tell whether they fired.
        let (mut shutdown_armed, mut timer_armed) = (false, false);
        loop {
            // Messages are taken and echoed inside one poll, as many as are ready (the channel
            // and tokio's budget bound a turn), and none is held across a wait: room for the
            // echo first (ready at once unless the client stops reading), then the next
            // message, queued as soon as it is taken. The task's state is touched once per
            // wakeup, not once per message.
            let step = poll_fn(|cx| loop {
                if self.shutdown.has_changed().unwrap_or(true) {
                    return Poll::Ready(Step::Shutdown);
                }
                let room = match ws.poll_ready_unpin(cx) {
                    Poll::Ready(ready) => ready.is_ok(),
                    Poll::Pending => {
                        // A full write buffer (a client that does not read): read no more
                        // until there is room, the server shuts down or the deadline passes.
                        return match shutdown_fired(
                            shutdown_signal.as_mut(),
                            &mut shutdown_armed,
                            &self.shutdown,
                            cx,
                        ) {
                            true => Poll::Ready(Step::Shutdown),
                            false => timer_fired(timer.as_mut(), &mut timer_armed, cx)
                                .map(|()| Step::Timer { blocked: true }),
                        };
                    }
                };
                match ws.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(msg))) => {
                        let binary = match &msg {
                            Message::Text(_) => false,
                            Message::Binary(_) => true,
                            // Pings are answered by the library; pongs need nothing. Neither is
                            // progress: a client that only pings (or leaves a fragmented
                            // message unfinished) still idles out.
                            _ => continue,
                        };
                        let len = msg.len();
                        counts.message(Direction::Received, binary, len);
                        // Closing (`room` false, or the send refused): nothing to echo; read
                        // on to the end.
                        if room && ws.start_send_unpin(msg).is_ok() {
                            counts.message(Direction::Sent, binary, len);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        // The peer broke the protocol: the library has sent the close code.
                        tracing::debug!(error = %e, "connection error");
                    }
                    Poll::Ready(None) => return Poll::Ready(Step::End),
                    Poll::Pending => {
                        if shutdown_fired(
                            shutdown_signal.as_mut(),
                            &mut shutdown_armed,
                            &self.shutdown,
                            cx,
                        ) {
                            return Poll::Ready(Step::Shutdown);
                        }
                        if timer_fired(timer.as_mut(), &mut timer_armed, cx).is_ready() {
                            return Poll::Ready(Step::Timer { blocked: false });
                        }
                        activity.settle(&counts);
                        self.metrics.add(&mut counts);
                        return Poll::Pending;
                    }
                }
            })
            .await;
            match step {
                Step::End => break,
                Step::Shutdown => {
                    // When the client does not read, the close frame is queued past the full
                    // write buffer and goes out when it does; if it never does, the grace
                    // period ends it.
                    let _ = ws.close(CloseCode::GOING_AWAY, "server shutting down").await;
                    break;
                }
                Step::Timer { blocked } => {
                    timer_armed = false;
                    // Settle, then flush the counts, as at every wait: a connection blocked on a
                    // client that does not read counts nothing new from here on.
                    let last = activity.settle(&counts);
                    self.metrics.add(&mut counts);
                    if !idled_out(timer.as_mut(), last + idle) {
                        continue;
                    }
                    if blocked {
                        tracing::debug!("client stopped reading; closing");
                        let _ = tokio::time::timeout(
                            self.config.close_timeout,
                            ws.close(CloseCode::POLICY_VIOLATION, "not reading"),
                        )
                        .await;
                    } else {
                        let _ = ws.close(CloseCode::NORMAL, "idle timeout").await;
                    }
                    break;
                }
            }
        }
        self.metrics.add(&mut counts);

        self.metrics.connections_open.fetch_sub(1, Relaxed);
        if let Some(stats) = ws.extension_stats() {
            self.metrics.compressed(&stats);
        }
        let code = ws.close_code().map_or(CloseCode::ABNORMAL.as_u16(), CloseCode::as_u16);
        self.metrics.closed_with(code);
        tracing::info!(
            %peer,
            path = %path,
            duration = ?started.elapsed(),
            close_code = code,
            "connection closed"
        );
    }

    async fn serve_http<IO>(&self, mut io: IO, method: &str, path: &str) -> std::io::Result<()>
    where
        IO: AsyncWrite + Unpin,
    {
        let path = path.split('?').next().unwrap_or("");
        let (status, content_type, body) = match (method, path) {
            ("GET", "/") => ("200 OK", "text/html; charset=utf-8", Cow::Borrowed(PAGE)),
            ("GET", "/healthz") => ("200 OK", "text/plain; charset=utf-8", Cow::Borrowed("ok\n")),
            ("GET", "/metrics") => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                Cow::Owned(self.metrics.render()),
            ),
            _ => ("404 Not Found", "text/plain; charset=utf-8", Cow::Borrowed("not found\n")),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        );
        io.write_all(head.as_bytes()).await?;
        io.write_all(body.as_bytes()).await?;
        io.shutdown().await
    }
}

/// When a connection last received a message, read from the clock once per burst rather than
/// per message: the time is taken when the connection next waits (or its timer fires), which is
/// when the deadline is needed, if messages were counted since the last time.
struct Activity {
    at: tokio::time::Instant,
}

impl Activity {
    fn new() -> Self {
        Activity { at: tokio::time::Instant::now() }
    }

    /// The time of the last activity: now, if `counts` holds messages not yet flushed to the
    /// metrics (each flush follows a call to this).
    fn settle(&mut self, counts: &MessageCounts) -> tokio::time::Instant {
        if counts.any() {
            self.at = tokio::time::Instant::now();
        }
        self.at
    }
}

/// Whether the server is shutting down, for an echo loop that waits: the first wait polls
/// `signal` (the receiver's `changed()`), which then holds the task's waker until it fires, so
/// later waits (`armed`) only compare the version.
fn shutdown_fired(
    signal: Pin<&mut impl Future>,
    armed: &mut bool,
    shutdown: &watch::Receiver<bool>,
    cx: &mut std::task::Context<'_>,
) -> bool {
    if *armed {
        return shutdown.has_changed().unwrap_or(true);
    }
    if signal.poll(cx).is_ready() {
        return true;
    }
    *armed = true;
    false
}

/// What ended a wait in the echo loop.
enum Step {
    /// The connection is over.
    End,
    Shutdown,
    /// The idle timer fired; `blocked`: while the write buffer was full.
    Timer {
        blocked: bool,
    },
}

/// Whether the idle timer fired: the first wait polls it, and it then holds the task's waker
/// until it fires or is reset (`armed`), so later waits only look at its elapsed flag.
fn timer_fired(
    timer: Pin<&mut Sleep>,
    armed: &mut bool,
    cx: &mut std::task::Context<'_>,
) -> Poll<()> {
    if *armed {
        return if timer.is_elapsed() { Poll::Ready(()) } else { Poll::Pending };
    }
    if timer.poll(cx).is_ready() {
        return Poll::Ready(());
    }
    *armed = true;
    Poll::Pending
}

fn tls_acceptor(args: &ServeArgs) -> Result<Option<TlsAcceptor>> {
    let (cert, key) = if args.tls_self_signed {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .context("cannot generate a self-signed certificate")?;
        (cert.cert.pem().into_bytes(), cert.key_pair.serialize_pem().into_bytes())
    } else if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |p: &std::path::Path| {
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
        };
        (read(cert)?, read(key)?)
    } else {
        return Ok(None);
    };
    let config = wschannel::tls::server_config(&cert, &key)
        .context("cannot use the TLS certificate and key")?;
    Ok(Some(TlsAcceptor::from(config)))
}

/// The idle timer fired: true when `deadline` (last activity plus the idle timeout) is the
/// instant it was set for, i.e. nothing happened since. Otherwise re-arms it for `deadline`.
fn idled_out(timer: Pin<&mut Sleep>, deadline: tokio::time::Instant) -> bool {
    if deadline <= timer.deadline() {
        return true;
    }
    timer.reset(deadline);
    false
}

/// Resolves on SIGINT or SIGTERM with the signal's name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
