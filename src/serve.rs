//! `trueup serve`: the auditors' read-only HTTP API over the audit store.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | `ok` when the store answers (no token needed) |
//! | `GET /metrics` | Prometheus text: records in, dead letters, open breaks by status, watermark lag, commit latency |
//! | `GET /v1/results/{key}` | the key's current results |
//! | `GET /v1/breaks?status=&currency=&rule=&min_amount=&min_age_days=&limit=` | open breaks |
//! | `GET /v1/summary` | groups and Σ difference by rule × status × currency |
//! | `GET /v1/lineage/{key}` | the key's results with every input record and its position |
//!
//! Every `/v1` route takes `as_of` (RFC 3339, before the committed frontier; default: the last
//! committed time). Everything but `/healthz` needs `Authorization: Bearer <token>` (401
//! otherwise). The store is opened read-only, on a thread of its own (the PostgreSQL client
//! is blocking), and every filter value is bound as an SQL parameter.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use trueup_operators::Amount;

use crate::rules::Time;
use crate::store::query::{AskError, Filter};
use crate::store::Store;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// The server's shared state: the store's thread, and the token.
#[derive(Clone)]
struct App {
    jobs: mpsc::Sender<Job>,
    token: Arc<str>,
}

impl App {
    /// Runs `ask` on the store's thread and waits for its answer.
    async fn ask<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> Result<T, Response> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = tx.send(ask(store));
        });
        let unavailable = || (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response();
        self.jobs.send(job).map_err(|_| unavailable())?;
        rx.await.map_err(|_| unavailable())
    }
}

/// Serves the API for the store at `url` on `listener` until the process ends.
pub async fn serve(
    url: String,
    token: String,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    let (jobs, inbox) = mpsc::channel::<Job>();
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || match Store::open_read_only(&url) {
        Ok(mut store) => {
            let _ = opened_tx.send(Ok(()));
            for job in inbox {
                job(&mut store);
            }
        }
        Err(e) => {
            let _ = opened_tx.send(Err(e));
        }
    });
    opened_rx.recv()??;
    let app = App {
        jobs,
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
    axum::serve(listener, router).await?;
    Ok(())
}

/// 401 unless the request carries the bearer token (compared in constant time).
async fn authorize(State(app): State<App>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = app.token.as_bytes();
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
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
    match app.ask(|store| store.frontier()).await {
        Ok(Ok(_)) => "ok\n".into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        Err(response) => response,
    }
}

type Params = Query<HashMap<String, String>>;

/// A JSON answer, or the error as a status and message.
fn answer<T: serde::Serialize>(result: Result<T, AskError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(AskError::BadRequest(message)) => (StatusCode::BAD_REQUEST, message).into_response(),
        Err(AskError::Store(e)) => {
            tracing::error!(error = %e, "store query failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "store query failed").into_response()
        }
    }
}

fn number<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, AskError> {
    params
        .get(name)
        .map(|v| {
            v.parse()
                .map_err(|_| AskError::BadRequest(format!("{name}: not a number: {v:?}")))
        })
        .transpose()
}

/// The filter the query string describes.
fn filter(params: &HashMap<String, String>) -> Result<Filter, AskError> {
    let min_amount = params
        .get("min_amount")
        .map(|v| {
            Amount::parse(v)
                .ok_or_else(|| AskError::BadRequest(format!("min_amount: not a decimal: {v:?}")))
        })
        .transpose()?;
    Ok(Filter {
        key: None,
        rule: params.get("rule").cloned(),
        status: params.get("status").cloned(),
        currency: params.get("currency").cloned(),
        min_amount,
        min_age_days: number(params, "min_age_days")?,
        breaks_only: false,
        limit: number(params, "limit")?,
    })
}

/// Answers `ask` at the `as_of` the query string gives (default: the last committed time).
async fn at_as_of<T: serde::Serialize + Send + 'static>(
    app: App,
    params: HashMap<String, String>,
    ask: impl FnOnce(&mut Store, Time, &HashMap<String, String>) -> Result<T, AskError> + Send + 'static,
) -> Response {
    let asked = app
        .ask(move |store| {
            let as_of = store.resolve_as_of(params.get("as_of").map(String::as_str))?;
            ask(store, as_of, &params)
        })
        .await;
    asked.map_or_else(|r| r, answer)
}

async fn result(
    State(app): State<App>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Response {
    at_as_of(app, params, |store, as_of, params| {
        let mut filter = filter(params)?;
        filter.key = Some(key);
        Ok(store.current_as_of(as_of, &filter)?)
    })
    .await
}

async fn breaks(State(app): State<App>, Query(params): Params) -> Response {
    at_as_of(app, params, |store, as_of, params| {
        let mut filter = filter(params)?;
        filter.breaks_only = true;
        Ok(store.current_as_of(as_of, &filter)?)
    })
    .await
}

async fn summary(State(app): State<App>, Query(params): Params) -> Response {
    at_as_of(app, params, |store, as_of, _| {
        Ok(store.summary_as_of(as_of)?)
    })
    .await
}

async fn lineage(
    State(app): State<App>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Response {
    at_as_of(app, params, move |store, as_of, _| {
        Ok(store.lineage(&key, as_of)?)
    })
    .await
}

async fn metrics(State(app): State<App>) -> Response {
    let asked = app.ask(|store| store.metrics()).await;
    let metrics = match asked {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return answer::<()>(Err(e.into())),
        Err(response) => return response,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, samples: Vec<(String, i64)>| {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            text.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    gauge(
        "trueup_records_in_total",
        "Accepted input records committed.",
        "counter",
        vec![(String::new(), metrics.inputs)],
    );
    gauge(
        "trueup_dead_letters_total",
        "Rejected input lines committed.",
        "counter",
        vec![(String::new(), metrics.dead_letters)],
    );
    gauge(
        "trueup_open_breaks",
        "Current breaks by status.",
        "gauge",
        metrics
            .open_breaks
            .iter()
            .map(|(status, n)| (format!("{{status=\"{status}\"}}"), *n))
            .collect(),
    );
    gauge(
        "trueup_commits_total",
        "Commits to the audit store.",
        "counter",
        vec![(String::new(), metrics.batches)],
    );
    if let Some(frontier) = metrics.frontier {
        gauge(
            "trueup_watermark_lag_seconds",
            "Wall clock less the committed watermark.",
            "gauge",
            vec![(String::new(), (now - frontier) / 1000)],
        );
    }
    if let Some(ms) = metrics.commit_ms {
        gauge(
            "trueup_commit_latency_milliseconds",
            "How long the last commit took to build and write its rows.",
            "gauge",
            vec![(String::new(), ms)],
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
