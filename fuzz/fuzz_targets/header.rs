//! Any bytes: opening them as a capture gives a header or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memreport_format::Capture;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = Capture::from_bytes(data.to_vec()) {
        // Errors point inside (or just past) the input.
        let _ = e.to_string();
    }
});
