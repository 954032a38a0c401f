//! Kafka clients (rdkafka): every consumer and producer trueup creates gets its brokers and
//! security settings from `[kafka]` here, and Kafka's errors become I/O errors that name the
//! topic (never a property value: those may be secrets).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::client::{Client, ClientContext};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;

/// The client configuration for `[kafka]`: `bootstrap.servers` and every property verbatim.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    for (name, value) in &kafka.properties {
        config.set(name, value);
    }
    config.set_log_level(RDKafkaLogLevel::Warning);
    config
}

/// A consumer that reads assigned partitions from given offsets, committed messages only,
/// and never joins a group or commits offsets (trueup keeps its positions in the audit store).
///
/// A fetch waits at most 10 ms for data (librdkafka's default, 500 ms, is latency trueup's
/// results would inherit); `[kafka.properties]` may say otherwise.
pub fn assigning_consumer(kafka: &KafkaConfig) -> std::io::Result<BaseConsumer> {
    let mut config = client_config(kafka);
    if !kafka.properties.contains_key("fetch.wait.max.ms") {
        config.set("fetch.wait.max.ms", "10");
    }
    config
        .set("group.id", "trueup")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| failed("cannot create a Kafka consumer", e))
}

/// One message read back: partition, key, value and headers.
#[derive(Clone, Debug)]
pub struct Consumed {
    /// The partition it was in.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// Its key (lossy UTF-8; empty without one).
    pub key: String,
    /// Its value (lossy UTF-8).
    pub value: String,
    /// Its headers, by name (lossy UTF-8).
    pub headers: BTreeMap<String, String>,
}

/// Reads one message as [`Consumed`].
pub fn consumed<M: Message>(message: &M) -> Consumed {
    let text =
        |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), text(h.value)))
                .collect()
        })
        .unwrap_or_default();
    Consumed {
        partition: message.partition(),
        offset: message.offset(),
        key: text(message.key()),
        value: text(message.payload()),
        headers,
    }
}

/// The partition count of `topic`; an error when the topic does not exist.
pub fn partitions<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> std::io::Result<i32> {
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| failed(&format!("topic {topic}: cannot read metadata"), e))?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    match found {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            Ok(t.partitions().len() as i32)
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("topic {topic} does not exist"),
        )),
    }
}

/// Where a partition ends: the offset after its last message, and that message.
#[derive(Clone, Debug)]
pub struct End {
    /// The partition's first offset still held.
    pub first: i64,
    /// The offset the next message will get.
    pub next: i64,
    /// The last message, if the partition holds any.
    pub last: Option<Consumed>,
}

/// How long the partitions must stay quiet after their last message for [`ends`] to call it
/// the end.
const QUIET: Duration = Duration::from_millis(300);

/// How long [`ends`] reads on after every partition has answered, when producers keep them
/// from going quiet: the end is then wherever the partition had come to.
const SETTLE: Duration = Duration::from_secs(1);

/// Where each of `partitions` of `topic` ends, with its last message. Kafka's ListOffsets
/// answers the end directly; tansu 0.6 answers the first offset of the last *batch* plus one. So
/// this reads from one before the reported end until the partitions go quiet, which gives the
/// true end on both; on a topic being produced to, the end is where it had come to a moment
/// ([`SETTLE`]) after every partition answered.
pub fn ends(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> std::io::Result<BTreeMap<i32, End>> {
    let mut found = BTreeMap::new();
    let mut list = TopicPartitionList::new();
    for &partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(|e| failed(&format!("{topic}/{partition}: cannot read offsets"), e))?;
        found.insert(
            partition,
            End {
                first: low,
                next: high,
                last: None,
            },
        );
        if high > low {
            list.add_partition_offset(topic, partition, Offset::Offset(high - 1))
                .map_err(|e| failed(topic, e))?;
        }
    }
    if list.count() == 0 {
        return Ok(found);
    }
    consumer
        .assign(&list)
        .map_err(|e| failed(&format!("{topic}: cannot assign"), e))?;
    let mut waiting: BTreeSet<i32> = list.elements().iter().map(|e| e.partition()).collect();
    let deadline = Instant::now() + timeout;
    let (mut heard, mut answered) = (Instant::now(), None);
    while !answered.is_some_and(|at: Instant| heard.elapsed() >= QUIET || at.elapsed() >= SETTLE) {
        if Instant::now() > deadline {
            let text = format!("{topic}: cannot read the last messages of {waiting:?}");
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, text));
        }
        let Some(polled) = consumer.poll(Duration::from_millis(20)) else {
            continue;
        };
        let message = polled.map_err(|e| failed(topic, e))?;
        heard = Instant::now();
        waiting.remove(&message.partition());
        if waiting.is_empty() && answered.is_none() {
            answered = Some(heard);
        }
        if let Some(end) = found.get_mut(&message.partition()) {
            if message.offset() >= end.next - 1 {
                end.next = message.offset() + 1;
                end.last = Some(consumed(&message));
            }
        }
    }
    consumer
        .unassign()
        .map_err(|e| failed(&format!("{topic}: cannot unassign"), e))?;
    Ok(found)
}

/// Sends `record`, waiting while the producer's queue is full; serves delivery callbacks.
pub fn produce<C, K, P>(
    producer: &BaseProducer<C>,
    record: BaseRecord<'_, K, P>,
) -> std::io::Result<()>
where
    C: ProducerContext<DeliveryOpaque = ()>,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    let mut record = record;
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, back)) => return Err(failed(&format!("{}: cannot produce", back.topic), e)),
        }
    }
    producer.poll(Duration::ZERO);
    Ok(())
}

/// Waits until every message `producer` was given is acknowledged (or `timeout` passes),
/// serving delivery callbacks — in steps of a millisecond: the client library's own `flush`
/// waits in steps of 100 ms, which a commit would wait out every time.
pub fn flush<C: ProducerContext>(
    producer: &BaseProducer<C>,
    timeout: Duration,
) -> std::io::Result<()> {
    let started = Instant::now();
    loop {
        producer.poll(Duration::ZERO);
        if producer.in_flight_count() == 0 {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            let error = KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut);
            return Err(failed("cannot flush the Kafka producer", error));
        }
        producer.poll(Duration::from_millis(1));
    }
}

/// A Kafka error as an I/O error, with what was being done.
pub fn failed(doing: &str, error: KafkaError) -> std::io::Error {
    std::io::Error::other(format!("{doing}: {error}"))
}
