//! An HTTP answer as plain data, and the two ways it goes on the wire: at once, or trickled.
//!
//! Why it exists: a `trickle` fault in phase `after` must send the *real* answer slowly, so the
//! model's reply, a fault's substitute and the trickle all meet at one type ([`Answer`]: status,
//! headers, body bytes) instead of each building axum responses its own way. What a trickled
//! answer guarantees: the status line and headers (with the exact `Content-Length`) are sent at
//! once, then the body one byte per interval, the first byte one interval after the headers; a
//! client that only bounds each read is held for `interval × length`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Status, headers and the whole body.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// `status` (an invalid code becomes 500) with a body of `content_type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        Answer {
            status: status_code(status),
            headers,
            body: body.into(),
        }
    }

    /// `status` with no body.
    pub fn empty(status: u16) -> Answer {
        Answer {
            status: status_code(status),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// Send it at once.
    pub fn into_response(self) -> Response {
        let body = Body::from(self.body.clone());
        self.with_body(body)
    }

    /// Send the headers at once and the body one byte every `interval`.
    pub fn trickled(self, interval: Duration) -> Response {
        let body = Body::new(Trickle {
            data: self.body.clone(),
            sent: 0,
            interval,
            pause: Box::pin(tokio::time::sleep(interval)),
        });
        self.with_body(body)
    }

    fn with_body(self, body: Body) -> Response {
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A body that yields one byte per interval. Its exact size is known, so hyper sends a
/// `Content-Length` with the headers instead of chunked framing.
struct Trickle {
    data: Bytes,
    sent: usize,
    interval: Duration,
    pause: Pin<Box<Sleep>>,
}

impl http_body::Body for Trickle {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent >= self.data.len() {
            return Poll::Ready(None);
        }
        if self.pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let this = &mut *self;
        let byte = this.data.slice(this.sent..this.sent + 1);
        this.sent += 1;
        let next = Instant::now() + this.interval;
        this.pause.as_mut().reset(next);
        Poll::Ready(Some(Ok(Frame::data(byte))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.data.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.data.len() - self.sent) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn trickle_sends_every_byte_one_interval_apart() {
        let answer = Answer::new(200, "application/json", "{\"a\":1}");
        let started = Instant::now();
        let response = answer.trickled(Duration::from_millis(10));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"{\"a\":1}");
        // Seven bytes, each one interval after the previous (the first after the headers).
        assert!(
            started.elapsed() >= Duration::from_millis(70),
            "{:?}",
            started.elapsed()
        );
    }
}
