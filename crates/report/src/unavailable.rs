//! Why a view is not shown, in words: the refusals of [`Unavailable`], for an error line or a
//! page's placeholder.

use memreport_analysis::Unavailable;

/// One sentence saying why the view is missing and, where there is one, what to do instead.
pub fn reason(unavailable: Unavailable) -> String {
    match unavailable {
        // memray's own refusal, word for word, then where the capture's numbers can be read.
        Unavailable::AggregatedStats => "Can't compute statistics using a pre-aggregated capture \
                                         file. (`memreport top` and `memreport tree` read its \
                                         peak and leaks.)"
            .to_string(),
        Unavailable::AggregatedTemporary => "temporary allocations need every allocation event; \
                                             an aggregated capture (memray run --aggregate) only \
                                             stores peak and leak totals"
            .to_string(),
        Unavailable::TemporaryNotComputed(n) => format!(
            "temporary allocations with threshold {n} were not computed in this pass \
             (Analyzer::temporary)"
        ),
        Unavailable::ThreadsMerged => "this pass merged threads; a per-thread view needs a pass \
                                       that keeps them apart (Analyzer::threads)"
            .to_string(),
        Unavailable::AggregatedWindow => "a time window (--from, --to) needs every allocation \
                                          event; an aggregated capture (memray run --aggregate) \
                                          only stores peak and leak totals"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_says_why() {
        for u in [
            Unavailable::AggregatedStats,
            Unavailable::AggregatedTemporary,
            Unavailable::TemporaryNotComputed(3),
            Unavailable::ThreadsMerged,
            Unavailable::AggregatedWindow,
        ] {
            let text = reason(u);
            assert!(text.len() > 40 && !text.contains("  "), "{u:?}: {text}");
        }
        assert!(reason(Unavailable::AggregatedStats).starts_with("Can't compute statistics"));
        assert!(reason(Unavailable::TemporaryNotComputed(3)).contains("threshold 3"));
    }
}
