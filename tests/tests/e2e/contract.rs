//! Small points of the wire contract a new user meets: a request that does not decode is the
//! caller's error and names its field, and a name that exists already is named too.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use valv_e2e::{pb, *};

/// `PseudonymiseRequest` with its identifiers as raw bytes (the same tags on the wire), so a
/// test can send what a string field must never hold.
#[derive(Clone, PartialEq, prost::Message)]
struct RawPseudonymise {
    #[prost(string, tag = "1")]
    domain: String,
    #[prost(bytes = "vec", repeated, tag = "2")]
    identifiers: Vec<Vec<u8>>,
}

fn bearer(token: &str) -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> {
    format!("Bearer {token}").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_in_a_string_field_is_invalid_argument_naming_the_field() {
    let server = start().await;
    let t = plain_tenant(&server.client(&server.operator_token).await).await;
    let tok = server.client(&t.tokenizer).await;
    let bad = RawPseudonymise {
        domain: "d".into(),
        identifiers: vec![b"P-1".to_vec(), vec![0x50, 0xff, 0xfe]],
    };

    let mut grpc = tonic::client::Grpc::new(tok.channel());
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(bad.clone());
    request
        .metadata_mut()
        .insert("authorization", bearer(&t.tokenizer));
    let status = grpc
        .unary::<RawPseudonymise, pb::PseudonymiseResponse, _>(
            request,
            "/valv.v1.PseudonymService/Pseudonymise".parse().unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "identifiers: must be valid UTF-8");

    // In a stream: the good message is answered, the bad one ends the stream the same way.
    let good = RawPseudonymise {
        domain: "d".into(),
        identifiers: vec![b"P-2".to_vec()],
    };
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tx.send(good).await.unwrap();
    tx.send(bad).await.unwrap();
    drop(tx);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request
        .metadata_mut()
        .insert("authorization", bearer(&t.tokenizer));
    grpc.ready().await.unwrap();
    let mut answers = grpc
        .streaming::<_, RawPseudonymise, pb::PseudonymiseResponse, _>(
            request,
            "/valv.v1.PseudonymService/PseudonymiseStream"
                .parse()
                .unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap()
        .into_inner();
    let first = answers.message().await.unwrap().unwrap();
    assert_eq!(first.created, 1);
    let end = answers.message().await.unwrap_err();
    assert_eq!(end.code(), Code::InvalidArgument);
    assert_eq!(end.message(), "identifiers: must be valid UTF-8");

    // Nothing of the undecodable request was stored: P-1 is new now.
    let created = tok
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "d".into(),
            identifiers: vec!["P-1".into()],
            batch_id: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .created;
    assert_eq!(created, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_exists_already_is_named_with_its_field() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = plain_tenant(&operator).await;
    let again = operator
        .admin()
        .create_tenant(pb::CreateTenantRequest {
            name: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (again.code(), again.message()),
        (Code::AlreadyExists, "name: a tenant of that name exists")
    );
    let admin = server.client(&t.admin).await;
    let again = create_domain(
        &admin,
        "d",
        pb::IdentifierKind::Email,
        pb::Scheme::Random,
        true,
        0,
    )
    .await
    .unwrap_err();
    assert_eq!(
        (again.code(), again.message()),
        (Code::AlreadyExists, "name: a domain of that name exists")
    );
    server.stop().await;
}
