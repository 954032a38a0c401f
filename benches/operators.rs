//! Criterion micro-benchmarks: each operator of the library over 20,000 records in one timely
//! worker, and the line parser. Run with `cargo bench --bench operators`.

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use differential_dataflow::input::Input;
use differential_dataflow::VecCollection;
use trueup::model::Stream;
use trueup::sources::parse::json_line;
use trueup_operators::{
    Aging, Amount, Balance, Conservation, Dedupe, Joiner, Leg, Matcher, MatcherConfig, Measure,
    Retire, Route, Splitter, Tolerance,
};

mod common;

const RECORDS: u64 = 20_000;

/// Loads `RECORDS` keyed legs at time 0 into a fresh dataflow, applies `graph`, and runs it
/// through time 1 (where retirements decided at 0 take effect).
fn run_graph<F>(graph: F)
where
    F: for<'s> Fn(VecCollection<'s, u64, (u64, Leg)>) -> VecCollection<'s, u64, u64>
        + Send
        + Sync
        + 'static,
{
    timely::execute_directly(move |worker| {
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, legs) = scope.new_collection::<(u64, Leg), isize>();
            let (probe, _) = graph(legs).probe();
            (input, probe)
        });
        for i in 0..RECORDS {
            input.insert((
                i / 4,
                Leg::new(
                    format!("id{i}"),
                    Amount::from_minor(i as i64 % 977 + 1, 2),
                    i,
                ),
            ));
        }
        input.advance_to(2);
        input.flush();
        worker.step_while(|| probe.less_than(&2));
    });
}

fn operators(c: &mut Criterion) {
    let mut group = c.benchmark_group("operators");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("balance", RECORDS), |b| {
        b.iter(|| {
            run_graph(|legs| {
                legs.clone()
                    .balance(legs.filter(|(k, _)| k.is_multiple_of(2)), |_| {
                        Tolerance::exact()
                    })
                    .map(|(k, _)| k)
            })
        })
    });
    group.bench_function(BenchmarkId::new("matcher", RECORDS), |b| {
        b.iter(|| {
            run_graph(|legs| {
                legs.clone()
                    .match_by(
                        legs,
                        MatcherConfig::default(),
                        |l| l.1.id.clone(),
                        |r| r.1.id.clone(),
                    )
                    .matched
                    .map(|(_, (l, _))| l.0)
            })
        })
    });
    group.bench_function(BenchmarkId::new("dedupe", RECORDS), |b| {
        b.iter(|| {
            run_graph(|legs| {
                legs.map(|(k, l)| (l.id.clone(), k))
                    .dedupe()
                    .unique
                    .map(|(_, k)| k)
            })
        })
    });
    group.bench_function(BenchmarkId::new("joiner", RECORDS), |b| {
        b.iter(|| {
            run_graph(|legs| {
                legs.clone()
                    .enrich(legs.map(|(k, _)| k).distinct().map(|k| (k, k)))
                    .enriched
                    .map(|(k, _)| k)
            })
        })
    });
    group.bench_function(BenchmarkId::new("splitter", RECORDS), |b| {
        b.iter(|| {
            run_graph(|legs| {
                legs.map(|(k, _)| k)
                    .split(vec![Route::new("even", |k: &u64| k.is_multiple_of(2))])
                    .rest
            })
        })
    });
    group.bench_function(BenchmarkId::new("aging", RECORDS), |b| {
        b.iter(|| {
            run_graph(|legs| {
                legs.age(|(_, l): &(u64, Leg)| Some(l.at % 7))
                    .overdue
                    .map(|(k, _)| k)
            })
        })
    });
    group.bench_function(BenchmarkId::new("conservation", RECORDS), |b| {
        b.iter(|| {
            run_graph(|legs| {
                let measured = legs.map(|(k, l)| (k % 16, Measure::one(l.amount)));
                measured
                    .clone()
                    .conserved_by(vec![measured])
                    .map(|v| v.scope)
            })
        })
    });
    group.bench_function(BenchmarkId::new("retire", RECORDS), |b| {
        b.iter(|| {
            run_graph(|legs| {
                // every group's member count, retired at once: the members leave at time 1
                let retiring = legs.retiring(1);
                let counts = retiring
                    .working()
                    .reduce(|_k, members, out| out.push((members.len() as u64, 1)));
                retiring
                    .retire_named("retire", counts, |_k, _n| Some(0))
                    .map(|(k, _)| k)
            })
        })
    });
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let line = r#"{"entry_id":"j_0000001_cap_0","journal_id":"j_0000001_cap","payment_id":"pay_0000001","account":"psp_receivable","direction":"debit","amount":"1455.56","currency":"GBP","booked_at":"2026-11-01T10:00:00Z"}"#;
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("entry_json_line", |b| {
        b.iter(|| json_line(Stream::Entries, line).expect("valid line"))
    });
    group.finish();
}

mod group {
    //! The benchmark group (in a module, as `criterion_group!` generates an undocumented fn).
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::operators, super::parsing);
}

criterion_main!(group::benches);
