//! Per translated pseudonym: the symmetric work Valv's TranslatePseudonyms does (open the sender's
//! mapping, make the recipient's pseudonym, seal the recipient's mapping), beside what
//! polymorphic pseudonymisation (libpep, n-PEP) costs for the same item: the sender's
//! encryption, one transcryptor's transcryption, the receiver's decryption. Only the
//! cryptography: neither side's store, network or audit is in these figures.
//!
//!   cargo run --release --manifest-path bench/pep/Cargo.toml [ITEMS] [RUNS]
//!
//! Prints the median over RUNS (default 5) of the time per item, in microseconds.

use std::time::Instant;

use aes_gcm::{Aes256Gcm, KeyInit, aead::Aead};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use libpep::prelude::*;
use sha2::Sha256;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Time per item of `f` over `items` items, `runs` times.
fn per_item(items: usize, runs: usize, mut f: impl FnMut(usize)) -> (f64, f64, f64) {
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        for i in 0..items {
            f(i);
        }
        times.push(start.elapsed().as_secs_f64() * 1e6 / items as f64);
    }
    let (lo, hi) = (
        times.iter().copied().fold(f64::MAX, f64::min),
        times.iter().copied().fold(0.0, f64::max),
    );
    (median(times), lo, hi)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let rng = &mut rand::rng();

    // Valv: an identifier of 12 bytes, sealed under a per-record key derived from the data key.
    let data_key = [7u8; 32];
    let mac_key = [9u8; 32];
    let identifier = b"195209035525";
    let derive = |i: usize| {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&(i as u64).to_be_bytes()), &data_key)
            .expand(b"valv mapping", &mut key)
            .unwrap_or_default();
        key
    };
    let nonce = aes_gcm::Nonce::default();
    let sealed: Vec<Vec<u8>> = (0..items.min(1024))
        .map(|i| {
            Aes256Gcm::new(&derive(i).into())
                .encrypt(&nonce, identifier.as_slice())
                .unwrap_or_default()
        })
        .collect();
    let valv = per_item(items, runs, |i| {
        let j = i % sealed.len();
        // Open the sender's mapping.
        let plain = Aes256Gcm::new(&derive(j).into())
            .decrypt(&nonce, sealed[j].as_slice())
            .unwrap_or_default();
        // The recipient's pseudonym (a keyed domain).
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&mac_key)
            .unwrap_or_else(|_| unreachable!());
        mac.update(&plain);
        let pseudonym = mac.finalize().into_bytes();
        // Seal the recipient's mapping (a reversible to-domain).
        let out = Aes256Gcm::new(&derive(j + 1).into())
            .encrypt(&nonce, plain.as_slice())
            .unwrap_or_default();
        std::hint::black_box((pseudonym, out));
    });

    // n-PEP with one transcryptor.
    let (_global_public, global_secret) = make_global_keys(rng);
    let transcryptor = Transcryptor::new(
        PseudonymizationSecret::from(b"pseudonymization secret".to_vec()),
        RekeyingSecret::from(b"rekeying secret".to_vec()),
    );
    let (domain_a, session_a) = (
        PseudonymizationDomain::from("platform"),
        EncryptionContext::from("session-a"),
    );
    let (domain_b, session_b) = (
        PseudonymizationDomain::from("registry"),
        EncryptionContext::from("session-b"),
    );
    let keys_a = make_session_keys(&global_secret, &session_a, transcryptor.rekeying_secret());
    let keys_b = make_session_keys(&global_secret, &session_b, transcryptor.rekeying_secret());
    let info = transcryptor.transcryption_info(&domain_a, &domain_b, &session_a, &session_b);
    let pseudonyms: Vec<_> = (0..1024).map(|_| Pseudonym::random(rng)).collect();
    let encrypted: Vec<_> = pseudonyms
        .iter()
        .map(|p| encrypt(p, &keys_a.public(), rng))
        .collect();
    let transcrypted: Vec<_> = encrypted
        .iter()
        .map(|e| transcryptor.transcrypt(e, &info, &keys_a.public(), rng))
        .collect();
    let sender = per_item(items, runs, |i| {
        std::hint::black_box(encrypt(&pseudonyms[i % 1024], &keys_a.public(), rng));
    });
    let transcrypt = per_item(items, runs, |i| {
        std::hint::black_box(transcryptor.transcrypt(
            &encrypted[i % 1024],
            &info,
            &keys_a.public(),
            rng,
        ));
    });
    let receiver = per_item(items, runs, |i| {
        std::hint::black_box(decrypt(&transcrypted[i % 1024], &keys_b));
    });

    println!("{items} items, median of {runs} runs (min–max), µs per item");
    println!("| step | µs per item |");
    println!("| --- | ---: |");
    let row = |name: &str, (m, lo, hi): (f64, f64, f64)| {
        println!("| {name} | {m:.2} ({lo:.2}–{hi:.2}) |");
    };
    row(
        "Valv: open the sender's mapping, HMAC the recipient's pseudonym, seal its mapping",
        valv,
    );
    row("n-PEP: sender encrypts its pseudonym", sender);
    row(
        "n-PEP: one transcryptor transcrypts (rerandomise, reshuffle, rekey)",
        transcrypt,
    );
    row("n-PEP: receiver decrypts", receiver);
    println!(
        "n-PEP, the three together: {:.2} µs per item, {:.0}× Valv's symmetric work",
        sender.0 + transcrypt.0 + receiver.0,
        (sender.0 + transcrypt.0 + receiver.0) / valv.0
    );
}
