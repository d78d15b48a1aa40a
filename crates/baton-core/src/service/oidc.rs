//! OpenID Connect's authorization code flow: browser sessions (single sign-on), codes, their
//! exchange for tokens and ID tokens, and userinfo.

use super::sessions::Opening;
use super::{Baton, Issued, RequestOrigin};
use crate::access::{self, AccessClaims};
use crate::client::{ClientRecord, Grant};
use crate::error::AuthError;
use crate::ids::SessionId;
use crate::ids::UserId;
use crate::oidc::{
    check_request, pkce_matches, AuthorizeError, AuthorizeParams, AuthorizeRequest, IdTokenClaims,
    CODE_TTL, PENDING_REQUEST_TTL, PUSHED_REQUEST_TTL, REQUEST_URI_PREFIX,
};
use crate::refresh::RefreshToken;
use crate::store::{AuthorizationCode, ClaimedLogout, CodeUse, Consent, SessionRecord};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// Associated data of a sealed pending authorization request.
const PENDING_AAD: &[u8] = b"baton authorization request v1";
/// Longest sealed pending request accepted (the longest request [`crate::oidc::check_request`]
/// lets through seals to about 9 KiB).
const MAX_PENDING_LEN: usize = 16 * 1024;

/// What a sign-in page carries between its forms: the checked request, when it arrived, and for
/// the consent page the browser session it was shown to.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingRequest {
    /// The checked request.
    pub request: AuthorizeRequest,
    /// When the authorization request arrived: `max_age` and `prompt=login` are judged
    /// against it, however long the pages take.
    pub received_at: i64,
    /// The browser session the consent page was shown to (the consent must come from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// When the pages stop accepting it (ms since the epoch).
    expires: i64,
}

impl PendingRequest {
    /// A request that arrived at `received_at` (seconds since the epoch).
    pub fn new(request: AuthorizeRequest, received_at: i64) -> Self {
        Self {
            request,
            received_at,
            browser: None,
            expires: 0,
        }
    }

    /// This request bound to the browser session `browser` (the consent page's), or to none.
    pub fn bound_to(&self, browser: Option<&SessionId>) -> Self {
        Self {
            browser: browser.map(ToString::to_string),
            ..self.clone()
        }
    }

    /// This request once the user signed in on the page for it: `prompt=login` is answered.
    pub fn signed_in(&self) -> Self {
        let mut next = self.clone();
        next.request.prompt.login = false;
        next
    }

    /// Whether `browser` may answer the request without a new sign-in: it signed in within
    /// `max_age` of the request's arrival, and `prompt=login` was not asked (or was answered by
    /// a sign-in on the page, [`Self::signed_in`]).
    pub fn satisfied_by(&self, browser: &SessionRecord) -> bool {
        let auth_time = browser.auth_time.unix_timestamp();
        let fresh_enough = self.request.max_age.is_none_or(|max| {
            auth_time
                >= self
                    .received_at
                    .saturating_sub(i64::try_from(max).unwrap_or(i64::MAX))
        });
        fresh_enough && !self.request.prompt.login
    }
}

/// Why a code exchange was refused: each is `invalid_grant` at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Unknown, expired, or issued to another client.
    #[error("Invalid or expired authorization code")]
    Invalid,
    /// Presented again: the session its first use opened is revoked.
    #[error("Authorization code was already used")]
    Reused,
    /// `redirect_uri` differs from the authorization request's.
    #[error("redirect_uri does not match the authorization request")]
    RedirectUri,
    /// `code_verifier` missing or not the challenge's.
    #[error("PKCE verification failed")]
    Pkce,
    /// `resource` (RFC 8707) not the authorization request's, or no longer the client's.
    #[error("resource is not one this code was issued for")]
    Target,
    /// The code is bound to a DPoP key (RFC 9449 §10) the token request did not prove.
    #[error("The authorization code is bound to a DPoP key this request did not prove")]
    DpopKey,
    /// The browser session it came from ended meanwhile, or the user is gone.
    #[error("The sign-in this code came from has ended")]
    Ended,
}

/// The tokens of a code exchange.
#[derive(Debug)]
pub struct CodeIssued {
    /// The access token and the session's refresh token.
    pub issued: Issued,
    /// Whether the refresh token is handed out (a third-party client gets one only with
    /// `offline_access`; one without the refresh grant never).
    pub refresh: bool,
    /// The ID token, for an `openid` request.
    pub id_token: Option<String>,
}

impl Baton {
    /// Seals a pending authorization request for the sign-in page's forms (encrypted and
    /// authenticated under the key-encryption key; good for [`PENDING_REQUEST_TTL`]).
    pub fn seal_request(&self, pending: &PendingRequest) -> Result<String, AuthError> {
        let mut pending = pending.clone();
        pending.expires = crate::clock::to_millis(self.now() + PENDING_REQUEST_TTL);
        let plain = serde_json::to_vec(&pending).map_err(AuthError::internal)?;
        let sealed = self
            .vault
            .seal_message(&plain, PENDING_AAD)
            .map_err(AuthError::internal)?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Opens what [`Self::seal_request`] sealed; `None` when it was tampered with, is not
    /// baton's, or has expired.
    pub fn open_request(&self, sealed: &str) -> Option<PendingRequest> {
        if sealed.len() > MAX_PENDING_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let plain = self.vault.open_message(&bytes, PENDING_AAD).ok()?;
        let pending: PendingRequest = serde_json::from_slice(&plain).ok()?;
        (pending.expires > crate::clock::to_millis(self.now())).then_some(pending)
    }

    /// Ends the browser session of a cookie (signing out of single sign-on): its session is
    /// revoked, and with it the sessions applications opened from it, but those granted
    /// `offline_access`. Unknown cookies are ignored; the ended session, if any.
    pub async fn end_browser_session(
        &self,
        cookie: &str,
    ) -> Result<Option<SessionRecord>, AuthError> {
        let hash = RefreshToken::presented(cookie).hash();
        let Some(session) = self.store.browser_session(&hash).await? else {
            return Ok(None);
        };
        // The store revokes the sessions opened from it in the same transaction.
        self.store
            .revoke_session(&session.user_id, &session.id, self.now())
            .await?;
        tracing::info!(session_id = %session.id, "browser session ended");
        Ok(Some(session))
    }

    /// A new sign-in on the page replaces the browser session of `previous` (a cookie): for the
    /// same user the applications' sessions move to the new one and only the old browser
    /// session ends; for another user the old one ends with its applications' sessions.
    pub async fn replace_browser_session(
        &self,
        previous: &str,
        next: &SessionId,
        user: &UserId,
    ) -> Result<(), AuthError> {
        let hash = RefreshToken::presented(previous).hash();
        let Some(old) = self.store.browser_session(&hash).await? else {
            return Ok(());
        };
        if old.user_id == *user && old.id != *next {
            self.store.reparent_sessions(&old.id, next).await?;
        }
        self.store
            .revoke_session(&old.user_id, &old.id, self.now())
            .await?;
        Ok(())
    }

    /// The claims of an ID token baton signed, for RP-initiated logout's `id_token_hint`
    /// (OpenID Connect RP-Initiated Logout §2): signature, `iss` and `typ` checked; an expired
    /// one still counts (it names the sign-in, nothing more). `None` when it is not one.
    pub fn id_token_hint(&self, token: &str) -> Option<IdTokenClaims> {
        if token.len() > 16 * 1024 {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some("JWT") {
            return None;
        }
        let ring = self.ring();
        let (alg, key) = ring.key_set.get(header.kid.as_deref()?)?;
        if header.alg != *alg {
            return None;
        }
        let mut validation = jsonwebtoken::Validation::new(*alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[self.policy.issuer.as_str()]);
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<IdTokenClaims>(token, key, &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// The live session behind a browser session cookie; `None` when unknown or ended.
    pub async fn browser_session(&self, cookie: &str) -> Result<Option<SessionRecord>, AuthError> {
        let hash = RefreshToken::presented(cookie).hash();
        let Some(session) = self.store.browser_session(&hash).await? else {
            return Ok(None);
        };
        let live = session.revoked_at.is_none() && self.now() < session.expires_at();
        Ok(live.then_some(session))
    }

    /// Starts a browser session on the session just opened on the sign-in page; the cookie's
    /// value (only its hash is stored).
    pub async fn start_browser_session(
        &self,
        session: &SessionId,
    ) -> Result<RefreshToken, AuthError> {
        let cookie = RefreshToken::generate().map_err(AuthError::internal)?;
        self.store
            .insert_browser_session(&cookie.hash(), session, self.now())
            .await?;
        Ok(cookie)
    }

    /// Issues an authorization code for a checked request from a live browser session.
    pub async fn issue_code(
        &self,
        request: &AuthorizeRequest,
        browser: &SessionRecord,
    ) -> Result<RefreshToken, AuthError> {
        let code = RefreshToken::generate().map_err(AuthError::internal)?;
        let now = self.now();
        self.store
            .insert_authorization_code(&AuthorizationCode {
                hash: code.hash(),
                client_id: request.client_id.clone(),
                user_id: browser.user_id.clone(),
                browser_session: browser.id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                scope: request.scope(),
                nonce: request.nonce.clone(),
                resource: request.resource.clone(),
                dpop_jkt: request.dpop_jkt.clone(),
                created_at: now,
                expires_at: now + CODE_TTL,
            })
            .await?;
        Ok(code)
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.6: exchanges a code for tokens. The code is spent by
    /// the first attempt whatever its outcome; a second presentation revokes the session the
    /// first opened (RFC 6749 §4.1.2).
    pub async fn exchange_code(
        &self,
        client: &ClientRecord,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        resource: Option<&str>,
        origin: RequestOrigin,
    ) -> Result<Result<CodeIssued, CodeError>, AuthError> {
        let hash = RefreshToken::presented(code).hash();
        let session_id = SessionId::generate();
        let now = self.now();
        let code = match self
            .store
            .use_authorization_code(&hash, &session_id, now)
            .await?
        {
            CodeUse::First(code) => *code,
            CodeUse::Reused {
                user_id,
                session_id,
            } => {
                if let Some(session) = session_id {
                    self.store.revoke_session(&user_id, &session, now).await?;
                    tracing::warn!(session_id = %session, user_id = %user_id,
                        "authorization code reused: the session it opened is revoked");
                }
                return Ok(Err(CodeError::Reused));
            }
            CodeUse::Unknown => return Ok(Err(CodeError::Invalid)),
        };
        if code.client_id != client.id {
            return Ok(Err(CodeError::Invalid));
        }
        if redirect_uri != Some(code.redirect_uri.as_str()) {
            return Ok(Err(CodeError::RedirectUri));
        }
        if !verifier.is_some_and(|v| pkce_matches(&code.code_challenge, v)) {
            return Ok(Err(CodeError::Pkce));
        }
        // RFC 9449 §10: a code bound to a key is exchanged only with a proof by that key.
        if code
            .dpop_jkt
            .as_deref()
            .is_some_and(|bound| origin.dpop_jkt.as_deref() != Some(bound))
        {
            return Ok(Err(CodeError::DpopKey));
        }
        // RFC 8707 §2.2: the token request may name the resource again, or name one when the
        // authorization request did not; either way one the client may still ask for.
        let audience = match (resource, code.resource.as_deref()) {
            (Some(asked), Some(granted)) if asked != granted => return Ok(Err(CodeError::Target)),
            (asked, granted) => asked.or(granted).map(str::to_owned),
        };
        if audience
            .as_deref()
            .is_some_and(|r| !client.settings.allows_resource(r))
        {
            return Ok(Err(CodeError::Target));
        }
        let browser = self.store.session(&code.browser_session).await?;
        let Some(browser) = browser.filter(|b| b.revoked_at.is_none() && now < b.expires_at())
        else {
            return Ok(Err(CodeError::Ended));
        };
        let Some(user) = self.store.user(&code.user_id).await? else {
            return Ok(Err(CodeError::Ended));
        };
        let scopes: Vec<&str> = code.scope.split(' ').filter(|s| !s.is_empty()).collect();
        let issued = match self
            .open(Opening {
                id: session_id.clone(),
                user: &user,
                client_id: &client.id,
                origin,
                amr: &browser.amr,
                scope: Some(code.scope.clone()),
                auth_time: Some(browser.auth_time),
                parent: Some(browser.id.clone()),
                audience,
            })
            .await
        {
            Ok(issued) => issued,
            // Disabled or deleted meanwhile.
            Err(AuthError::InvalidCredentials) => return Ok(Err(CodeError::Ended)),
            Err(e) => return Err(e),
        };
        // A reuse that raced this exchange found no session to revoke yet: look again now that
        // it exists.
        if self.store.authorization_code_reused(&hash).await? {
            self.store
                .revoke_session(&user.id, &session_id, now)
                .await?;
            return Ok(Err(CodeError::Reused));
        }
        let refresh = client.settings.allows(Grant::RefreshToken)
            && (client.settings.first_party || scopes.contains(&"offline_access"));
        let id_token = if scopes.contains(&"openid") {
            let access_ttl = self.lifetimes_of(&client.id).await?.access;
            let iat = now.unix_timestamp();
            let claims = IdTokenClaims {
                iss: self.policy.issuer.clone(),
                sub: user.id.to_string(),
                aud: client.id.clone(),
                exp: iat + access_ttl.whole_seconds(),
                iat,
                auth_time: browser.auth_time.unix_timestamp(),
                nonce: code.nonce.clone(),
                amr: browser.amr.values().map(str::to_owned).collect(),
                azp: client.id.clone(),
                sid: browser.id.to_string(),
                preferred_username: scopes.contains(&"profile").then(|| user.username.clone()),
                email: scopes
                    .contains(&"email")
                    .then(|| user.email.clone())
                    .flatten(),
                email_verified: (scopes.contains(&"email") && user.email.is_some())
                    .then_some(user.email_verified_at.is_some()),
                roles: scopes.contains(&"roles").then(|| user.roles.clone()),
                extra: crate::oidc::mapped_claims(&client.settings, &user, &scopes),
            };
            Some(access::mint_id_token(&self.ring(), &claims).map_err(AuthError::internal)?)
        } else {
            None
        };
        Ok(Ok(CodeIssued {
            issued,
            refresh,
            id_token,
        }))
    }

    /// OpenID Connect Core §5.3: the claims the access token's scopes release about its user,
    /// read now; `None` when the token was not granted `openid`, or its session or user is
    /// gone.
    pub async fn userinfo(&self, claims: &AccessClaims) -> Result<Option<Value>, AuthError> {
        if !claims.has_scope("openid") {
            return Ok(None);
        }
        let session = self
            .store
            .session(&SessionId::from_trusted(claims.sid.clone()))
            .await?;
        let now = self.now();
        if !session.is_some_and(|s| s.revoked_at.is_none() && now < s.absolute_expires_at) {
            return Ok(None);
        }
        let Some(user) = self
            .store
            .user(&crate::ids::UserId::from_trusted(claims.sub.clone()))
            .await?
        else {
            return Ok(None);
        };
        let mut out = Map::new();
        out.insert("sub".into(), json!(user.id.to_string()));
        if claims.has_scope("profile") {
            out.insert("preferred_username".into(), json!(user.username));
        }
        if claims.has_scope("email") {
            if let Some(email) = &user.email {
                out.insert("email".into(), json!(email));
                out.insert(
                    "email_verified".into(),
                    json!(user.email_verified_at.is_some()),
                );
            }
        }
        if claims.has_scope("roles") {
            out.insert("roles".into(), json!(user.roles));
        }
        if let Some(client) = self.store.client(&claims.client_id).await? {
            let granted: Vec<&str> = claims
                .scope
                .as_deref()
                .unwrap_or_default()
                .split(' ')
                .collect();
            out.extend(crate::oidc::mapped_claims(
                &client.settings,
                &user,
                &granted,
            ));
        }
        Ok(Some(Value::Object(out)))
    }

    /// RFC 9126: checks and stores a client's pushed authorization request; its `request_uri`
    /// and lifetime in seconds, or why it was refused (the refusals of
    /// [`crate::oidc::check_request`]).
    pub async fn push_request(
        &self,
        client: &ClientRecord,
        params: &AuthorizeParams,
    ) -> Result<Result<(String, u64), AuthorizeError>, AuthError> {
        if let Err(e) = check_request(params, Some(client), true) {
            return Ok(Err(e));
        }
        let handle = RefreshToken::generate().map_err(AuthError::internal)?;
        let json = serde_json::to_string(params).map_err(AuthError::internal)?;
        let now = self.now();
        self.store
            .insert_pushed_request(
                &handle.hash(),
                &client.id,
                &json,
                now,
                now + PUSHED_REQUEST_TTL,
            )
            .await?;
        let ttl = u64::try_from(PUSHED_REQUEST_TTL.whole_seconds()).unwrap_or(0);
        Ok(Ok((
            format!("{REQUEST_URI_PREFIX}{}", handle.expose()),
            ttl,
        )))
    }

    /// The parameters of the pushed request `request_uri` for `client_id`, used up; `None` when
    /// it is unknown, used, expired or another client's.
    pub async fn pushed_request(
        &self,
        request_uri: &str,
        client_id: &str,
    ) -> Result<Option<AuthorizeParams>, AuthError> {
        let Some(handle) = request_uri
            .strip_prefix(REQUEST_URI_PREFIX)
            .filter(|h| !h.is_empty() && h.len() <= 128)
        else {
            return Ok(None);
        };
        let hash = RefreshToken::presented(handle).hash();
        let json = self
            .store
            .use_pushed_request(&hash, client_id, self.now())
            .await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Deletes pushed requests that expired more than a minute ago; how many.
    pub async fn purge_pushed_requests(&self) -> Result<u64, AuthError> {
        let before = self.deletion_now() - time::Duration::minutes(1);
        Ok(self.store.purge_pushed_requests(before).await?)
    }

    /// Whether `user` has already allowed `client` every scope of `scopes`.
    pub async fn consented(
        &self,
        user: &UserId,
        client: &str,
        scopes: &[String],
    ) -> Result<bool, AuthError> {
        let Some(consent) = self.store.consent(user, client).await? else {
            return Ok(false);
        };
        let granted: Vec<&str> = consent.scope.split(' ').collect();
        Ok(scopes.iter().all(|s| granted.contains(&s.as_str())))
    }

    /// Remembers that `user` allowed `client` `scopes`, besides what they allowed it before.
    pub async fn remember_consent(
        &self,
        user: &UserId,
        client: &str,
        scopes: &[String],
    ) -> Result<(), AuthError> {
        let mut all: Vec<String> = match self.store.consent(user, client).await? {
            Some(consent) => consent.scope.split(' ').map(str::to_owned).collect(),
            None => Vec::new(),
        };
        all.extend(scopes.iter().cloned());
        all.retain(|s| !s.is_empty());
        all.sort();
        all.dedup();
        Ok(self
            .store
            .put_consent(user, client, &all.join(" "), self.now())
            .await?)
    }

    /// The applications `user` allowed ("connected apps"), each with its client as it is now
    /// (`None` when the client was deleted since).
    pub async fn connected_apps(
        &self,
        user: &UserId,
    ) -> Result<Vec<(Consent, Option<ClientRecord>)>, AuthError> {
        let mut apps = Vec::new();
        for consent in self.store.consents(user).await? {
            let client = self.store.client(&consent.client_id).await?;
            apps.push((consent, client));
        }
        Ok(apps)
    }

    /// Disconnects an application: forgets what `user` allowed it and revokes their sessions
    /// with it. `false` when they had not allowed it anything.
    pub async fn disconnect_app(&self, user: &UserId, client: &str) -> Result<bool, AuthError> {
        Ok(self.store.disconnect_app(user, client, self.now()).await?)
    }

    /// Deletes the authorization codes that expired more than a grace period ago (kept that
    /// long so a late second use is still recognised); how many.
    pub async fn purge_authorization_codes(&self) -> Result<u64, AuthError> {
        let before = self.deletion_now() - time::Duration::minutes(10);
        Ok(self.store.purge_authorization_codes(before).await?)
    }

    /// Claims up to `limit` due back-channel logout notices for `lease`, under a claim id of
    /// their own.
    pub async fn claim_logouts(
        &self,
        limit: u32,
        lease: time::Duration,
    ) -> Result<Vec<ClaimedLogout>, AuthError> {
        let now = self.now();
        let claim = uuid::Uuid::new_v4().to_string();
        Ok(self
            .store
            .claim_logouts(now, now + lease, &claim, limit)
            .await?)
    }

    /// Where a notice goes: its application's back-channel logout URI as the client's settings
    /// say now; `None` when the client was deleted or no longer has one.
    pub async fn logout_uri(&self, notice: &ClaimedLogout) -> Result<Option<String>, AuthError> {
        Ok(self
            .store
            .client(&notice.client_id)
            .await?
            .and_then(|client| client.settings.backchannel_logout_uri))
    }

    /// A logout token for a notice, signed now with the active key: `typ: logout+jwt`, valid
    /// for [`crate::oidc::LOGOUT_TOKEN_TTL`], a fresh `jti` at every attempt.
    pub fn logout_token(&self, notice: &ClaimedLogout) -> Result<String, AuthError> {
        let claims = crate::oidc::LogoutTokenClaims::new(
            &self.policy.issuer,
            notice.user_id.as_str(),
            &notice.client_id,
            &notice.sid,
            self.now().unix_timestamp(),
        );
        access::mint_logout_token(&self.ring(), &claims).map_err(AuthError::internal)
    }

    /// A claimed notice was delivered, or refused for good; `false` when its claim had lapsed.
    pub async fn logout_sent(&self, notice: &ClaimedLogout) -> Result<bool, AuthError> {
        Ok(self.store.logout_sent(notice).await?)
    }

    /// A claimed notice failed; it is tried again at `retry_at` (unless its claim had lapsed).
    pub async fn logout_failed(
        &self,
        notice: &ClaimedLogout,
        retry_at: time::OffsetDateTime,
        error: &str,
    ) -> Result<bool, AuthError> {
        Ok(self.store.logout_failed(notice, retry_at, error).await?)
    }

    /// Drops the logout notices still undelivered at their end.
    pub async fn purge_logouts(&self) -> Result<u64, AuthError> {
        Ok(self.store.purge_logouts(self.deletion_now()).await?)
    }
}
