//! `wschannel connect` through real proxies (`tinyproxy`, `microsocks`, installed by
//! `scripts/test`): `--proxy`, `--no-proxy`, the environment as curl reads it with `NO_PROXY`,
//! and the exit code and message of each proxy failure.

#[allow(dead_code)] // each test binary uses part of the helpers
mod common;
#[path = "../crates/wschannel/tests/proxies/mod.rs"]
mod proxies;

use std::process::Output;

use common::{assert_exit, text, Serve};
use proxies::{free_port, Proxy};

/// Runs `wschannel connect ARGS` with only the proxy variables in `env` (the test's own are
/// removed), sends `stdin` and waits (bounded) for it to exit.
async fn connect(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    common::run_connect(args, env, stdin).await
}

/// Echoed `hi` through the pipe mode: exit 0 and the line back.
#[track_caller]
fn assert_echoed(out: &Output, what: &str) {
    assert_exit(out, 0, what);
    assert_eq!(text(&out.stdout), "hi\n", "{what}");
}

/// A proxy URL where nothing listens.
fn unreachable_proxy() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

#[tokio::test]
async fn proxy_flag_http_connect_and_socks5_for_ws_and_wss() {
    let ws = Serve::start(&[]).await;
    let wss = Serve::start(&["--tls-self-signed"]).await;
    let tinyproxy =
        Proxy::tinyproxy(Some(("carol", "pw")), &[ws.addr.port(), wss.addr.port()]).await;
    let microsocks = Proxy::microsocks(None).await;
    let http = tinyproxy.url(Some(("carol", "pw")));
    let socks = microsocks.url(None);
    let socks_h = microsocks.url_as("socks5h", None);

    for proxy in [&http, &socks, &socks_h] {
        let out = connect(&["--proxy", proxy, &ws.ws_url], &[], b"hi\n").await;
        assert_echoed(&out, proxy);
        let out = connect(&["--proxy", proxy, "--insecure", &wss.ws_url], &[], b"hi\n").await;
        assert_echoed(&out, proxy);
    }
    let log = tinyproxy.log();
    for url in [&ws.ws_url, &wss.ws_url] {
        assert!(log.contains(&format!("CONNECT {} HTTP/1.1", ws_authority(url))), "{log}");
    }
    // socks5h through a name the proxy resolves.
    let by_name = ws.ws_url.replace("127.0.0.1", "localhost");
    let out = connect(&["--proxy", &socks_h, &by_name], &[], b"hi\n").await;
    assert_echoed(&out, &by_name);
}

/// `ws://127.0.0.1:PORT/` -> `127.0.0.1:PORT`.
fn ws_authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

#[tokio::test]
async fn environment_proxies_as_curl_reads_them() {
    let ws = Serve::start(&[]).await;
    let wss = Serve::start(&["--tls-self-signed"]).await;
    let tinyproxy = Proxy::tinyproxy(None, &[ws.addr.port(), wss.addr.port()]).await;
    let good = tinyproxy.url(None);
    let bad = unreachable_proxy();
    let (ws_url, wss_url) = (ws.ws_url.as_str(), wss.ws_url.as_str());
    let wss_args = ["--insecure", wss_url];

    // ws:// reads http_proxy (lower case only: HTTP_PROXY is ignored, against httpoxy).
    let out = connect(&[ws_url], &[("http_proxy", &bad)], b"hi\n").await;
    assert_exit(&out, 9, "http_proxy");
    let err = text(&out.stderr);
    assert!(err.contains("cannot reach the proxy") && err.contains("(from $http_proxy)"), "{err}");
    assert!(err.contains("--no-proxy") && err.lines().count() == 1, "{err}");
    assert_echoed(&connect(&[ws_url], &[("HTTP_PROXY", &bad)], b"hi\n").await, "HTTP_PROXY");
    assert_echoed(&connect(&[ws_url], &[("http_proxy", &good)], b"hi\n").await, "http_proxy");
    assert!(tinyproxy.log().contains(&format!("CONNECT {}", ws_authority(ws_url))));

    // wss:// reads https_proxy, else HTTPS_PROXY; lower case wins; http_proxy does not apply.
    let env = [("https_proxy", good.as_str()), ("HTTPS_PROXY", bad.as_str())];
    assert_echoed(&connect(&wss_args, &env, b"hi\n").await, "https_proxy over HTTPS_PROXY");
    assert!(tinyproxy.log().contains(&format!("CONNECT {}", ws_authority(wss_url))));
    let out = connect(&wss_args, &[("HTTPS_PROXY", &bad)], b"hi\n").await;
    assert_exit(&out, 9, "HTTPS_PROXY");
    assert!(text(&out.stderr).contains("(from $HTTPS_PROXY)"), "{}", text(&out.stderr));
    assert_echoed(&connect(&wss_args, &[("http_proxy", &bad)], b"hi\n").await, "wss + http_proxy");

    // ALL_PROXY for either when the scheme's own is unset.
    let out = connect(&[ws_url], &[("ALL_PROXY", &bad)], b"hi\n").await;
    assert_exit(&out, 9, "ALL_PROXY");
    let env = [("all_proxy", good.as_str()), ("ALL_PROXY", bad.as_str())];
    assert_echoed(&connect(&wss_args, &env, b"hi\n").await, "all_proxy over ALL_PROXY");

    // NO_PROXY: hosts, ports and `*` go directly; lower-case no_proxy wins over NO_PROXY.
    let port = ws.addr.port();
    for list in ["127.0.0.1", "localhost,127.0.0.0/8", &format!("127.0.0.1:{port}"), "*"] {
        let env = [("http_proxy", bad.as_str()), ("NO_PROXY", list)];
        assert_echoed(&connect(&[ws_url], &env, b"hi\n").await, list);
    }
    let env = [("http_proxy", bad.as_str()), ("NO_PROXY", "127.0.0.1:1")];
    assert_exit(&connect(&[ws_url], &env, b"hi\n").await, 9, "NO_PROXY other port");
    let env = [("http_proxy", bad.as_str()), ("no_proxy", "example.com"), ("NO_PROXY", "*")];
    assert_exit(&connect(&[ws_url], &env, b"hi\n").await, 9, "no_proxy wins");

    // --no-proxy ignores the environment; --proxy replaces it.
    let out = connect(&["--no-proxy", ws_url], &[("http_proxy", &bad)], b"hi\n").await;
    assert_echoed(&out, "--no-proxy");
    let out = connect(&["--proxy", &good, ws_url], &[("http_proxy", &bad)], b"hi\n").await;
    assert_echoed(&out, "--proxy over http_proxy");

    // An unusable proxy URL in the environment is a usage error naming the variable.
    let out = connect(&[ws_url], &[("http_proxy", "ftp://me:hunter2@proxy")], b"").await;
    assert_exit(&out, 2, "bad http_proxy");
    let err = text(&out.stderr);
    assert!(err.contains("$http_proxy") && !err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_refused_connect_exits_9_with_the_proxys_status() {
    let ws = Serve::start(&[]).await;
    // CONNECT is allowed to another port only: tinyproxy answers 403.
    let tinyproxy = Proxy::tinyproxy(None, &[free_port()]).await;
    let out = connect(&["--proxy", &tinyproxy.url(None), &ws.ws_url], &[], b"hi\n").await;
    assert_exit(&out, 9, "403");
    let err = text(&out.stderr);
    assert!(err.contains("refused to connect to 127.0.0.1:"), "{err}");
    assert!(err.contains("with HTTP 403 Access violation"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // SOCKS5: reply 0x05 when nothing listens at the target.
    let microsocks = Proxy::microsocks(None).await;
    let target = format!("ws://127.0.0.1:{}/", free_port());
    let out = connect(&["--proxy", &microsocks.url(None), &target], &[], b"hi\n").await;
    assert_exit(&out, 9, "socks refused");
    assert!(text(&out.stderr).contains("reply 0x05, connection refused"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn proxy_authentication_and_unreachable_proxies_exit_9() {
    let ws = Serve::start(&[]).await;
    let tinyproxy = Proxy::tinyproxy(Some(("dave", "right")), &[ws.addr.port()]).await;
    let microsocks = Proxy::microsocks(Some(("dave", "right"))).await;
    for proxy in [&tinyproxy, &microsocks] {
        let out = connect(&["--proxy", &proxy.url(None), &ws.ws_url], &[], b"").await;
        assert_exit(&out, 9, "no credentials");
        assert!(
            text(&out.stderr).contains("requires a user and password"),
            "{}",
            text(&out.stderr)
        );
        let url = proxy.url(Some(("dave", "wrong")));
        let out = connect(&["--proxy", &url, &ws.ws_url], &[], b"").await;
        assert_exit(&out, 9, "wrong credentials");
        let err = text(&out.stderr);
        assert!(err.contains("rejected the user and password") && !err.contains("wrong"), "{err}");
    }

    let out = connect(&["--proxy", &unreachable_proxy(), &ws.ws_url], &[], b"").await;
    assert_exit(&out, 9, "unreachable");
    let err = text(&out.stderr);
    assert!(err.starts_with("wschannel: cannot reach the proxy http://127.0.0.1:"), "{err}");

    let out = connect(&["--proxy", "gopher://proxy", &ws.ws_url], &[], b"").await;
    assert_exit(&out, 2, "bad --proxy");
    assert!(text(&out.stderr).contains("fix --proxy"), "{}", text(&out.stderr));
    let out = connect(&["--proxy", "http://p:1", "--no-proxy", &ws.ws_url], &[], b"").await;
    assert_exit(&out, 2, "--proxy with --no-proxy");
}
