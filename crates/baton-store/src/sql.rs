//! The storage implementation shared by every backend. The SQL is written once, with `$N`
//! placeholders that SQLite and PostgreSQL both understand; what differs between backends is
//! named by each backend module and picked up by [`impl_store!`]:
//!
//! - `Db` and `Row`: the backend's database and row types;
//! - `begin_write(pool)`: how a write transaction starts (`BEGIN IMMEDIATE` on SQLite);
//! - `FOR_UPDATE`: the row-lock clause appended to the rotation's `SELECT` (empty on SQLite,
//!   where the write transaction already excludes other writers);
//! - `LOCK_SIGNING_KEYS`: a statement that serialises signing-key activation (empty on SQLite).

/// Columns of a session joined with its user, as `session_from_row` reads them.
pub(crate) const SESSION_COLUMNS: &str = "s.id, s.user_id, u.username, s.client_id, \
     s.created_at, s.last_used_at, s.idle_expires_at, s.absolute_expires_at, s.user_agent, s.ip, \
     s.revoked_at";

/// Implements [`baton_core::store::Store`] for `$store`, a struct with `writer` and `reader`
/// pools of the backend named by the invoking module.
macro_rules! impl_store {
    ($store:ty) => {
        use $crate::sql::SESSION_COLUMNS;

        fn opt_time(row: &Row, col: &str) -> Result<Option<OffsetDateTime>, sqlx::Error> {
            Ok(row.try_get::<Option<i64>, _>(col)?.map(from_millis))
        }

        fn time_col(row: &Row, col: &str) -> Result<OffsetDateTime, sqlx::Error> {
            Ok(from_millis(row.try_get::<i64, _>(col)?))
        }

        fn user_from_row(row: &Row) -> Result<UserRecord, sqlx::Error> {
            Ok(UserRecord {
                id: UserId::from_trusted(row.try_get::<String, _>("id")?),
                username: row.try_get("username")?,
                username_key: row.try_get("username_key")?,
                password_hash: row.try_get("password_hash")?,
                created_at: time_col(row, "created_at")?,
            })
        }

        fn session_from_row(row: &Row) -> Result<SessionRecord, sqlx::Error> {
            Ok(SessionRecord {
                id: SessionId::from_trusted(row.try_get::<String, _>("id")?),
                user_id: UserId::from_trusted(row.try_get::<String, _>("user_id")?),
                username: row.try_get("username")?,
                client_id: row.try_get("client_id")?,
                created_at: time_col(row, "created_at")?,
                last_used_at: time_col(row, "last_used_at")?,
                idle_expires_at: time_col(row, "idle_expires_at")?,
                absolute_expires_at: time_col(row, "absolute_expires_at")?,
                user_agent: row.try_get("user_agent")?,
                ip: row.try_get("ip")?,
                revoked_at: opt_time(row, "revoked_at")?,
            })
        }

        fn client_from_row(row: &Row) -> Result<ClientRecord, sqlx::Error> {
            Ok(ClientRecord {
                id: row.try_get("id")?,
                confidential: row.try_get("confidential")?,
                secret_hash: row.try_get("secret_hash")?,
                created_at: time_col(row, "created_at")?,
            })
        }

        fn key_from_row(row: &Row) -> Result<StoredKey, StoreError> {
            let alg: String = row.try_get("alg").map_err(map)?;
            Ok(StoredKey {
                kid: row.try_get("kid").map_err(map)?,
                alg: alg.parse().map_err(StoreError::Other)?,
                pkcs8: row.try_get("private_pkcs8").map_err(map)?,
                created_at: time_col(row, "created_at").map_err(map)?,
                retired_at: opt_time(row, "retired_at").map_err(map)?,
                publish_until: opt_time(row, "publish_until").map_err(map)?,
            })
        }

        async fn activate_in(
            tx: &mut sqlx::Transaction<'static, Db>,
            key: &StoredKey,
            publish_until: OffsetDateTime,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE signing_keys SET retired_at = $1, publish_until = $2 \
                 WHERE retired_at IS NULL",
            )
            .bind(to_millis(key.created_at))
            .bind(to_millis(publish_until))
            .execute(&mut **tx)
            .await
            .map_err(map)?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&key.kid)
            .bind(key.alg.as_str())
            .bind(&key.pkcs8)
            .bind(to_millis(key.created_at))
            .execute(&mut **tx)
            .await
            .map_err(map)?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.reader)
                    .await
                    .map_err(map)?;
                Ok(())
            }

            async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO users (id, username, username_key, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(user.id.as_str())
                .bind(&user.username)
                .bind(&user.username_key)
                .bind(&user.password_hash)
                .bind(to_millis(user.created_at))
                .execute(&self.writer)
                .await
                .map_err(map)?;
                Ok(())
            }

            async fn user_by_key(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, username, username_key, password_hash, created_at FROM users \
                     WHERE username_key = $1 AND deleted_at IS NULL",
                )
                .bind(username_key)
                .fetch_optional(&self.reader)
                .await
                .map_err(map)?;
                row.as_ref().map(user_from_row).transpose().map_err(map)
            }

            async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, username, username_key, password_hash, created_at FROM users \
                     WHERE deleted_at IS NULL ORDER BY created_at, username",
                )
                .fetch_all(&self.reader)
                .await
                .map_err(map)?;
                rows.iter()
                    .map(user_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(map)
            }

            async fn set_password_hash(&self, id: &UserId, phc: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND deleted_at IS NULL")
                    .bind(phc)
                    .bind(id.as_str())
                    .execute(&self.writer)
                    .await
                    .map_err(map)?;
                Ok(())
            }

            async fn delete_user(&self, id: &UserId, now: OffsetDateTime) -> Result<bool, StoreError> {
                let now = to_millis(now);
                let mut tx = begin_write(&self.writer)
                    .await
                    .map_err(map)?;
                let deleted = sqlx::query(
                    "UPDATE users SET deleted_at = $1, password_hash = '' WHERE id = $2 AND deleted_at IS NULL",
                )
                .bind(now)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map)?
                .rows_affected();
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'user_deleted' \
                     WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map)?;
                tx.commit().await.map_err(map)?;
                Ok(deleted == 1)
            }

            async fn create_session(
                &self,
                session: &NewSession,
                first_token: &TokenHash,
            ) -> Result<(), StoreError> {
                let mut tx = begin_write(&self.writer)
                    .await
                    .map_err(map)?;
                // Only for a user that still exists: a deletion committed while the password
                // was being checked must not leave a live session behind.
                let created = sqlx::query(&format!(
                    "INSERT INTO sessions (id, user_id, client_id, created_at, last_used_at, \
                     idle_expires_at, absolute_expires_at, user_agent, ip) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM users \
                     WHERE id = $2 AND deleted_at IS NULL{FOR_SHARE}"
                ))
                .bind(session.id.as_str())
                .bind(session.user_id.as_str())
                .bind(&session.client_id)
                .bind(to_millis(session.created_at))
                .bind(to_millis(session.created_at))
                .bind(to_millis(session.idle_expires_at))
                .bind(to_millis(session.absolute_expires_at))
                .bind(&session.user_agent)
                .bind(&session.ip)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
                if created.rows_affected() != 1 {
                    return Err(StoreError::Conflict("the user no longer exists".into()));
                }
                sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
                    .bind(&first_token.0[..])
                    .bind(session.id.as_str())
                    .bind(to_millis(session.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(map)?;
                tx.commit().await.map_err(map)
            }

            async fn rotate(&self, req: &RotateRequest) -> Result<RotateOutcome, StoreError> {
                let now = to_millis(req.now);
                let mut tx = begin_write(&self.writer)
                    .await
                    .map_err(map)?;
                let row = sqlx::query(&format!(
                    "SELECT t.spent_at AS token_spent_at, t.sealed_successor, {SESSION_COLUMNS} \
                     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                     JOIN users u ON u.id = s.user_id WHERE t.hash = $1{FOR_UPDATE}"
                ))
                .bind(&req.presented.0[..])
                .fetch_optional(&mut *tx)
                .await
                .map_err(map)?;
                let Some(row) = row else {
                    return Ok(RotateOutcome::Refused(RefreshError::Invalid));
                };
                let mut session = session_from_row(&row).map_err(map)?;
                let token = TokenState {
                    spent_at: opt_time(&row, "token_spent_at").map_err(map)?,
                };
                let sealed: Option<Vec<u8>> = row.try_get("sealed_successor").map_err(map)?;
                let client_matches = req
                    .client_id
                    .as_deref()
                    .is_none_or(|c| c == session.client_id);
                let decision = decide(token, session.state(), client_matches, req.now, req.grace);
                let outcome = match (decision, sealed) {
                    (Decision::Rotate, _) => {
                        let spent = sqlx::query(
                            "UPDATE refresh_tokens SET spent_at = $1, sealed_successor = $2 \
                             WHERE hash = $3 AND spent_at IS NULL",
                        )
                        .bind(now)
                        .bind(&req.sealed_successor.0)
                        .bind(&req.presented.0[..])
                        .execute(&mut *tx)
                        .await
                        .map_err(map)?;
                        if spent.rows_affected() != 1 {
                            // The row lock (or SQLite's single writer) makes this unreachable;
                            // should it ever happen, change nothing rather than fork the chain.
                            return Err(StoreError::Unavailable(
                                "the refresh token changed during its rotation".into(),
                            ));
                        }
                        // Successors sealed before the grace window are never handed out again;
                        // dropping them keeps an old leaked token from unlocking the chain.
                        sqlx::query(
                            "UPDATE refresh_tokens SET sealed_successor = NULL \
                             WHERE session_id = $1 AND sealed_successor IS NOT NULL AND spent_at < $2",
                        )
                        .bind(session.id.as_str())
                        .bind(now - req.grace.whole_milliseconds().clamp(0, i128::from(i64::MAX)) as i64)
                        .execute(&mut *tx)
                        .await
                        .map_err(map)?;
                        sqlx::query(
                            "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)",
                        )
                        .bind(&req.successor.0[..])
                        .bind(session.id.as_str())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(map)?;
                        session.last_used_at = req.now;
                        session.idle_expires_at = req.now + req.idle_ttl;
                        sqlx::query(
                            "UPDATE sessions SET last_used_at = $1, idle_expires_at = $2 WHERE id = $3",
                        )
                        .bind(now)
                        .bind(to_millis(session.idle_expires_at))
                        .bind(session.id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(map)?;
                        RotateOutcome::Rotated(session)
                    }
                    (Decision::Replay, Some(sealed)) => {
                        RotateOutcome::Replayed(session, SealedSuccessor(sealed))
                    }
                    (Decision::Replay | Decision::RevokeForReuse, _) => {
                        sqlx::query(
                            "UPDATE sessions SET revoked_at = $1, revoke_reason = 'reuse' \
                             WHERE id = $2 AND revoked_at IS NULL",
                        )
                        .bind(now)
                        .bind(session.id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(map)?;
                        tracing::warn!(session_id = %session.id, user_id = %session.user_id,
                            "refresh token reuse detected; session revoked");
                        RotateOutcome::Refused(RefreshError::ReuseDetected)
                    }
                    (Decision::Reject(reason), _) => RotateOutcome::Refused(reason),
                };
                tx.commit().await.map_err(map)?;
                Ok(outcome)
            }

            async fn revoke_by_token(
                &self,
                token: &TokenHash,
                now: OffsetDateTime,
            ) -> Result<Option<SessionId>, StoreError> {
                let mut tx = begin_write(&self.writer)
                    .await
                    .map_err(map)?;
                let session: Option<String> =
                    sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE hash = $1")
                        .bind(&token.0[..])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map)?;
                if let Some(id) = &session {
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1, revoke_reason = 'logout' \
                         WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(to_millis(now))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map)?;
                }
                tx.commit().await.map_err(map)?;
                Ok(session.map(SessionId::from_trusted))
            }

            async fn revoke_session(
                &self,
                user: &UserId,
                session: &SessionId,
                now: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                let now = to_millis(now);
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'revoked' \
                     WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL \
                     AND idle_expires_at > $4 AND absolute_expires_at > $5",
                )
                .bind(now)
                .bind(session.as_str())
                .bind(user.as_str())
                .bind(now)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(map)?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_all_sessions(
                &self,
                user: &UserId,
                now: OffsetDateTime,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoke_reason = 'logout_all' \
                     WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(to_millis(now))
                .bind(user.as_str())
                .execute(&self.writer)
                .await
                .map_err(map)?;
                Ok(done.rows_affected())
            }

            async fn live_sessions(
                &self,
                user: &UserId,
                now: OffsetDateTime,
            ) -> Result<Vec<SessionRecord>, StoreError> {
                let now = to_millis(now);
                let rows = sqlx::query(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.user_id = $1 AND s.revoked_at IS NULL \
                     AND s.idle_expires_at > $2 AND s.absolute_expires_at > $3 \
                     ORDER BY s.created_at DESC, s.id"
                ))
                .bind(user.as_str())
                .bind(now)
                .bind(now)
                .fetch_all(&self.reader)
                .await
                .map_err(map)?;
                rows.iter()
                    .map(session_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(map)
            }

            async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
                ))
                .bind(id.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(map)?;
                row.as_ref().map(session_from_row).transpose().map_err(map)
            }

            async fn refresh_token(
                &self,
                token: &TokenHash,
            ) -> Result<Option<RefreshTokenRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT t.created_at AS token_created_at, t.spent_at AS token_spent_at, \
                     {SESSION_COLUMNS} FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                     JOIN users u ON u.id = s.user_id WHERE t.hash = $1"
                ))
                .bind(&token.0[..])
                .fetch_optional(&self.reader)
                .await
                .map_err(map)?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(RefreshTokenRecord {
                    created_at: time_col(&row, "token_created_at").map_err(map)?,
                    spent_at: opt_time(&row, "token_spent_at").map_err(map)?,
                    session: session_from_row(&row).map_err(map)?,
                }))
            }

            async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO oauth_clients (id, confidential, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&client.id)
                .bind(client.confidential)
                .bind(&client.secret_hash)
                .bind(to_millis(client.created_at))
                .execute(&self.writer)
                .await
                .map_err(map)?;
                Ok(())
            }

            async fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, confidential, secret_hash, created_at FROM oauth_clients WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(map)?;
                row.as_ref().map(client_from_row).transpose().map_err(map)
            }

            async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, confidential, secret_hash, created_at FROM oauth_clients ORDER BY id",
                )
                .fetch_all(&self.reader)
                .await
                .map_err(map)?;
                rows.iter()
                    .map(client_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(map)
            }

            async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err(map)?;
                Ok(done.rows_affected() == 1)
            }

            async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
                let rows = sqlx::query(
                    "SELECT kid, alg, private_pkcs8, created_at, retired_at, publish_until \
                     FROM signing_keys ORDER BY created_at",
                )
                .fetch_all(&self.writer)
                .await
                .map_err(map)?;
                rows.iter().map(key_from_row).collect()
            }

            async fn activate_signing_key(
                &self,
                key: &StoredKey,
                publish_until: OffsetDateTime,
            ) -> Result<(), StoreError> {
                let mut tx = begin_write(&self.writer).await.map_err(map)?;
                if !LOCK_SIGNING_KEYS.is_empty() {
                    sqlx::query(LOCK_SIGNING_KEYS).execute(&mut *tx).await.map_err(map)?;
                }
                activate_in(&mut tx, key, publish_until).await?;
                tx.commit().await.map_err(map)
            }

            async fn ensure_signing_key(
                &self,
                candidate: &StoredKey,
                publish_until: OffsetDateTime,
            ) -> Result<StoredKey, StoreError> {
                let mut tx = begin_write(&self.writer).await.map_err(map)?;
                if !LOCK_SIGNING_KEYS.is_empty() {
                    sqlx::query(LOCK_SIGNING_KEYS).execute(&mut *tx).await.map_err(map)?;
                }
                let row = sqlx::query(
                    "SELECT kid, alg, private_pkcs8, created_at, retired_at, publish_until \
                     FROM signing_keys WHERE retired_at IS NULL AND alg = $1 \
                     ORDER BY created_at DESC LIMIT 1",
                )
                .bind(candidate.alg.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map)?;
                let active = match row {
                    Some(row) => key_from_row(&row)?,
                    None => {
                        activate_in(&mut tx, candidate, publish_until).await?;
                        candidate.clone()
                    }
                };
                tx.commit().await.map_err(map)?;
                Ok(active)
            }

            async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                // In batches, so that the write lock is never held for long; the tokens go with
                // their sessions (ON DELETE CASCADE).
                let before = to_millis(before);
                let mut purged = 0;
                loop {
                    let mut tx = begin_write(&self.writer).await.map_err(map)?;
                    let done = sqlx::query(
                        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                         WHERE idle_expires_at < $1 OR absolute_expires_at < $1 LIMIT 500)",
                    )
                    .bind(before)
                    .execute(&mut *tx)
                    .await
                    .map_err(map)?;
                    tx.commit().await.map_err(map)?;
                    purged += done.rows_affected();
                    if done.rows_affected() < 500 {
                        return Ok(purged);
                    }
                }
            }
        }
    };
}

pub(crate) use impl_store;
