//! The sources as one worker reads them: its share of each, where it stands, and what it says
//! about the watermark.

use std::time::{Duration, Instant};

use crate::config::{Config, Format, SourceConfig};
use crate::model::time::Millis;
use crate::runtime::control::RunError;
use crate::sources::file::FileSource;
use crate::sources::kafka::KafkaSource;
use crate::sources::{Horizon, Source};

/// One source as a worker reads it.
pub(crate) struct Reading {
    pub source: Box<dyn Source>,
    pub path: String,
    /// Allowed lateness in milliseconds.
    pub lateness: Millis,
    /// How long without input before the source stops holding the watermark back.
    pub idle_after: Duration,
    /// The newest event time seen on this worker's share.
    pub newest: Option<Millis>,
    /// When the source last yielded anything.
    pub last_input: Instant,
    pub finished: bool,
}

impl Reading {
    /// Newest event time less the allowed lateness (`Some(None)` before any record); `None`
    /// when the source has no say: finished, idle, or with no share on this worker.
    pub fn watermark(&self, follow: bool) -> Option<Option<Millis>> {
        if self.finished
            || self.source.absent()
            || (follow && self.last_input.elapsed() >= self.idle_after)
        {
            return None;
        }
        Some(self.newest.map(|n| n.saturating_sub(self.lateness)))
    }
}

/// Opens every configured source for worker `index` of `peers`.
pub(crate) fn open_sources(
    config: &Config,
    index: usize,
    peers: usize,
) -> Result<Vec<Reading>, RunError> {
    config
        .sources
        .iter()
        .map(|source| {
            let (path, opened) = open_source(config, source, index, peers);
            let opened = opened.map_err(|e| RunError::Source {
                path: path.clone(),
                source: e,
            })?;
            Ok(Reading {
                source: opened,
                path,
                lateness: source.allowed_lateness_seconds * 1000,
                idle_after: Duration::from_secs(source.idle_timeout_seconds),
                newest: None,
                last_input: Instant::now(),
                finished: false,
            })
        })
        .collect()
}

/// Opens one source for worker `index` of `peers`: its name (a path or topic), and the source.
fn open_source(
    config: &Config,
    source: &SourceConfig,
    index: usize,
    peers: usize,
) -> (String, std::io::Result<Box<dyn Source>>) {
    let follow = config.pipeline.follow;
    let horizon = Horizon::hours(config.pipeline.max_future_hours);
    let layout = std::sync::Arc::new(source.layout(&config.streams));
    match (&source.path, &source.topic, &config.kafka) {
        (Some(path), _, _) => {
            let format = source.format.unwrap_or_else(|| Format::from_path(path));
            let opened = FileSource::open(layout, path, format, index, peers)
                .map(|f| Box::new(f.following(follow).within(horizon)) as Box<dyn Source>);
            (path.display().to_string(), opened)
        }
        (None, Some(topic), Some(kafka)) => {
            let opened = KafkaSource::open(layout, topic, kafka, index, peers, follow)
                .map(|k| Box::new(k.within(horizon)) as Box<dyn Source>);
            (topic.clone(), opened)
        }
        _ => (
            String::new(),
            Err(std::io::Error::other(
                "a source needs a path, or a topic and [kafka]",
            )),
        ),
    }
}
