//! Engineers' graphs on trueup's runtime: a [`Graph`] composed from `trueup-operators` (and
//! differential's own operators) over the deduplicated records of both streams, registered
//! under a name that a `kind = "graph"` rule of the config names. The runtime gives it
//! everything a built-in rule has — sources, event time, watermarks, dead letters, the results
//! changelog and summary, the audit store with lineage, `query`, `serve` and `verify`,
//! exactly-once restart and cluster mode (docs/operators/pipeline.md).

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, RwLock};

use differential_dataflow::VecCollection;
use trueup_operators::BalanceState;

pub use super::kind::{Graph, Inputs};
use super::kind::{GroupKey, Member, RuleKind};
use crate::config::balance::GraphRule;
use crate::config::ToleranceConfig;
use crate::model::results::{Outcome, Status};
use crate::model::rows::{EntryRow, PaymentRow};
use crate::model::time::{Tick, Time, HOUR};
use crate::model::Stream;

/// Results from members keyed by group, as the built-in rules make them: each group's left
/// against its right side within the rule's tolerance, `matched`, `pending` until the rule's
/// grace has passed since the group's latest record, then the rule's overdue status. For a
/// graph that computes members its own way and leaves the rest to trueup.
pub fn tallied<'scope>(
    rule: &Arc<dyn RuleKind>,
    members: VecCollection<'scope, Time, (GroupKey, Member)>,
    tick: Tick,
) -> VecCollection<'scope, Time, Outcome> {
    super::tally::rule_rows((rule, 0, tick), members)
}

/// The graphs registered in this process, by name.
static GRAPHS: LazyLock<RwLock<BTreeMap<String, Arc<dyn Graph>>>> = LazyLock::new(Default::default);

/// Registers `graph` under `name` for the `kind = "graph"` rules that name it (a second
/// registration under one name replaces the first).
pub fn register(name: &str, graph: Arc<dyn Graph>) {
    GRAPHS
        .write()
        .expect("graph registry")
        .insert(name.to_string(), graph);
}

/// Whether a graph is registered under `name`.
pub fn is_registered(name: &str) -> bool {
    GRAPHS.read().expect("graph registry").contains_key(name)
}

/// A `kind = "graph"` rule as the engine sees it: its graph (when this process registered
/// one: `verify`, `query` and `serve` need only its name and sides), its sides' streams, its
/// tolerance and grace. Its results are whatever the graph makes: it covers no stream whole.
pub struct GraphKind {
    rule: GraphRule,
    graph: Option<Arc<dyn Graph>>,
}

impl GraphKind {
    /// The rule `rule` configures, with the graph registered under its `graph` name, if any.
    pub fn new(rule: &GraphRule) -> GraphKind {
        let graph = GRAPHS
            .read()
            .expect("graph registry")
            .get(&rule.graph)
            .cloned();
        GraphKind {
            rule: rule.clone(),
            graph,
        }
    }
}

impl RuleKind for GraphKind {
    fn name(&self) -> &str {
        &self.rule.name
    }

    fn takes(&self, _stream: Stream) -> bool {
        false
    }

    fn covers(&self, _stream: Stream) -> bool {
        false
    }

    fn side_stream(&self, left: bool) -> Stream {
        if left {
            self.rule.left
        } else {
            self.rule.right
        }
    }

    fn payment_member(&self, _payment: &PaymentRow) -> Option<(GroupKey, Member)> {
        None
    }

    fn entry_member(&self, _entry: &EntryRow) -> Option<(GroupKey, Member)> {
        None
    }

    /// What [`tallied`] calls an overdue group: `unmatched_left`, `unmatched_right`, or
    /// `amount_mismatch`.
    fn overdue(&self, state: BalanceState) -> Status {
        match state {
            BalanceState::LeftOnly => Status::UnmatchedLeft,
            BalanceState::RightOnly => Status::UnmatchedRight,
            _ => Status::AmountMismatch,
        }
    }

    fn tolerance(&self) -> &ToleranceConfig {
        &self.rule.tolerance
    }

    fn grace_millis(&self) -> u64 {
        self.rule.grace_hours.saturating_mul(HOUR)
    }

    fn graph(&self) -> Option<Arc<dyn Graph>> {
        self.graph.clone()
    }
}
