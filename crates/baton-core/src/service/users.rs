//! Users: registration, the operator's additions and deletions, password checks.

use super::Baton;
use crate::error::AuthError;
use crate::ids::UserId;
use crate::password::Password;
use crate::store::{StoreError, UserRecord};
use crate::username::Username;

impl Baton {
    /// Registers a user through the public endpoint (refused when registration is closed).
    pub async fn register(
        &self,
        username: &str,
        password: String,
    ) -> Result<UserRecord, AuthError> {
        if !self.policy.registration_open {
            return Err(AuthError::RegistrationClosed);
        }
        self.add_user(username, password).await
    }

    /// Adds a user whatever the registration setting (the operator's `baton user add`).
    pub async fn add_user(
        &self,
        username: &str,
        password: String,
    ) -> Result<UserRecord, AuthError> {
        let username = Username::parse(username)?;
        let password = Password::new(password, self.policy.password_min_length)?;
        if self.store.user_by_key(username.key()).await?.is_some() {
            return Err(AuthError::UsernameTaken);
        }
        let record = UserRecord {
            id: UserId::generate(),
            username: username.as_str().to_owned(),
            username_key: username.key().to_owned(),
            password_hash: self.hasher.hash(&password).await?,
            created_at: self.now(),
        };
        match self.store.insert_user(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::Conflict(_)) => Err(AuthError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// All users.
    pub async fn users(&self) -> Result<Vec<UserRecord>, AuthError> {
        Ok(self.store.users().await?)
    }

    /// Deletes a user by name and revokes every session they had.
    pub async fn delete_user(&self, username: &str) -> Result<(), AuthError> {
        let username = Username::parse(username)?;
        let user = self
            .store
            .user_by_key(username.key())
            .await?
            .ok_or(AuthError::UserNotFound)?;
        if self.store.delete_user(&user.id, self.now()).await? {
            Ok(())
        } else {
            Err(AuthError::UserNotFound)
        }
    }

    /// Checks a username and password; the same error, after the same work, for an unknown user
    /// and a wrong password.
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
        let user = match user {
            Some(u) if verified.ok => u,
            _ => return Err(AuthError::InvalidCredentials),
        };
        if verified.needs_rehash {
            // Best effort: a busy hashing pool or storage must not fail a correct login; the
            // rehash is tried again at the next one.
            match self.hasher.hash(&password).await {
                Ok(phc) => {
                    if let Err(e) = self.store.set_password_hash(&user.id, &phc).await {
                        tracing::warn!(error = %e, "could not store a rehashed password");
                    }
                }
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
