//! Pseudonymise identifiers and JSON records with the Rust client, then re-identify.
//!
//! VALV_ADDR=https://127.0.0.1:7443 VALV_CA=valv-data/tls/ca.pem VALV_TOKEN=<tokenizer token> \
//!     cargo run -p valv-client --example quickstart

use valv_client::{ClientConfig, ClientError, Valv};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    // VALV_ADDR, VALV_CA and VALV_TOKEN (or VALV_TOKEN_FILE); or ClientConfig::new(addr)
    // .with_ca_file(..)?.with_token_file(..)? — the same settings from code.
    let valv = Valv::connect(ClientConfig::from_env()?).await?;
    let pseudonyms = pseudonymise(&valv).await?;
    println!("{pseudonyms:?}");
    Ok(())
}

/// Any number of identifiers: the client splits them within the server's limits, keeps
/// several requests in flight and retries while the vault is unavailable.
pub async fn pseudonymise(valv: &Valv) -> Result<Vec<String>, ClientError> {
    let ids = ["19520903-5525", "200311161632", "19520903-5526"];
    let out = valv.pseudonymise("patients.research", &ids).await?;
    let mut pseudonyms = Vec::new();
    for result in out.results {
        match result {
            Ok(pseudonym) => pseudonyms.push(pseudonym),
            // e.g. "identifiers[2]: se-personnummer: check digit" — never the identifier.
            Err(refused) => eprintln!("{}: {}", refused.field, refused.rule),
        }
    }
    // Whole JSON records under the stored record policy `visits`: identifier fields become
    // pseudonyms, dropped fields disappear, everything else passes byte for byte.
    let record = br#"{"patient":{"ssn":"19520903-5525"},"note":"free text","ward":7}"#;
    let records = valv.pseudonymise_records("visits", &[record]).await?;
    if let Ok(json) = &records.results[0] {
        println!("{}", String::from_utf8_lossy(json));
    }
    Ok(pseudonyms)
}
