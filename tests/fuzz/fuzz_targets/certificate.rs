//! Certificate facts from DER bytes: parsing, and the JSON they end up in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsaudit::cert::parse_certificate;

fuzz_target!(|data: &[u8]| {
    if let Some(facts) = parse_certificate(data) {
        let json = serde_json::to_string(&format!("{facts:?}")).expect("debug text serialises");
        assert!(!json.is_empty());
    }
});
