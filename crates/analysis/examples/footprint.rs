//! Prints what one pass keeps of a capture: how many sites, stacks, frames, series points and
//! live blocks. Used to find which table grows along a scaling axis (docs/performance.md).
//!
//! Usage: cargo run --release -p memreport-analysis --example footprint -- CAPTURE [--split]
//! (sites merged across threads, as the commands keep them, unless `--split`)

use memreport_analysis::{Analyzer, Site, Threads};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: footprint CAPTURE");
        std::process::exit(2);
    };
    let split = std::env::args().any(|a| a == "--split");
    let threads = if split { Threads::Split } else { Threads::Merged };
    let analysis = match Analyzer::new().threads(threads).run_path(&path) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("footprint: {path}: {e}");
            std::process::exit(1);
        }
    };
    let sites = analysis.sites();
    let mut tids: Vec<u64> = sites.iter().map(|s| s.tid).collect();
    tids.sort_unstable();
    tids.dedup();
    let mut stacks: Vec<(u32, u64)> =
        sites.iter().map(|s| (s.python_node, s.native_node)).collect();
    stacks.sort_unstable();
    stacks.dedup();
    let points: usize = sites.iter().map(|s| s.series.len()).sum();
    let with_series = sites.iter().filter(|s| !s.series.is_empty()).count();
    let one_point = sites.iter().filter(|s| s.series.len() == 1).count();
    let site_bytes = std::mem::size_of::<Site>();
    println!("records              {}", analysis.counts().records);
    println!("threads with sites   {}", tids.len());
    println!(
        "sites                {} ({site_bytes} B each: {:.1} MiB)",
        sites.len(),
        mib(std::mem::size_of_val(sites))
    );
    println!(
        "stacks with sites    {} ({:.2} sites per stack)",
        stacks.len(),
        sites.len() as f64 / stacks.len().max(1) as f64
    );
    println!(
        "series               {with_series} non-empty ({one_point} of one point), {points} points"
    );
    println!("frames               {}", analysis.stacks().n_frames());
    println!("live blocks at end   {}", analysis.live_items());
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
