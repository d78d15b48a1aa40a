//! Passkeys (WebAuthn Level 2 with `webauthn-rs`): registration by a signed-in user, sign-in
//! with a passkey alone (discoverable credentials), and a passkey as the second factor of a
//! password login.
//!
//! A ceremony's state never waits in the server: it is sealed under the key-encryption key
//! (with its kind, its user and its end) and handed to the client as the `ceremony` token,
//! which comes back with the authenticator's answer. Any instance can then finish it, nothing
//! is stored for a ceremony that is never finished, and a finished one is recorded (by its
//! hash, until it would have expired) so that none finishes twice.

use super::{Baton, Issued, RequestOrigin, WebauthnPolicy, FIRST_PARTY_CLIENT};
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::mfa::{Amr, AuthMethod, RecoveryCode};
use crate::refresh::{RefreshToken, TokenHash};
use crate::store::{PasskeyRecord, StoreError, UserRecord};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::Duration;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// Most passkeys one account may have.
pub const MAX_PASSKEYS: u32 = 10;
/// How long a ceremony may take, start to finish (the browser's timeout too).
const CEREMONY_TTL: Duration = Duration::minutes(5);
/// The associated data of sealed ceremonies: no other sealed message opens as one.
const CEREMONY_AAD: &[u8] = b"baton webauthn ceremony v1";
/// Longest ceremony token accepted.
pub const MAX_CEREMONY_LEN: usize = 16 * 1024;

/// The options of a ceremony, for the browser, and the token that carries its state.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// The sealed state, to come back with the answer.
    pub token: String,
    /// `publicKey` options, binary fields base64url.
    pub options: serde_json::Value,
}

/// A registered passkey, with recovery codes when it was the account's first second factor.
#[derive(Debug, Clone)]
pub struct PasskeyAdded {
    /// The passkey as stored.
    pub record: PasskeyRecord,
    /// New recovery codes (shown once), when the account had none.
    pub recovery_codes: Option<Vec<RecoveryCode>>,
}

/// What a ceremony token holds.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// `register`, `login` (a passkey alone) or `mfa` (a login's second factor).
    kind: String,
    /// The user it is for (registration and second factors).
    user: Option<String>,
    /// For a second factor: the hash (hex) of the `mfa_token` of the login it was started for.
    #[serde(default)]
    login: Option<String>,
    /// When it ends, Unix milliseconds.
    expires: i64,
    /// The `webauthn-rs` state.
    state: serde_json::Value,
}

/// The relying party of `policy`.
pub(super) fn relying_party(policy: &WebauthnPolicy) -> Result<Webauthn, AuthError> {
    let bad = |what: &str| AuthError::internal(format!("WebAuthn configuration: {what}"));
    let mut origins = policy.origins.iter().map(|o| Url::parse(o));
    let first = origins
        .next()
        .ok_or_else(|| bad("no origin"))?
        .map_err(|e| bad(&e.to_string()))?;
    let mut builder = WebauthnBuilder::new(&policy.rp_id, &first)
        .map_err(|e| bad(&e.to_string()))?
        .rp_name(&policy.rp_name);
    for origin in origins {
        let origin = origin.map_err(|e| bad(&e.to_string()))?;
        builder = builder.append_allowed_origin(&origin);
    }
    builder.build().map_err(|e| bad(&e.to_string()))
}

/// A token hash in hex, as a ceremony seals it.
fn hex(hash: &TokenHash) -> String {
    hash.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// The user handle of `user`: the 16 bytes of their id.
fn user_handle(user: &UserId) -> Result<Uuid, AuthError> {
    Uuid::try_parse(user.as_str()).map_err(AuthError::internal)
}

/// The `amr` of an assertion: a key that can leave its device is software-secured (`swk`),
/// one that cannot is hardware-bound (`hwk`); user verification was required (`user`).
fn key_methods(backup_eligible: bool) -> Vec<AuthMethod> {
    let key = if backup_eligible {
        AuthMethod::Swk
    } else {
        AuthMethod::Hwk
    };
    vec![key, AuthMethod::User]
}

impl Baton {
    /// Whether passkeys are configured (a relying party ID and origins).
    pub fn passkeys_enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    fn relying(&self) -> Result<&Webauthn, AuthError> {
        self.webauthn.as_ref().ok_or(AuthError::PasskeysOff)
    }

    fn seal_ceremony(
        &self,
        kind: &str,
        user: Option<&UserId>,
        login: Option<&TokenHash>,
        state: serde_json::Value,
    ) -> Result<String, AuthError> {
        let sealed = Sealed {
            kind: kind.to_owned(),
            user: user.map(ToString::to_string),
            login: login.map(hex),
            expires: crate::clock::to_millis(self.now() + CEREMONY_TTL),
            state,
        };
        let plain = serde_json::to_vec(&sealed).map_err(AuthError::internal)?;
        let sealed = self
            .vault
            .seal_message(&plain, CEREMONY_AAD)
            .map_err(AuthError::internal)?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Opens a ceremony token of `kind` (for `user` when given) that has not expired.
    fn open_ceremony(
        &self,
        token: &str,
        kind: &str,
        user: Option<&UserId>,
    ) -> Result<Sealed, AuthError> {
        if token.len() > MAX_CEREMONY_LEN {
            return Err(AuthError::InvalidCeremony);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| AuthError::InvalidCeremony)?;
        let plain = self
            .vault
            .open_message(&bytes, CEREMONY_AAD)
            .map_err(|_| AuthError::InvalidCeremony)?;
        let sealed: Sealed =
            serde_json::from_slice(&plain).map_err(|_| AuthError::InvalidCeremony)?;
        let mine = user.is_none_or(|u| sealed.user.as_deref() == Some(u.as_str()));
        if sealed.kind != kind || !mine || sealed.expires <= crate::clock::to_millis(self.now()) {
            return Err(AuthError::InvalidCeremony);
        }
        Ok(sealed)
    }

    /// Records the ceremony `token` finished; [`AuthError::InvalidCeremony`] when it already
    /// was.
    async fn spend_ceremony(&self, token: &str, sealed: &Sealed) -> Result<(), AuthError> {
        let hash = RefreshToken::presented(token).hash();
        let until = crate::clock::from_millis(sealed.expires);
        if self.store.use_ceremony(&hash, until).await? {
            Ok(())
        } else {
            Err(AuthError::InvalidCeremony)
        }
    }

    /// The user's passkeys as `webauthn-rs` credentials, with their records.
    async fn user_passkeys(
        &self,
        user: &UserId,
    ) -> Result<Vec<(PasskeyRecord, Passkey)>, AuthError> {
        self.store
            .passkeys(user)
            .await?
            .into_iter()
            .map(|r| {
                let pk: Passkey = serde_json::from_str(&r.passkey).map_err(AuthError::internal)?;
                Ok((r, pk))
            })
            .collect()
    }

    /// The user's passkeys.
    pub async fn passkeys(&self, user: &UserId) -> Result<Vec<PasskeyRecord>, AuthError> {
        Ok(self.store.passkeys(user).await?)
    }

    /// Removes one of the user's passkeys (with the recovery codes, when no second factor is
    /// left); whether it was theirs.
    pub async fn delete_passkey(&self, user: &UserId, id: &str) -> Result<bool, AuthError> {
        Ok(self.store.delete_passkey(user, id).await?)
    }

    /// Starts registering a passkey for `user`: a discoverable credential (so it can sign in
    /// without a username) with user verification, none of their existing ones again.
    pub async fn passkey_register_start(&self, user: &UserRecord) -> Result<Ceremony, AuthError> {
        let rp = self.relying()?;
        let existing = self.user_passkeys(&user.id).await?;
        if existing.len() >= usize::try_from(MAX_PASSKEYS).unwrap_or(usize::MAX) {
            return Err(AuthError::TooManyPasskeys);
        }
        let exclude = existing
            .iter()
            .map(|(_, pk)| pk.cred_id().clone())
            .collect();
        let (options, state) = rp
            .start_passkey_registration(
                user_handle(&user.id)?,
                &user.username,
                &user.username,
                Some(exclude),
            )
            .map_err(AuthError::internal)?;
        let mut options = serde_json::to_value(options).map_err(AuthError::internal)?;
        // webauthn-rs discourages resident keys; a passkey that signs in without a username
        // must be one. Nothing at the finish depends on this choice.
        let selection = &mut options["publicKey"]["authenticatorSelection"];
        selection["residentKey"] = "required".into();
        selection["requireResidentKey"] = true.into();
        let state = serde_json::to_value(state).map_err(AuthError::internal)?;
        Ok(Ceremony {
            token: self.seal_ceremony("register", Some(&user.id), None, state)?,
            options: options["publicKey"].take(),
        })
    }

    /// Finishes registering a passkey for `user` with the browser's `credential`; the user's
    /// sessions opened without a second factor end, but `keep` (the caller's).
    pub async fn passkey_register_finish(
        &self,
        user: &UserId,
        keep: &SessionId,
        ceremony: &str,
        credential: &serde_json::Value,
        name: &str,
    ) -> Result<PasskeyAdded, AuthError> {
        let rp = self.relying()?;
        let sealed = self.open_ceremony(ceremony, "register", Some(user))?;
        let state: PasskeyRegistration =
            serde_json::from_value(sealed.state.clone()).map_err(|_| AuthError::InvalidCeremony)?;
        let reg: RegisterPublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|e| AuthError::InvalidPasskey(e.to_string()))?;
        let pk = rp
            .finish_passkey_registration(&reg, &state)
            .map_err(|e| AuthError::InvalidPasskey(e.to_string()))?;
        self.spend_ceremony(ceremony, &sealed).await?;
        let json = serde_json::to_value(&pk).map_err(AuthError::internal)?;
        let record = PasskeyRecord {
            id: URL_SAFE_NO_PAD.encode(pk.cred_id()),
            user_id: user.clone(),
            name: name.to_owned(),
            passkey: json.to_string(),
            backup_eligible: json["cred"]["backup_eligible"].as_bool().unwrap_or(false),
            created_at: self.now(),
            last_used_at: None,
        };
        match self.store.insert_passkey(&record, MAX_PASSKEYS, keep).await {
            Ok(true) => {}
            Ok(false) => {
                return match self.store.user(user).await? {
                    Some(u) if u.disabled_at.is_none() => Err(AuthError::TooManyPasskeys),
                    _ => Err(AuthError::UserNotFound),
                };
            }
            Err(StoreError::Conflict(_)) => return Err(AuthError::PasskeyTaken),
            Err(e) => return Err(e.into()),
        }
        // The account's first second factor comes with recovery codes.
        let recovery_codes = if self.store.mfa_summary(user).await?.recovery_codes_left == 0 {
            Some(self.regenerate_recovery_codes(user).await?)
        } else {
            None
        };
        Ok(PasskeyAdded {
            record,
            recovery_codes,
        })
    }

    /// Starts a sign-in with a passkey alone: any discoverable credential of this RP.
    pub fn passkey_login_start(&self) -> Result<Ceremony, AuthError> {
        let (options, state) = self
            .relying()?
            .start_discoverable_authentication()
            .map_err(AuthError::internal)?;
        let mut options = serde_json::to_value(options).map_err(AuthError::internal)?;
        let state = serde_json::to_value(state).map_err(AuthError::internal)?;
        Ok(Ceremony {
            token: self.seal_ceremony("login", None, None, state)?,
            options: options["publicKey"].take(),
        })
    }

    /// Starts the second step of the password login waiting behind the `mfa_token` hashing to
    /// `login`, with one of `user`'s passkeys; [`AuthError::InvalidCode`] when they have none.
    pub async fn passkey_mfa_start(
        &self,
        user: &UserId,
        login: &TokenHash,
    ) -> Result<Ceremony, AuthError> {
        let rp = self.relying()?;
        let passkeys: Vec<Passkey> = self
            .user_passkeys(user)
            .await?
            .into_iter()
            .map(|(_, pk)| pk)
            .collect();
        if passkeys.is_empty() {
            return Err(AuthError::InvalidCode);
        }
        let (options, state) = rp
            .start_passkey_authentication(&passkeys)
            .map_err(AuthError::internal)?;
        let mut options = serde_json::to_value(options).map_err(AuthError::internal)?;
        let state = serde_json::to_value(state).map_err(AuthError::internal)?;
        Ok(Ceremony {
            token: self.seal_ceremony("mfa", Some(user), Some(login), state)?,
            options: options["publicKey"].take(),
        })
    }

    /// A passkey as a login's second factor: the ceremony must have been started for this
    /// login (`login`, its `mfa_token`'s hash) of `user`, and the passkey must still be theirs.
    /// Any refusal is [`AuthError::InvalidCode`], except a ceremony that is no longer valid.
    pub(super) async fn check_passkey(
        &self,
        user: &UserId,
        login: &TokenHash,
        ceremony: &str,
        credential: &serde_json::Value,
    ) -> Result<Vec<AuthMethod>, AuthError> {
        let rp = self.relying()?;
        let sealed = self.open_ceremony(ceremony, "mfa", Some(user))?;
        if sealed.login.as_deref() != Some(hex(login).as_str()) {
            return Err(AuthError::InvalidCeremony);
        }
        let state: PasskeyAuthentication =
            serde_json::from_value(sealed.state.clone()).map_err(|_| AuthError::InvalidCeremony)?;
        let answer: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| AuthError::InvalidCode)?;
        let result = rp
            .finish_passkey_authentication(&answer, &state)
            .map_err(|e| {
                tracing::info!(user_id = %user, error = %e, "passkey refused as a second factor");
                AuthError::InvalidCode
            })?;
        // The ceremony carries the passkeys as they were at its start: one removed since, or
        // whose counter moved on meanwhile, is refused now.
        let id = URL_SAFE_NO_PAD.encode(result.cred_id());
        let record = self
            .store
            .passkey(&id)
            .await?
            .filter(|r| &r.user_id == user)
            .ok_or(AuthError::InvalidCode)?;
        self.spend_ceremony(ceremony, &sealed).await?;
        self.record_passkey_use(&record, &result)
            .await
            .map_err(|e| match e {
                AuthError::InvalidPasskey(_) => AuthError::InvalidCode,
                e => e,
            })?;
        Ok(key_methods(result.backup_eligible()))
    }

    /// Signs in with a passkey alone: the credential names its user (the user handle); the
    /// session's `amr` says which kind of key, with user verification.
    pub async fn passkey_login(
        &self,
        ceremony: &str,
        credential: &serde_json::Value,
        origin: RequestOrigin,
    ) -> Result<(UserRecord, Issued), AuthError> {
        let rp = self.relying()?;
        let sealed = self.open_ceremony(ceremony, "login", None)?;
        let state: DiscoverableAuthentication =
            serde_json::from_value(sealed.state.clone()).map_err(|_| AuthError::InvalidCeremony)?;
        let refuse = |why: &str| AuthError::InvalidPasskey(why.to_owned());
        let answer: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|e| refuse(&e.to_string()))?;
        let (handle, cred_id) = rp
            .identify_discoverable_authentication(&answer)
            .map_err(|e| refuse(&e.to_string()))?;
        let id = URL_SAFE_NO_PAD.encode(cred_id);
        // The credential must be the one the user handle's user registered.
        let record = self
            .store
            .passkey(&id)
            .await?
            .filter(|r| Uuid::try_parse(r.user_id.as_str()).ok() == Some(handle))
            .ok_or_else(|| refuse("unknown credential"))?;
        let pk: Passkey = serde_json::from_str(&record.passkey).map_err(AuthError::internal)?;
        let result = rp
            .finish_discoverable_authentication_v2(&answer, state, &pk)
            .map_err(|e| refuse(&e.to_string()))?;
        self.spend_ceremony(ceremony, &sealed).await?;
        self.record_passkey_use(&record, &result).await?;
        let user = self
            .store
            .user(&record.user_id)
            .await?
            .ok_or_else(|| refuse("no such user"))?;
        if user.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        let amr = Amr::of(&key_methods(result.backup_eligible()));
        let issued = self
            .open_session(&user, FIRST_PARTY_CLIENT, origin, &amr)
            .await?;
        Ok((user, issued))
    }

    /// Stores a passkey's new state (its signature counter, its backup state) after a use,
    /// over the state `record` read. A signature counter that does not move past the stored
    /// one (a cloned authenticator, or two uses racing) refuses the use; with no counter (0,
    /// as synced passkeys keep it) only the time changes.
    async fn record_passkey_use(
        &self,
        record: &PasskeyRecord,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<(), AuthError> {
        let mut pk: Passkey = serde_json::from_str(&record.passkey).map_err(AuthError::internal)?;
        let stored = serde_json::to_value(&pk)
            .ok()
            .and_then(|v| v["cred"]["counter"].as_u64())
            .unwrap_or(0);
        if result.counter() > 0 && u64::from(result.counter()) <= stored {
            tracing::warn!(passkey = %record.id, user_id = %record.user_id,
                "a passkey's signature counter did not move on: possibly cloned");
            return Err(AuthError::InvalidPasskey(
                "signature counter did not increase".into(),
            ));
        }
        pk.update_credential(result);
        let json = serde_json::to_string(&pk).map_err(AuthError::internal)?;
        if self
            .store
            .touch_passkey(&record.id, &record.passkey, &json, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(AuthError::InvalidPasskey(
                "used by another sign-in at the same time".into(),
            ))
        }
    }

    /// Forgets finished ceremonies that have expired; how many.
    pub async fn purge_ceremonies(&self) -> Result<u64, AuthError> {
        Ok(self.store.purge_ceremonies(self.deletion_now()).await?)
    }
}
