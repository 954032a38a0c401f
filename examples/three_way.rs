//! Three-way reconciliation on trueup's runtime: a payment is reconciled only when what was
//! captured equals what the ledger booked on the PSP receivable *and* the payment's payout has
//! reached the bank (a `bank_cash` credit naming the payment). The config cannot say "count a
//! booking only once another record exists"; this graph does, with trueup-operators' splitter
//! and tally and differential's `distinct` and `semijoin`, and gets everything else — sources,
//! event time, dead letters, the changelog and summary, the audit store, lineage, `verify`,
//! exactly-once restart — from the runtime.
//!
//! Run (docs/operators/pipeline.md):
//!
//! ```sh
//! cargo run --release -- generate --payments 10000 --out /tmp/three_way
//! cargo run --release --example three_way -- run --config examples/three_way.toml
//! trueup query --store /tmp/three_way/audit.db breaks --rule through_to_bank
//! ```

use std::process::ExitCode;

use differential_dataflow::VecCollection;
use trueup::model::name::Name;
use trueup::model::results::Outcome;
use trueup::model::summary::render_table;
use trueup::model::time::Time;
use trueup::model::Direction;
use trueup::rules::graph::{tallied, Graph, Inputs};
use trueup::runtime::pipeline::Pipeline;
use trueup_operators::{Leg, Route, Splitter};

/// Payments against their receivable bookings, each booking counted once the payment's
/// payout is in the bank.
struct ThroughToBank;

impl Graph for ThroughToBank {
    fn build<'scope>(&self, inputs: Inputs<'scope>) -> VecCollection<'scope, Time, Outcome> {
        let (receivable, bank) = (
            Name::unregistered("psp_receivable"),
            Name::unregistered("bank_cash"),
        );
        let mut accounts = inputs.entries.split_named(
            "accounts",
            vec![
                Route::new("receivable", move |e: &trueup::model::rows::EntryRow| {
                    e.account == receivable
                }),
                Route::new("bank", move |e: &trueup::model::rows::EntryRow| {
                    e.account == bank && e.direction == Direction::Credit
                }),
            ],
        );
        let (receivable, bank) = (
            accounts.take("receivable").unwrap(),
            accounts.take("bank").unwrap(),
        );
        // (payment, currency) whose payout reached the bank, once
        let paid_out = bank
            .flat_map(|e| e.payment_id.map(|p| (p, e.currency)))
            .distinct();
        let booked = receivable
            .flat_map(|e| {
                let leg = Leg::with_id(e.entry_id, e.signed_amount(), e.booked_at);
                e.payment_id.map(|p| ((p, e.currency), (false, leg, None)))
            })
            .semijoin(paid_out);
        let captured = inputs.payments.map(|p| {
            let leg = Leg::with_id(p.event_id, p.signed_amount(), p.occurred_at);
            ((p.payment_id, p.currency), (true, leg, p.merchant_id))
        });
        tallied(&inputs.rule, captured.concat(booked), inputs.tick)
    }
}

fn main() -> ExitCode {
    let pipeline = match Pipeline::from_args(std::env::args().skip(1)) {
        Ok(pipeline) => pipeline.graph("through_to_bank", ThroughToBank),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match pipeline.run() {
        Ok(report) => {
            print!("{}", render_table(&report.summary));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
