//! TLS material. With no certificate configured, the first start makes a development CA and a
//! server certificate for `localhost`, `127.0.0.1` and `::1` in `<data-dir>/tls/`, so TLS stays on
//! and a new user needs no set-up; clients trust `<data-dir>/tls/ca.pem`.

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// PEM material the server presents.
pub struct ServerTls {
    /// Server certificate chain (PEM).
    pub cert_pem: Vec<u8>,
    /// Server private key (PEM).
    pub key_pem: Vec<u8>,
    /// The CA clients should trust, when it is the development CA.
    pub dev_ca_path: Option<PathBuf>,
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Loads the development CA and server certificate from `<data_dir>/tls`, creating them on first use.
pub fn ensure_dev_tls(data_dir: &Path) -> anyhow::Result<ServerTls> {
    let dir = data_dir.join("tls");
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    if !cert_path.exists() {
        fs::create_dir_all(&dir)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Valv development CA");
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let mut params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "valv development server");
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        fs::write(&cert_path, cert.pem())?;
        fs::write(&ca_path, ca_cert.pem())?;
        tracing::warn!(
            ca = %ca_path.display(),
            "created a DEVELOPMENT CA and server certificate for localhost; clients must trust this CA \
             (VALV_CA={}); configure --tls-cert/--tls-key for production",
            ca_path.display()
        );
    }
    Ok(ServerTls {
        cert_pem: fs::read(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?,
        key_pem: fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?,
        dev_ca_path: Some(ca_path),
    })
}
