//! Where the credentials come from, for every front-end ([`resolve`]): a token file (read again
//! when the API refuses its token), `$WYVERN_TOKEN` (fixed), `$WYVERN_USERNAME` with
//! `$WYVERN_PASSWORD` or a password file (the run logs in itself), or the login cache (renewed
//! by its refresh token during the run, each renewal written back), in that order. [`login`] and
//! [`logout`] keep the cache: a JSON file in the config dir (or `$WYVERN_CONFIG_DIR`), mode 0600,
//! one entry per API URL, written whole or not at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use wyvern_core::env::{self, WYVERN_CONFIG_DIR, WYVERN_PASSWORD, WYVERN_TOKEN, WYVERN_USERNAME};
use wyvern_core::{Client, Credentials, OnRenew, Token, TokenSet};
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
    /// The token file or the password file could not be read.
    #[error("cannot read the {what} {}", .path.display())]
    Unreadable {
        /// Which file: "token file" or "password file".
        what: &'static str,
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
    /// Logging in failed at the API.
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
    /// A password was given without a username, or a username without a password.
    #[error("{WYVERN_USERNAME} and a password ({WYVERN_PASSWORD} or a password file) go together; only one was given")]
    HalfCredentials,
}

impl Error {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoConfigDir => Some(format!("set {WYVERN_CONFIG_DIR}")),
            Self::BadCache { .. } | Self::EmptyRefreshToken(_) => {
                Some("delete it and run `wyvern auth login` again".to_owned())
            }
            Self::Unreadable { what, .. } => {
                Some(format!("check the path: the {what} must be a file this user may read (a mounted secret's key)"))
            }
            Self::HalfCredentials => {
                Some(format!("set both {WYVERN_USERNAME} and {WYVERN_PASSWORD} (or --password-file), or neither"))
            }
            _ => None,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// The login cache's path.
pub fn cache_path() -> Result<PathBuf> {
    let dir = match env::var_os(WYVERN_CONFIG_DIR) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::config_dir().ok_or(Error::NoConfigDir)?.join("wyvern"),
    };
    Ok(dir.join("credentials.json"))
}

/// The credentials for `api` (a base URL): the file `token_file`, else `$WYVERN_TOKEN`, else
/// `$WYVERN_USERNAME` with `password_file` or `$WYVERN_PASSWORD`, else the login cache's
/// tokens; `None` when there are none.
pub async fn resolve(
    token_file: Option<&Path>,
    password_file: Option<&Path>,
    api: &Client,
) -> Result<Option<Credentials>> {
    if let Some(path) = token_file {
        warn_if_shared(path).await;
        let text = tokio::fs::read_to_string(path).await.map_err(unreadable("token file", path))?;
        let token = Token::new(text).ok_or_else(|| Error::EmptyTokenFile(path.to_path_buf()))?;
        return Ok(Some(Credentials::token_file(path.to_path_buf(), token)));
    }
    if let Some(token) = env::var(WYVERN_TOKEN).and_then(Token::new) {
        return Ok(Some(Credentials::token(token)));
    }
    if let Some(credentials) = service_credentials(password_file).await? {
        return Ok(Some(credentials));
    }
    let path = cache_path()?;
    let cache = read_cache(&path).await?;
    let key = api.base_url().to_string();
    let Some(entry) = cache.apis.get(&key) else {
        return Ok(None);
    };
    let Some(token) = Token::new(entry.token.clone()) else { return Ok(None) };
    let Some(refresh) = entry.refresh_token.clone() else { return Ok(Some(Credentials::token(token))) };
    let refresh = Token::new(refresh).ok_or_else(|| Error::EmptyRefreshToken(path.clone()))?;
    let tokens = TokenSet::restored(token, Some(refresh), entry.expires_at);
    Ok(Some(Credentials::tokens(tokens, Some(write_back(path, key)))))
}

/// `$WYVERN_USERNAME` with a password from `password_file` or `$WYVERN_PASSWORD`.
async fn service_credentials(password_file: Option<&Path>) -> Result<Option<Credentials>> {
    let username = env::var(WYVERN_USERNAME).filter(|name| !name.trim().is_empty());
    let password = match password_file {
        Some(path) => {
            warn_if_shared(path).await;
            let text = tokio::fs::read_to_string(path).await.map_err(unreadable("password file", path))?;
            // A password file ends where its first line does (`echo secret > file` adds a newline);
            // the rest of the line is the password, spaces and all.
            Some(Token::verbatim(text.lines().next().unwrap_or_default()).ok_or(Error::MissingCredentials)?)
        }
        None => env::var(WYVERN_PASSWORD).and_then(Token::verbatim),
    };
    match (username, password) {
        (Some(username), Some(password)) => Ok(Some(Credentials::login(username.trim().to_owned(), password))),
        (None, None) => Ok(None),
        _ => Err(Error::HalfCredentials),
    }
}

/// Writes each renewal of the cached tokens back to the cache.
fn write_back(path: PathBuf, key: String) -> OnRenew {
    std::sync::Arc::new(move |set: TokenSet| {
        let (path, key) = (path.clone(), key.clone());
        Box::pin(async move {
            let written = async {
                let mut cache = read_cache(&path).await?;
                cache.apis.insert(key, entry_of(&set));
                write_cache(&path, &cache).await
            };
            if let Err(error) = written.await {
                tracing::warn!("the renewed token could not be written back to the login cache: {error}");
            }
        })
    })
}

fn entry_of(set: &TokenSet) -> CachedToken {
    CachedToken {
        token: set.token.expose().to_owned(),
        refresh_token: set.refresh_token.as_ref().map(|t| t.expose().to_owned()),
        expires_at: set.expires_at.and_then(|at| at.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
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
    cache.apis.insert(api.base_url().to_string(), entry_of(&set));
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

fn unreadable(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Unreadable { what, path, source }
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
