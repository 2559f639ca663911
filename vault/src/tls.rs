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

/// Writes `bytes` to a new file and syncs it (`private`: mode 0600).
fn write_synced(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    fs::File::open(dir)?.sync_all()?;
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
    if !dir.exists() {
        // Made whole in `tls.staged` and renamed into place, so a crash (or a power cut) during
        // the first start leaves either no `tls` directory — made again at the next start — or
        // a complete one, never a certificate without its key.
        let staged = data_dir.join("tls.staged");
        if staged.exists() {
            fs::remove_dir_all(&staged)?;
        }
        fs::create_dir_all(&staged)?;
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
        write_synced(
            &staged.join("server.key"),
            key.serialize_pem().as_bytes(),
            true,
        )?;
        write_synced(&staged.join("server.pem"), cert.pem().as_bytes(), false)?;
        write_synced(&staged.join("ca.pem"), ca_cert.pem().as_bytes(), false)?;
        sync_dir(&staged)?;
        fs::rename(&staged, &dir)?;
        sync_dir(data_dir)?;
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
