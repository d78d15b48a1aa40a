//! Users: registration, the operator's additions, deletions and disablings, password checks
//! and password changes.

use super::Baton;
use crate::email::Email;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::password::{Password, PasswordRule};
use crate::store::{EndSessions, StoreError, UserRecord};
use crate::username::Username;

impl Baton {
    /// Registers a user through the public endpoint (refused when registration is closed).
    pub async fn register(
        &self,
        username: &str,
        password: String,
        email: Option<&str>,
    ) -> Result<UserRecord, AuthError> {
        if !self.policy.registration_open {
            return Err(AuthError::RegistrationClosed);
        }
        self.add_user(username, password, email).await
    }

    /// Adds a user whatever the registration setting (the operator's `baton user add`). With
    /// an address, a mail confirming it is queued in the same transaction.
    pub async fn add_user(
        &self,
        username: &str,
        password: String,
        email: Option<&str>,
    ) -> Result<UserRecord, AuthError> {
        let username = Username::parse(username)?;
        let email = email.map(Email::parse).transpose()?;
        let rule = PasswordRule {
            min_length: self.policy.password_min_length,
            min_score: self.policy.register_min_score,
        };
        let password = chosen(password, username.key(), rule).await?;
        if self.store.user_by_key(username.key()).await?.is_some() {
            return Err(AuthError::UsernameTaken);
        }
        if let Some(email) = &email {
            if self.store.user_by_email(email.key()).await?.is_some() {
                return Err(AuthError::EmailTaken);
            }
        }
        let record = UserRecord {
            id: UserId::generate(),
            username: username.as_str().to_owned(),
            username_key: username.key().to_owned(),
            password_hash: self.hasher.hash(&password).await?,
            created_at: self.now(),
            disabled_at: None,
            email: email.as_ref().map(|e| e.as_str().to_owned()),
            email_key: email.as_ref().map(|e| e.key().to_owned()),
            email_verified_at: None,
            roles: Vec::new(),
        };
        let confirm = match &email {
            Some(email) if self.policy.mail_enabled => Some(self.confirmation(&record, email)?.0),
            _ => None,
        };
        match self
            .store
            .insert_user_with_token(&record, confirm.as_ref())
            .await
        {
            Ok(()) => Ok(record),
            // Which of the two was taken meanwhile.
            Err(StoreError::Conflict(_)) => {
                if self.store.user_by_key(username.key()).await?.is_some() {
                    Err(AuthError::UsernameTaken)
                } else {
                    Err(AuthError::EmailTaken)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// All users.
    pub async fn users(&self) -> Result<Vec<UserRecord>, AuthError> {
        Ok(self.store.users().await?)
    }

    /// The live user with this id.
    pub async fn user(&self, id: &UserId) -> Result<UserRecord, AuthError> {
        self.store.user(id).await?.ok_or(AuthError::UserNotFound)
    }

    /// The live user a name names.
    pub async fn user_by_name(&self, username: &str) -> Result<UserRecord, AuthError> {
        let username = Username::parse(username)?;
        self.store
            .user_by_key(username.key())
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    /// Gives a user `role` (their next access tokens carry it); `false` if they had it.
    pub async fn add_role(&self, user: &UserId, role: &str) -> Result<bool, AuthError> {
        crate::roles::parse_role(role)?;
        self.change_roles(user, |roles| crate::roles::with_role(roles, role))
            .await
    }

    /// Takes `role` from a user; `false` if they did not have it.
    pub async fn remove_role(&self, user: &UserId, role: &str) -> Result<bool, AuthError> {
        self.change_roles(user, |roles| Ok(crate::roles::without_role(roles, role)))
            .await
    }

    /// Applies `change` to a user's roles by compare-and-set, again when another change
    /// committed meanwhile; `false` when `change` left them as they were.
    async fn change_roles(
        &self,
        user: &UserId,
        change: impl Fn(&[String]) -> Result<Option<Vec<String>>, crate::roles::RoleError>,
    ) -> Result<bool, AuthError> {
        for _ in 0..16 {
            let current = self
                .store
                .user(user)
                .await?
                .ok_or(AuthError::UserNotFound)?
                .roles;
            let Some(next) = change(&current)? else {
                return Ok(false);
            };
            let (next, expected) = (
                crate::roles::to_stored(&next),
                crate::roles::to_stored(&current),
            );
            if self
                .store
                .set_roles(user, next.as_deref(), expected.as_deref())
                .await?
            {
                return Ok(true);
            }
        }
        Err(AuthError::internal("the roles kept changing; try again"))
    }

    /// Deletes a user by name and revokes every session they had.
    pub async fn delete_user(&self, username: &str) -> Result<(), AuthError> {
        let user = self.user_by_name(username).await?;
        if self.store.delete_user(&user.id, self.now()).await? {
            Ok(())
        } else {
            Err(AuthError::UserNotFound)
        }
    }

    /// Disables a user (revoking every session of theirs, and refusing their logins from now
    /// on) or enables them again.
    pub async fn set_disabled(&self, user: &UserId, disabled: bool) -> Result<(), AuthError> {
        if self.store.set_disabled(user, disabled, self.now()).await? {
            Ok(())
        } else {
            Err(AuthError::UserNotFound)
        }
    }

    /// The live user `user` after checking `current` is their password: the same error, after
    /// the same work, for an unknown user and a wrong password; a disabled user's right
    /// password is [`AuthError::AccountDisabled`].
    pub async fn current_password(
        &self,
        user: &UserId,
        current: String,
    ) -> Result<UserRecord, AuthError> {
        let record = self.store.user(user).await?;
        let verified = self
            .hasher
            .verify(
                &Password::presented(current),
                record.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await?;
        let record = match record {
            Some(u) if verified.ok => u,
            _ => return Err(AuthError::InvalidCredentials),
        };
        if record.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        Ok(record)
    }

    /// The rule a password must meet when a user changes or resets it.
    pub(super) fn change_rule(&self) -> PasswordRule {
        PasswordRule {
            min_length: self.policy.password_min_length,
            min_score: self.policy.password_min_score,
        }
    }

    /// A user's own change: `current` must be their password (else
    /// [`AuthError::InvalidCredentials`], after the same work whatever went wrong), `new` must
    /// meet the password rule; every session of theirs but `keep` (the one asking) is revoked.
    /// Fails with [`AuthError::InvalidCredentials`] too when the password changed meanwhile.
    pub async fn change_password(
        &self,
        user: &UserId,
        keep: &SessionId,
        current: String,
        new: String,
    ) -> Result<UserRecord, AuthError> {
        let record = self.current_password(user, current).await?;
        let new = chosen(new, &record.username_key, self.change_rule()).await?;
        let phc = self.hasher.hash(&new).await?;
        let end = EndSessions::AllExcept(keep.clone());
        if self
            .store
            .set_password(
                &record.id,
                &phc,
                Some(&record.password_hash),
                &end,
                self.now(),
            )
            .await?
        {
            Ok(record)
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    /// Sets a user's password without knowing the old one (the operator's `baton user passwd`,
    /// a reset); `new` must meet the password rule, and every session of theirs is revoked.
    pub async fn set_password(&self, user: &UserRecord, new: String) -> Result<(), AuthError> {
        let new = chosen(new, &user.username_key, self.change_rule()).await?;
        let phc = self.hasher.hash(&new).await?;
        if self
            .store
            .set_password(&user.id, &phc, None, &EndSessions::All, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(AuthError::UserNotFound)
        }
    }

    /// Checks a username and password; the same error, after the same work, for an unknown user
    /// and a wrong password. The right password of a disabled user is
    /// [`AuthError::AccountDisabled`].
    pub async fn authenticate(
        &self,
        username: &str,
        password: String,
    ) -> Result<UserRecord, AuthError> {
        let password = Password::presented(password);
        let user = match Username::parse(username) {
            Ok(name) => self.store.user_by_key(name.key()).await?,
            Err(_) => None,
        };
        let verified = self
            .hasher
            .verify(&password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        let mut user = match user {
            Some(u) if verified.ok => u,
            _ => return Err(AuthError::InvalidCredentials),
        };
        if user.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        if verified.needs_rehash {
            // Best effort: a busy hashing pool or storage must not fail a correct login; the
            // rehash is tried again at the next one. It is stored only over the hash just
            // checked, so a password changed meanwhile stays changed.
            match self.hasher.hash(&password).await {
                Ok(phc) => match self
                    .store
                    .set_password(
                        &user.id,
                        &phc,
                        Some(&user.password_hash),
                        &EndSessions::None,
                        self.now(),
                    )
                    .await
                {
                    Ok(true) => user.password_hash = phc,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "could not store a rehashed password"),
                },
                Err(e) => tracing::info!(error = %e, "password rehash postponed"),
            }
        }
        Ok(user)
    }

    /// The live user a name (as typed) names, if any: to file a failed login under its account.
    pub async fn user_named(&self, name: &str) -> Result<Option<UserRecord>, AuthError> {
        let Ok(name) = Username::parse(name) else {
            return Ok(None);
        };
        Ok(self.store.user_by_key(name.key()).await?)
    }
}

/// [`Password::chosen`], with the strength estimate (up to a few milliseconds of CPU) on the
/// blocking pool rather than a request thread. The routes that choose passwords are admitted a
/// bounded number at a time, which bounds the work queued there.
pub(super) async fn chosen(
    raw: String,
    username_key: &str,
    rule: PasswordRule,
) -> Result<Password, AuthError> {
    if rule.min_score == 0 {
        return Ok(Password::chosen(raw, username_key, rule)?);
    }
    let key = username_key.to_owned();
    tokio::task::spawn_blocking(move || Password::chosen(raw, &key, rule))
        .await
        .map_err(AuthError::internal)?
        .map_err(AuthError::from)
}
