//! Sites merged across threads (`Analyzer::threads(Threads::Merged)`, what every command without
//! `--split-threads` uses) against sites kept per thread: on every capture, the merged rows of
//! the peak, the leaks and temporary allocations, the grouped locations, the call tree, the
//! stats and the leak verdict are the same.

use memreport_analysis::group::{group, By, CallTree};
use memreport_analysis::{leaks, stats::Stats, Analysis, Analyzer, Mode, Threads};

use crate::common::*;

fn analyse(path: &std::path::Path, threads: Threads) -> Analysis {
    Analyzer::new().temporary([1]).threads(threads).run_path(path).unwrap()
}

/// Everything a merged view shows of a pass, as text. The order key and representative thread
/// of a row are left out: they order rows of equal size and decide runner-frame trimming, and
/// both reach the outputs through the grouped rows and the call tree, which are compared whole.
fn merged_views(a: &Analysis) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for mode in [Mode::Peak, Mode::Leaks, Mode::Temporary(1)] {
        let Ok(entries) = a.entries(mode, Threads::Merged) else { continue };
        let mut rows: Vec<_> =
            entries.iter().map(|e| (e.python_node, e.native_node, e.usage)).collect();
        rows.sort();
        out.push((format!("{} rows", mode.name()), format!("{rows:?}")));
        for by in [By::Line, By::Function] {
            out.push((
                format!("{} by {by:?}", mode.name()),
                format!("{:?}", group(a, &entries, by)),
            ));
        }
        out.push((format!("{} tree", mode.name()), canonical(&CallTree::build(a, &entries), 0)));
    }
    out.push(("stats".into(), format!("{:?}", Stats::compute(a, 10))));
    out.push(("leaks".into(), format!("{:?}", leaks::detect(a))));
    out
}

/// A call tree as text with each node's children sorted: node numbers follow the order of the
/// rows, and the peak's order key (a site's first allocation) may name an earlier thread's
/// allocation once sites are merged, so only the tree itself is compared.
fn canonical(tree: &CallTree, node: usize) -> String {
    let n = &tree.nodes[node];
    let mut children: Vec<String> =
        n.children.iter().map(|&c| canonical(tree, c as usize)).collect();
    children.sort();
    format!("({:?} {:?} [{}])", n.kind, n.usage, children.join(" "))
}

#[test]
fn merged_sites_give_the_merged_results_of_split_sites() {
    let mut failures = Vec::new();
    let mut fewer = 0;
    for dir in fixtures() {
        let path = dir.join("capture.bin");
        let split = analyse(&path, Threads::Split);
        let merged = analyse(&path, Threads::Merged);
        assert!(merged.sites().len() <= split.sites().len(), "{}", name(&dir));
        fewer += usize::from(merged.sites().len() < split.sites().len());
        if !split.is_aggregated() {
            assert_eq!(
                merged.entries(Mode::Peak, Threads::Split).err(),
                Some(memreport_analysis::Unavailable::ThreadsMerged),
                "{}",
                name(&dir)
            );
        }
        for ((what, a), (_, b)) in merged_views(&split).into_iter().zip(merged_views(&merged)) {
            if a != b {
                let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                let show = |s: &str| {
                    s.get(at.saturating_sub(60)..(at + 60).min(s.len())).unwrap_or("").to_string()
                };
                failures.push(format!(
                    "{} {what}:\n  split  {}\n  merged {}",
                    name(&dir),
                    show(&a),
                    show(&b)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
    // The multi-threaded captures must actually have merged something, or this test proves
    // nothing.
    assert!(fewer >= 3, "only {fewer} captures had fewer merged sites");
}

/// A stack that the main thread and a worker share, with runner frames to trim on the main
/// thread: a row's trimming follows the thread of its first contributing block, so merged sites
/// must keep the main thread apart. The main thread allocates first and frees its block, so only
/// the worker's block is left at the end.
#[test]
fn a_stack_shared_with_the_main_thread_is_trimmed_as_with_split_sites() {
    let mut b = memreport_format::testing::CaptureBuilder::new();
    b.skipped_frames_on_main(1);
    b.code_object(1, "runner", "run.py", 10, &[]).code_object(2, "work", "app.py", 20, &[]);
    b.context_switch(1).frame_push(1, 0, true).frame_push(2, 0, true).allocation(0x10, 100, 6, 0);
    b.context_switch(2).frame_push(1, 0, true).frame_push(2, 0, true).allocation(0x20, 200, 6, 0);
    b.context_switch(1).allocation(0x10, 0, 5, 0).memory(1 << 20, 5).trailer();
    let bytes = b.finish();
    let tree = |threads| {
        let capture = memreport_format::Capture::from_bytes(bytes.clone()).unwrap();
        let a = Analyzer::new().threads(threads).run(capture).unwrap();
        let entries = a.entries(Mode::Leaks, Threads::Merged).unwrap();
        assert_eq!(entries.len(), 1);
        format!("{:?}", group(&a, &entries, By::Line))
    };
    let split = tree(Threads::Split);
    assert!(split.contains("runner"), "the worker's stack keeps its outer frame: {split}");
    assert_eq!(split, tree(Threads::Merged));
}
