//! `metronome ui`: the start page (`live::ui`) served until Ctrl-C, which also stops the run
//! going on and waits for its reports.
//!
//! It owns the verb's flags: where to listen, where runs go, and the password a non-loopback
//! address needs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::usage;
use crate::live::server::{Credentials, Server, parse_addr};
use crate::live::ui::Ui;
use crate::run::Failure;

#[derive(Debug, Args)]
pub(super) struct UiArgs {
    /// Address to serve the start page on: HOST:PORT or a port on 127.0.0.1. A non-loopback
    /// address needs --web-auth.
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:8089", value_parser = parse_addr)]
    addr: SocketAddr,
    /// Folder where each run gets a folder of its own (its plan, summary, reports, CSVs, hlog).
    #[arg(long, value_name = "DIR", default_value = "runs")]
    out_root: PathBuf,
    /// HTTP basic auth on every route, the runs' pages included: USER:PASS. Required to bind a
    /// non-loopback address.
    #[arg(long, value_name = "USER:PASS")]
    web_auth: Option<Credentials>,
}

/// command serves the start page until Ctrl-C, SIGTERM or SIGHUP.
pub(super) fn command(args: UiArgs) -> Result<i32, Failure> {
    // Refused before serving, not at the first start: the page cannot fix it.
    std::fs::create_dir_all(&args.out_root)
        .and_then(|()| tempfile::tempfile_in(&args.out_root).map(drop))
        .map_err(|e| {
            usage(format!(
                "--out-root {}: cannot write there ({e}); give a folder this user may write",
                args.out_root.display()
            ))
        })?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::NotValid(format!("cannot find the metronome binary: {e}")))?;
    let ui = Ui::new(exe, args.out_root.clone());
    let server =
        Server::start_site(args.addr, "ui", args.web_auth, ui.clone(), None).map_err(usage)?;
    crate::say!(
        "start page at http://{}/ (runs go to {}); Ctrl-C stops",
        server.addr(),
        args.out_root.display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::NotValid(format!("could not start the runtime: {e}")))?;
    rt.block_on(crate::signals::stop());
    crate::say!("stopping: the run going on, if any, stops and writes its reports");
    ui.stop_all();
    drop(server);
    Ok(0)
}
