//! Kafka chores outside a pipeline — creating topics, producing a file's lines, reading a whole
//! topic back — for the tests and the benchmarks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub use trueup::kafka::{consumed, Consumed};
use trueup::kafka::{failed, partitions, produce};

/// A client configuration for `brokers`.
fn client(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config
}

/// Creates each `(name, partitions)` topic (replication 1).
pub fn create_topics(brokers: &str, topics: &[(&str, i32)]) -> std::io::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client(brokers)
        .create()
        .map_err(|e| failed("cannot create a Kafka admin client", e))?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let created = runtime
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .map_err(|e| failed("cannot create topics", e))?;
    for result in created {
        result.map_err(|(topic, code)| {
            std::io::Error::other(format!("cannot create topic {topic}: {code}"))
        })?;
    }
    Ok(())
}

/// An idempotent producer with a little batching.
pub fn producer(brokers: &str) -> std::io::Result<BaseProducer> {
    client(brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .map_err(|e| failed("cannot create a Kafka producer", e))
}

/// Produces every line of `file` to `topic`, round robin over its `partitions`; returns the
/// number of messages once all are acknowledged.
pub fn produce_lines(
    brokers: &str,
    topic: &str,
    partitions: i32,
    file: &Path,
) -> std::io::Result<usize> {
    let producer = producer(brokers)?;
    let bytes = std::fs::read(file)?;
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let mut count = 0;
    // lines as bytes: generated files hold invalid UTF-8 on purpose
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let record = BaseRecord::<(), [u8]>::to(topic)
            .payload(line)
            .partition(i as i32 % partitions);
        produce(&producer, record)?;
        count += 1;
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| failed(&format!("{topic}: cannot flush"), e))?;
    Ok(count)
}

/// A consumer of committed messages that assigns partitions itself.
pub fn reader(brokers: &str) -> std::io::Result<BaseConsumer> {
    client(brokers)
        .set("group.id", "trueup-tools")
        .set("fetch.wait.max.ms", "10")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(|e| failed("cannot create a Kafka consumer", e))
}

/// Every message of `topic`: all partitions, from their beginning to their current end.
pub fn consume_all(
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> std::io::Result<Vec<Consumed>> {
    let consumer = reader(brokers)?;
    let count = partitions(consumer.client(), topic, timeout)?;
    let all: Vec<i32> = (0..count).collect();
    let mut ends = BTreeMap::new();
    let mut list = TopicPartitionList::new();
    // (another consumer finds the ends: what it reads must not reach this one)
    for (p, end) in trueup::kafka::ends(&reader(brokers)?, topic, &all, timeout)? {
        if end.next > end.first {
            ends.insert(p, end.next);
            list.add_partition_offset(topic, p, Offset::Offset(end.first))
                .map_err(|e| failed(topic, e))?;
        }
    }
    consumer
        .assign(&list)
        .map_err(|e| failed(&format!("{topic}: cannot assign"), e))?;
    let mut got = Vec::new();
    let deadline = Instant::now() + timeout;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            let text = format!("{topic}: timed out reading");
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, text));
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(|e| failed(topic, e))?;
        got.push(consumed(&message));
        if ends.get(&message.partition()) == Some(&(message.offset() + 1)) {
            ends.remove(&message.partition());
        }
    }
    Ok(got)
}
