//! The Kafka output: result changes and dead letters as messages on two topics, exactly once
//! for a consumer across crashes and restarts — without Kafka transactions.
//!
//! Message format (docs/kafka.md): a result change's key is `rule/key/currency`, its value the
//! same JSON object as a line of `results.jsonl`; a dead letter's key is its position, its value
//! the JSON dead letter. Headers: `trueup-seq` (the message's place in its output, from 0),
//! `trueup-run` (the audit store's run id), and for results `trueup-time` (the logical time,
//! RFC 3339) and `trueup-diff` (`1` or `-1`). A key always goes to the same partition
//! (FNV-1a of the key, modulo the partition count), so a group's changes stay in order.
//!
//! Exactly once (with an audit store): the store is the outbox. What a delivery gives the output
//! is produced only after the store has committed it, in the store's order and numbering; each
//! commit first flushes the idempotent producer (no duplicates or gaps within a partition), so
//! at any stop only the last commit's messages can be missing. On start, the output reads the
//! last message of each partition: if it carries this run's id, every message of this run with
//! a sequence number up to it is in that partition; it then produces the last commit's messages
//! (read back from the store) that are not. Without a store, messages are produced as
//! delivered, and a new run writes its changelog again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::config::{KafkaConfig, SinksConfig};
use crate::kafka::{assigning_consumer, client_config, ends, failed, flush, partitions, produce};
use crate::model::results::Change;
use crate::model::results::ChangelogLine;
use crate::model::summary::Summary;
use crate::model::time::format_rfc3339;
use crate::model::DeadLetter;
use crate::sinks::file::{check_summary, write_summary};
use crate::sinks::output::{Committed, Output};

/// Remembers the first failed delivery, reported at the next [`Output::sync`].
#[derive(Clone, Default)]
struct Failures(Arc<Mutex<Option<String>>>);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            if let Ok(mut first) = self.0.lock() {
                first.get_or_insert_with(|| format!("{}: {error}", message.topic()));
            }
        }
    }
}

/// One output topic.
struct Topic {
    name: String,
    partitions: i32,
    /// The next message's sequence number.
    next: u64,
    /// Per partition, the highest sequence number of this run already in it.
    written: BTreeMap<i32, u64>,
}

impl Topic {
    /// The next message's sequence number, taken.
    fn take_seq(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }

    /// The partition of `key`: FNV-1a, modulo the partition count.
    fn partition(&self, key: &str) -> i32 {
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        (hash % self.partitions as u64) as i32
    }

    /// Finds, per partition, the highest sequence number of run `run` already written: the
    /// last message's, when it is this run's.
    fn read_back(
        &mut self,
        consumer: &BaseConsumer,
        run: &str,
        timeout: Duration,
    ) -> std::io::Result<()> {
        let partitions: Vec<i32> = (0..self.partitions).collect();
        for (partition, end) in ends(consumer, &self.name, &partitions, timeout)? {
            let Some(last) = end.last else {
                continue;
            };
            if last.headers.get("trueup-run").map(String::as_str) == Some(run) {
                if let Some(seq) = last.headers.get("trueup-seq").and_then(|s| s.parse().ok()) {
                    self.written.insert(partition, seq);
                }
            }
        }
        Ok(())
    }
}

/// One message, encoded and numbered, not yet produced.
struct Pending {
    results: bool,
    seq: u64,
    key: String,
    value: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

/// Writes result changes and dead letters to Kafka topics (see the module documentation).
pub struct KafkaOutput {
    producer: BaseProducer<Failures>,
    failures: Failures,
    kafka: KafkaConfig,
    results: Topic,
    dead_letters: Topic,
    run: Option<String>,
    /// With a store: what was delivered since the last commit, produced once it is committed.
    pending: Vec<Pending>,
    summary: Option<std::path::PathBuf>,
    timeout: Duration,
}

impl KafkaOutput {
    /// Connects an idempotent producer to the topics named by `sinks` (which must exist).
    pub fn create(kafka: &KafkaConfig, sinks: &SinksConfig) -> std::io::Result<KafkaOutput> {
        check_summary(sinks)?;
        let failures = Failures::default();
        let producer: BaseProducer<Failures> = client_config(kafka)
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            .create_with_context(failures.clone())
            .map_err(|e| failed("cannot create a Kafka producer", e))?;
        let timeout = Duration::from_secs(kafka.timeout_seconds);
        let topic = |name: &Option<String>| -> std::io::Result<Topic> {
            let name = name
                .clone()
                .ok_or_else(|| std::io::Error::other("no topic configured for this output"))?;
            Ok(Topic {
                partitions: partitions(producer.client(), &name, timeout)?,
                name,
                next: 0,
                written: BTreeMap::new(),
            })
        };
        Ok(KafkaOutput {
            results: topic(&sinks.results_topic)?,
            dead_letters: topic(&sinks.dead_letters_topic)?,
            producer,
            failures,
            kafka: kafka.clone(),
            run: None,
            pending: Vec::new(),
            summary: sinks.summary.clone(),
            timeout,
        })
    }

    /// Encodes and numbers dead letters and result changes as messages.
    fn encode(
        &mut self,
        dead_letters: &[DeadLetter],
        changes: &[Change],
    ) -> std::io::Result<Vec<Pending>> {
        let mut out = Vec::with_capacity(dead_letters.len() + changes.len());
        for dead in dead_letters {
            out.push(Pending {
                results: false,
                seq: self.dead_letters.take_seq(),
                key: dead.position.clone(),
                value: serde_json::to_vec(dead)?,
                headers: Vec::new(),
            });
        }
        for (row, time, diff) in changes {
            let line = ChangelogLine::new(row, *time, *diff as i64);
            out.push(Pending {
                results: true,
                seq: self.results.take_seq(),
                key: format!("{}/{}/{}", row.rule, row.key, row.currency.code()),
                value: {
                    let mut value = Vec::with_capacity(512);
                    line.write_json(&mut value);
                    value
                },
                headers: vec![
                    ("trueup-time", format_rfc3339(*time)),
                    ("trueup-diff", diff.to_string()),
                ],
            });
        }
        Ok(out)
    }

    /// Produces `messages`, but those an earlier attempt of this run already wrote.
    fn publish(&mut self, messages: Vec<Pending>) -> std::io::Result<()> {
        for message in messages {
            let topic = match message.results {
                true => &self.results,
                false => &self.dead_letters,
            };
            let partition = topic.partition(&message.key);
            if topic
                .written
                .get(&partition)
                .is_some_and(|w| message.seq <= *w)
            {
                continue;
            }
            let seq = message.seq.to_string();
            let mut headers = OwnedHeaders::new().insert(Header {
                key: "trueup-seq",
                value: Some(&seq),
            });
            if let Some(run) = &self.run {
                headers = headers.insert(Header {
                    key: "trueup-run",
                    value: Some(run),
                });
            }
            for (name, value) in &message.headers {
                headers = headers.insert(Header {
                    key: name,
                    value: Some(value),
                });
            }
            let record = BaseRecord::to(&topic.name)
                .key(&message.key)
                .payload(&message.value)
                .partition(partition)
                .headers(headers);
            produce(&self.producer, record)?;
        }
        Ok(())
    }
}

impl Output for KafkaOutput {
    fn deliver(&mut self, dead_letters: &[DeadLetter], changes: &[Change]) -> std::io::Result<()> {
        let messages = self.encode(dead_letters, changes)?;
        match self.run {
            Some(_) => self.pending.extend(messages),
            None => self.publish(messages)?,
        }
        Ok(())
    }

    fn start(&mut self, committed: &Committed) -> std::io::Result<()> {
        self.results.next = committed.results;
        self.dead_letters.next = committed.dead_letters;
        self.run = committed.run.clone();
        let Some(run) = &committed.run else {
            return Ok(());
        };
        let consumer: BaseConsumer = assigning_consumer(&self.kafka)?;
        self.results.read_back(&consumer, run, self.timeout)?;
        self.dead_letters.read_back(&consumer, run, self.timeout)?;
        // the last commit's messages may not all have been produced before the run stopped
        let again = &committed.republish;
        self.results.next = again.results_from;
        self.dead_letters.next = again.dead_letters_from;
        let messages = self.encode(&again.dead_letters, &again.changes)?;
        if self.lengths() != (committed.results, committed.dead_letters) {
            let text = format!(
                "the audit store's last commit holds {:?} messages after {:?}, not {:?}",
                (again.changes.len(), again.dead_letters.len()),
                (again.results_from, again.dead_letters_from),
                (committed.results, committed.dead_letters)
            );
            return Err(std::io::Error::other(text));
        }
        self.publish(messages)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        flush(&self.producer, self.timeout)?;
        match self.failures.0.lock().ok().and_then(|f| f.clone()) {
            Some(failure) => Err(std::io::Error::other(format!(
                "Kafka delivery failed: {failure}"
            ))),
            None => Ok(()),
        }
    }

    fn committed(&mut self) -> std::io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.publish(pending)
    }

    fn republishes(&self) -> bool {
        true
    }

    fn lengths(&self) -> (u64, u64) {
        (self.results.next, self.dead_letters.next)
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<String> {
        self.committed()?;
        self.sync()?;
        write_summary(self.summary.as_deref(), summary)
    }
}
