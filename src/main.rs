//! `wschannel`: a WebSocket echo server (`serve`) and client (`connect`).

mod args;
mod connect;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // On one core, tokio's single-threaded scheduler: no cross-thread wakeups, and it serves
    // ready connections in turn (the multi-threaded one's LIFO slot let some wait 100+ ms at
    // 1000 connections). On more cores, the multi-threaded one.
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wschannel: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Connect(args) => connect::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Error messages can carry what a server sent (a redirect's Location, a rejection's
            // body): its control characters are shown escaped, not obeyed by the terminal.
            eprintln!("wschannel: {}", connect::escape_controls(&format!("{e:#}")));
            connect::exit_code(&e)
        }
    }
}
