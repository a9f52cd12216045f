//! The fake SaaS configuration (TOML, and JSON when the first byte is odd).
#![no_main]
use fake_saas::{ConfigError, SaasConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let result = if mode % 2 == 0 {
        SaasConfig::from_toml_str(text)
    } else {
        SaasConfig::from_json_str(text)
    };
    if let Err(ConfigError::Parse { position, .. }) = result {
        let p = position.expect("a parse error has a position");
        assert!(p.line >= 1 && p.line <= text.split('\n').count());
    }
});
