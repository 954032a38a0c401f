//! `trueup serve`: the auditors' read-only HTTP API over the audit store.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | `ok` when the store answers (no token needed) |
//! | `GET /metrics` | Prometheus text: records in, dead letters, open breaks by status, watermark lag, commit latency |
//! | `GET /v1/results/{key}` | the key's current results |
//! | `GET /v1/breaks?status=&currency=&rule=&min_amount=&min_age_days=&limit=&after=` | open breaks, a page at a time (`Next-After` header when there are more) |
//! | `GET /v1/summary` | groups and Σ difference by rule × status × currency |
//! | `GET /v1/lineage/{key}` | the key's results with every input record and its position |
//!
//! Every `/v1` route takes `as_of` (RFC 3339, before the committed frontier; default: the last
//! committed time). Everything but `/healthz` needs `Authorization: Bearer <token>` (401
//! otherwise). Every filter value is bound as an SQL parameter.
//!
//! The store is read through a [pool](crate::store::pool) of read-only connections
//! ([`Limits::connections`]); `/healthz` has a connection of its own, so it answers while every
//! pooled one is busy. A request gets [`Limits::timeout`] to be answered (503 after it), and a
//! request given up — timed out, or its client gone — leaves the queue, or has its query
//! cancelled.
//!
//! Clients: at most 4,096 connections at once (more wait in the listen backlog), each closed if
//! a request's headers do not arrive within 10 seconds, or if its client leaves a response
//! unread for [`Limits::write_timeout`] (30 seconds by default); running out of file
//! descriptors makes the server wait and accept again, never stop.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::time::Time;
use crate::store::pool::{Pool, Refused};
use crate::store::query::{AsOf, AskError, Filter, Metrics, Page};
use crate::store::Store;

/// How much of the store `serve` uses.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Read-only store connections answering requests (`/healthz` has one more of its own).
    pub connections: usize,
    /// How long a request may wait for its answer before it is given up (503).
    pub timeout: Duration,
    /// How long a write may wait for its client to read: a connection whose client stops
    /// reading its responses is closed after it.
    pub write_timeout: Duration,
}

/// The server's shared state: the store's connections, and the token.
#[derive(Clone)]
struct App {
    queries: Arc<Pool>,
    health: Arc<Pool>,
    timeout: Duration,
    token: Arc<str>,
}

impl App {
    /// Runs `ask` on a pooled connection and waits for its answer.
    async fn ask<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> Result<T, Response> {
        self.queries.ask(ask, self.timeout).await.map_err(refused)
    }
}

/// A request that got no answer, as a response.
fn refused(refused: Refused) -> Response {
    let message = match refused {
        Refused::Unavailable => "store unavailable".to_string(),
        Refused::TimedOut(after) => {
            format!(
                "no answer within {} s: the query was cancelled",
                after.as_secs_f64()
            )
        }
    };
    (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
}

/// Serves the API for the store at `url` on `listener` until the process ends.
pub async fn serve(
    url: String,
    token: String,
    listener: tokio::net::TcpListener,
    limits: Limits,
) -> anyhow::Result<()> {
    let app = App {
        queries: Arc::new(Pool::open(&url, limits.connections, "trueup:query")?),
        health: Arc::new(Pool::open(&url, 1, "trueup:health")?),
        timeout: limits.timeout,
        token: token.into(),
    };
    let api = Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/results/{key}", get(result))
        .route("/v1/breaks", get(breaks))
        .route("/v1/summary", get(summary))
        .route("/v1/lineage/{key}", get(lineage))
        .route_layer(middleware::from_fn_with_state(app.clone(), authorize));
    let router = Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .with_state(app);
    accept(listener, router, limits.write_timeout).await
}

/// The most connections served at once; more wait in the listen backlog until one closes.
const MAX_CONNECTIONS: usize = 4096;

/// How long a client may take to send a request's headers (and, between requests on a kept
/// connection, to start the next): a connection that sends nothing is closed after it.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` and serves `router` on each, at most
/// [`MAX_CONNECTIONS`] at once, each closed if its headers do not arrive within
/// [`HEADER_TIMEOUT`] or a write waits longer than `write_timeout` for its client to read.
/// When accept fails (out of file descriptors), it waits a little and accepts again, logging
/// the failure at most once a second (with how many it did not log).
async fn accept(
    listener: tokio::net::TcpListener,
    router: Router,
    write_timeout: Duration,
) -> anyhow::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut throttle = Throttle::default();
    loop {
        let slot = slots.clone().acquire_owned().await?;
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(e) => {
                if let Some(unlogged) = throttle.admit(std::time::Instant::now()) {
                    tracing::warn!(error = %e, unlogged, "accepting a connection");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let mut socket = tokio_io_timeout::TimeoutStream::new(socket);
            socket.set_write_timeout(Some(write_timeout));
            let io = hyper_util::rt::TokioIo::new(Box::pin(socket));
            if let Err(e) = http.serve_connection(io, service).await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(slot);
        });
    }
}

/// Lets a repeated event be logged at most once a second.
#[derive(Default)]
struct Throttle {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

impl Throttle {
    /// At `now`: `Some(how many went unlogged since the last)` if this one may be logged.
    fn admit(&mut self, now: std::time::Instant) -> Option<u64> {
        let due = self
            .last
            .is_none_or(|last| now >= last + Duration::from_secs(1));
        if !due {
            self.unlogged += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// 401 unless the request carries the bearer token (the scheme's name in any case, as HTTP
/// has it). The token and the one given are compared
/// as SHA-256 digests in constant time: neither their content nor their length shows in the
/// time the comparison takes.
async fn authorize(State(app): State<App>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    let same = Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(app.token.as_bytes()));
    if !bool::from(same) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required",
        )
            .into_response();
    }
    next.run(request).await
}

async fn healthz(State(app): State<App>) -> Response {
    match app.health.ask(|store| store.frontier(), app.timeout).await {
        Ok(Ok(_)) => "ok\n".into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        Err(no_answer) => refused(no_answer),
    }
}

/// The error as a status and message.
fn failed(error: AskError) -> Response {
    match error {
        AskError::BadRequest(message) => (StatusCode::BAD_REQUEST, message).into_response(),
        AskError::Store(e) => {
            tracing::error!(error = %e, "store query failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "store query failed").into_response()
        }
    }
}

/// Answers `ask` at `as_of` (default: the last committed time) as JSON.
async fn at_as_of<T: serde::Serialize + Send + 'static>(
    app: App,
    as_of: Option<String>,
    ask: impl FnOnce(&mut Store, Time) -> Result<T, AskError> + Send + 'static,
) -> Response {
    asked_at(app, as_of, ask)
        .await
        .map_or_else(|r| r, |value| Json(value).into_response())
}

/// What `ask` found at `as_of`, or the error response.
async fn asked_at<T: Send + 'static>(
    app: App,
    as_of: Option<String>,
    ask: impl FnOnce(&mut Store, Time) -> Result<T, AskError> + Send + 'static,
) -> Result<T, Response> {
    let asked = app
        .ask(move |store| {
            let as_of = store.resolve_as_of(as_of.as_deref())?;
            ask(store, as_of)
        })
        .await?;
    asked.map_err(failed)
}

async fn result(
    State(app): State<App>,
    Path(key): Path<String>,
    Query(filter): Query<Filter>,
) -> Response {
    at_as_of(app, filter.as_of.clone(), move |store, as_of| {
        let filter = Filter {
            key: Some(key),
            ..filter
        };
        Ok(store.current_as_of(as_of, &filter)?)
    })
    .await
}

/// The page's groups as a JSON array; when there are more, the `after` of the next page in
/// a `Next-After` header.
async fn breaks(State(app): State<App>, Query(filter): Query<Filter>) -> Response {
    let page = asked_at(app, filter.as_of.clone(), move |store, as_of| {
        let filter = Filter {
            breaks_only: true,
            ..filter
        };
        Ok(store.page_as_of(as_of, &filter)?)
    });
    match page.await {
        Ok(Page { rows, next_after }) => {
            let mut response = Json(rows).into_response();
            if let Some(after) = next_after.and_then(|a| header::HeaderValue::from_str(&a).ok()) {
                response.headers_mut().insert("next-after", after);
            }
            response
        }
        Err(response) => response,
    }
}

async fn summary(State(app): State<App>, Query(at): Query<AsOf>) -> Response {
    at_as_of(
        app,
        at.as_of,
        |store, as_of| Ok(store.summary_as_of(as_of)?),
    )
    .await
}

async fn lineage(
    State(app): State<App>,
    Path(key): Path<String>,
    Query(at): Query<AsOf>,
) -> Response {
    at_as_of(app, at.as_of, move |store, as_of| {
        Ok(store.lineage(&key, as_of)?)
    })
    .await
}

async fn metrics(State(app): State<App>) -> Response {
    let asked = app.ask(|store| store.metrics()).await;
    let metrics = match asked {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return failed(e.into()),
        Err(response) => return response,
    };
    let mut text = String::new();
    if encode(&mut text, &registry(&metrics)).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics").into_response();
    }
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], text).into_response()
}

/// The metrics of the store as a Prometheus registry (counters get their `_total` suffix
/// from the exposition format).
fn registry(metrics: &Metrics) -> Registry {
    let mut registry = Registry::default();
    let counter = |n: i64| ConstCounter::new(n.max(0) as u64);
    registry.register(
        "trueup_records_in",
        "Accepted input records committed",
        counter(metrics.inputs),
    );
    registry.register(
        "trueup_dead_letters",
        "Rejected input lines committed",
        counter(metrics.dead_letters),
    );
    registry.register(
        "trueup_blank_lines_skipped",
        "Blank and whitespace-only input lines skipped (not dead letters)",
        counter(metrics.blank_lines),
    );
    let breaks = Family::<Vec<(String, String)>, Gauge>::default();
    for (status, n) in &metrics.open_breaks {
        breaks
            .get_or_create(&vec![("status".to_string(), status.clone())])
            .set(*n);
    }
    registry.register("trueup_open_breaks", "Current breaks by status", breaks);
    registry.register(
        "trueup_commits",
        "Commits to the audit store",
        counter(metrics.batches),
    );
    if let Some(frontier) = metrics.frontier {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        registry.register(
            "trueup_watermark_lag_seconds",
            "Wall clock less the committed watermark",
            ConstGauge::new((now - frontier) / 1000),
        );
    }
    if let Some(ms) = metrics.commit_ms {
        registry.register(
            "trueup_commit_latency_milliseconds",
            "How long the last commit took to build and write its rows",
            ConstGauge::new(ms),
        );
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_failure_is_logged_at_most_once_a_second() {
        let start = std::time::Instant::now();
        let mut throttle = Throttle::default();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let logged: Vec<(u64, Option<u64>)> = (0..=2100)
            .step_by(50)
            .map(|ms| (ms, throttle.admit(at(ms))))
            .filter(|(_, admitted)| admitted.is_some())
            .collect();
        assert_eq!(logged, [(0, Some(0)), (1000, Some(19)), (2000, Some(19))]);
    }
}
