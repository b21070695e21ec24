//! Helpers for the binary's integration tests: start `wschannel serve`, find the real peers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// The names of the proxy variables set in this environment (`http_proxy`, `NO_PROXY`, ...:
/// every name ending in `_proxy`, any case): tests remove them from every client they spawn,
/// so that a developer's proxy settings cannot change what the tests see.
#[allow(dead_code)] // not every test binary spawns clients
pub fn proxy_variables() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().to_ascii_lowercase().ends_with("_proxy"))
        .collect()
}

/// A client builder for in-process tests: no proxy, whatever the environment says.
#[allow(dead_code)] // not every test binary connects in-process
pub fn client() -> wschannel::ClientBuilder {
    wschannel::ClientBuilder::new().no_proxy()
}

/// `wschannel::connect` without the environment's proxy.
#[allow(dead_code)] // not every test binary connects in-process
pub async fn connect(url: &str) -> Result<wschannel::Channel, wschannel::Error> {
    client().connect(url).await
}

/// A running `wschannel serve`, killed on drop.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    pub ws_url: String,
    #[allow(dead_code)] // not every test binary serves pages
    pub http_url: String,
    /// With [`Serve::start_logged`]: everything the server writes to stderr, once it exits.
    stderr: Option<JoinHandle<String>>,
}

impl Serve {
    /// Starts the built binary on 127.0.0.1:0 with `args` and reads its ready line.
    pub async fn start(args: &[&str]) -> Serve {
        Serve::start_with(args, false, None).await
    }

    /// Like [`Serve::start`], at the default log level (no `RUST_LOG`), keeping its stderr for
    /// [`Serve::stderr_after_exit`].
    #[allow(dead_code)] // not every test binary reads logs
    pub async fn start_logged(args: &[&str]) -> Serve {
        Serve::start_with(args, true, None).await
    }

    /// Like [`Serve::start_logged`], with the file descriptor limit (`RLIMIT_NOFILE`) set to
    /// `soft` and `hard` before the server starts.
    #[allow(dead_code)] // not every test binary sets limits
    #[cfg(unix)]
    pub async fn start_with_fd_limit(args: &[&str], soft: u64, hard: u64) -> Serve {
        Serve::start_with(args, true, Some((soft, hard))).await
    }

    async fn start_with(args: &[&str], capture_stderr: bool, nofile: Option<(u64, u64)>) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wschannel"));
        command.args(["serve", "--listen", "127.0.0.1:0"]).args(args).stdout(Stdio::piped());
        #[cfg(unix)]
        if let Some((soft, hard)) = nofile {
            use nix::sys::resource::{setrlimit, Resource};
            // SAFETY: between fork and exec the closure only calls setrlimit(2), which is
            // async-signal-safe, and allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).map_err(std::io::Error::from)
                });
            }
        }
        #[cfg(not(unix))]
        let _ = nofile;
        if capture_stderr {
            command.env_remove("RUST_LOG").stderr(Stdio::piped());
        } else {
            command.stderr(Stdio::inherit());
        }
        let mut child = command.kill_on_drop(true).spawn().expect("start wschannel serve");
        let stderr = child.stderr.take().map(|mut pipe| {
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text).await;
                text
            })
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("ready line within 30 s")
            .expect("read stdout")
            .expect("a ready line");
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = |scheme: &str| {
            line.split_whitespace()
                .find(|w| w.starts_with(scheme))
                .unwrap_or_else(|| panic!("no {scheme} URL in ready line {line:?}"))
                .to_owned()
        };
        let ws_url = if line.contains("wss://") { url("wss://") } else { url("ws://") };
        let http_url = if line.contains("https://") { url("https://") } else { url("http://") };
        let addr = ws_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no address in {ws_url:?}"));
        Serve { child, addr, ws_url, http_url, stderr }
    }

    /// Waits for the server to exit (send it a signal first) and returns its stderr.
    #[allow(dead_code)] // not every test binary reads logs
    pub async fn stderr_after_exit(&mut self) -> String {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("server exits within 30 s")
            .expect("wait for the server");
        assert!(status.success(), "{status}");
        let stderr = self.stderr.take().expect("started with Serve::start_logged");
        stderr.await.expect("stderr reader")
    }

    /// Sends a signal (`TERM`, `INT`) to the server.
    pub fn signal(&mut self, name: &str) {
        let pid = self.child.id().expect("server still running");
        let ok = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    /// `GET path` on a connection of its own: the status and the body.
    #[allow(dead_code)] // not every test binary asks for pages
    pub async fn http_get(&self, path: &str) -> (u16, String) {
        self.http_request(&format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr)).await
    }

    /// Sends `req` as is on a connection of its own and reads the whole response (the server
    /// closes after one plain HTTP answer): the status and the body.
    #[allow(dead_code)]
    pub async fn http_request(&self, req: &str) -> (u16, String) {
        let mut tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut raw))
            .await
            .expect("the server answers within 30 s")
            .unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }
}

/// Raises this test process's soft descriptor limit to its hard limit (a test that opens
/// thousands of sockets), and returns it.
#[allow(dead_code)]
#[cfg(unix)]
pub fn raise_own_fd_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    }
    hard
}

/// CPU time (user + system) a process has used so far, in clock ticks, from `/proc/PID/stat`.
#[allow(dead_code)]
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name and state.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[allow(dead_code)] // not every test binary needs files from the repository
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Python with `websockets`, as installed by `scripts/test`.
#[allow(dead_code)]
pub fn peer_python() -> PathBuf {
    std::env::var_os("WSCHANNEL_PEER_PYTHON").map(PathBuf::from).expect(
        "WSCHANNEL_PEER_PYTHON is not set: run the tests with scripts/test, which installs \
         Python websockets and sets it",
    )
}

/// `node_modules` with `ws` and `playwright-core`, as installed by `scripts/test`.
#[allow(dead_code)]
pub fn peer_node_modules() -> PathBuf {
    std::env::var_os("WSCHANNEL_PEER_NODE_MODULES").map(PathBuf::from).expect(
        "WSCHANNEL_PEER_NODE_MODULES is not set: run the tests with scripts/test, which \
         installs Node ws and playwright-core and sets it",
    )
}

/// Starts `wschannel connect ARGS` with piped stdio, none of the test's own proxy variables and
/// the ones in `env`; stdin stays open until its handle drops.
#[allow(dead_code)] // not every test binary runs the client
pub fn spawn_connect(
    args: &[&str],
    env: &[(&str, &str)],
) -> (tokio::process::Child, tokio::process::ChildStdin) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wschannel"));
    for name in proxy_variables() {
        command.env_remove(name);
    }
    let mut child = command
        .arg("connect")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start wschannel connect");
    let stdin = child.stdin.take().expect("piped stdin");
    (child, stdin)
}

/// Runs `wschannel connect ARGS` (as [`spawn_connect`]), writes `stdin` and closes it, and
/// waits (at most 30 s) for it to exit.
#[allow(dead_code)] // not every test binary runs the client
pub async fn run_connect(
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &[u8],
) -> std::process::Output {
    let (child, mut input) = spawn_connect(args, env);
    let stdin = stdin.to_vec();
    tokio::spawn(async move {
        let _ = input.write_all(&stdin).await;
        // Dropping `input` is the end of stdin.
    });
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("wschannel connect exits within 30 s")
        .expect("wait for wschannel connect")
}

#[allow(dead_code)] // not every test binary runs the client
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails, with `what` and everything the command printed, unless it exited with `code`.
#[allow(dead_code)] // not every test binary runs the client
#[track_caller]
pub fn assert_exit(out: &std::process::Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
