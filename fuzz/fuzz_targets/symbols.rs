//! Any bytes as a native image found under `--symbols DIR`: the ELF symbol tables and DWARF line
//! tables are read with `object` and `addr2line`, and addresses taken from the input are named,
//! without a panic. The file is chosen by whoever built the profiled program's container.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Addresses from the input's first bytes, and the edges of the address space.
    let mut addresses = vec![0, 1, u64::MAX];
    addresses.extend(data.chunks_exact(8).take(4).map(|c| {
        u64::from_le_bytes(c.try_into().expect("chunks of eight"))
    }));
    let _ = memreport_analysis::fuzz_support::image_symbols(data, &addresses);
});
