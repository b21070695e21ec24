//! Real proxies for the proxy tests, started on 127.0.0.1 with free ports: `tinyproxy` (HTTP
//! CONNECT, optional basic auth) and `microsocks` (SOCKS5, optional user/password). Both come
//! from Debian packages that `scripts/test` installs; a missing binary fails the test with a
//! message that says so. Shared with the CLI's tests (`tests/proxy.rs`).
#![allow(dead_code)]

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A running proxy, killed on drop.
pub struct Proxy {
    pub port: u16,
    child: Child,
    dir: TempDir,
    scheme: &'static str,
}

impl Proxy {
    /// `tinyproxy` allowing CONNECT to `connect_ports` only (another port gets 403), with
    /// `BasicAuth` when `auth` is given.
    pub async fn tinyproxy(auth: Option<(&str, &str)>, connect_ports: &[u16]) -> Proxy {
        let binary = installed("/usr/bin/tinyproxy", "tinyproxy");
        let dir = TempDir::new();
        let port = free_port();
        let mut config = format!(
            "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nMaxClients 50\nTimeout 30\n\
             LogLevel Connect\n"
        );
        for p in connect_ports {
            config.push_str(&format!("ConnectPort {p}\n"));
        }
        if let Some((user, password)) = auth {
            config.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        let path = dir.path().join("tinyproxy.conf");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(binary);
        command.arg("-d").arg("-c").arg(&path);
        Proxy::start(command, dir, port, "http").await
    }

    /// `microsocks`, with user/password authentication when `auth` is given.
    pub async fn microsocks(auth: Option<(&str, &str)>) -> Proxy {
        let binary = installed("/usr/bin/microsocks", "microsocks");
        let dir = TempDir::new();
        let port = free_port();
        let mut command = Command::new(binary);
        command.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((user, password)) = auth {
            command.args(["-u", user, "-P", password]);
        }
        Proxy::start(command, dir, port, "socks5").await
    }

    async fn start(mut command: Command, dir: TempDir, port: u16, scheme: &'static str) -> Proxy {
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().expect("start the proxy");
        let mut proxy = Proxy { port, child, dir, scheme };
        proxy.wait_listening().await;
        proxy
    }

    async fn wait_listening(&mut self) {
        for _ in 0..500 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the proxy exited ({status}) before listening:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the proxy did not listen on 127.0.0.1:{} within 10 s:\n{}", self.port, self.log());
    }

    /// `http://127.0.0.1:PORT` or `socks5://…`, with `user:password@` when given.
    pub fn url(&self, auth: Option<(&str, &str)>) -> String {
        self.url_as(self.scheme, auth)
    }

    /// The URL with another scheme (`socks5h`).
    pub fn url_as(&self, scheme: &str, auth: Option<(&str, &str)>) -> String {
        match auth {
            Some((user, password)) => {
                format!("{scheme}://{user}:{password}@127.0.0.1:{}", self.port)
            }
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// What the proxy logged so far (tinyproxy logs each CONNECT request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

/// A directory for a proxy's config and log, removed on drop (no `tempfile`: the CLI's tests
/// share this file and do not depend on it).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("wschannel-proxy-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary at `path`, or a failure that says how to install it.
fn installed(path: &str, package: &str) -> PathBuf {
    let path = Path::new(path);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which installs the Debian package {package} \
         (apt-get install --no-install-recommends {package})",
        path.display()
    );
    path.to_owned()
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
