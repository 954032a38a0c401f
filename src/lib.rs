//! trueup: a financial reconciliation stream processor on differential dataflow.
//!
//! # Layout
//!
//! Each folder is a layer, listed here from the bottom up; a module imports only from its own
//! layer or the ones below it, and the module graph has no cycle (`tests/layout.rs` checks
//! both).
//!
//! - [`model`]: the records — payment events, ledger entries, dead letters.
//!   - [`model::currency`]: ISO 4217 currencies and their minor units.
//!   - [`model::time`]: event time, the dataflow's logical time, and the tick.
//!   - [`model::name`]: ids, accounts and merchants as 16-byte values; the long-name dictionary.
//!   - [`model::rows`]: payments and entries as the dataflow carries them.
//!   - [`model::results`]: result rows, their changes, and their changelog lines.
//!   - [`model::summary`]: counts, amounts, match rates and aging of a run's results.
//! - [`config`]: the TOML pipeline configuration, validated with the key named.
//!   - [`config::balance`]: a declared `balance` rule: its two sides, keys and filters.
//!   - [`config::fields`]: a source's field map — its own columns onto the stream's roles.
//!   - [`config::key`]: the key a TOML parse error is about, named as refusals name keys.
//!   - [`config::paths`]: a run never writes over its inputs, its store or another output.
//! - [`kafka`]: Kafka clients configured from `[kafka]`, shared by sources and sinks.
//! - [`sources`]: where records come from, and the line limits and dead letters they share.
//!   - [`sources::canonical`]: unknown fields in one canonical form: one value, one spelling.
//!   - [`sources::fields`]: named access to one input record's fields, whatever its format.
//!   - [`sources::object`]: one JSON object read in place, without building a map.
//!   - [`sources::parse`]: one JSON object or CSV row into a record, or a precise reason.
//!   - [`sources::roles`]: one role read through a field map: amounts, signs, zones, values.
//!   - [`sources::file`]: JSON Lines and CSV files, sharded over workers, followed as they grow.
//!   - [`sources::kafka`]: a topic's partitions assigned statically over the workers.
//! - [`rules`]: the reconciliation graph, composed from `trueup-operators`.
//!   - [`rules::kind`]: what a rule kind is to the engine.
//!   - [`rules::registry`]: the kinds a configured rule may be an instance of.
//!   - [`rules::balance`]: the balance kind: left against right per key; today's rules as presets.
//!   - [`rules::tally`]: a rule's results from its members: one aged tally per group.
//!   - [`rules::graph`]: engineers' graphs: built over the records, registered by name.
//!   - [`rules::matching`]: the match kind: records (or sums of records) paired by key, amount
//!     and time.
//! - [`sinks`]: where results go.
//!   - [`sinks::output`]: the interface the runtime delivers to.
//!   - [`sinks::file`]: the changelog and dead letters as JSON Lines files, the summary file.
//!   - [`sinks::kafka`]: the changelog and dead letters as Kafka topics, exactly once.
//!   - [`sinks::memory`]: everything kept in memory (tests, examples).
//! - [`store`]: the audit store: inputs, changelog, dead letters and commits, hash-chained.
//!   - [`store::db`]: the SQLite and PostgreSQL backends behind one small interface.
//!   - [`store::files`]: the output files checked against the digests their commits recorded.
//!   - [`store::pipelined`]: commits prepared by the caller, appended by a thread of their own.
//!   - [`store::pool`]: read-only connections for `serve`; requests given up are cancelled.
//!   - [`store::query`]: auditors' questions as of any committed time.
//!   - [`store::verify`]: the hash chain, rows, types, schema and conservation recomputed.
//!   - [`store::serve`]: the same questions over HTTP, `/metrics` and `/healthz`.
//! - [`generate`]: deterministic synthetic data with injected faults and ground truth.
//!   - [`generate::spec`]: what to generate, and the truth and totals of what was.
//!   - [`generate::payment`]: one payment's events, journals, lines and groups.
//!   - [`generate::write`]: delivery order, redeliveries, invalid lines, the files.
//! - [`runtime`]: the engine.
//!   - [`runtime::run`]: a run end to end: the store opened, one worker per thread.
//!   - [`runtime::worker`]: one worker: its dataflows, read rounds, time, delivery.
//!   - [`runtime::reading`]: the sources as one worker reads them, and their watermarks.
//!   - [`runtime::resume`]: what a restarted run takes back from the audit store.
//!   - [`runtime::delivery`]: worker 0 ships completed times to the writer, in order.
//!   - [`runtime::writer`]: the thread that orders, writes and commits what completed.
//!   - [`runtime::check`]: `trueup check`, a dry run of the sources through their field maps.
//!   - [`runtime::commit`]: exactly-once commits of inputs, changes and positions.
//!   - [`runtime::merge_policy`]: how eagerly arrangements merge while following.
//!   - [`runtime::progress`]: the periodic progress line of a long run.
//!   - [`runtime::control`]: stopping a run from outside, what it reports, how it fails.
//!   - [`runtime::pipeline`]: the Pipeline API: an engineer's program running its own graphs.
//!   - [`runtime::job`]: a run into the configured sinks; the embedded default config.
//!
//! The `trueup` binary (`src/main.rs`) is the command line over these; test support (the naive
//! oracle, Kafka chores) lives in the dev-only `trueup-testing` crate (`testing/`).

#![deny(missing_docs)]

pub mod config;
pub mod generate;
pub mod kafka;
pub mod model;
pub mod rules;
pub mod runtime;
pub mod sinks;
pub mod sources;
pub mod store;
