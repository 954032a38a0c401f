//! Amounts cross timely's serialization boundary exactly: a balance graph runs on two
//! workers with zero-copy binary exchange (every record moving between workers is bincode
//! encoded and decoded), and the sums come out digit for digit.

use std::sync::{Arc, Mutex};

use differential_dataflow::input::Input;
use timely::communication::Config as CommunicationConfig;
use timely::{Config, WorkerConfig};
use trueup_operators::{Amount, Balance, BalanceGroup, Leg, Tolerance};

fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("valid decimal")
}

#[test]
fn amounts_survive_bincode_exchange_between_workers() {
    let config = Config {
        communication: CommunicationConfig::ProcessBinary(2),
        worker: WorkerConfig::default(),
    };
    let results: Arc<Mutex<Vec<(u32, BalanceGroup)>>> = Arc::default();
    let sink = results.clone();
    timely::execute(config, move |worker| {
        let index = worker.index() as u32;
        let sink = sink.clone();
        let (mut left, mut right) = worker.dataflow::<u64, _, _>(move |scope| {
            let (left, l) = scope.new_collection::<(u32, Leg), isize>();
            let (right, r) = scope.new_collection::<(u32, Leg), isize>();
            l.balance(r, |_| Tolerance::exact())
                .inspect(move |(group, _, diff)| {
                    assert_eq!(*diff, 1);
                    sink.lock().unwrap().push(group.clone())
                });
            (left, right)
        });
        // each worker loads legs for every key, so every group mixes legs that crossed workers
        for key in 0..8u32 {
            let digits = format!("{}{}.{:03}", 12_345_678_901u64 + key as u64, index, 7 + key);
            left.insert((
                key,
                Leg::new(format!("w{index}-l{key}"), amount(&digits), key as u64),
            ));
            right.insert((
                key,
                Leg::new(format!("w{index}-r{key}"), amount("0.001"), key as u64),
            ));
        }
    })
    .expect("two binary-exchange workers run");

    let mut results = results.lock().unwrap().clone();
    results.sort();
    assert_eq!(results.len(), 8, "one group per key");
    for (key, group) in results {
        let expected = amount(&format!(
            "{}0.{:03}",
            12_345_678_901u64 + key as u64,
            7 + key
        )) + amount(&format!(
            "{}1.{:03}",
            12_345_678_901u64 + key as u64,
            7 + key
        ));
        assert_eq!(
            group.expected.to_string(),
            expected.to_string(),
            "key {key}"
        );
        assert_eq!(group.actual.to_string(), "0.002");
        assert_eq!(group.difference, expected - amount("0.002"));
        assert_eq!(
            group.left_ids,
            vec![format!("w0-l{key}"), format!("w1-l{key}")]
        );
    }
}
