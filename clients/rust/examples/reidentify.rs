//! Re-identify pseudonyms for a purpose, reading each verdict, with a client built in code
//! rather than from the environment, and a plain RPC given the client's retries.
//!
//! cargo run -p valv-client --example reidentify -- <domain> <purpose> <pseudonym>…
//! (VALV_ADDR, VALV_CA, and the reidentifier's token in VALV_TOKEN_FILE)

use std::time::Duration;

use valv_client::{ClientConfig, ClientError, RetryPolicy, Valv, pb};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let mut args = std::env::args().skip(1);
    let (Some(domain), Some(purpose)) = (args.next(), args.next()) else {
        return Err(ClientError::Config(
            "usage: reidentify <domain> <purpose> <pseudonym>…".into(),
        ));
    };
    let pseudonyms: Vec<String> = args.collect();
    let var = |name: &str| {
        std::env::var(name).map_err(|_| ClientError::Config(format!("{name} is not set")))
    };
    let config = ClientConfig::new(var("VALV_ADDR")?)
        .with_ca_file(var("VALV_CA")?)?
        .with_token_file(var("VALV_TOKEN_FILE")?)?
        .with_retry(RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        });
    let valv = Valv::connect(config).await?;

    // Any other RPC with the same retries: build the service client inside the closure.
    let purposes = valv
        .retry(|| {
            let mut admin = valv.admin();
            async move { admin.list_purposes(pb::ListPurposesRequest {}).await }
        })
        .await;
    if let Err(e) = purposes {
        // A reidentifier may not list purposes: PERMISSION_DENIED, named in the error.
        eprintln!("(listing purposes: {e})");
    }

    for (pseudonym, result) in pseudonyms
        .iter()
        .zip(valv.reidentify(&domain, &purpose, &pseudonyms).await?)
    {
        match result.verdict() {
            pb::Verdict::Released => println!("{pseudonym}\t{}", result.identifier),
            other => println!("{pseudonym}\t{}", other.as_str_name()),
        }
    }
    Ok(())
}
