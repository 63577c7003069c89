//! Submissions per client address: a robot posting the form or the API in a loop gets 429
//! with `Retry-After` instead of making tickets. One machine only: the limiter lives in the
//! server's memory and keys on the peer address (`ConnectInfo`), so it needs `mesa serve`'s
//! listener to record it; a proxy in front would make every client one address (its
//! `X-Forwarded-For` is not trusted, since anyone can write it). On AWS, API Gateway's
//! throttling stands in front (see the template).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::Shared;

/// How many checks between two clean-ups of addresses not seen lately.
const RETAIN_EVERY: u64 = 1024;

/// Customer submissions (`POST /tickets`, `/uploads`, `/csat/…`) allowed per client address.
pub struct SubmissionLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

impl SubmissionLimit {
    /// `per_minute` submissions a minute per address, any of them at once (a burst of the
    /// same size: a person sends a few at most; a script sending more waits).
    pub fn per_minute(per_minute: NonZeroU32) -> Arc<Self> {
        Arc::new(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            checks: AtomicU64::new(0),
        })
    }

    /// `None` if `ip` may submit now, else how many seconds until it may.
    fn check(&self, ip: IpAddr) -> Option<u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == 0 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&ip).err().map(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

fn is_submission(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::POST
        && (path == "/tickets" || path == "/uploads" || path.starts_with("/csat/"))
}

/// The middleware: counts customer submissions per peer address.
pub(crate) async fn limit_submissions(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let (Some(limit), true) = (&state.submission_limit, is_submission(&request)) else {
        return next.run(request).await;
    };
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return next.run(request).await;
    };
    let Some(seconds) = limit.check(peer.ip()) else {
        return next.run(request).await;
    };
    tracing::warn!(client = %peer.ip(), retry_after = seconds, "too many submissions from one address");
    let text =
        format!("Demasiados envíos desde su dirección; intente de nuevo en {seconds} segundos.");
    // The page's own form gets a page; an API client, JSON.
    let from_page = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| {
            c.starts_with("multipart/") || c.starts_with("application/x-www-form-urlencoded")
        });
    let mut response = if from_page {
        state.message(StatusCode::TOO_MANY_REQUESTS, "Demasiados envíos", &text)
    } else {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"errors": {"body": text}})),
        )
            .into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}
