//! Scenario TOML: loads, or every diagnostic has a position inside the text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(invalid) = harness::parse_str(std::path::Path::new("fuzz.toml"), src) {
        let lines = src.split('\n').count();
        for d in &invalid.0 {
            assert!(d.line >= 1 && d.column >= 1 && d.line <= lines, "{d:?}");
        }
    }
});
