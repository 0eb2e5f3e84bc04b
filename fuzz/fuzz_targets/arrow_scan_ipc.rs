//! The Arrow scan over arbitrary bytes as an upstream would send them in `arrow_batch.data`:
//! never a panic (the reader's own are contained and reported as an error), memory bounded
//! (libFuzzer's `-malloc_limit_mb`), and a stream it redacts reads back.

#![no_main]

// The scan is compiled in from its source rather than through jitgate-spark, which would bring
// the whole gRPC stack into the fuzz build for one module that needs only arrow and the
// detectors.
#[allow(dead_code)]
#[path = "../../crates/jitgate-spark/src/arrow_scan/mod.rs"]
mod arrow_scan;

use arrow_scan::{scan_ipc_stream, Scanned};

use std::io::Cursor;

use arrow_ipc::reader::StreamReader;
use jitgate_masking::Scanner;
use libfuzzer_sys::fuzz_target;

/// libFuzzer aborts on every panic, caught or not. The scan contains the Arrow reader's own
/// panics on malformed input (`ScanError::Panicked`, fail closed) by design, so those are let
/// through to its `catch_unwind`; a panic anywhere else is still a crash.
fn contain_arrow_reader_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_arrow = info
                .location()
                .is_some_and(|l| l.file().contains("/arrow-"));
            if !in_arrow {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    contain_arrow_reader_panics();
    let scanner = Scanner::builtin();
    let Ok(Scanned::Redacted { ipc, .. }) = scan_ipc_stream(data, scanner) else {
        return;
    };
    // A redacted stream reads back whole (whether a finding can remain after redaction is the
    // detectors' open question: see arrow_scan_batches).
    let reader = StreamReader::try_new(Cursor::new(&ipc), None).expect("a redacted stream reads");
    for batch in reader {
        batch.expect("a redacted batch reads");
    }
});
