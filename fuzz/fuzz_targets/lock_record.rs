//! The refresh-lock holder record.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spec_kitty::lock::LockRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = LockRecord::parse(data) {
        let _ = record.age(spec_kitty::now());
        assert_eq!(LockRecord::parse(record.to_json().as_bytes()).unwrap(), record);
    }
});
