//! Second factors: TOTP enrolment and removal, recovery codes, and the second step of a login.

use super::{Baton, Issued, RequestOrigin};
use crate::error::AuthError;
use crate::ids::SessionId;
use crate::ids::UserId;
use crate::mfa::{
    totp_aad, Amr, AuthMethod, RecoveryCode, TotpSecret, MFA_DAILY_FAILURES, MFA_FAILURE_WINDOW,
    MFA_TOKEN_MAX_FAILURES, MFA_TOKEN_TTL, TOTP_SETUP_TTL,
};
use crate::refresh::{RefreshToken, TokenHash};
use crate::store::{MfaChallenge, UserRecord};
use baton_proto::MfaMethod;

/// A TOTP setup waiting for its confirmation: what the user enrols in an app.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// The secret (shown once, as base32 and in the URI).
    pub secret: TotpSecret,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
}

/// A user's second factors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaState {
    /// A confirmed TOTP factor.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// Passkeys.
    pub passkeys: u32,
}

impl MfaState {
    /// Whether a login needs a second factor.
    pub fn required(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// The factors a login may finish with.
    pub fn methods(&self) -> Vec<MfaMethod> {
        let mut methods = Vec::new();
        if self.totp {
            methods.push(MfaMethod::Totp);
        }
        if self.passkeys > 0 {
            methods.push(MfaMethod::Webauthn);
        }
        if self.required() && self.recovery_codes_left > 0 {
            methods.push(MfaMethod::RecoveryCode);
        }
        methods
    }
}

/// The second factor a request presents.
#[derive(Debug, Clone, Copy)]
pub enum Factor<'a> {
    /// A TOTP code.
    Totp(&'a str),
    /// A recovery code.
    RecoveryCode(&'a str),
    /// A passkey's answer to a ceremony started for this login.
    Passkey {
        /// The ceremony token.
        ceremony: &'a str,
        /// The browser's `PublicKeyCredential`, as JSON.
        credential: &'a serde_json::Value,
    },
}

impl Factor<'_> {
    /// Its name in audit events.
    pub fn name(self) -> &'static str {
        match self {
            Self::Totp(_) => "totp",
            Self::RecoveryCode(_) => "recovery_code",
            Self::Passkey { .. } => "webauthn",
        }
    }
}

impl Baton {
    /// The user's second factors.
    pub async fn mfa_state(&self, user: &UserId) -> Result<MfaState, AuthError> {
        let summary = self.store.mfa_summary(user).await?;
        Ok(MfaState {
            totp: summary.totp,
            recovery_codes_left: summary.recovery_codes_left,
            passkeys: summary.passkeys,
        })
    }

    /// Starts a TOTP setup for `user` (replacing one not yet confirmed): a new secret, sealed
    /// and stored pending. [`AuthError::MfaAlreadyEnabled`] when a confirmed one exists.
    pub async fn totp_setup(&self, user: &UserRecord) -> Result<TotpEnrolment, AuthError> {
        let secret = TotpSecret::generate().map_err(AuthError::internal)?;
        let otpauth_uri = secret
            .otpauth_uri(&self.policy.totp_issuer, &user.username)
            .map_err(AuthError::internal)?;
        let sealed = self
            .vault
            .seal_message(secret.expose(), &totp_aad(&user.id))
            .map_err(AuthError::internal)?;
        if !self
            .store
            .put_pending_totp(&user.id, &sealed, self.now())
            .await?
        {
            return match self.store.user(&user.id).await? {
                Some(_) => Err(AuthError::MfaAlreadyEnabled),
                None => Err(AuthError::UserNotFound),
            };
        }
        Ok(TotpEnrolment {
            secret,
            otpauth_uri,
        })
    }

    /// Confirms the pending TOTP setup (at most [`TOTP_SETUP_TTL`] old) with a current code
    /// from the app: the factor is on from now, the ten recovery codes returned (shown once)
    /// replace any earlier ones, and the user's sessions opened without a second factor end,
    /// but `keep` (the caller's).
    pub async fn totp_confirm(
        &self,
        user: &UserId,
        keep: &SessionId,
        code: &str,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        let record = self.store.totp(user).await?;
        let now = self.now();
        let Some(record) =
            record.filter(|t| t.confirmed_at.is_none() && t.created_at + TOTP_SETUP_TTL > now)
        else {
            return Err(AuthError::NoPendingTotp);
        };
        let secret = self.open_totp(user, &record.sealed_secret)?;
        let step = secret
            .check(code, self.unix_secs())
            .ok_or(AuthError::InvalidCode)?;
        let codes = RecoveryCode::generate_set().map_err(AuthError::internal)?;
        let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
        let step = i64::try_from(step).map_err(AuthError::internal)?;
        if self
            .store
            .confirm_totp(user, step, &hashes, keep, now)
            .await?
        {
            Ok(codes)
        } else {
            Err(AuthError::NoPendingTotp)
        }
    }

    /// Removes the user's TOTP factor (and their recovery codes, when no second factor is
    /// left); whether a confirmed one was there (a pending setup goes too, but is none).
    pub async fn totp_delete(&self, user: &UserId) -> Result<bool, AuthError> {
        let confirmed = self
            .store
            .totp(user)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some());
        let deleted = self.store.delete_totp(user).await?;
        Ok(confirmed && deleted)
    }

    /// New recovery codes for a user with a second factor, replacing the old ones.
    pub async fn regenerate_recovery_codes(
        &self,
        user: &UserId,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        let codes = RecoveryCode::generate_set().map_err(AuthError::internal)?;
        let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
        self.store
            .replace_recovery_codes(user, &hashes, self.now())
            .await?;
        Ok(codes)
    }

    /// Removes every second factor of a user (an operator's reset); whether there was any.
    pub async fn reset_mfa(&self, user: &UserId) -> Result<bool, AuthError> {
        Ok(self.store.reset_mfa(user).await?)
    }

    /// Checks `factor` for `user` and uses it up: a TOTP code's step is accepted once (and
    /// only after every step accepted before), a recovery code once, a passkey's ceremony
    /// once. Wrong, malformed and already used codes, and refused passkeys, are
    /// [`AuthError::InvalidCode`]. The `amr` values the factor proved.
    pub async fn check_factor(
        &self,
        user: &UserId,
        factor: Factor<'_>,
    ) -> Result<Vec<AuthMethod>, AuthError> {
        self.check_factor_of(user, factor, None).await
    }

    /// [`Baton::check_factor`], for the login waiting behind the `mfa_token` hashing to
    /// `login` when there is one: a passkey's ceremony must have been started for that login
    /// (without one, a passkey proves nothing here).
    async fn check_factor_of(
        &self,
        user: &UserId,
        factor: Factor<'_>,
        login: Option<&TokenHash>,
    ) -> Result<Vec<AuthMethod>, AuthError> {
        let otp = || vec![AuthMethod::Otp];
        match factor {
            Factor::Passkey {
                ceremony,
                credential,
            } => match login {
                Some(login) => self.check_passkey(user, login, ceremony, credential).await,
                None => Err(AuthError::InvalidCode),
            },
            Factor::Totp(code) => {
                let record = self.store.totp(user).await?;
                let Some(record) = record.filter(|t| t.confirmed_at.is_some()) else {
                    return Err(AuthError::InvalidCode);
                };
                let secret = self.open_totp(user, &record.sealed_secret)?;
                let step = secret
                    .check(code, self.unix_secs())
                    .ok_or(AuthError::InvalidCode)?;
                let step = i64::try_from(step).map_err(AuthError::internal)?;
                if self.store.use_totp_step(user, step).await? {
                    Ok(otp())
                } else {
                    Err(AuthError::InvalidCode)
                }
            }
            Factor::RecoveryCode(typed) => {
                let code = RecoveryCode::presented(typed).ok_or(AuthError::InvalidCode)?;
                if self
                    .store
                    .use_recovery_code(user, &code.hash(), self.now())
                    .await?
                {
                    Ok(otp())
                } else {
                    Err(AuthError::InvalidCode)
                }
            }
        }
    }

    /// The first step of a login for a user with a second factor: a single-use token for five
    /// minutes, bound to the client, the delivery asked and the password hash just checked.
    pub async fn begin_mfa(
        &self,
        user: &UserRecord,
        client_id: &str,
        delivery: &str,
    ) -> Result<RefreshToken, AuthError> {
        let token = RefreshToken::generate().map_err(AuthError::internal)?;
        let now = self.now();
        self.store
            .insert_mfa_challenge(&MfaChallenge {
                hash: token.hash(),
                user_id: user.id.clone(),
                client_id: client_id.to_owned(),
                delivery: delivery.to_owned(),
                password_hash: user.password_hash.clone(),
                created_at: now,
                expires_at: now + MFA_TOKEN_TTL,
                failures: 0,
            })
            .await?;
        Ok(token)
    }

    /// The live login waiting behind `mfa_token`, with its user as stored now;
    /// [`AuthError::InvalidMfaToken`] when it is unknown, used, expired or spent by wrong
    /// codes, or its user is gone.
    pub async fn mfa_challenge(
        &self,
        mfa_token: &str,
    ) -> Result<(MfaChallenge, UserRecord), AuthError> {
        let hash = RefreshToken::presented(mfa_token).hash();
        let challenge = self
            .store
            .mfa_challenge(&hash, self.now(), MFA_TOKEN_MAX_FAILURES)
            .await?
            .ok_or(AuthError::InvalidMfaToken)?;
        let user = self
            .store
            .user(&challenge.user_id)
            .await?
            .ok_or(AuthError::InvalidMfaToken)?;
        Ok((challenge, user))
    }

    /// The second step of a login: checks `factor` (a wrong one counts against the token),
    /// uses the token up and opens the session, with `amr` saying both factors. A session
    /// opens only while the password checked in the first step is still the user's.
    pub async fn finish_mfa(
        &self,
        challenge: &MfaChallenge,
        user: &UserRecord,
        factor: Factor<'_>,
        origin: RequestOrigin,
    ) -> Result<Issued, AuthError> {
        if let Factor::Totp(_) = factor {
            let since = self.now() - MFA_FAILURE_WINDOW;
            if self.store.mfa_failures_since(&user.id, since).await? >= MFA_DAILY_FAILURES {
                return Err(AuthError::TooManyWrongCodes);
            }
        }
        let proved = match self
            .check_factor_of(&user.id, factor, Some(&challenge.hash))
            .await
        {
            Ok(proved) => proved,
            Err(e) => {
                if matches!(e, AuthError::InvalidCode) {
                    self.store
                        .mfa_challenge_failed(&challenge.hash, &user.id, self.now())
                        .await?;
                }
                return Err(e);
            }
        };
        if !self
            .store
            .use_mfa_challenge(&challenge.hash, self.now())
            .await?
        {
            return Err(AuthError::InvalidMfaToken);
        }
        let checked = UserRecord {
            password_hash: challenge.password_hash.clone(),
            ..user.clone()
        };
        let mut methods = vec![AuthMethod::Pwd];
        methods.extend(proved);
        let amr = Amr::of(&methods);
        self.open_session(&checked, &challenge.client_id, origin, &amr)
            .await
    }

    /// Deletes the waiting logins whose token has expired, and the wrong codes older than the
    /// window they count in; how many rows.
    pub async fn purge_mfa_challenges(&self) -> Result<u64, AuthError> {
        let now = self.deletion_now();
        Ok(self
            .store
            .purge_mfa_challenges(now, now - MFA_FAILURE_WINDOW)
            .await?)
    }

    fn open_totp(&self, user: &UserId, sealed: &[u8]) -> Result<TotpSecret, AuthError> {
        self.vault
            .open_message(sealed, &totp_aad(user))
            .map(TotpSecret::from_bytes)
            .map_err(AuthError::internal)
    }

    /// The service clock's time in whole seconds since the epoch (0 before it).
    fn unix_secs(&self) -> u64 {
        u64::try_from(self.now().unix_timestamp()).unwrap_or(0)
    }
}
