//! Where the bearer token comes from and how it lives as long as the run: [`Credentials`] says
//! what was given (a fixed token, a token file, tokens from a login, a username and password);
//! the transport asks for the current token before each request to the API ([`Session::current`],
//! which renews a token about to expire) and, on a 401, renews once ([`Session::renew`]) and
//! sends the request again. Concurrent requests share one renewal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use crate::Result;
use crate::client::TOKEN_LIMIT;
use crate::error::Error;
use crate::token::Token;
use crate::transport::{Transport, read_body};
use crate::url_redact::redact_url;

/// The most a token is renewed ahead of its expiry.
const MAX_MARGIN: Duration = Duration::from_secs(30);
/// After an early renewal failed (the token still valid), requests use the token this long
/// before one tries again: not every request waits for a token endpoint that is down.
const COOL_DOWN: Duration = Duration::from_secs(5);

/// Tokens returned by the login and refresh endpoints (or restored from a cache).
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The short-lived bearer token.
    pub token: Token,
    /// The longer-lived refresh token, when the server sent one.
    pub refresh_token: Option<Token>,
    /// When the token expires: from the answer's `expires_in`, else the token's own `exp`
    /// claim when it is a JWT (read, not verified); `None` when neither says.
    pub expires_at: Option<SystemTime>,
    /// How long the token lived when issued, when known (`expires_in`, or the JWT's `exp - iat`).
    pub lifetime: Option<Duration>,
}

impl TokenSet {
    /// A token with its refresh token and its lifetime as a token endpoint answered it
    /// (`expires_in` seconds, or, without it, the JWT's claims).
    pub fn issued(token: Token, refresh_token: Option<Token>, expires_in: Option<u64>) -> Self {
        // A lifetime counts from now, on this machine's clock: a JWT's `exp` is the server's,
        // and a clock that is ahead would otherwise see every new token as expired.
        let lifetime = expires_in.map(Duration::from_secs).or_else(|| jwt_claims(&token).lifetime());
        match lifetime {
            Some(lifetime) => Self {
                token,
                refresh_token,
                expires_at: SystemTime::now().checked_add(lifetime),
                lifetime: Some(lifetime),
            },
            None => Self::restored(token, refresh_token, None),
        }
    }

    /// A token kept from earlier, with its expiry in Unix seconds when that was recorded (else
    /// the JWT's `exp`).
    pub fn restored(token: Token, refresh_token: Option<Token>, expires_at: Option<u64>) -> Self {
        let claims = jwt_claims(&token);
        let exp = expires_at.or(claims.exp);
        let expires_at = exp.and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)));
        Self { token, refresh_token, expires_at, lifetime: claims.lifetime() }
    }

    /// When the token should be renewed: ahead of its expiry by a fifth of its lifetime, at
    /// most [`MAX_MARGIN`].
    fn renew_at(&self) -> Option<SystemTime> {
        let margin = self.lifetime.map_or(MAX_MARGIN, |lifetime| (lifetime / 5).min(MAX_MARGIN));
        self.expires_at.map(|at| at.checked_sub(margin).unwrap_or(at))
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct Claims {
    exp: Option<u64>,
    iat: Option<u64>,
}

impl Claims {
    /// How long the token was issued for (`exp - iat`).
    fn lifetime(&self) -> Option<Duration> {
        self.exp.zip(self.iat).and_then(|(exp, iat)| exp.checked_sub(iat)).map(Duration::from_secs)
    }
}

/// The `exp` and `iat` claims of a JWT, read without checking its signature (the server checks
/// it; the client only wants to know when to renew). Anything else has no claims.
fn jwt_claims(token: &Token) -> Claims {
    let mut parts = token.expose().split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Claims::default();
    };
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    engine
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Called with each renewed set of tokens (to write them back to a cache, say).
pub type OnRenew = Arc<dyn Fn(TokenSet) -> BoxFuture<'static, ()> + Send + Sync>;

/// What the client authenticates with, and so how its token renews.
#[derive(Clone)]
pub struct Credentials {
    source: Source,
    initial: Option<TokenSet>,
    on_renew: Option<OnRenew>,
}

#[derive(Clone)]
enum Source {
    /// A token given as is: it cannot renew.
    Fixed,
    /// A token read from a file, read again on a 401 (mounted secrets are rotated in place).
    File(PathBuf),
    /// Tokens from a login: renewed with the refresh token.
    Refresh,
    /// A username and password: the client logs in itself, renews by refresh token or by
    /// logging in again.
    Login { username: String, password: Token },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.source {
            Source::Fixed => "Credentials::Fixed(<redacted>)",
            Source::File(_) => "Credentials::File(<redacted>)",
            Source::Refresh => "Credentials::Refresh(<redacted>)",
            Source::Login { .. } => "Credentials::Login(<redacted>)",
        })
    }
}

impl Credentials {
    /// A fixed token (`$WYVERN_TOKEN`): it does not renew.
    pub fn token(token: Token) -> Self {
        Self { source: Source::Fixed, initial: Some(TokenSet::restored(token, None, None)), on_renew: None }
    }

    /// A token read from `path`: read again when the API refuses it.
    pub fn token_file(path: PathBuf, token: Token) -> Self {
        Self { source: Source::File(path), initial: Some(TokenSet::restored(token, None, None)), on_renew: None }
    }

    /// Tokens from an earlier login: renewed with the refresh token before they expire, and on
    /// a 401; `on_renew` is told of each renewal.
    pub fn tokens(tokens: TokenSet, on_renew: Option<OnRenew>) -> Self {
        Self { source: Source::Refresh, initial: Some(tokens), on_renew }
    }

    /// A username and password: the client logs in at its first request and renews on its own.
    pub fn login(username: String, password: Token) -> Self {
        Self { source: Source::Login { username, password }, initial: None, on_renew: None }
    }

    /// Whether the token can renew itself (by refresh token or login, not re-reading a file).
    pub fn renews(&self) -> bool {
        matches!(self.source, Source::Refresh | Source::Login { .. })
    }
}

/// The token in use, and how many times it changed (a request refused with token number `n`
/// renews only when no one renewed it since).
#[derive(Debug)]
struct State {
    tokens: Option<TokenSet>,
    generation: u64,
    /// No early renewal before this (one just failed).
    quiet_until: Option<tokio::time::Instant>,
}

/// The client's credentials while it runs.
pub(crate) struct Session {
    credentials: Credentials,
    state: Mutex<State>,
}

/// A token handed to one request, and which one it was.
#[derive(Debug, Clone)]
pub(crate) struct Bearer {
    pub token: Token,
    generation: u64,
}

impl Session {
    /// What the session authenticates with.
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub(crate) fn new(credentials: Credentials) -> Self {
        let state = State { tokens: credentials.initial.clone(), generation: 0, quiet_until: None };
        Self { credentials, state: Mutex::new(state) }
    }

    /// The token for the next request, renewed first when it is about to expire and can renew
    /// (or when a login has not happened yet).
    pub(crate) async fn current(&self, transport: &Transport) -> Result<Bearer> {
        let mut state = self.state.lock().await;
        let due = state.tokens.as_ref().is_none_or(|set| set.renew_at().is_some_and(|at| at <= SystemTime::now()));
        let valid = state.tokens.as_ref().is_some_and(still_valid);
        let quiet = valid && state.quiet_until.is_some_and(|until| tokio::time::Instant::now() < until);
        if due && !quiet && self.credentials.renews() {
            match self.renew_locked(&mut state, transport).await {
                Ok(()) => {}
                // Not expired yet: this token still works, for a while.
                Err(error) if valid => {
                    tracing::warn!("renewing the API token ahead of its expiry failed; using it until then: {error}");
                    state.quiet_until = Some(tokio::time::Instant::now() + COOL_DOWN);
                }
                Err(error) => return Err(error),
            }
        }
        match &state.tokens {
            Some(set) => Ok(Bearer { token: set.token.clone(), generation: state.generation }),
            None => Err(Error::MissingToken),
        }
    }

    /// The API refused `rejected`: renews the token unless someone already did since; whether
    /// there is a new token to try.
    pub(crate) async fn renew(&self, rejected: &Bearer, transport: &Transport) -> Result<bool> {
        let mut state = self.state.lock().await;
        if state.generation != rejected.generation {
            return Ok(true);
        }
        match &self.credentials.source {
            Source::Fixed => Ok(false),
            Source::File(path) => {
                let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
                match Token::new(text).filter(|token| *token != rejected.token) {
                    Some(token) => {
                        tracing::info!("the token file {} holds a new token; using it", path.display());
                        state.tokens = Some(TokenSet::restored(token, None, None));
                        state.generation += 1;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            Source::Refresh | Source::Login { .. } => {
                self.renew_locked(&mut state, transport).await?;
                Ok(true)
            }
        }
    }

    /// Renews by refresh token, else (or when that is refused) by logging in again.
    async fn renew_locked(&self, state: &mut State, transport: &Transport) -> Result<()> {
        let refresh = state.tokens.as_ref().and_then(|set| set.refresh_token.clone());
        let renewed = match (&self.credentials.source, refresh) {
            (Source::Login { username, password }, None) => login(transport, username, password).await,
            (Source::Login { username, password }, Some(refresh)) => match self::refresh(transport, &refresh).await {
                Err(Error::Unauthenticated { .. }) => {
                    tracing::info!("the refresh token was refused; logging in again");
                    login(transport, username, password).await
                }
                other => other,
            },
            (_, Some(refresh)) => self::refresh(transport, &refresh).await,
            (_, None) => Err(Error::MissingToken),
        };
        let mut set = renewed.map_err(|source| Error::Renewal { source: Box::new(source) })?;
        // SimpleJWT answers a refresh with a new access token only: the refresh token stays.
        if set.refresh_token.is_none() {
            set.refresh_token = state.tokens.as_ref().and_then(|old| old.refresh_token.clone());
        }
        tracing::info!(expires_in_s = ?set.expires_at.and_then(|at| at.duration_since(SystemTime::now()).ok()).map(|d| d.as_secs()), "renewed the API token");
        if let Some(on_renew) = &self.credentials.on_renew {
            on_renew(set.clone()).await;
        }
        state.tokens = Some(set);
        state.generation += 1;
        state.quiet_until = None;
        Ok(())
    }
}

fn still_valid(set: &TokenSet) -> bool {
    set.expires_at.is_none_or(|at| at > SystemTime::now())
}

/// `POST /1.0/auth/token`: exchanges a username and password for tokens.
pub(crate) async fn login(transport: &Transport, username: &str, password: &Token) -> Result<TokenSet> {
    token_request(transport, "1.0/auth/token", json!({ "username": username, "password": password.expose() })).await
}

/// Exchanges a refresh token for a new token. The endpoint is not published; this uses
/// `POST /1.0/auth/token/refresh` and sends the token under both common field names
/// (`refresh_token`; `refresh`, Django REST SimpleJWT's).
pub(crate) async fn refresh(transport: &Transport, refresh_token: &Token) -> Result<TokenSet> {
    let secret = refresh_token.expose();
    token_request(transport, "1.0/auth/token/refresh", json!({ "refresh_token": secret, "refresh": secret })).await
}

async fn token_request(transport: &Transport, path: &str, body: Value) -> Result<TokenSet> {
    let url = endpoint(transport.base(), path);
    // Boxed: the POST goes through the transport, which asks the session for tokens (though
    // never for this request), and an async fn cannot hold itself.
    let response = Box::pin(transport.post_json(&url, &body)).await?;
    let bytes = read_body(response, &url, TOKEN_LIMIT, "a token response").await?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode { url: redact_url(&url), source })?;
    parse_token_set(&value).ok_or_else(|| Error::UnexpectedStatus {
        status: 200,
        url: redact_url(&url),
        detail: Some("the response holds no token field (token, access_token, access)".to_owned()),
    })
}

fn endpoint(base: &Url, path: &str) -> Url {
    base.join(path).unwrap_or_else(|_| base.clone())
}

/// Field names of the token endpoints are not published: accept the common spellings.
fn parse_token_set(value: &Value) -> Option<TokenSet> {
    let field = |names: &[&str]| names.iter().find_map(|n| value.get(*n)?.as_str()).and_then(Token::new);
    Some(TokenSet::issued(
        field(&["token", "access_token", "access", "id_token"])?,
        field(&["refresh_token", "refresh"]),
        value.get("expires_in").and_then(Value::as_u64),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use base64::Engine as _;
    use serde_json::json;

    use super::{TokenSet, parse_token_set};
    use crate::Token;

    fn jwt(claims: &serde_json::Value) -> Token {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = engine.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = engine.encode(claims.to_string());
        Token::new(format!("{header}.{payload}.c2lnbmF0dXJl")).expect("token")
    }

    #[test]
    fn token_fields_are_parsed_leniently() {
        let set = parse_token_set(&json!({"access_token": "a", "refresh": "r", "expires_in": 300})).expect("set");
        assert_eq!(set.token.expose(), "a");
        assert_eq!(set.refresh_token.expect("refresh").expose(), "r");
        assert_eq!(set.lifetime, Some(Duration::from_secs(300)));
        assert!(parse_token_set(&json!({"detail": "no"})).is_none());
    }

    #[test]
    fn a_jwt_says_when_it_expires_and_the_renewal_comes_a_fifth_of_its_life_early() {
        let set = TokenSet::restored(jwt(&json!({"exp": 1_000_300, "iat": 1_000_000, "user_id": 7})), None, None);
        assert_eq!(set.expires_at, Some(UNIX_EPOCH + Duration::from_secs(1_000_300)));
        assert_eq!(set.renew_at(), Some(UNIX_EPOCH + Duration::from_secs(1_000_270)), "30 s at most");
        let short = TokenSet::restored(jwt(&json!({"exp": 1_000_010, "iat": 1_000_000})), None, None);
        assert_eq!(short.renew_at(), Some(UNIX_EPOCH + Duration::from_secs(1_000_008)));
        // A recorded expiry wins over the claim; opaque tokens and broken JWTs have none.
        let recorded = TokenSet::restored(jwt(&json!({"exp": 5})), None, Some(9));
        assert_eq!(recorded.expires_at, Some(UNIX_EPOCH + Duration::from_secs(9)));
        // A token just issued counts its lifetime from now, whatever the server's clock says.
        let skewed = TokenSet::issued(jwt(&json!({"exp": 1_000_300, "iat": 1_000_000})), None, None);
        let left = skewed.expires_at.expect("expiry").duration_since(std::time::SystemTime::now()).expect("ahead");
        assert!(left > Duration::from_secs(290) && left <= Duration::from_secs(300), "{left:?}");
        for opaque in ["sandbox-token", "a.b.c", "a.!!!.c", "a.b.c.d"] {
            assert_eq!(TokenSet::restored(Token::new(opaque).expect("t"), None, None).expires_at, None, "{opaque}");
        }
    }
}
