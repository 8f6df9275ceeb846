//! The verdict on what changed since a baseline run: a service that is new
//! and failing, or newly failing, or failing with more rules than before
//! makes things worse; a service fixed, a failing one gone, or rules no
//! longer raised make them better. Only these judgements live here; the
//! comparison of two inventories is `crate::baseline`'s.

/// How a service changed between the baseline and this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// Not in the baseline.
    New,
    /// Was compliant or not assessed, now non-compliant.
    NewlyFailing,
    /// Non-compliant in both, with rules raised that were not before, or
    /// no longer raised.
    RulesChanged,
    /// Was non-compliant, now compliant.
    Fixed,
    /// In the baseline, not seen in this run.
    Gone,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::New => "new",
            ChangeKind::NewlyFailing => "newly_failing",
            ChangeKind::RulesChanged => "rules_changed",
            ChangeKind::Fixed => "fixed",
            ChangeKind::Gone => "gone",
        }
    }
}

/// What the changes add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeVerdict {
    Unchanged,
    Better,
    Worse,
    /// Some services got better and others worse.
    Mixed,
}

impl ChangeVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeVerdict::Unchanged => "unchanged",
            ChangeVerdict::Better => "better",
            ChangeVerdict::Worse => "worse",
            ChangeVerdict::Mixed => "mixed",
        }
    }

    /// Whether something got worse (a cron job's alert).
    pub fn worse(self) -> bool {
        matches!(self, ChangeVerdict::Worse | ChangeVerdict::Mixed)
    }
}

/// One service's change as the verdict weighs it: its kind, whether the
/// service fails now, whether it failed before, and whether rules were
/// added or removed.
#[derive(Debug, Clone, Copy)]
pub struct Weighed {
    pub kind: ChangeKind,
    pub failing_now: bool,
    pub failing_before: bool,
    pub rules_added: bool,
    pub rules_removed: bool,
}

/// Whether one change makes things worse, better, or neither.
fn direction(c: &Weighed) -> (bool, bool) {
    match c.kind {
        ChangeKind::New => (c.failing_now, false),
        ChangeKind::NewlyFailing => (true, false),
        ChangeKind::RulesChanged => (c.rules_added, c.rules_removed),
        ChangeKind::Fixed => (false, true),
        ChangeKind::Gone => (false, c.failing_before),
    }
}

/// The verdict on a run's changes.
pub fn verdict(changes: impl IntoIterator<Item = Weighed>) -> ChangeVerdict {
    let (mut worse, mut better) = (false, false);
    for c in changes {
        let (w, b) = direction(&c);
        worse |= w;
        better |= b;
    }
    match (worse, better) {
        (false, false) => ChangeVerdict::Unchanged,
        (false, true) => ChangeVerdict::Better,
        (true, false) => ChangeVerdict::Worse,
        (true, true) => ChangeVerdict::Mixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: ChangeKind, failing_now: bool, failing_before: bool) -> Weighed {
        Weighed { kind, failing_now, failing_before, rules_added: false, rules_removed: false }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict([]), ChangeVerdict::Unchanged);
        assert_eq!(verdict([c(ChangeKind::New, false, false)]), ChangeVerdict::Unchanged, "a new compliant service");
        assert_eq!(verdict([c(ChangeKind::New, true, false)]), ChangeVerdict::Worse);
        assert_eq!(verdict([c(ChangeKind::Gone, false, true)]), ChangeVerdict::Better);
        assert_eq!(verdict([c(ChangeKind::Fixed, false, true), c(ChangeKind::NewlyFailing, true, false)]), ChangeVerdict::Mixed);
        let more = Weighed { rules_added: true, ..c(ChangeKind::RulesChanged, true, true) };
        assert!(verdict([more]).worse());
    }
}
