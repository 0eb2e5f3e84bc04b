//! Login tokens kept between commands: `$XDG_CONFIG_HOME/jitgate/token.json` (else
//! `~/.config/jitgate/token.json`), one entry per server URL, readable by its owner only.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedToken {
    pub token: String,
    pub subject: String,
    /// RFC 3339, as the server said.
    pub expires_at: String,
    /// For a login through an OpenID Connect provider: what renews the token when it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcRenewal>,
}

/// What renewing an OpenID Connect login needs: the provider's name on the server and the
/// renewal token the server gave for the provider's refresh token, which the server keeps
/// (as secret as the token itself; same file, same mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcRenewal {
    pub provider: String,
    pub renewal_token: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    /// Server URL → its token.
    #[serde(default)]
    servers: BTreeMap<String, CachedToken>,
}

pub struct TokenCache {
    path: PathBuf,
    file: CacheFile,
}

impl TokenCache {
    /// The user's cache; an absent file is an empty cache.
    pub fn open() -> anyhow::Result<TokenCache> {
        let dir = dirs::config_dir()
            .context("cannot find your configuration folder; set XDG_CONFIG_HOME or HOME")?;
        TokenCache::open_at(&dir.join("jitgate").join("token.json"))
    }

    pub fn open_at(path: &Path) -> anyhow::Result<TokenCache> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a jitgate token cache; remove it and log in again",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CacheFile::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(TokenCache {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn get(&self, server: &str) -> Option<CachedToken> {
        self.file.servers.get(server).cloned()
    }

    /// Stores the token for `server` and writes the file.
    pub fn put(&mut self, server: &str, token: CachedToken) -> anyhow::Result<()> {
        self.file.servers.insert(server.to_owned(), token);
        self.save()
    }

    /// Writes a fresh file created with mode 0600 and renames it over the old one, so the token
    /// is never readable by others, not even for a moment, and a crash leaves the old file whole.
    fn save(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dir = self
            .path
            .parent()
            .context("token cache path has no folder")?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let temp = self
            .path
            .with_extension(format!("json.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            f.write_all(serde_json::to_string_pretty(&self.file)?.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&temp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            anyhow::Error::new(e).context(format!("writing {}", self.path.display()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn token(t: &str) -> CachedToken {
        CachedToken {
            token: t.into(),
            subject: "alice".into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            oidc: None,
        }
    }

    #[test]
    fn tokens_are_kept_per_server_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jitgate").join("token.json");
        let mut cache = TokenCache::open_at(&path).unwrap();
        assert_eq!(cache.get("http://a"), None);
        cache.put("http://a", token("ta")).unwrap();
        cache.put("http://b", token("tb")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let reopened = TokenCache::open_at(&path).unwrap();
        assert_eq!(reopened.get("http://a"), Some(token("ta")));
        assert_eq!(reopened.get("http://b"), Some(token("tb")));
    }

    #[test]
    fn a_garbled_cache_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        std::fs::write(&path, "not json").unwrap();
        let err = TokenCache::open_at(&path).err().unwrap();
        assert!(format!("{err:#}").contains("not a jitgate token cache"));
    }
}
