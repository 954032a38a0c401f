//! Kafka sources: a topic whose message values are JSON records. Its partitions are assigned
//! statically over all workers of all processes (partition `p` to worker `p mod peers`); each
//! worker reads its partitions from the offsets it resumes at, and records `topic/partition`
//! and the offset as every record's position. Without follow, a run reads each partition up to
//! the end it had when the run started.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{dead_letter, parse, text, too_long, Horizon, Polled, Position, Progress, Source};
use crate::config::fields::Layout;
use crate::config::KafkaConfig;
use crate::kafka::{assigning_consumer, failed, partitions};
use crate::model::Stream;

/// One partition as this worker reads it.
struct Share {
    /// `topic/partition`, for positions.
    name: Arc<str>,
    /// The next offset to read.
    next: i64,
    /// The end offset when the source opened; without follow, reading stops there.
    end: i64,
    /// Whether a message at or after `next` has come since the partition was assigned.
    started: bool,
}

/// A topic's partitions assigned to one worker.
pub struct KafkaSource {
    /// How each message is read, and of which stream.
    layout: Arc<Layout>,
    topic: String,
    consumer: BaseConsumer,
    shares: BTreeMap<i32, Share>,
    /// When the partitions were last assigned, if they are.
    assigned: Option<Instant>,
    follow: bool,
    horizon: Horizon,
}

/// How long a partition that holds messages at its next offset may stay silent after being
/// assigned before it is read again from its start (see [`KafkaSource::rewind`]).
const SILENCE: Duration = Duration::from_secs(1);

impl KafkaSource {
    /// Opens `topic` for the stream of `layout` (how it reads each message: a field map, or
    /// the stream's own fields), for worker `index` of `peers`; without `follow`, each
    /// partition is read up to its current end.
    pub fn open(
        layout: Arc<Layout>,
        topic: &str,
        kafka: &KafkaConfig,
        index: usize,
        peers: usize,
        follow: bool,
    ) -> std::io::Result<KafkaSource> {
        let consumer = assigning_consumer(kafka)?;
        let timeout = Duration::from_secs(kafka.timeout_seconds);
        let count = partitions(consumer.client(), topic, timeout)?;
        let mine: Vec<i32> = (0..count)
            .filter(|p| *p as usize % peers == index)
            .collect();
        // (a consumer of its own: the messages it reads must not reach the reading one)
        let ends = crate::kafka::ends(&assigning_consumer(kafka)?, topic, &mine, timeout)?;
        let shares = ends
            .into_iter()
            .map(|(partition, end)| {
                let share = Share {
                    name: format!("{topic}/{partition}").into(),
                    next: 0,
                    end: end.next,
                    started: false,
                };
                (partition, share)
            })
            .collect();
        Ok(KafkaSource {
            layout,
            topic: topic.to_string(),
            consumer,
            shares,
            assigned: None,
            follow,
            horizon: Horizon::default(),
        })
    }

    fn assign(&mut self) -> std::io::Result<()> {
        let mut list = TopicPartitionList::new();
        for (partition, share) in &self.shares {
            list.add_partition_offset(&self.topic, *partition, Offset::Offset(share.next))
                .map_err(|e| failed(&self.topic, e))?;
        }
        self.consumer
            .assign(&list)
            .map_err(|e| failed(&format!("{}: cannot assign partitions", self.topic), e))?;
        self.shares.values_mut().for_each(|s| s.started = false);
        self.assigned = Some(Instant::now());
        Ok(())
    }

    /// Reads `partition` again from its first offset (once per assignment), skipping up to
    /// its next offset. tansu 0.6 answers a fetch from inside a batch with the batches after
    /// it: a resumed partition's first message then comes after its next offset — or, inside
    /// the last batch, none comes at all.
    fn rewind(&mut self, partition: i32) -> std::io::Result<()> {
        if let Some(share) = self.shares.get_mut(&partition) {
            share.started = true;
        }
        self.consumer
            .seek(
                &self.topic,
                partition,
                Offset::Beginning,
                Duration::from_secs(10),
            )
            .map_err(|e| failed(&format!("{}/{partition}: cannot seek", self.topic), e))
    }

    /// Rewinds every partition that has held messages at its next offset since it was
    /// assigned but has yielded none for [`SILENCE`].
    fn rewind_silent(&mut self) -> std::io::Result<()> {
        if self.assigned.is_none_or(|at| at.elapsed() <= SILENCE) {
            return Ok(());
        }
        let silent: Vec<i32> = (self.shares.iter())
            .filter(|(_, s)| !s.started && s.next < s.end)
            .map(|(p, _)| *p)
            .collect();
        for partition in silent {
            tracing::debug!(topic = %self.topic, partition, "no message at the resumed offset: reading from the start");
            self.rewind(partition)?;
        }
        Ok(())
    }

    /// Records dated beyond `horizon` become dead letters (by default, beyond the widest
    /// allowance a configuration may give).
    pub fn within(mut self, horizon: Horizon) -> KafkaSource {
        self.horizon = horizon;
        self
    }

    /// Without follow, whether every partition is read to its end (at once with none).
    fn done(&self) -> bool {
        !self.follow && self.shares.values().all(|s| s.next >= s.end)
    }

    /// Turns one message into a record or a dead letter.
    fn item(&self, name: &Arc<str>, offset: i64, value: Option<&[u8]>) -> Polled {
        let position = Position {
            source: name.clone(),
            index: offset as u64,
        };
        let dead = |reason: String, raw: &[u8]| {
            Polled::Dead(dead_letter(
                self.layout.stream,
                position.to_string(),
                reason,
                raw,
            ))
        };
        let Some(bytes) = value else {
            return dead("message has no value".into(), b"");
        };
        if let Some(reason) = too_long("message", bytes.len()) {
            return dead(reason, bytes);
        }
        let parsed = text("message", bytes)
            .and_then(|text| parse::json_record(&self.layout, text.trim_end()))
            .and_then(|record| self.horizon.admit(record));
        match parsed {
            Ok(record) => Polled::Record(record, position.clone()),
            Err(reason) => dead(reason, bytes),
        }
    }
}

impl Source for KafkaSource {
    fn stream(&self) -> Stream {
        self.layout.stream
    }

    fn poll(&mut self, max: usize, out: &mut Vec<Polled>) -> std::io::Result<Progress> {
        if self.done() {
            return Ok(Progress::Exhausted);
        }
        self.horizon.refresh();
        if self.assigned.is_none() {
            self.assign()?;
        }
        let mut taken = 0;
        // wait briefly for the first message only: the worker has a dataflow to step
        let mut wait = Duration::from_millis(1);
        while taken < max {
            let Some(polled) = self.consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            let message = match polled {
                Ok(message) => message,
                Err(e) => {
                    // librdkafka retries on its own; a fatal error fails the run
                    if let rdkafka::error::KafkaError::MessageConsumptionFatal(_) = e {
                        return Err(failed(&self.topic, e));
                    }
                    tracing::warn!(topic = %self.topic, error = %e, "kafka consumer");
                    continue;
                }
            };
            let (partition, offset) = (message.partition(), message.offset());
            let Some(share) = self.shares.get(&partition) else {
                continue;
            };
            if offset < share.next || (!self.follow && offset >= share.end) {
                continue; // already read, or past this run's end
            }
            if !share.started && offset > share.next {
                self.rewind(partition)?;
                continue;
            }
            let name = share.name.clone();
            out.push(self.item(&name, offset, message.payload()));
            if let Some(share) = self.shares.get_mut(&partition) {
                share.next = offset + 1;
                share.started = true;
            }
            taken += 1;
        }
        self.rewind_silent()?;
        Ok(if self.done() {
            Progress::Exhausted
        } else {
            Progress::More
        })
    }

    fn position(&self) -> serde_json::Value {
        self.shares
            .iter()
            .map(|(p, s)| (p.to_string(), serde_json::Value::from(s.next)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    fn resume(&mut self, position: &serde_json::Value) -> std::io::Result<()> {
        for (partition, share) in self.shares.iter_mut() {
            if let Some(next) = position.get(partition.to_string()).and_then(|v| v.as_i64()) {
                share.next = next;
            }
        }
        if self.assigned.is_some() {
            self.assign()?;
        }
        Ok(())
    }

    fn absent(&self) -> bool {
        self.shares.is_empty()
    }
}
