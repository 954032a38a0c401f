//! The reconciliation, built from the operators library: dedupe both streams, then per
//! configured rule one tally per group (balance and merchant, aged against the rule's grace
//! period). Each rule is an instance of a [kind](kind::RuleKind): the kind says which records
//! are members of which group on which side, and what an overdue group is; the graph is the
//! same for every kind. The two standard rules are presets of the [`balance`] kind:
//!
//! ```text
//! payments ─ dedupe ─┬─ unique ─ legs by (payment_id, currency) ─┐
//!                    └─ conflicts ─ dedupe results               ├─ balance + merchant, aged ─ results
//! entries ── dedupe ─┬─ unique ─ filter(match accounts) ─────────┘
//!                    │         └ debits | credits by journal ─ balance, aged ─ results
//!                    └─ conflicts ─ dedupe results
//! ```
//!
//! Inside the dataflow every record is a narrow `Copy` row ([`crate::model::rows`]) whose
//! strings are [`Name`]s; results become strings again where they are written.
//!
//! A conservation check watches every stage: accepted records = unique + redeliveries +
//! conflicts, and each rule's legs = the legs reported in its results.

pub mod balance;
pub mod graph;
pub mod kind;
pub mod matching;
pub mod registry;
pub mod tally;

use std::sync::Arc;

use differential_dataflow::collection::concatenate;
use differential_dataflow::VecCollection;
use differential_dataflow::{ExchangeData, Hashable};
use trueup_operators::{
    Amount, Conservation, Dedupe, DedupeOutputs, Joiner, Measure, Retire, Route, Splitter,
    Violation,
};

use kind::RuleKind;
pub use kind::{GroupKey, Member, RuleLeg};
use matching::PairKey;
use registry::kind_of;
pub use tally::break_time;
use tally::{rule_rows, RowKey};

use crate::config::{RetentionConfig, RuleConfig};
use crate::model::currency::Currency;
use crate::model::name::Name;
use crate::model::results::{Outcome, Status, DEDUPE_RULE, STREAM_ATTRIBUTE};
use crate::model::rows::{EntryRow, PaymentRow, RecordRow};
use crate::model::time::{Millis, Tick, Time, HOUR};
use crate::model::Stream;

/// The names of the result rules, indexed by [`Outcome::rule`]: `dedupe`, then `rules`.
pub fn result_rules(rules: &[RuleConfig]) -> Vec<String> {
    std::iter::once("dedupe".to_string())
        .chain(rules.iter().map(|r| r.name().to_string()))
        .collect()
}

/// What a conservation check is keyed by: the stage (an index into [`stage_names`]) and the
/// currency (`None` for `dedupe`, whose versions may differ in currency). Small and `Copy`, as
/// every input record is measured several times.
pub type Stage = (u16, Option<Currency>);

const PAYMENTS_ACCEPTED: u16 = 0;
const ENTRIES_ACCEPTED: u16 = 1;
const DECLARED_ACCEPTED: u16 = 2;
const DEDUPE: u16 = 3;
const FIRST_RULE: u16 = 4;

/// The names of the conservation stages for `rules`, indexed by [`Stage`]'s first element.
pub fn stage_names(rules: &[RuleConfig]) -> Vec<String> {
    let fixed = [
        "payments accepted",
        "entries accepted",
        "declared streams accepted",
        "dedupe",
    ]
    .map(String::from);
    fixed
        .into_iter()
        .chain(rules.iter().map(|r| r.name().to_string()))
        .collect()
}

/// The outputs of [`reconcile`].
pub struct Reconciliation<'scope> {
    /// Every group's result, as a changelog.
    pub results: VecCollection<'scope, Time, Outcome>,
    /// Conservation violations (empty unless an operator lost or created records).
    pub violations: VecCollection<'scope, Time, Violation<Stage>>,
    /// One element per absorbed identical redelivery, by stream.
    pub redeliveries: VecCollection<'scope, Time, Stream>,
    /// With retention: the long names some record in the working state holds, each once — a
    /// name's retraction is the time from which the run's dictionary may forget it.
    pub live_names: Option<VecCollection<'scope, Time, Name>>,
}

fn measure_payment(p: &PaymentRow) -> (Stage, Measure) {
    (
        (PAYMENTS_ACCEPTED, Some(p.currency)),
        Measure::one(p.signed_amount()),
    )
}

fn measure_entry(e: &EntryRow) -> (Stage, Measure) {
    (
        (ENTRIES_ACCEPTED, Some(e.currency)),
        Measure::one(e.signed_amount()),
    )
}

fn measure_record(r: &RecordRow) -> (Stage, Measure) {
    (
        (DECLARED_ACCEPTED, Some(r.currency)),
        Measure::one(r.amount),
    )
}

/// The three kinds of input: payment events, ledger entries, and the records of declared
/// streams.
pub type Streams<'scope> = (
    VecCollection<'scope, Time, PaymentRow>,
    VecCollection<'scope, Time, EntryRow>,
    VecCollection<'scope, Time, RecordRow>,
);

/// How the graph is built: the rules, the tick, and retention (if any).
pub struct Settings<'a> {
    /// The rules, in order.
    pub rules: &'a [RuleConfig],
    /// The logical-time granularity.
    pub tick: Tick,
    /// When finished groups leave the working state; `None` keeps everything.
    pub retention: Option<&'a RetentionConfig>,
    /// The declared streams whose records carry attributes into results.
    pub carrying: &'a [Stream],
}

/// Retirements take effect this long (1 ms) after their tick-aligned time, so they never
/// coincide with input, which arrives at tick-aligned times.
const RETIRE_STEP: Time = 1;

/// Builds the standard reconciliation over payments, entries and declared streams' records
/// for `settings.rules`.
pub fn reconcile<'scope>(
    (payments, entries, records): Streams<'scope>,
    settings: &Settings<'_>,
) -> Reconciliation<'scope> {
    let (rules, tick) = (settings.rules, settings.tick);
    let scope = payments.inner.scope();
    let dedupe_horizon = settings.retention.map(|r| (r.dedupe_hours * HOUR, grid(r)));
    // accepted = unique + redeliveries + conflicts, per stream and currency
    let (mut checked, mut produced) = (Vec::new(), Vec::new());
    let payments = measured_hourly(payments, &mut checked, measure_payment);
    let entries = measured_hourly(entries, &mut checked, measure_entry);
    let records = measured_hourly(records, &mut checked, measure_record);
    let (p, p_working) = dedupe_retiring(
        payments.map(|p| (p.event_id, p)),
        "dedupe payments",
        dedupe_horizon
            .map(|(h, grid)| move |p: &PaymentRow| grid.ceil(p.occurred_at.saturating_add(h))),
    );
    let (e, e_working) = dedupe_retiring(
        entries.map(|e| (e.entry_id, e)),
        "dedupe entries",
        dedupe_horizon
            .map(|(h, grid)| move |e: &EntryRow| grid.ceil(e.booked_at.saturating_add(h))),
    );
    let (r, r_working) = dedupe_retiring(
        records.map(|r| ((r.stream, r.id), r)),
        "dedupe declared streams",
        dedupe_horizon.map(|(h, grid)| move |r: &RecordRow| grid.ceil(r.at.saturating_add(h))),
    );
    // the names the working state holds: every record's until deduplication forgets it, and
    // every member's until its group retires
    let mut held: Vec<VecCollection<'scope, Time, Name>> = Vec::new();
    if let (Some(p), Some(e), Some(r)) = (p_working, e_working, r_working) {
        held.push(
            p.flat_map(|(_, p)| long_names([Some(p.event_id), Some(p.payment_id), p.merchant_id])),
        );
        held.push(
            e.flat_map(|(_, e)| long_names([Some(e.entry_id), Some(e.journal_id), e.payment_id])),
        );
        held.push(r.flat_map(|(_, r)| {
            let keys = r.keys.map(|(_, value)| Some(value));
            long_names([Some(r.id), r.merchant_id].into_iter().chain(keys))
        }));
    }

    let p = measured_outputs(p, &mut produced, measure_payment);
    let e = measured_outputs(e, &mut produced, measure_entry);
    let r = measured_outputs(r, &mut produced, measure_record);

    let redeliveries = concatenate(
        scope,
        [
            p.redeliveries.map(|_| Stream::Payments),
            e.redeliveries.map(|_| Stream::Entries),
            r.redeliveries.map(|(_, r)| r.stream()),
        ],
    );

    let unique_p = p.unique.map(|(_, p)| p);
    let unique_e = e.unique.map(|(_, e)| e);
    let unique_r = r.unique.map(|(_, r)| r);
    let conflicts = (p.conflicts, e.conflicts, r.conflicts);
    let mut results = vec![duplicate_results(conflicts, &mut checked, &mut produced)];

    let mut claimed: Option<VecCollection<'scope, Time, Claim>> = None;
    let unique = &(unique_p, unique_e, unique_r);
    for ((stage, index), rule) in (FIRST_RULE..).zip(DEDUPE_RULE + 1..).zip(rules) {
        let rule = &kind_of(rule);
        let measures = (&mut checked, &mut produced);
        let kept = (&mut claimed, &mut held, settings.retention);
        results.push(rule_outcomes(
            rule,
            (stage, index, tick),
            unique,
            measures,
            kept,
            settings.carrying,
        ));
    }

    let produced = vec![concatenate(scope, produced)];
    let violations = concatenate(scope, checked).conserved_by_named("conservation", produced);
    let live_names = (!held.is_empty()).then(|| concatenate(scope, held).distinct());
    Reconciliation {
        results: concatenate(scope, results),
        violations,
        redeliveries,
        live_names,
    }
}

/// What a rule keeps across rules: the records `match` rules claimed so far, the long names
/// the working state holds, and retention.
type Kept<'scope, 'a, 'b> = (
    &'b mut Option<VecCollection<'scope, Time, Claim>>,
    &'b mut Vec<VecCollection<'scope, Time, Name>>,
    Option<&'a RetentionConfig>,
);

/// One rule's results over the unique records: an engineer's graph's, or its kind's members
/// (less what earlier `match` rules claimed, for a `match` rule) tallied per group or pair,
/// measured for the conservation check (`checked` in, `produced` out).
fn rule_outcomes<'scope>(
    rule: &Arc<dyn RuleKind>,
    (stage, index, tick): (u16, u16, Tick),
    (unique_p, unique_e, unique_r): &Streams<'scope>,
    (checked, produced): (&mut Measures<'scope>, &mut Measures<'scope>),
    (claimed, held, retention): Kept<'scope, '_, '_>,
    carrying: &[Stream],
) -> VecCollection<'scope, Time, Outcome> {
    if let Some(graph) = rule.graph() {
        let (payments, entries, records) = (unique_p.clone(), unique_e.clone(), unique_r.clone());
        let inputs = graph::Inputs {
            payments,
            entries,
            records,
            rule: rule.clone(),
            tick,
        };
        return graph
            .build(inputs)
            .map(move |row| Outcome { rule: index, ..row });
    }
    // match rules claim in configuration order: what an earlier one paired, a later one is
    // not offered
    let streams = match rule.pairing() {
        None => (unique_p.clone(), unique_e.clone(), unique_r.clone()),
        Some(_) => (
            unclaimed(unique_p.clone(), claimed, |p| {
                (p.event_id, Stream::Payments)
            }),
            unclaimed(unique_e.clone(), claimed, |e| (e.entry_id, Stream::Entries)),
            unclaimed(unique_r.clone(), claimed, |r| (r.id, r.stream())),
        ),
    };
    let members = rule_members(rule, streams);
    let members = measured_hourly(members, checked, move |((_, ccy), (_, leg, _))| {
        ((stage, Some(*ccy)), Measure::one(leg.amount))
    });
    let rule_at = (rule, index, tick);
    let sides = [true, false].map(|left| match rule.side_stream(left) {
        Stream::Declared(name) if carrying.contains(&Stream::Declared(name)) => Some(name),
        _ => None,
    });
    let carried = sides
        .iter()
        .any(Option::is_some)
        .then_some((unique_r, sides));
    let rows = match rule.pairing() {
        None => rule_results(rule_at, members, retention, held, carried),
        Some(_) => {
            let (pairs, claims) = paired(rule, members);
            *claimed = Some(match claimed.take() {
                None => claims,
                Some(earlier) => earlier.concat(claims),
            });
            rule_results(rule_at, pairs, retention, held, carried)
        }
    };
    measured_hourly(rows, produced, move |row| measure_row(stage, row))
}

/// The records whose carried attributes a rule's results list, and the carrying stream of
/// each side (left, right), if any.
type Carried<'a, 'scope> = Option<(
    &'a VecCollection<'scope, Time, RecordRow>,
    [Option<Name>; 2],
)>;

/// A rule's results with the attributes their members carry (none without `carried`): per
/// result key, the carried values of the members on a carrying side, looked up among that
/// stream's records. A result changes with its members, so its attributes never lag it.
fn with_carried<'scope, K: RowKey>(
    rows: VecCollection<'scope, Time, Outcome>,
    members: VecCollection<'scope, Time, (K, Member)>,
    carried: Carried<'_, 'scope>,
) -> VecCollection<'scope, Time, Outcome> {
    let Some((records, sides)) = carried else {
        return rows;
    };
    let values = (records.clone())
        .filter(move |r| sides.contains(&Some(r.stream)))
        .flat_map(|r| {
            let present = r
                .carried
                .into_iter()
                .filter(|(name, _)| *name != Name::EMPTY);
            present.map(move |pair| ((r.stream, r.id), pair))
        });
    let wanted = members.flat_map(move |(key, (left, leg, _))| {
        sides[usize::from(!left)].map(|stream| ((stream, leg.id), key))
    });
    // each key's attributes, one list per key: every row of the key is enriched by it once
    let attributes = (wanted.join_map(values, |_, key, pair| (*key, *pair))).reduce_named(
        "carried attributes",
        |_, pairs, out: &mut Vec<(Vec<(Name, Name)>, isize)>| {
            out.push((pairs.iter().map(|(pair, _)| **pair).collect(), 1));
        },
    );
    let rows = (rows.map(|row| (K::of(&row), row))).enrich_named("carried attributes", attributes);
    (rows.enriched)
        .map(|(_, (row, attributes))| Outcome { attributes, ..row })
        .concat(rows.unenriched.map(|(_, row)| row))
}

/// A rule's results from its members (keyed by group), with retention when configured: the
/// long names its working state holds go into `held`.
fn rule_results<'scope, K: RowKey>(
    rule_at: (&Arc<dyn RuleKind>, u16, Tick),
    members: VecCollection<'scope, Time, (K, Member)>,
    retention: Option<&RetentionConfig>,
    held: &mut Vec<VecCollection<'scope, Time, Name>>,
    carried: Carried<'_, 'scope>,
) -> VecCollection<'scope, Time, Outcome> {
    let Some(retention) = retention else {
        let rows = rule_rows(rule_at, members.clone());
        return with_carried(rows, members, carried);
    };
    let rule = rule_at.0;
    let retiring = members.retiring(RETIRE_STEP);
    held.push(retiring.working().flat_map(|(key, (_, leg, merchant))| {
        long_names([Some(key.group().0), Some(leg.id), merchant])
    }));
    let rows = rule_rows(rule_at, retiring.working());
    let rows = with_carried(rows, retiring.working(), carried).map(|row| (K::of(&row), row));
    let retire_at = rule_retire_at(rule, retention);
    retiring
        .retire_named(rule.name(), rows, move |_, row| retire_at(row))
        .map(|(_, row)| row)
}

/// A record a `match` rule claims: its id and stream (ids are unique per stream).
type Claim = (Name, Stream);

/// A `match` rule's members regrouped by pair: within each of its groups, each member with
/// the pair it belongs to ([`matching::pair`]); and the records it claims.
fn paired<'scope>(
    rule: &Arc<dyn RuleKind>,
    members: VecCollection<'scope, Time, (GroupKey, Member)>,
) -> (
    VecCollection<'scope, Time, (PairKey, Member)>,
    VecCollection<'scope, Time, Claim>,
) {
    let pairing = rule.pairing().cloned().expect("a pairing rule");
    let grouped = pairing.grouped;
    let tolerance = rule.tolerance().clone();
    let name = format!("{} pairs", rule.name());
    let paired = members
        .reduce_named(&name, move |&(_, currency), members, out| {
            let tolerance = tolerance.for_currency(currency);
            for (pair, (member, copies), claimed) in
                matching::pair(currency, members, &pairing, tolerance)
            {
                out.push(((pair, member, claimed), copies));
            }
        })
        .map(|(_, paired)| paired);
    let streams = [rule.side_stream(true), rule.side_stream(false)];
    let claims = paired
        .clone()
        .filter(|(_, _, claimed)| *claimed)
        .map(move |(_, (left, leg, _), _)| (leg.id, streams[usize::from(!left)]));
    // a grouped side's members carry their group value where a payment carries its merchant
    let pairs = paired.map(move |(pair, (left, leg, merchant), _)| {
        let merchant = merchant.filter(|_| !grouped[usize::from(!left)]);
        (pair, (left, leg, merchant))
    });
    (pairs, claims)
}

/// The records of `records` (each named by `claim`) that no earlier `match` rule claimed.
fn unclaimed<'scope, R: ExchangeData>(
    records: VecCollection<'scope, Time, R>,
    claimed: &Option<VecCollection<'scope, Time, Claim>>,
    claim: fn(&R) -> Claim,
) -> VecCollection<'scope, Time, R> {
    match claimed {
        None => records,
        Some(claimed) => records
            .map(move |r| (claim(&r), r))
            .antijoin(claimed.clone())
            .map(|(_, r)| r),
    }
}

/// The long names among `names` (short ones need no dictionary).
fn long_names(names: impl IntoIterator<Item = Option<Name>>) -> impl Iterator<Item = Name> {
    names.into_iter().flatten().filter(Name::is_long)
}

/// A rule's members, keyed by group: everything its groups are computed from — the records of
/// each stream the rule takes, as its kind makes them members.
fn rule_members<'scope>(
    rule: &Arc<dyn RuleKind>,
    (payments, entries, records): Streams<'scope>,
) -> VecCollection<'scope, Time, (GroupKey, Member)> {
    let (scope, mut members) = (payments.inner.scope(), Vec::new());
    let declared = [true, false].map(|left| matches!(rule.side_stream(left), Stream::Declared(_)));
    if declared.contains(&true) {
        let rule = rule.clone();
        members.push(records.flat_map(move |r| rule.record_member(&r)));
    }
    if rule.takes(Stream::Payments) {
        let rule = rule.clone();
        members.push(payments.flat_map(move |p| rule.payment_member(&p)));
    }
    if rule.takes(Stream::Entries) {
        let rule = rule.clone();
        members.push(entries.flat_map(move |e| rule.entry_member(&e)));
    }
    concatenate(scope, members)
}

/// When a rule's result row retires: matched groups `settled_hours` after their latest event,
/// breaks `breaks_hours` after it; pending groups not yet.
fn rule_retire_at(
    rule: &Arc<dyn RuleKind>,
    retention: &RetentionConfig,
) -> impl Fn(&Outcome) -> Option<Time> + 'static {
    let grid = grid(retention);
    let grace = rule.grace_millis();
    let (settled, breaks) = (
        retention.settled_hours * HOUR,
        retention.breaks_hours * HOUR,
    );
    move |row: &Outcome| {
        let horizon = match row.status {
            Status::Pending => return None,
            Status::Matched => settled,
            _ => breaks,
        };
        let last_at = row.due_at.saturating_sub(grace);
        Some(grid.ceil(last_at.saturating_add(horizon)))
    }
}

/// The grid retirements fall on; validation makes it a multiple of the tick.
fn grid(retention: &RetentionConfig) -> Tick {
    Tick(retention.granularity_minutes * 60_000)
}

/// What deduplication keeps: its outputs and, with a horizon, the records it still holds.
type Deduped<'scope, K, R> = (
    DedupeOutputs<'scope, Time, K, R>,
    Option<VecCollection<'scope, Time, (K, R)>>,
);

/// Deduplicates `records` by id; with a horizon, an id leaves the working state at the time
/// `forget_at` gives for its earliest version, without its outputs changing.
fn dedupe_retiring<'scope, K, R, F>(
    records: VecCollection<'scope, Time, (K, R)>,
    name: &str,
    forget_at: Option<F>,
) -> Deduped<'scope, K, R>
where
    K: ExchangeData + Hashable + std::hash::Hash,
    R: ExchangeData + Hashable,
    F: Fn(&R) -> Time + 'static,
{
    let Some(forget_at) = forget_at else {
        return (records.dedupe_named(name), None);
    };
    // the three outputs, tagged 0 unique, 1 redelivery, 2 conflict, retired together per id
    let retiring = records.retiring(RETIRE_STEP);
    let working = retiring.working();
    let out = working.clone().dedupe_named(name);
    let tagged = out
        .unique
        .map(|(id, r)| (id, (0u8, r)))
        .concat(out.redeliveries.map(|(id, r)| (id, (1u8, r))))
        .concat(out.conflicts.map(|(id, r)| (id, (2u8, r))));
    let kept = retiring.retire_named(name, tagged, move |_, (_, r)| Some(forget_at(r)));
    let tag_is = |tag: u8| move |(_, (t, _)): &(K, (u8, R))| *t == tag;
    let mut parts = kept.split_named(
        name,
        vec![
            Route::new("unique", tag_is(0)),
            Route::new("redeliveries", tag_is(1)),
        ],
    );
    let untag = |(id, (_, r)): (K, (u8, R))| (id, r);
    let mut part = |route: &str| parts.take(route).expect("route declared above").map(untag);
    let outputs = DedupeOutputs {
        unique: part("unique"),
        redeliveries: part("redeliveries"),
        conflicts: parts.rest.map(untag),
    };
    (outputs, Some(working))
}

/// Measures for the conservation check, one collection per measured stage.
type Measures<'scope> = Vec<VecCollection<'scope, Time, (Stage, Measure)>>;

/// `records`, passed on, with their measures for the conservation check added to `into`,
/// summed per stage and event-time hour where they are: every record is measured several
/// times, and hourly sums cost little to exchange and count, where a measure per record would
/// not.
fn measured_hourly<'scope, D: Clone + 'static>(
    records: VecCollection<'scope, Time, D>,
    into: &mut Measures<'scope>,
    measure: impl Fn(&D) -> (Stage, Measure) + 'static,
) -> VecCollection<'scope, Time, D> {
    let hour = |t: &Time| t.div_ceil(HOUR).saturating_mul(HOUR);
    let (records, measures) = trueup_operators::measured(records, "measure", measure, hour);
    into.push(measures);
    records
}

/// A dedupe's three outputs, passed on, each measured with `measure` into `produced`.
fn measured_outputs<'scope, K: ExchangeData, R: ExchangeData>(
    out: DedupeOutputs<'scope, Time, K, R>,
    produced: &mut Measures<'scope>,
    measure: fn(&R) -> (Stage, Measure),
) -> DedupeOutputs<'scope, Time, K, R> {
    let each = move |(_, r): &(K, R)| measure(r);
    DedupeOutputs {
        unique: measured_hourly(out.unique, produced, each),
        redeliveries: measured_hourly(out.redeliveries, produced, each),
        conflicts: measured_hourly(out.conflicts, produced, each),
    }
}

/// A rule's result row measured as the legs it lists: their count and Σ expected + Σ actual.
fn measure_row(stage: u16, row: &Outcome) -> (Stage, Measure) {
    let count = (row.left_ids.len() + row.right_ids.len()) as i64;
    let amount = row.expected.unwrap_or_default() + row.actual.unwrap_or_default();
    ((stage, Some(row.currency)), Measure { count, amount })
}

/// The conflicting versions deduplication found: payments', entries' and declared records'.
type Conflicts<'scope> = (
    VecCollection<'scope, Time, (Name, PaymentRow)>,
    VecCollection<'scope, Time, (Name, EntryRow)>,
    VecCollection<'scope, Time, ((Name, Name), RecordRow)>,
);

/// One `dedupe` result per id with conflicting versions, listing each version's id once.
fn duplicate_results<'scope>(
    (payments, entries, records): Conflicts<'scope>,
    checked: &mut Measures<'scope>,
    produced: &mut Measures<'scope>,
) -> VecCollection<'scope, Time, Outcome> {
    // ((id, stream), (currency, event time, merchant)) per version: ids are unique per
    // stream, so one id text in two streams is two records, and two results
    type Version = (Currency, Millis, Option<Name>);
    let versions: VecCollection<'scope, Time, ((Name, Stream), Version)> = payments
        .map(|(id, p)| {
            (
                (id, Stream::Payments),
                (p.currency, p.occurred_at, p.merchant_id),
            )
        })
        .concat(entries.map(|(id, e)| ((id, Stream::Entries), (e.currency, e.booked_at, None))))
        .concat(records.map(|((_, id), r)| ((id, r.stream()), (r.currency, r.at, r.merchant_id))));
    // versions of one id may differ in currency: count them under one scope, "*"
    let versions = measured_hourly(versions, checked, |_| {
        ((DEDUPE, None), Measure::one(Amount::ZERO))
    });
    let rows = versions
        .reduce_named("dedupe results", |&(id, stream), versions, out| {
            // payments' versions are listed on the left, every other stream's on the right
            let is_entry = stream != Stream::Payments;
            let copies: usize = versions.iter().map(|(_, n)| (*n).max(0) as usize).sum();
            let (currency, _, _) = versions[0].0;
            let opened_at = versions.iter().map(|(v, _)| v.1).min().unwrap_or_default();
            let merchant_id = versions.iter().find_map(|(v, _)| v.2);
            let mut row = Outcome::duplicate(
                DEDUPE_RULE,
                id,
                *currency,
                opened_at,
                (copies, is_entry),
                merchant_id,
            );
            if let Stream::Declared(name) = stream {
                row.attributes = vec![(Name::unregistered(STREAM_ATTRIBUTE), name)];
            }
            out.push((row, 1isize));
        })
        .map(|(_, row)| row);
    measured_hourly(rows, produced, |row| {
        let versions = (row.left_ids.len() + row.right_ids.len()) as i64;
        let measure = Measure {
            count: versions,
            amount: Amount::ZERO,
        };
        ((DEDUPE, None), measure)
    })
}
