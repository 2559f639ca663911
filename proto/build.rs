//! Compiles `valv/v1/*.proto` with `protox` (pure Rust, no system `protoc`) and writes the
//! descriptor set next to the generated code so the server can offer reflection.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "valv/v1/common.proto",
    "valv/v1/admin.proto",
    "valv/v1/pseudonym.proto",
    "valv/v1/consent.proto",
    "valv/v1/audit.proto",
    "valv/v1/keys.proto",
    "valv/v1/seal.proto",
    "valv/v1/subject.proto",
    "valv/v1/retention.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("valv_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // A message that does not decode answers INVALID_ARGUMENT naming the field (codec.rs).
        .codec_path("crate::codec::ValvCodec")
        .compile_fds(fds)?;
    Ok(())
}
