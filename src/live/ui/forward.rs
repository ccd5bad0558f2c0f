//! Forwarding `/run/…` to the current run's own server, its event stream as it comes.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::MAX_BODY;
use crate::live::web::{self, Body};

/// forward passes a request on to the run's own server and its answer back as it comes (the
/// live page's event stream included). The Host header is kept: the run's own same-origin
/// check then sees the page's origin.
pub async fn forward(req: Request<Incoming>, to: SocketAddr) -> Response<Body> {
    let gone = || {
        web::full(
            StatusCode::BAD_GATEWAY,
            "text/plain; charset=utf-8",
            "the run's process no longer answers: it has ended\n",
        )
    };
    let Ok(stream) = tokio::net::TcpStream::connect(to).await else {
        return gone();
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await
    else {
        return gone();
    };
    tokio::spawn(connection);
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return gone();
    };
    let asked = Request::from_parts(parts, Full::new(body.to_bytes()));
    let Ok(answer) = sender.send_request(asked).await else {
        return gone();
    };
    let (parts, mut body) = answer.into_parts();
    let (mut tx, relayed) =
        http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(4);
    tokio::spawn(async move {
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data()
                && tx.send_data(data).await.is_err()
            {
                return;
            }
        }
    });
    Response::from_parts(parts, relayed.boxed())
}
