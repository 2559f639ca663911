//! Record-policy pointers (RFC 6901 with `*`), on any text: no panic, and a pointer that parses
//! renders back to a pointer that parses to the same pattern.
#![no_main]

use libfuzzer_sys::fuzz_target;
use valv::engine::record::Pattern;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pattern) = Pattern::parse(text) {
        assert!(!text.is_empty(), "the empty pointer parsed");
        let rendered = pattern.to_string();
        assert_eq!(
            Pattern::parse(&rendered),
            Ok(pattern),
            "{rendered:?} parses to another pattern"
        );
    }
});
