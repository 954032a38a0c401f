//! Invoices against customer receipts: enrich, route by region, match, and check conservation.
//!
//! Graph: invoices are enriched with customer names (`joiner`); APAC invoices are routed to
//! a separate desk (`splitter`); the rest are matched to receipts by invoice id, one invoice to
//! many receipts (`matcher`, one-to-many); and a `conservation` check proves no invoice went
//! missing between the split and the matcher's outputs.
//!
//! Run: `cargo run --example invoice_matching`

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use differential_dataflow::input::Input;
use trueup_operators::{
    Amount, Cardinality, Conservation, Joiner, Matcher, MatcherConfig, Measure, Route, Splitter,
};

fn csv(file: &str) -> Vec<Vec<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(file);
    std::fs::read_to_string(path)
        .expect("example data")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// (invoice id, customer, region, amount)
type Invoice = (String, String, String, Amount);
/// (receipt id, invoice id, amount)
type Receipt = (String, String, Amount);

fn main() {
    let outputs = timely::execute_directly(|worker| {
        let seen: Rc<RefCell<BTreeMap<String, Vec<String>>>> = Rc::default();
        let sink = seen.clone();
        let record = move |name: &'static str| {
            let sink = sink.clone();
            move |(text, _t, diff): &(String, u64, isize)| {
                assert_eq!(
                    *diff, 1,
                    "this example only inserts, and outputs are consolidated"
                );
                sink.borrow_mut()
                    .entry(name.to_string())
                    .or_default()
                    .push(text.clone());
            }
        };
        worker.dataflow::<u64, _, _>(|scope| {
            let invoices: Vec<Invoice> = csv("invoices.csv")
                .into_iter()
                .map(|r| {
                    (
                        r[0].clone(),
                        r[1].clone(),
                        r[2].clone(),
                        Amount::parse(&r[3]).unwrap(),
                    )
                })
                .collect();
            let receipts: Vec<Receipt> = csv("receipts.csv")
                .into_iter()
                .map(|r| (r[0].clone(), r[1].clone(), Amount::parse(&r[2]).unwrap()))
                .collect();
            let customers = vec![
                ("c_acme".to_string(), "Acme Ltd".to_string()),
                ("c_bolt".to_string(), "Bolt Inc".to_string()),
            ];
            let invoices = scope.new_collection_from(invoices).1;
            let receipts = scope.new_collection_from(receipts).1;
            let customers = scope.new_collection_from(customers).1;

            let named = invoices
                .map(|i: Invoice| (i.1.clone(), i))
                .enrich(customers);
            named
                .unenriched
                .clone()
                .map(|(c, i)| format!("{} has no customer record for {c}", i.0))
                .consolidate()
                .inspect(record("unenriched"));
            let invoices = named
                .enriched
                .map(|(_, (i, _name))| i)
                .concat(named.unenriched.map(|(_, i)| i));

            let mut desks = invoices
                .clone()
                .split(vec![Route::new("apac", |i: &Invoice| i.2 == "apac")]);
            desks
                .take("apac")
                .unwrap()
                .map(|i| format!("{} → APAC desk", i.0))
                .consolidate()
                .inspect(record("apac"));
            let config = MatcherConfig {
                cardinality: Cardinality::OneToMany,
            };
            let matched = desks.rest.clone().match_by(
                receipts,
                config,
                |i: &Invoice| i.0.clone(),
                |r: &Receipt| r.1.clone(),
            );
            matched
                .matched
                .clone()
                .map(|(k, (_, r))| format!("{k} paid by {}", r.0))
                .consolidate()
                .inspect(record("matched"));
            matched
                .left_only
                .clone()
                .map(|(k, i)| format!("{k} unpaid ({})", i.3))
                .consolidate()
                .inspect(record("unpaid"));
            matched
                .right_only
                .map(|(_, r)| format!("{} for unknown {}", r.0, r.1))
                .consolidate()
                .inspect(record("unexplained"));

            // every routed invoice is in exactly one matcher output (matched pairs counted once per invoice)
            let measure = |i: &Invoice| ("EUR".to_string(), Measure::one(i.3));
            let per_invoice = matched
                .matched
                .map(|(_, (i, _))| i)
                .distinct()
                .concat(matched.left_only.map(|(_, i)| i))
                .concat(matched.ambiguous_left.map(|(_, i)| i));
            desks
                .rest
                .map(move |i| measure(&i))
                .conserved_by(vec![per_invoice.map(move |i| measure(&i))])
                .map(|v| format!("{v:?}"))
                .consolidate()
                .inspect(record("violations"));
        });
        while worker.has_dataflows() {
            worker.step();
        }
        let out = seen.borrow().clone();
        out
    });
    for (output, mut lines) in outputs.clone() {
        lines.sort();
        println!("{output}:");
        for line in lines {
            println!("  {line}");
        }
    }
    assert!(!outputs.contains_key("violations"), "conservation holds");
    assert_eq!(
        outputs["matched"].len(),
        3,
        "inv_1 once, inv_2 twice (one-to-many)"
    );
    assert_eq!(outputs["unpaid"], ["inv_4 unpaid (40.00)"]);
    assert_eq!(outputs["unexplained"], ["rc_4 for unknown inv_9"]);
}
