//! E-mail addresses, password resets and address confirmations, and the outbox carrying their
//! links. A token is 256 random bits, stored only as its SHA-256 hash, and used once; the mail
//! carrying it is written in the same transaction, its variables sealed under the
//! key-encryption key, and sent later by the server's mail worker.

use super::users::chosen;
use super::Baton;
use crate::email::{Email, MailKind, MailVars};
use crate::error::AuthError;
use crate::ids::UserId;
use crate::refresh::RefreshToken;
use crate::store::{AccountToken, ClaimedMail, MailedToken, OutboxMail, StoreError, UserRecord};
use crate::username::Username;
use time::{Duration, OffsetDateTime};

/// Whose password reset is asked for: an address or a username, as typed.
#[derive(Debug, Clone)]
pub enum ResetRequest {
    /// By e-mail address.
    Email(String),
    /// By username.
    Username(String),
}

impl Baton {
    /// The link a mail carries for `token`.
    fn link(&self, purpose: MailKind, token: &RefreshToken) -> String {
        let fragment = match purpose {
            MailKind::PasswordReset => "reset",
            MailKind::VerifyEmail => "verify",
        };
        format!("{}/#{fragment}={}", self.policy.public_url, token.expose())
    }

    /// A new token of `purpose` for `user` and, when `to` is given, the mail carrying it to
    /// that address; the token itself too (for a link printed instead of mailed).
    fn mailed_token(
        &self,
        user: &UserRecord,
        purpose: MailKind,
        email_key: Option<String>,
        to: Option<&str>,
    ) -> Result<(MailedToken, RefreshToken), AuthError> {
        let ttl = match purpose {
            MailKind::PasswordReset => self.policy.reset_ttl,
            MailKind::VerifyEmail => self.policy.verify_ttl,
        };
        let now = self.now();
        let expires_at = now + ttl;
        let secret = RefreshToken::generate().map_err(AuthError::internal)?;
        let mail = match to.filter(|_| self.policy.mail_enabled) {
            Some(recipient) => {
                let mut vars = MailVars {
                    username: user.username.clone(),
                    link: self.link(purpose, &secret),
                    valid_minutes: 0,
                    valid_for: String::new(),
                };
                vars.valid_until(expires_at, now);
                let mut mail = OutboxMail {
                    id: uuid::Uuid::now_v7().to_string(),
                    kind: purpose,
                    user_id: user.id.clone(),
                    recipient: recipient.to_owned(),
                    sealed: Vec::new(),
                    created_at: now,
                    expires_at,
                };
                let plain = serde_json::to_vec(&vars).map_err(AuthError::internal)?;
                mail.sealed = self
                    .vault
                    .seal_message(&plain, &mail.sealed_with())
                    .map_err(AuthError::internal)?;
                Some(mail)
            }
            None => None,
        };
        let token = AccountToken {
            hash: secret.hash(),
            purpose,
            user_id: user.id.clone(),
            email_key,
            created_at: now,
            expires_at,
        };
        Ok((MailedToken { token, mail }, secret))
    }

    /// A confirmation token for `email` and its mail.
    pub(super) fn confirmation(
        &self,
        user: &UserRecord,
        email: &Email,
    ) -> Result<(MailedToken, RefreshToken), AuthError> {
        self.mailed_token(
            user,
            MailKind::VerifyEmail,
            Some(email.key().to_owned()),
            Some(email.as_str()),
        )
    }

    /// Sets or changes a user's address after checking their password (after the same work
    /// whatever went wrong): unconfirmed until the link mailed to it is followed. The same
    /// address, already confirmed, changes nothing. The user as they were.
    pub async fn set_email(
        &self,
        user: &UserId,
        current_password: String,
        email: &str,
    ) -> Result<UserRecord, AuthError> {
        let record = self.current_password(user, current_password).await?;
        let email = Email::parse(email)?;
        if record.email_key.as_deref() == Some(email.key())
            && record.email.as_deref() == Some(email.as_str())
            && record.email_verified_at.is_some()
        {
            return Ok(record);
        }
        if let Some(other) = self.store.user_by_email(email.key()).await? {
            if other.id != record.id {
                return Err(AuthError::EmailTaken);
            }
        }
        let (token, _) = self.confirmation(&record, &email)?;
        match self
            .store
            .set_email(&record.id, email.as_str(), email.key(), &token)
            .await
        {
            Ok(true) => Ok(record),
            // Disabled (or deleted) since the password was checked.
            Ok(false) => Err(AuthError::AccountDisabled),
            Err(StoreError::Conflict(_)) => Err(AuthError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Confirms an address with the token of its link.
    pub async fn verify_email(&self, token: &str) -> Result<UserId, AuthError> {
        let hash = RefreshToken::presented(token).hash();
        self.store
            .verify_email(&hash, self.now())
            .await?
            .ok_or(AuthError::InvalidToken)
    }

    /// The user a password reset is asked for, when a reset mail can go to them: a live,
    /// enabled user with a confirmed address.
    pub async fn reset_recipient(
        &self,
        request: &ResetRequest,
    ) -> Result<Option<UserRecord>, AuthError> {
        let user = match request {
            ResetRequest::Email(typed) => match Email::parse(typed) {
                Ok(email) => self.store.user_by_email(email.key()).await?,
                Err(_) => None,
            },
            ResetRequest::Username(typed) => match Username::parse(typed) {
                Ok(name) => self.store.user_by_key(name.key()).await?,
                Err(_) => None,
            },
        };
        Ok(user.filter(|u| {
            u.disabled_at.is_none() && u.email.is_some() && u.email_verified_at.is_some()
        }))
    }

    /// Queues a reset mail to `user`'s confirmed address; `false` when there is none (or the
    /// user went meanwhile).
    pub async fn send_reset(&self, user: &UserRecord) -> Result<bool, AuthError> {
        let (Some(email), Some(_), true) = (
            &user.email,
            user.email_verified_at,
            self.policy.mail_enabled,
        ) else {
            return Ok(false);
        };
        // Bound to the address: stored only while it is still the user's, and void once it
        // changes.
        let (token, _) = self.mailed_token(
            user,
            MailKind::PasswordReset,
            user.email_key.clone(),
            Some(email),
        )?;
        Ok(self.store.issue_token(&token).await?)
    }

    /// A reset link for an operator to hand over (no mail is sent).
    pub async fn reset_link(&self, user: &UserRecord) -> Result<String, AuthError> {
        let (token, secret) = self.mailed_token(user, MailKind::PasswordReset, None, None)?;
        if self.store.issue_token(&token).await? {
            Ok(self.link(MailKind::PasswordReset, &secret))
        } else {
            Err(AuthError::UserNotFound)
        }
    }

    /// Sets a new password with a reset token: it must meet the password rule; every session of
    /// the user is revoked and their other reset links stop working. The user.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: String,
    ) -> Result<UserRecord, AuthError> {
        let hash = RefreshToken::presented(token).hash();
        let user = self
            .store
            .token_user(&hash, MailKind::PasswordReset, self.now())
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let password = chosen(new_password, &user.username_key, self.change_rule()).await?;
        let phc = self.hasher.hash(&password).await?;
        match self.store.reset_password(&hash, &phc, self.now()).await? {
            Some(_) => Ok(user),
            None => Err(AuthError::InvalidToken),
        }
    }

    /// Claims up to `limit` due mails for `lease`, under a claim id of their own.
    pub async fn claim_mail(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedMail>, AuthError> {
        let now = self.now();
        let claim = uuid::Uuid::new_v4().to_string();
        Ok(self
            .store
            .claim_mail(now, now + lease, &claim, limit)
            .await?)
    }

    /// A claimed mail's variables, opened, with the time its link has left as of now.
    pub fn open_mail(&self, mail: &ClaimedMail) -> Result<MailVars, AuthError> {
        let plain = self
            .vault
            .open_message(&mail.mail.sealed, &mail.mail.sealed_with())
            .map_err(AuthError::internal)?;
        let mut vars: MailVars = serde_json::from_slice(&plain).map_err(AuthError::internal)?;
        vars.valid_until(mail.mail.expires_at, self.now());
        Ok(vars)
    }

    /// A claimed mail went out; `false` when its claim had lapsed and another sender holds it.
    pub async fn mail_sent(&self, mail: &ClaimedMail) -> Result<bool, AuthError> {
        Ok(self.store.mail_sent(&mail.mail.id, &mail.claim).await?)
    }

    /// A claimed mail failed; it is tried again at `retry_at` (unless its claim had lapsed).
    pub async fn mail_failed(
        &self,
        mail: &ClaimedMail,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, AuthError> {
        Ok(self
            .store
            .mail_failed(&mail.mail.id, &mail.claim, retry_at, error)
            .await?)
    }

    /// Deletes tokens and unsent mails whose links have expired.
    pub async fn purge_mail(&self) -> Result<u64, AuthError> {
        Ok(self.store.purge_mail(self.deletion_now()).await?)
    }

    /// Mails waiting to be sent.
    pub async fn outbox_len(&self) -> Result<u64, AuthError> {
        Ok(self.store.outbox_len().await?)
    }
}
