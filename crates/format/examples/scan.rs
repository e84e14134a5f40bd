//! The physical limit of a pass: how long it takes to decompress a capture and walk its records
//! with no analysis at all. `docs/performance.md` sets every command against these figures.
//!
//! ```text
//! cargo run --release -p memreport-format --example scan -- lz4 CAPTURE      # decompression only
//! cargo run --release -p memreport-format --example scan -- records CAPTURE  # + record decoding
//! cargo run --release -p memreport-format --example scan -- events CAPTURE   # + stacks, in batches
//! ```
//!
//! Prints what it read, so the work cannot be optimised away and the counts can be checked.

use std::io::Read;
use std::process::ExitCode;

use memreport_format::events::Events;
use memreport_format::Capture;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [level, path] = args.as_slice() else {
        eprintln!("usage: scan lz4|records|events CAPTURE");
        return ExitCode::from(2);
    };
    match run(level, path) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("scan: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(level: &str, path: &str) -> Result<String, String> {
    match level {
        "lz4" => {
            // Decompress into a reused buffer: the stream is never held whole.
            let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
            let mut decoder = lz4_flex::frame::FrameDecoder::new(std::io::BufReader::new(file));
            let mut buffer = vec![0u8; 256 * 1024];
            let mut bytes = 0u64;
            loop {
                let n = decoder.read(&mut buffer).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                bytes += n as u64;
            }
            Ok(format!("{bytes} bytes of stream"))
        }
        "records" => {
            let mut records = Capture::open(path).map_err(|e| e.to_string())?.records();
            let mut n = 0u64;
            for record in records.by_ref() {
                record.map_err(|e| e.to_string())?;
                n += 1;
            }
            Ok(format!("{n} records, {} bytes of stream", records.offset()))
        }
        "events" => {
            let (header, records) = Capture::open(path).map_err(|e| e.to_string())?.into_parts();
            let mut events = Events::new(header, records);
            let mut n = 0u64;
            // In batches, as the analysis pass reads them.
            let mut batch = Vec::with_capacity(2048);
            loop {
                batch.clear();
                let more = events.fill(&mut batch, 2048).map_err(|e| e.to_string())?;
                n += batch.len() as u64;
                if !more {
                    break;
                }
            }
            Ok(format!("{n} events, {} stacks", events.tables().n_nodes() - 1))
        }
        other => Err(format!("unknown level {other:?} (lz4, records or events)")),
    }
}
