//! Where valvctl connects and as whom: flags first, then the environment (`VALV_ADDR`,
//! `VALV_TOKEN`, `VALV_TOKEN_FILE`, `VALV_CA` — clap reads those into the same flags), then a
//! profile of the profile file, then the default address.
//!
//! The profile file is TOML (`--config`, `VALV_CONFIG`, else
//! `$XDG_CONFIG_HOME/valv/profiles.toml` or `~/.config/valv/profiles.toml`):
//!
//! ```toml
//! [profiles.default]
//! addr = "https://vault.example.org:7443"
//! ca = "/etc/valv/ca.pem"
//! token_file = "/home/me/.valv/tokenizer.token"
//! ```
//!
//! `--profile NAME` (or `VALV_PROFILE`) picks one; without it `default` is used when present.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use serde::Deserialize;
use valv_client::{ClientConfig, DEFAULT_ADDR};

use crate::Cli;

/// One profile of the profile file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Vault address.
    pub addr: Option<String>,
    /// CA certificate (PEM) to trust.
    pub ca: Option<PathBuf>,
    /// File holding the bearer token.
    pub token_file: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS.
    pub client_cert: Option<PathBuf>,
    /// Its key (PEM).
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// The profile file valvctl reads when none is named.
pub fn default_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("valv").join("profiles.toml"))
}

/// Reads the profile `name` (or `default`, which may be absent) from `path`.
pub fn load_profile(path: &Path, name: Option<&str>, named_file: bool) -> anyhow::Result<Profile> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named_file && name.is_none() => {
            return Ok(Profile::default());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let file: ProfileFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    match name {
        Some(n) => match file.profiles.get(n) {
            Some(p) => Ok(p.clone()),
            None => bail!("no profile [profiles.{n}] in {}", path.display()),
        },
        None => Ok(file.profiles.get("default").cloned().unwrap_or_default()),
    }
}

/// The connection settings: flags and environment over the profile over the defaults.
pub fn client_config(cli: &Cli) -> anyhow::Result<ClientConfig> {
    let profile = match cli.config.clone().or_else(default_path) {
        Some(path) => load_profile(&path, cli.profile.as_deref(), cli.config.is_some())?,
        None => Profile::default(),
    };
    let addr = cli
        .addr
        .clone()
        .or(profile.addr)
        .unwrap_or_else(|| DEFAULT_ADDR.into());
    let mut config = ClientConfig::new(addr);
    // An empty VALV_TOKEN (exported but not set) is no token: the token file is used then.
    if let Some(t) = cli.token.as_ref().filter(|t| !t.is_empty()) {
        config = config.with_token(t.clone());
    } else if let Some(path) = cli.token_file.as_ref().or(profile.token_file.as_ref()) {
        config = config.with_token_file(path)?;
    }
    if let Some(path) = cli.ca.as_ref().or(profile.ca.as_ref()) {
        config = config.with_ca_file(path)?;
    }
    match (profile.client_cert, profile.client_key) {
        (Some(cert), Some(key)) => {
            let cert =
                std::fs::read(&cert).with_context(|| format!("reading {}", cert.display()))?;
            let key = std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
            config = config.with_identity(cert, key);
        }
        (None, None) => {}
        _ => bail!("a profile's client_cert and client_key go together"),
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_picked_by_name_or_default() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("valvctl-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("profiles.toml");
        std::fs::write(
            &path,
            "[profiles.default]\naddr = \"https://a:1\"\n[profiles.prod]\naddr = \"https://b:2\"\nca = \"/ca.pem\"\n",
        )?;
        assert_eq!(
            load_profile(&path, None, true)?.addr.as_deref(),
            Some("https://a:1")
        );
        let prod = load_profile(&path, Some("prod"), true)?;
        assert_eq!(prod.addr.as_deref(), Some("https://b:2"));
        assert_eq!(prod.ca, Some(PathBuf::from("/ca.pem")));
        assert!(load_profile(&path, Some("nope"), true).is_err());
        std::fs::write(&path, "[profiles.x]\ntoken = \"inline\"\n")?;
        assert!(
            load_profile(&path, Some("x"), true).is_err(),
            "unknown keys are refused"
        );
        // No file at the default place and no profile asked for: nothing to apply.
        assert!(
            load_profile(&dir.join("absent.toml"), None, false)?
                .addr
                .is_none()
        );
        assert!(load_profile(&dir.join("absent.toml"), Some("prod"), false).is_err());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
