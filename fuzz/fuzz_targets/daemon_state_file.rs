//! The daemon state file `<root>/sync-daemon`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spec_kitty::daemon::state_file::DaemonRecord;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(record) = DaemonRecord::parse(text) {
        assert_eq!(DaemonRecord::parse(&record.to_text()).unwrap(), record);
    }
});
