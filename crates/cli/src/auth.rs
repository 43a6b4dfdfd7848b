//! Where the token comes from: `--token-file`, `$WYVERN_TOKEN`, or the login cache, in that
//! order. The cache is a JSON file in the config dir, mode 0600, holding one entry per API URL.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wyvern_core::env::{WYVERN_CONFIG_DIR, WYVERN_TOKEN};
use wyvern_core::{Client, Token, TokenSet};

use crate::error::{Context, Failure};

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
pub fn cache_path() -> Result<PathBuf, Failure> {
    let dir = match std::env::var_os(WYVERN_CONFIG_DIR) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::config_dir()
            .ok_or_else(|| Failure::local("no config dir on this system").hint(format!("set {WYVERN_CONFIG_DIR}")))?
            .join("wyvern"),
    };
    Ok(dir.join("credentials.json"))
}

/// Finds the token for `api` (a base URL), refreshing a cached one that expired.
pub async fn resolve(token_file: Option<&Path>, api: &Client) -> Result<Option<Token>, Failure> {
    if let Some(path) = token_file {
        warn_if_shared(path);
        let text = std::fs::read_to_string(path).context(|| format!("reading the token file {}", path.display()))?;
        let token =
            Token::new(text).ok_or_else(|| Failure::local(format!("the token file {} is empty", path.display())))?;
        return Ok(Some(token));
    }
    if let Some(token) = std::env::var(WYVERN_TOKEN).ok().and_then(Token::new) {
        return Ok(Some(token));
    }
    let path = cache_path()?;
    let mut cache = read_cache(&path)?;
    let key = api.base_url().to_string();
    let Some(entry) = cache.apis.get(&key) else {
        return Ok(None);
    };
    let expired = entry.expires_at.is_some_and(|at| at <= now() + 30);
    match (&entry.refresh_token, expired) {
        (Some(refresh), true) => {
            tracing::info!("the cached token expired; refreshing it");
            let refresh =
                Token::new(refresh.clone()).ok_or_else(|| Failure::local("empty refresh token in the login cache"))?;
            let set = api.refresh(&refresh).await.map_err(|source| Failure::Api {
                action: "refreshing the cached token".to_owned(),
                source,
                hint: Some("run `wyvern auth login` again".to_owned()),
            })?;
            let token = set.token.clone();
            cache.apis.insert(key, entry_of(set, Some(refresh)));
            write_cache(&path, &cache)?;
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

/// `wyvern auth login`: asks for the credentials and stores the token.
pub async fn login(api: &Client, username: Option<String>) -> Result<PathBuf, Failure> {
    let stdin = std::io::stdin();
    let username = match username {
        Some(name) => name,
        None => {
            eprint!("username: ");
            std::io::stderr().flush().ok();
            read_line(&mut stdin.lock())?
        }
    };
    let password = if stdin.is_terminal() {
        rpassword::prompt_password("password: ").context(|| "reading the password".to_owned())?
    } else {
        read_line(&mut stdin.lock())?
    };
    if username.is_empty() || password.is_empty() {
        return Err(Failure::local("a username and a password are needed"));
    }
    let set = api.login(&username, &password).await.map_err(|source| Failure::Api {
        action: "logging in".to_owned(),
        source,
        hint: None,
    })?;
    let path = cache_path()?;
    let mut cache = read_cache(&path)?;
    cache.apis.insert(api.base_url().to_string(), entry_of(set, None));
    write_cache(&path, &cache)?;
    Ok(path)
}

/// `wyvern auth logout`: forgets the token of this API.
pub fn logout(api: &Client) -> Result<bool, Failure> {
    let path = cache_path()?;
    let mut cache = read_cache(&path)?;
    let removed = cache.apis.remove(api.base_url().as_str()).is_some();
    if removed {
        write_cache(&path, &cache)?;
    }
    Ok(removed)
}

fn read_line(input: &mut impl BufRead) -> Result<String, Failure> {
    let mut line = String::new();
    input.read_line(&mut line).context(|| "reading stdin".to_owned())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_cache(path: &Path) -> Result<Cache, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => {
            warn_if_shared(path);
            serde_json::from_slice(&bytes)
                .context(|| format!("the login cache {} is not valid JSON", path.display()))
                .map_err(|e| e.hint("delete it and run `wyvern auth login` again"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cache::default()),
        Err(e) => Err(e).context(|| format!("reading {}", path.display())),
    }
}

/// Writes the cache atomically, readable by its owner only.
fn write_cache(path: &Path, cache: &Cache) -> Result<(), Failure> {
    let dir = path.parent().ok_or_else(|| Failure::local("the cache path has no folder"))?;
    std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    let temp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let writing = || format!("writing {}", temp.display());
    let mut file = options.open(&temp).context(writing)?;
    // Serialising our own type cannot fail.
    file.write_all(&serde_json::to_vec_pretty(cache).unwrap_or_default()).context(writing)?;
    file.sync_all().context(writing)?;
    std::fs::rename(&temp, path).context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Secrets in files others can read deserve a warning.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!("{} is readable by other users; `chmod 600` it", path.display());
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
