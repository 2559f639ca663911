//! Every identifier normaliser, on any text: no panic, and a normal form is a fixed point —
//! normalising it again gives the same bytes and the same birth date (one person, one
//! pseudonym, whichever spelling came first).
#![no_main]

use libfuzzer_sys::fuzz_target;
use valv::{
    engine::{date::Date, identifier::normalise},
    model::IdentifierKind,
};

const KINDS: [IdentifierKind; 7] = [
    IdentifierKind::Opaque,
    IdentifierKind::Email,
    IdentifierKind::Phone,
    IdentifierKind::SePersonnummer,
    IdentifierKind::NoFodselsnummer,
    IdentifierKind::DkCpr,
    IdentifierKind::FiHetu,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let kind = KINDS[usize::from(selector) % KINDS.len()];
    let Some(today) = Date::new(2026, 12, 3) else {
        return;
    };
    let Ok(first) = normalise(kind, raw, today, 256) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(first.value.expose_secret()) else {
        panic!("{kind:?}: a normal form that is not UTF-8");
    };
    match normalise(kind, text, today, 256) {
        Ok(again) => {
            assert!(
                again.value.expose_secret() == first.value.expose_secret(),
                "{kind:?}: normalising a normal form changed it"
            );
            assert_eq!(
                again.birth_date, first.birth_date,
                "{kind:?}: birth date changed"
            );
        }
        Err(e) => panic!("{kind:?}: a normal form is refused: {e}"),
    }
});
