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
        // A thread's first few allocations wait for its name on sites of its own, so a stack
        // it reaches both before and after can have one site more per thread.
        let pending = memreport_analysis::threads::PENDING_ALLOCATIONS as usize;
        let threads = split.info().threads.len().max(1);
        assert!(merged.sites().len() <= split.sites().len() + pending * threads, "{}", name(&dir));
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

/// The group a split row's thread falls in, by its final name, as [`Threads::Grouped`] forms
/// groups: the main thread, the shape of the name, or unnamed.
fn group_key(a: &Analysis, tid: u64) -> String {
    if Some(tid) == a.stacks().main_tid() {
        return "main".into();
    }
    match a.stacks().thread_names().get(&tid) {
        Some(name) => memreport_analysis::group::thread_name_shape(name),
        None => "unnamed".into(),
    }
}

#[test]
fn grouped_rows_of_a_merged_pass_are_split_rows_summed_by_thread_name() {
    let mut checked = 0;
    for dir in fixtures() {
        let path = dir.join("capture.bin");
        let split = analyse(&path, Threads::Split);
        if split.is_aggregated() {
            continue;
        }
        let grouped = analyse(&path, Threads::Grouped);
        let groups = grouped.thread_groups();
        for mode in [Mode::Peak, Mode::Leaks, Mode::Temporary(1)] {
            let sum = |a: &Analysis, threads, key: &dyn Fn(u64) -> String| {
                let mut rows = std::collections::BTreeMap::<_, (u64, u64)>::new();
                for e in a.entries(mode, threads).unwrap() {
                    let r = rows.entry((key(e.tid.unwrap()), e.python_node, e.native_node));
                    let r = r.or_default();
                    r.0 += e.usage.bytes;
                    r.1 += e.usage.count;
                }
                rows
            };
            let want = sum(&split, Threads::Split, &|tid| group_key(&split, tid));
            let got = sum(&grouped, Threads::Grouped, &|tid| {
                let g = groups.iter().find(|g| g.first_tid == tid && g.threads > 0).unwrap();
                match g.kind {
                    memreport_analysis::threads::PassGroupKind::Main => "main".into(),
                    memreport_analysis::threads::PassGroupKind::Unnamed => "unnamed".into(),
                    _ => g.pattern.clone().unwrap(),
                }
            });
            assert_eq!(got, want, "{} {}", name(&dir), mode.name());
        }
        checked += usize::from(groups.iter().filter(|g| g.threads > 1).count() > 0);
    }
    assert!(checked >= 3, "only {checked} captures have a group of several threads");
}

#[test]
fn a_merged_pass_keeps_request_threads_as_one_group_without_a_site_per_thread() {
    let path = fixtures_dir().join("real-flask-threads/capture.bin");
    let split = analyse(&path, Threads::Split);
    let grouped = analyse(&path, Threads::Grouped);
    let request = grouped
        .thread_groups()
        .iter()
        .find(|g| g.pattern.as_deref() == Some("Thread-N (process_request_thread)"))
        .expect("the request threads' group");
    assert!(request.threads > 1000, "{request:?}");
    // A site per stack and group, plus the few allocations each thread makes before its name:
    // far fewer than a site per stack and thread.
    assert!(grouped.sites().len() * 3 < split.sites().len());
    // The tree's thread node is the group, with the bytes of every request thread.
    let entries = grouped.entries(Mode::Peak, Threads::Grouped).unwrap();
    let shape = memreport_analysis::group::Shape { group_threads: true, ..Default::default() };
    let tree = CallTree::build_with(&grouped, &entries, shape);
    let node = tree.nodes[0]
        .children
        .iter()
        .find(|&&c| tree.label(&grouped, c).starts_with("Thread-N (process_request_thread) ("))
        .expect("a node for the group");
    let bytes: u64 = split
        .entries(Mode::Peak, Threads::Split)
        .unwrap()
        .iter()
        .filter(|e| group_key(&split, e.tid.unwrap()) == "Thread-N (process_request_thread)")
        .map(|e| e.usage.bytes)
        .sum();
    assert_eq!(tree.nodes[*node as usize].usage.bytes, bytes);
    assert_eq!(
        tree.label(&grouped, *node),
        format!("Thread-N (process_request_thread) ({} threads)", request.threads)
    );
}
