//! The three systems under test: their endpoints, request bodies and token answers.

use bytes::Bytes;
use clap::ValueEnum;
use hyper::header::HeaderValue;
use serde_json::{json, Value};

/// A server the benchmark can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// baton (either backend).
    Baton,
    /// The Express + jsonwebtoken tutorial server (no refresh rotation).
    Express,
    /// Django REST framework + SimpleJWT (rotation with a blacklist).
    Drf,
}

/// A client's current tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// `Bearer <access token>`, ready for the `Authorization` header.
    pub bearer: HeaderValue,
    /// The access token itself (a DPoP proof names its hash).
    pub access: String,
    /// The refresh token to present next.
    pub refresh: String,
}

impl System {
    /// Its name in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Baton => "baton",
            Self::Express => "express",
            Self::Drf => "drf",
        }
    }

    /// Whether every refresh hands out a new refresh token that must be used next.
    pub fn rotates(self) -> bool {
        !matches!(self, Self::Express)
    }

    /// Path of the login endpoint.
    pub fn login_path(self) -> &'static str {
        match self {
            Self::Baton => "/auth/login",
            Self::Express => "/login",
            Self::Drf => "/api/token/",
        }
    }

    /// Path of the refresh endpoint.
    pub fn refresh_path(self) -> &'static str {
        match self {
            Self::Baton => "/auth/refresh",
            Self::Express => "/token",
            Self::Drf => "/api/token/refresh/",
        }
    }

    /// Path of the protected resource.
    pub fn protected_path(self) -> &'static str {
        match self {
            Self::Baton => "/api/me",
            Self::Express => "/posts",
            Self::Drf => "/api/me/",
        }
    }

    /// The login request body (the same for all three).
    pub fn login_body(self, user: &str, password: &str) -> Bytes {
        Bytes::from(json!({"username": user, "password": password}).to_string())
    }

    /// The refresh request body.
    pub fn refresh_body(self, refresh: &str) -> Bytes {
        let v = match self {
            Self::Baton => json!({"refresh_token": refresh}),
            Self::Express => json!({"token": refresh}),
            Self::Drf => json!({"refresh": refresh}),
        };
        Bytes::from(v.to_string())
    }

    fn field(self, v: &Value, which: &str) -> Result<String, String> {
        v.get(which)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{} answer without {which:?}", self.name()))
    }

    fn access_field(self) -> &'static str {
        match self {
            Self::Baton => "access_token",
            Self::Express => "accessToken",
            Self::Drf => "access",
        }
    }

    fn refresh_field(self) -> &'static str {
        match self {
            Self::Baton => "refresh_token",
            Self::Express => "refreshToken",
            Self::Drf => "refresh",
        }
    }

    /// Reads the tokens of a successful login.
    pub fn parse_login(self, body: &[u8]) -> Result<Tokens, String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("login answer: {e}"))?;
        let access = self.field(&v, self.access_field())?;
        Ok(Tokens {
            bearer: bearer(&access)?,
            access,
            refresh: self.field(&v, self.refresh_field())?,
        })
    }

    /// Applies a successful refresh to `tokens`: a new access token always; for rotating
    /// systems the returned refresh token replaces the presented one.
    pub fn apply_refresh(self, body: &[u8], tokens: &mut Tokens) -> Result<(), String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("refresh answer: {e}"))?;
        let access = self.field(&v, self.access_field())?;
        if self.rotates() {
            tokens.refresh = self.field(&v, self.refresh_field())?;
        }
        tokens.bearer = bearer(&access)?;
        tokens.access = access;
        Ok(())
    }
}

fn bearer(access: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(&format!("Bearer {access}"))
        .map_err(|e| format!("access token not usable in a header: {e}"))
}
