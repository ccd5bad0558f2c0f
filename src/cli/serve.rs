//! `metronome serve`: the built-in demo target served on its own, until Ctrl-C.
//!
//! It owns the verb's flags (the demo settings are shared with `run`, in `flags`) and the
//! self-signed certificate written for `--tls`; serving is `demo`'s.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::flags::DemoFlags;
use super::usage;
use crate::demo::{DemoTarget, DemoTls};
use crate::run::Failure;

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8001")]
    addr: SocketAddr,
    #[command(flatten)]
    demo: DemoFlags,
    /// Seed for jitter and injected errors.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with a self-signed certificate made at start.
    #[arg(long)]
    tls: bool,
    /// With --tls: where to write the certificate (PEM) for clients to trust.
    #[arg(long, value_name = "PATH", default_value = "metronome-demo-cert.pem")]
    cert_out: PathBuf,
}

/// command serves the demo target until Ctrl-C; the target refuses settings it cannot run.
pub(super) fn command(args: ServeArgs) -> Result<i32, Failure> {
    let tls = if args.tls {
        let tls = DemoTls::generate().map_err(|e| Failure::NotValid(e.to_string()))?;
        tls.write_cert(&args.cert_out).map_err(|e| {
            usage(format!(
                "cannot write the certificate to {}: {e}; choose another --cert-out",
                args.cert_out.display()
            ))
        })?;
        crate::say!(
            "TLS: self-signed certificate for localhost and 127.0.0.1 written to {} (trust it with --ca-file, or ca_file in a plan)",
            args.cert_out.display()
        );
        Some(tls)
    } else {
        None
    };
    let mut config = args.demo.settings(args.seed);
    config.tls = tls;
    let target = DemoTarget::start_on(args.addr, config)
        .map_err(|e| Failure::Usage(format!("cannot serve on {}: {e}", args.addr)))?;
    crate::say!(
        "demo target (plant backend API) listening on {}; Ctrl-C stops it",
        target.base_url()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::NotValid(format!("could not start the runtime: {e}")))?;
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    drop(target);
    Ok(0)
}
