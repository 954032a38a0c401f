//! Many-to-one settlement: several payments settle into one bank payout line.
//!
//! Graph: payments and bank lines are balanced per payout id (`balance`), and the groups are
//! aged against a two-day grace (`aging`) so an unexplained payout shows up as overdue.
//! Payout 1 settles three payments exactly once its bank line arrives on day 2; payout 2 is
//! paid 9.71 short; payout 3 is never paid; bank line 3 matches no payout. The printed
//! changelog shows each group move from open to settled or overdue.
//!
//! Run: `cargo run --example settlement`

use std::cell::RefCell;
use std::rc::Rc;

use differential_dataflow::input::Input;
use trueup_operators::{Aging, Amount, Balance, BalanceGroup, BalanceState, Leg, Tolerance};

/// Reads `(group key, leg, day)` rows from a CSV in `examples/data`.
fn rows(file: &str) -> Vec<(String, Leg, u64)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("example data");
    text.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let day: u64 = cells[3].parse().expect("day");
            let amount = Amount::parse(cells[2]).expect("decimal amount");
            (cells[1].to_string(), Leg::new(cells[0], amount, day), day)
        })
        .collect()
}

type Changes = Rc<RefCell<Vec<(String, String, BalanceGroup, u64, isize)>>>;

fn main() {
    let changes = timely::execute_directly(|worker| {
        let changes: Changes = Rc::default();
        let (sink, grace_days) = (changes.clone(), 2u64);
        let (mut payments, mut payouts, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (payments_in, payments) = scope.new_collection::<(String, Leg), isize>();
            let (payouts_in, payouts) = scope.new_collection::<(String, Leg), isize>();
            // one group per payout id: Σ net payment amounts against Σ bank lines, 1 cent tolerance
            let tolerance = Tolerance {
                absolute: Amount::parse("0.01").unwrap(),
                ..Tolerance::exact()
            };
            let groups = payments.balance_named("settlement", payouts, move |_| tolerance);
            let aged = groups.age(move |(_, g): &(String, BalanceGroup)| {
                (g.state != BalanceState::Balanced).then_some(g.last_at + grace_days)
            });
            let tag = |label: &'static str| {
                move |(key, group): (String, BalanceGroup)| (label.to_string(), key, group)
            };
            let (probe, _) = aged
                .settled
                .map(tag("settled"))
                .concat(aged.on_time.map(tag("open")))
                .concat(aged.overdue.map(tag("OVERDUE")))
                .consolidate()
                .inspect(move |((label, key, g), day, diff)| {
                    sink.borrow_mut()
                        .push((label.clone(), key.clone(), g.clone(), *day, *diff))
                })
                .probe();
            (payments_in, payouts_in, probe)
        });
        // feed each row at its day, as a live system would
        for (key, leg, day) in rows("settlement_payments.csv") {
            payments.update_at((key, leg), day, 1);
        }
        for (key, leg, day) in rows("settlement_payouts.csv") {
            payouts.update_at((key, leg), day, 1);
        }
        for input in [&mut payments, &mut payouts] {
            input.advance_to(8);
            input.flush();
        }
        worker.step_while(|| probe.less_than(&8));
        let out = changes.borrow().clone();
        out
    });

    let mut changes = changes;
    changes.sort_by(|a, b| (a.3, a.4, &a.1, &a.0).cmp(&(b.3, b.4, &b.1, &b.0)));
    println!("day  diff  phase     payout          payments      bank   difference");
    for (label, key, g, day, diff) in &changes {
        println!(
            "{day:>3}  {diff:>+4}  {label:<8}  {key:<14} {:>9}  {:>8}  {:>11}",
            g.expected.to_string(),
            g.actual.to_string(),
            g.difference.to_string()
        );
    }
    // the final state, for the reader and as a self-check
    let last = |key: &str| {
        changes.iter().filter(|c| c.1 == key).fold(
            Vec::new(),
            |mut acc: Vec<(String, isize)>, c| {
                acc.push((c.0.clone(), c.4));
                acc
            },
        )
    };
    let state = |key: &str| {
        let mut totals = std::collections::BTreeMap::new();
        for (label, diff) in last(key) {
            *totals.entry(label).or_insert(0) += diff;
        }
        totals
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(l, _)| l)
            .collect::<Vec<_>>()
    };
    println!(
        "\nfinal: po_2026_11_01 {:?}, po_2026_11_02 {:?}, po_2026_11_03 {:?}, po_2026_11_04 {:?}",
        state("po_2026_11_01"),
        state("po_2026_11_02"),
        state("po_2026_11_03"),
        state("po_2026_11_04")
    );
    assert_eq!(
        state("po_2026_11_01"),
        ["settled"],
        "three payments settle into one bank line"
    );
    assert_eq!(
        state("po_2026_11_02"),
        ["OVERDUE"],
        "the bank paid 9.71 short"
    );
    assert_eq!(
        state("po_2026_11_03"),
        ["OVERDUE"],
        "a payout the bank never paid"
    );
    assert_eq!(
        state("po_2026_11_04"),
        ["OVERDUE"],
        "a bank line no payment explains"
    );
}
