//! The accept loop, used by `insights serve` and the tests alike. It does what `axum::serve`
//! did for this service — HTTP/1.1 with keep-alive, upgrades for WebSocket, the peer address as
//! `ConnectInfo`, a graceful shutdown that stops accepting and lets connections finish — with one
//! difference: hyper's limits on a request's head are set here, well above the service's own
//! ([`HeadLimits`]), so that an oversized request reaches
//! [`super::head_limits::refuse_oversized`] and gets a coded JSON answer instead of hyper's
//! empty 414 or 431. `axum::serve` offers no way to set them.
use std::future::Future;
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use super::head_limits::HeadLimits;

/// hyper's HTTP/1 settings (its defaults, as axum::serve used), but for the head limits.
fn builder(limits: HeadLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .max_buf_size(limits.read_buffer_bytes())
        .max_headers(HeadLimits::hyper_header_lines());
    builder
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// open connections to finish their requests (idle keep-alive connections close at once; an
/// upgraded WebSocket is no longer a connection of this loop: the hub closes those).
pub async fn serve(
    mut listener: TcpListener,
    app: Router,
    limits: HeadLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let builder = builder(limits);
    // Dropping `stop_rx` tells every connection to shut down gracefully; each holds a clone of
    // `done_rx` until it ends, so `done_tx.closed()` waits for the last one.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // axum's accept: a failed accept is retried (after a second when the process is out
        // of file descriptors), never returned.
        let (stream, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let service = app
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let stop = stop_tx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut stopping = std::pin::pin!(stop.closed());
            let mut stopped = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::trace!(%error, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = &mut stopping, if !stopped => {
                        stopped = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(stop_rx);
    drop(done_rx);
    done_tx.closed().await;
}
