//! The replica's tokens: the fixed test token, and the tokens its login and refresh endpoints
//! issue, shaped as Django REST SimpleJWT answers (`{"access", "refresh"}`, JWTs whose `exp`
//! claim alone says when they expire) or as OAuth's (`access_token`, `refresh_token`,
//! `expires_in`), with the lifetimes a test asks for. An expired or revoked token gets a 401.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, http::HeaderMap, http::header};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::server::{error, lock};

/// The username the replica's login accepts.
pub const TEST_USERNAME: &str = "sandbox@example.com";
/// The password the replica's login accepts.
pub const TEST_PASSWORD: &str = "correct horse battery staple";
/// How every token the replica issues begins (the base64 of its JWT header): tests look for it
/// in output, where no token may appear.
pub const ISSUED_TOKEN_PREFIX: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.";

/// How the login and refresh endpoints answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenShape {
    /// `{"access_token", "refresh_token", "expires_in", "token_type"}`, refreshed with
    /// `{"refresh_token"}`.
    #[default]
    OAuth,
    /// Django REST SimpleJWT: `{"access", "refresh"}` at login, `{"access"}` for
    /// `{"refresh"}`; the lifetime only in the JWTs' `exp` claims.
    SimpleJwt,
}

/// How tokens are issued.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenSettings {
    pub shape: TokenShape,
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            shape: TokenShape::OAuth,
            access_lifetime: Duration::from_secs(3600),
            refresh_lifetime: Duration::from_secs(24 * 3600),
        }
    }
}

/// The tokens the replica knows.
#[derive(Debug)]
pub(crate) struct Tokens {
    settings: TokenSettings,
    /// The fixed token (`--token`), until rotated or revoked.
    fixed: Mutex<Option<String>>,
    /// Issued access tokens and refresh tokens, with their expiry.
    access: Mutex<HashMap<String, SystemTime>>,
    refresh: Mutex<HashMap<String, SystemTime>>,
    issued: AtomicU64,
}

impl Tokens {
    pub(crate) fn new(fixed: String, settings: TokenSettings) -> Self {
        Self {
            settings,
            fixed: Mutex::new(Some(fixed)),
            access: Mutex::default(),
            refresh: Mutex::default(),
            issued: AtomicU64::new(0),
        }
    }

    /// Whether the request's bearer token is one the API accepts now.
    pub(crate) fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        lock(&self.fixed).as_deref() == Some(token) || live(&self.access, token)
    }

    /// Every access token issued so far stops working, and the fixed one becomes `fixed`.
    pub(crate) fn revoke(&self, fixed: Option<String>) {
        *lock(&self.fixed) = fixed;
        lock(&self.access).clear();
    }

    /// Every refresh token issued so far stops working.
    pub(crate) fn revoke_refresh(&self) {
        lock(&self.refresh).clear();
    }

    /// Access tokens issued so far, by login or refresh.
    pub(crate) fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// `POST /1.0/auth/token`.
    pub(crate) fn login(&self, body: Option<&Value>) -> Response {
        let field = |name: &str| body.and_then(|b| b.get(name)).and_then(Value::as_str);
        if field("username") != Some(TEST_USERNAME) || field("password") != Some(TEST_PASSWORD) {
            return error(StatusCode::UNAUTHORIZED, "No active account found with the given credentials");
        }
        let access = self.issue("access");
        let refresh = self.issue("refresh");
        match self.settings.shape {
            TokenShape::SimpleJwt => Json(json!({ "access": access, "refresh": refresh })).into_response(),
            TokenShape::OAuth => self.oauth(&access, Some(&refresh)),
        }
    }

    /// `POST /1.0/auth/token/refresh`: a new access token (the refresh token stays, as
    /// SimpleJWT does without rotation).
    pub(crate) fn refresh(&self, body: Option<&Value>) -> Response {
        let field = match self.settings.shape {
            TokenShape::SimpleJwt => "refresh",
            TokenShape::OAuth => "refresh_token",
        };
        let given = body.and_then(|b| b.get(field)).and_then(Value::as_str).unwrap_or_default();
        if !live(&self.refresh, given) {
            return error(StatusCode::UNAUTHORIZED, "Token is invalid or expired");
        }
        let access = self.issue("access");
        match self.settings.shape {
            TokenShape::SimpleJwt => Json(json!({ "access": access })).into_response(),
            TokenShape::OAuth => self.oauth(&access, None),
        }
    }

    fn oauth(&self, access: &str, refresh: Option<&str>) -> Response {
        let mut answer = json!({ "access_token": access, "token_type": "Bearer", "expires_in": self.settings.access_lifetime.as_secs() });
        if let Some(refresh) = refresh {
            answer["refresh_token"] = json!(refresh);
        }
        Json(answer).into_response()
    }

    /// A new JWT of `kind` (`access` or `refresh`), remembered until it expires.
    fn issue(&self, kind: &str) -> String {
        let (lifetime, store) = match kind {
            "access" => (self.settings.access_lifetime, &self.access),
            _ => (self.settings.refresh_lifetime, &self.refresh),
        };
        let number = self.issued.fetch_add(u64::from(kind == "access"), Ordering::Relaxed);
        let now = SystemTime::now();
        let expires = now + lifetime;
        let seconds = |at: SystemTime| at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = json!({
            "token_type": kind, "exp": seconds(expires), "iat": seconds(now),
            "jti": format!("{kind}-{number}-{}", uuid_like(now)), "user_id": 1,
        });
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = engine.encode(claims.to_string());
        let signature = engine.encode(crate::server::signature(&payload, number));
        let token = format!("{ISSUED_TOKEN_PREFIX}{payload}.{signature}");
        let mut store = lock(store);
        store.retain(|_, at| *at > now);
        store.insert(token.clone(), expires);
        token
    }
}

/// Whether `token` is in `store` and has not expired.
fn live(store: &Mutex<HashMap<String, SystemTime>>, token: &str) -> bool {
    lock(store).get(token).is_some_and(|at| *at > SystemTime::now())
}

/// Nanoseconds of `now`, so that two tokens issued in the same second differ.
fn uuid_like(now: SystemTime) -> u128 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
