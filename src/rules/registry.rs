//! The registry of rule kinds: [`kind_of`] makes a configured rule an instance of its kind.
//! Adding a kind is its module (behind [`RuleKind`]) plus its arm here.

use std::sync::Arc;

use super::balance::Balance;
use super::graph::GraphKind;
use super::kind::RuleKind;
use super::matching::Match;
use crate::config::RuleConfig;

/// The kinds a rule may have, by the name its configuration gives: `balance`, whose presets
/// are `payment_ledger` and `journal_balance`, `match`, and `graph` (an engineer's own).
pub const KINDS: &[&str] = &["balance", "match", "graph"];

/// The rule `rule` configures, as an instance of its kind.
pub fn kind_of(rule: &RuleConfig) -> Arc<dyn RuleKind> {
    match rule {
        RuleConfig::PaymentLedger(r) => Arc::new(Balance::payment_ledger(r)),
        RuleConfig::JournalBalance(r) => Arc::new(Balance::journal_balance(r)),
        RuleConfig::Balance(r) => Arc::new(Balance::declared(r)),
        RuleConfig::Match(r) => Arc::new(Match::new(r)),
        RuleConfig::Graph(r) => Arc::new(GraphKind::new(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_rules;
    use crate::model::results::Status;
    use crate::model::Stream;
    use trueup_operators::BalanceState;

    #[test]
    fn the_standard_rules_are_presets_of_the_one_balance_kind() {
        assert_eq!(KINDS, ["balance", "match", "graph"]);
        let kinds: Vec<_> = default_rules().iter().map(kind_of).collect();
        let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        assert_eq!(names, ["payment_ledger", "journal_balance"]);
        let (ledger, journal) = (&kinds[0], &kinds[1]);
        assert!(ledger.takes(Stream::Payments) && ledger.takes(Stream::Entries));
        assert!(ledger.covers(Stream::Payments) && !ledger.covers(Stream::Entries));
        assert!(!journal.takes(Stream::Payments) && journal.covers(Stream::Entries));
        assert_eq!(
            [true, false].map(|left| ledger.side_stream(left)),
            [Stream::Payments, Stream::Entries]
        );
        assert_eq!(
            ledger.overdue(BalanceState::LeftOnly),
            Status::MissingLedger
        );
        assert_eq!(
            ledger.overdue(BalanceState::RightOnly),
            Status::MissingPayment
        );
        assert_eq!(
            journal.overdue(BalanceState::LeftOnly),
            Status::UnbalancedJournal
        );
    }

    #[test]
    fn a_match_rule_covers_a_stream_whose_every_record_it_offers() {
        let sides = [
            // (left, right, the streams covered)
            (
                "{ stream = \"bank\" }",
                "{ stream = \"payments\" }",
                "bank payments",
            ),
            (
                "{ stream = \"bank\", group_by = \"batch\" }",
                "{ stream = \"payments\", group_by = \"payment_id\" }",
                "payments",
            ),
            (
                "{ stream = \"bank\", only = { batch = [\"B1\"] } }",
                "{ stream = \"entries\", accounts = [\"psp_receivable\"] }",
                "",
            ),
            (
                "{ stream = \"bank\" }",
                "{ stream = \"entries\", group_by = \"journal_id\" }",
                "bank entries",
            ),
        ];
        let bank = Stream::parse("bank").unwrap();
        for (left, right, covered) in sides {
            let text = format!(
                "[[streams]]\nname = \"bank\"\nkeys = [\"batch\"]\n\
                 [[sources]]\nstream = \"bank\"\npath = \"b.csv\"\n\
                 [[rules]]\nkind = \"match\"\nname = \"m\"\nleft = {left}\nright = {right}\n\
                 [sinks]\nresults = \"r.jsonl\"\ndead_letters = \"d.jsonl\"\n"
            );
            let config = crate::config::Config::from_toml(&text, std::path::Path::new("."))
                .unwrap_or_else(|e| panic!("{e}: {text}"));
            let rule = kind_of(&config.rules[0]);
            let streams = [bank, Stream::Payments, Stream::Entries];
            let names: Vec<String> = (streams.into_iter())
                .filter(|s| rule.covers(*s))
                .map(|s| s.name())
                .collect();
            assert_eq!(names.join(" "), covered, "{left} {right}");
        }
    }
}
