//! Where the token comes from, for every front-end: a token file, `$WYVERN_TOKEN`, or the login
//! cache, in that order ([`resolve`]); a cached token that expired is refreshed (and the cache
//! rewritten). [`login`] and [`logout`] keep the cache: a JSON file in the config dir (or
//! `$WYVERN_CONFIG_DIR`), mode 0600, one entry per API URL, written whole or not at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wyvern_core::env::{self, WYVERN_CONFIG_DIR, WYVERN_TOKEN};
use wyvern_core::{Client, Token, TokenSet};
use wyvern_sinks::atomic::{self, AtomicFile};

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {}", .path.display())]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The token file holds no token.
    #[error("the token file {} is empty", .0.display())]
    EmptyTokenFile(PathBuf),
    /// The system has no config dir, and `$WYVERN_CONFIG_DIR` is not set.
    #[error("no config dir on this system")]
    NoConfigDir,
    /// The login cache is not what this tool writes.
    #[error("the login cache {} is not valid JSON", .path.display())]
    BadCache {
        /// The cache.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Logging in, or refreshing the cached token, failed at the API.
    #[error("{action}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// What the API said.
        #[source]
        source: wyvern_core::Error,
    },
    /// The login cache holds an empty refresh token.
    #[error("empty refresh token in the login cache {}", .0.display())]
    EmptyRefreshToken(PathBuf),
    /// A username or a password is missing.
    #[error("a username and a password are needed")]
    MissingCredentials,
}

impl Error {
    /// What the API said, when that is why.
    pub fn api(&self) -> Option<&wyvern_core::Error> {
        match self {
            Self::Api { source, .. } => Some(source),
            _ => None,
        }
    }

    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoConfigDir => Some(format!("set {WYVERN_CONFIG_DIR}")),
            Self::BadCache { .. } | Self::EmptyRefreshToken(_) => {
                Some("delete it and run `wyvern auth login` again".to_owned())
            }
            Self::Api { action: REFRESHING, .. } => Some("run `wyvern auth login` again".to_owned()),
            _ => None,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

const REFRESHING: &str = "refreshing the cached token";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    #[serde(default)]
    apis: BTreeMap<String, CachedToken>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedToken {
    token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    expires_at: Option<u64>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The login cache's path.
pub fn cache_path() -> Result<PathBuf> {
    let dir = match env::var_os(WYVERN_CONFIG_DIR) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::config_dir().ok_or(Error::NoConfigDir)?.join("wyvern"),
    };
    Ok(dir.join("credentials.json"))
}

/// The token for `api` (a base URL): the file `token_file`, else `$WYVERN_TOKEN`, else the
/// login cache's (refreshed when it expired); `None` when there is none.
pub async fn resolve(token_file: Option<&Path>, api: &Client) -> Result<Option<Token>> {
    if let Some(path) = token_file {
        warn_if_shared(path).await;
        let text = tokio::fs::read_to_string(path).await.map_err(file("reading the token file", path))?;
        return Token::new(text).map(Some).ok_or_else(|| Error::EmptyTokenFile(path.to_path_buf()));
    }
    if let Some(token) = env::var(WYVERN_TOKEN).and_then(Token::new) {
        return Ok(Some(token));
    }
    let path = cache_path()?;
    let mut cache = read_cache(&path).await?;
    let key = api.base_url().to_string();
    let Some(entry) = cache.apis.get(&key) else {
        return Ok(None);
    };
    let expired = entry.expires_at.is_some_and(|at| at <= now() + 30);
    match entry.refresh_token.clone() {
        Some(refresh) if expired => {
            let refresh = Token::new(refresh).ok_or_else(|| Error::EmptyRefreshToken(path.clone()))?;
            tracing::info!("the cached token expired; refreshing it");
            let set = api.refresh(&refresh).await.map_err(|source| Error::Api { action: REFRESHING, source })?;
            let token = set.token.clone();
            cache.apis.insert(key, entry_of(set, Some(refresh)));
            write_cache(&path, &cache).await?;
            Ok(Some(token))
        }
        _ => Ok(Token::new(entry.token.clone())),
    }
}

fn entry_of(set: TokenSet, previous_refresh: Option<Token>) -> CachedToken {
    CachedToken {
        token: set.token.expose().to_owned(),
        refresh_token: set.refresh_token.or(previous_refresh).map(|t| t.expose().to_owned()),
        expires_at: set.expires_in.map(|secs| now() + secs),
    }
}

/// Logs in to `api` and stores the token in the login cache; returns the cache's path.
pub async fn login(api: &Client, username: &str, password: &str) -> Result<PathBuf> {
    if username.is_empty() || password.is_empty() {
        return Err(Error::MissingCredentials);
    }
    let set = api.login(username, password).await.map_err(|source| Error::Api { action: "logging in", source })?;
    let path = cache_path()?;
    let mut cache = read_cache(&path).await?;
    cache.apis.insert(api.base_url().to_string(), entry_of(set, None));
    write_cache(&path, &cache).await?;
    Ok(path)
}

/// Forgets the token of `api`; whether there was one.
pub async fn logout(api: &Client) -> Result<bool> {
    let path = cache_path()?;
    let mut cache = read_cache(&path).await?;
    let removed = cache.apis.remove(api.base_url().as_str()).is_some();
    if removed {
        write_cache(&path, &cache).await?;
    }
    Ok(removed)
}

fn file(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::File { action, path, source }
}

async fn read_cache(path: &Path) -> Result<Cache> {
    match tokio::fs::read(path).await {
        Ok(bytes) => {
            warn_if_shared(path).await;
            serde_json::from_slice(&bytes).map_err(|source| Error::BadCache { path: path.to_path_buf(), source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cache::default()),
        Err(e) => Err(file("reading", path)(e)),
    }
}

/// Writes the cache whole, readable by its owner only.
async fn write_cache(path: &Path, cache: &Cache) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir).await.map_err(file("creating", dir))?;
    // Serialising our own type cannot fail.
    let bytes = serde_json::to_vec_pretty(cache).unwrap_or_default();
    let target = path.to_path_buf();
    atomic::blocking(move || AtomicFile::write(&target, 0o600, &bytes)).await.map_err(file("writing", path))
}

/// Secrets in files others can read deserve a warning.
async fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = tokio::fs::metadata(path).await {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!("{} is readable by other users; `chmod 600` it", path.display());
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
