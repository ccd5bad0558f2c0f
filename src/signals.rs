//! Signals: what stops a run (and ends a linger): Ctrl-C, SIGTERM, SIGHUP.

/// stop completes on Ctrl-C, SIGTERM or SIGHUP.
pub async fn stop() {
    use tokio::signal::unix::{SignalKind, signal as on};
    // SIGHUP too: a soak whose terminal or ssh session goes away stops as if told to, and
    // writes its reports, instead of dying by the signal's default.
    let mut term = on(SignalKind::terminate()).ok();
    let mut hup = on(SignalKind::hangup()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = received(term.as_mut()) => {}
        _ = received(hup.as_mut()) => {}
    }
}

/// received completes when the signal arrives; never, when it could not be listened for.
async fn received(s: Option<&mut tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
