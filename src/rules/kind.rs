//! What a rule kind is to the engine: [`RuleKind`], with one module per kind behind it (the
//! [registry](super::registry) makes a configured rule an instance of its kind). The graph
//! builder and `verify` see rules only through the trait.

use std::sync::Arc;

use differential_dataflow::VecCollection;
use trueup_operators::{BalanceGroup, BalanceState, Leg, Phase};

use crate::config::ToleranceConfig;
use crate::model::currency::Currency;
use crate::model::name::Name;
use crate::model::results::{Outcome, Status};
use crate::model::rows::{EntryRow, PaymentRow, RecordRow};
use crate::model::time::{Tick, Time};
use crate::model::Stream;

/// A balance group's key: the payment or journal id, and the currency.
pub type GroupKey = (Name, Currency);

/// A leg of a group: a record's id, signed amount and event time.
pub type RuleLeg = Leg<Name>;

/// One member of a rule's group: its side (`true` for the expected side), its leg, and the
/// payment's merchant, if any.
pub type Member = (bool, RuleLeg, Option<Name>);

/// A rule kind, as the engine builds and checks it: which records are members of which group
/// on which side, and what a group past its grace is.
pub trait RuleKind: Send + Sync + 'static {
    /// The rule's name in results.
    fn name(&self) -> &str;
    /// Whether any record of `stream` can be a member.
    fn takes(&self, stream: Stream) -> bool;
    /// Whether every record of `stream` is a member: each appears in one of the rule's
    /// results (what `verify` checks of the committed inputs).
    fn covers(&self, stream: Stream) -> bool;
    /// The stream the ids of a result's left (`true`) or right side come from.
    fn side_stream(&self, left: bool) -> Stream;
    /// The group and member a payment event is, if it is one.
    fn payment_member(&self, payment: &PaymentRow) -> Option<(GroupKey, Member)>;
    /// The group and member a ledger entry is, if it is one.
    fn entry_member(&self, entry: &EntryRow) -> Option<(GroupKey, Member)>;
    /// The group and member a declared stream's record is, if it is one. Default: none.
    fn record_member(&self, _record: &RecordRow) -> Option<(GroupKey, Member)> {
        None
    }
    /// The status of a group that is past its grace and not balanced, by its state.
    fn overdue(&self, state: BalanceState) -> Status;
    /// How far the sides may differ and still match.
    fn tolerance(&self) -> &ToleranceConfig;
    /// How long after a group's latest event an unbalanced group becomes a break.
    fn grace_millis(&self) -> u64;
    /// For a `kind = "graph"` rule: the graph a program registered for it, built instead of
    /// the members and tally of the built-in kinds. `None` (the default) for those.
    fn graph(&self) -> Option<Arc<dyn Graph>> {
        None
    }
    /// For a kind that pairs records within a group (`match`): how. `None` (the default):
    /// a group is balanced as a whole.
    fn pairing(&self) -> Option<&Pairing> {
        None
    }
    /// The status of a group in `phase`: matched when settled, pending on time, else
    /// [`overdue`](RuleKind::overdue).
    fn status(&self, phase: Phase, group: &BalanceGroup<Name>) -> Status {
        match phase {
            Phase::Settled => Status::Matched,
            Phase::OnTime => Status::Pending,
            Phase::Overdue => self.overdue(group.state),
        }
    }
}

/// How a `match` rule pairs the records of one group (its key and currency; with an exact
/// tolerance, no key and no grouped side, also its amount): one left candidate with one
/// right, event times at most `window_millis` apart and amounts within the tolerance.
#[derive(Clone, Debug)]
pub struct Pairing {
    /// The widest gap in event time between the two candidates of a pair.
    pub window_millis: u64,
    /// Whether the left and the right side's records pair as one per group value (a
    /// member's third element) rather than each alone.
    pub grouped: [bool; 2],
}

/// What a graph is built over.
pub struct Inputs<'scope> {
    /// The payment events, each id once (conflicting versions are `dedupe` results).
    pub payments: VecCollection<'scope, Time, PaymentRow>,
    /// The ledger entries, each id once.
    pub entries: VecCollection<'scope, Time, EntryRow>,
    /// The records of declared streams, each (stream, id) once.
    pub records: VecCollection<'scope, Time, RecordRow>,
    /// The rule the graph runs as: its name, tolerance, grace and sides' streams, as a kind
    /// that [`tallied`](super::graph::tallied) ages results by.
    pub rule: Arc<dyn RuleKind>,
    /// The logical-time granularity.
    pub tick: Tick,
}

/// An engineer's reconciliation graph. [`build`](Graph::build) runs once per worker (in every
/// process of a cluster); the results it returns are the rule's (their `rule` field is set by
/// the runtime).
pub trait Graph: Send + Sync + 'static {
    /// The graph over `inputs`: the rule's results as a changelog.
    fn build<'scope>(&self, inputs: Inputs<'scope>) -> VecCollection<'scope, Time, Outcome>;
}
