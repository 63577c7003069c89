//! Refusing a request before its body has all arrived, so that the client reads the refusal.
//!
//! A 401, 413 or 429 is often decided before the body is read (or after part of it). If the
//! server then closes the connection with body bytes still unread, the kernel answers the
//! client's next bytes with a reset, and a client that sends its whole body before reading
//! the response (Python's `http.client`, ureq, many mail-gateway scripts) gets a broken pipe
//! instead of the status: a mail gateway retries forever instead of bouncing. So, as nginx's
//! lingering close does, the rest of the body is read and thrown away, within a bound of
//! bytes and time, before the refusal goes out. hyper has no such option and tower-http's
//! body limit answers at once, hence this layer.
//!
//! A client that asked `Expect: 100-continue` and whose body was never read has not sent it
//! (hyper sends `100 Continue` only when the body is first read): nothing is read then. Nor
//! after a 429 or a 503: shedding load is not the moment to read more.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// The most a refused body may still have to come for it to be read, when the client
/// announced its length: a little over the largest body any route accepts (a 25 MB e-mail).
/// A client announcing more is cut off.
pub const MAX_LINGER_BYTES: u64 = 64 * 1024 * 1024;

/// The most read of a refused body whose length was not announced (chunked): it may never
/// end, and such a client is rare enough not to be worth more.
pub const MAX_LINGER_UNANNOUNCED_BYTES: u64 = 1024 * 1024;

/// The longest a refused body is waited for, however much is left of it.
pub const MAX_LINGER_TIME: Duration = Duration::from_secs(10);

/// What a request's body left behind when its handler dropped it.
#[derive(Default)]
struct Leftover {
    body: Option<Body>,
    read_from: bool,
    read_so_far: u64,
}

/// The request's body, handing itself back to [`drain_refused_bodies`] when dropped.
struct Returning {
    inner: Option<Body>,
    read_from: bool,
    read_so_far: u64,
    leftover: Arc<Mutex<Leftover>>,
}

impl HttpBody for Returning {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.read_from = true;
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.read_so_far += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        let mut leftover = self.leftover.lock().unwrap_or_else(PoisonError::into_inner);
        leftover.body = self.inner.take().filter(|body| !body.is_end_stream());
        leftover.read_from = self.read_from;
        leftover.read_so_far = self.read_so_far;
    }
}

/// Middleware: answers every request as the routes do, but reads what is left of a body the
/// route did not finish (bounded by [`MAX_LINGER_BYTES`], or [`MAX_LINGER_UNANNOUNCED_BYTES`]
/// for a body of unannounced length, and by [`MAX_LINGER_TIME`]) before the answer goes out.
pub async fn drain_refused_bodies(request: Request, next: Next) -> Response {
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let leftover = Arc::new(Mutex::new(Leftover::default()));
    let (parts, body) = request.into_parts();
    let body = Body::new(Returning {
        inner: Some(body),
        read_from: false,
        read_so_far: 0,
        leftover: leftover.clone(),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    // Shedding load (429, 503) is not the moment to read more of a body.
    if matches!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        return response;
    }

    let (rest, read_from, read_so_far) = {
        let mut leftover = leftover.lock().unwrap_or_else(PoisonError::into_inner);
        (
            leftover.body.take(),
            leftover.read_from,
            leftover.read_so_far,
        )
    };
    let Some(mut rest) = rest else {
        return response;
    };
    if expects_continue && !read_from {
        return response;
    }
    let bound = match announced {
        Some(total) if total.saturating_sub(read_so_far) > MAX_LINGER_BYTES => return response,
        Some(_) => MAX_LINGER_BYTES,
        None => MAX_LINGER_UNANNOUNCED_BYTES,
    };
    let drain = async {
        let mut thrown_away = 0u64;
        while thrown_away <= bound {
            match std::future::poll_fn(|cx| Pin::new(&mut rest).poll_frame(cx)).await {
                Some(Ok(frame)) => {
                    thrown_away += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                Some(Err(_)) | None => break,
            }
        }
    };
    let _ = tokio::time::timeout(MAX_LINGER_TIME, drain).await;
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use futures::StreamExt as _;
    use tower::ServiceExt as _;

    use super::*;

    /// A route that refuses before reading the body, as the staff routes do without a token.
    fn refusing_app() -> Router {
        Router::new()
            .route("/", post(|| async { StatusCode::UNAUTHORIZED }))
            .layer(axum::middleware::from_fn(drain_refused_bodies))
    }

    /// `chunks` chunks of 64 KiB, counting how many the server has taken, then, if `endless`,
    /// a body that never ends.
    fn counted_body(chunks: usize, endless: bool) -> (Body, Arc<AtomicUsize>) {
        let taken = Arc::new(AtomicUsize::new(0));
        let counter = taken.clone();
        let stream = futures::stream::iter(0..chunks).map(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 64 * 1024]))
        });
        let body = if endless {
            Body::from_stream(stream.chain(futures::stream::pending()))
        } else {
            Body::from_stream(stream)
        };
        (body, taken)
    }

    fn post_with(body: Body, headers: &[(&str, &str)]) -> Request<Body> {
        let mut request = Request::post("/");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(body).unwrap()
    }

    #[tokio::test]
    async fn a_refused_body_is_read_to_its_end_before_the_answer() {
        let (body, taken) = counted_body(40, false);
        let length = (40 * 64 * 1024).to_string();
        let request = post_with(body, &[("Content-Length", &length)]);
        let response = refusing_app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(taken.load(Ordering::SeqCst), 40);
    }

    #[tokio::test]
    async fn a_client_turned_away_for_load_is_not_read_further() {
        let app = Router::new()
            .route("/", post(|| async { StatusCode::TOO_MANY_REQUESTS }))
            .layer(axum::middleware::from_fn(drain_refused_bodies));
        let (body, taken) = counted_body(40, false);
        let length = (40 * 64 * 1024).to_string();
        let response = app
            .oneshot(post_with(body, &[("Content-Length", &length)]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(taken.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_client_waiting_for_100_continue_is_not_made_to_send() {
        let (body, taken) = counted_body(40, false);
        let request = post_with(body, &[("Expect", "100-continue")]);
        let response = refusing_app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(taken.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_announced_over_the_bound_is_not_waited_for() {
        let (body, taken) = counted_body(0, true);
        let announced = (MAX_LINGER_BYTES + 1).to_string();
        let request = post_with(body, &[("Content-Length", &announced)]);
        let started = tokio::time::Instant::now();
        let response = refusing_app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(taken.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_endless_body_of_unannounced_length_is_read_no_further_than_its_bound() {
        let (body, taken) = counted_body(usize::MAX, false);
        let response = refusing_app().oneshot(post_with(body, &[])).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let read = taken.load(Ordering::SeqCst) as u64 * 64 * 1024;
        assert!(
            (MAX_LINGER_UNANNOUNCED_BYTES..=MAX_LINGER_UNANNOUNCED_BYTES + 128 * 1024)
                .contains(&read),
            "{read}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_is_waited_for_no_longer_than_the_bound() {
        let (body, taken) = counted_body(3, true);
        let started = tokio::time::Instant::now();
        let response = refusing_app().oneshot(post_with(body, &[])).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(started.elapsed(), MAX_LINGER_TIME);
        assert_eq!(taken.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_body_the_route_read_is_left_alone() {
        let app = Router::new()
            .route(
                "/",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(axum::middleware::from_fn(drain_refused_bodies));
        let (body, taken) = counted_body(5, false);
        let response = app.oneshot(post_with(body, &[])).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let text = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&text[..], (5 * 64 * 1024).to_string().as_bytes());
        assert_eq!(taken.load(Ordering::SeqCst), 5);
    }
}
