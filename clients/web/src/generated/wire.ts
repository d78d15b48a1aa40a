// The JSON bodies of baton's HTTP API, generated from crates/baton-proto: do not edit.
// Regenerate: BATON_WRITE_TS=1 cargo test -p baton-proto --lib typescript

/**
 * Machine-readable error codes: the `error` of every error body.
 */
export type ErrorCode = "invalid_request" | "invalid_credentials" | "invalid_token" | "missing_token" | "username_taken" | "email_taken" | "registration_closed" | "account_disabled" | "csrf_rejected" | "too_many_requests" | "unsupported_media_type" | "payload_too_large" | "request_header_fields_too_large" | "not_found" | "method_not_allowed" | "unavailable" | "server_error" | "invalid_grant" | "invalid_client" | "unsupported_grant_type" | "unauthorized_client" | "invalid_scope" | "invalid_target" | "invalid_dpop_proof" | "use_dpop_nonce" | "unsupported_token_type" | "insufficient_scope" | "mfa_required" | "invalid_code" | "mfa_already_enabled" | "insufficient_user_authentication" | "too_many_passkeys" | "passkey_already_registered";

/**
 * The JSON body of every error answer.
 */
export type ErrorBody = {
/**
 * Error code.
 */
error: ErrorCode,
/**
 * Human-readable detail.
 */
error_description?: string, };

/**
 * `POST /auth/register` body.
 */
export type RegisterRequest = {
/**
 * Requested username, normalised by the server.
 */
username: string,
/**
 * Plain password; hashed by the server and never stored.
 */
password: string,
/**
 * E-mail address (baton's extension); a mail confirming it goes out.
 */
email?: string | null, };

/**
 * `POST /auth/password` body.
 */
export type ChangePasswordRequest = {
/**
 * The password now, as typed.
 */
current_password: string,
/**
 * The new password; it must meet the password rule.
 */
new_password: string,
/**
 * A code from the authenticator app: the fresh second factor an account that has one
 * needs when its token's authentication is older than the step-up age.
 */
code?: string | null, };

/**
 * `POST /auth/password/forgot` body: one of the two.
 */
export type ForgotPasswordRequest = {
/**
 * The account's e-mail address.
 */
email?: string | null,
/**
 * Or its username.
 */
username?: string | null, };

/**
 * `POST /auth/password/reset` body.
 */
export type ResetPasswordRequest = {
/**
 * The token from the mailed link (`…/#reset=TOKEN`).
 */
token: string,
/**
 * The new password; it must meet the password rule.
 */
new_password: string, };

/**
 * `PUT /auth/email` body.
 */
export type SetEmailRequest = {
/**
 * The new address.
 */
email: string,
/**
 * The password now, as typed.
 */
current_password: string,
/**
 * A code from the authenticator app, as for a password change.
 */
code?: string | null, };

/**
 * `POST /auth/email/verify` body.
 */
export type VerifyEmailRequest = {
/**
 * The token from the mailed link (`…/#verify=TOKEN`).
 */
token: string, };

/**
 * A user as the API shows it.
 */
export type UserResponse = {
/**
 * Stable user id; the `sub` of access tokens.
 */
id: string,
/**
 * Normalised username.
 */
username: string,
/**
 * E-mail address as given, when there is one (unconfirmed at registration).
 */
email?: string, };

/**
 * How a login or refresh hands back the refresh token.
 */
export type Delivery = "body" | "cookie";

/**
 * `POST /auth/login` body.
 */
export type LoginRequest = {
/**
 * Username as typed; compared after normalisation and case folding.
 */
username: string,
/**
 * Password as typed.
 */
password: string,
/**
 * Where the refresh token goes; `body` when absent or null.
 */
delivery?: Delivery, };

/**
 * `POST /auth/refresh` and `POST /auth/logout` body; the token may come by cookie instead.
 */
export type RefreshRequest = {
/**
 * The refresh token, when delivered in the body.
 */
refresh_token?: string, };

/**
 * Successful login or refresh.
 */
export type TokenResponse = {
/**
 * Signed JWT access token.
 */
access_token: string,
/**
 * Always `Bearer`.
 */
token_type: string,
/**
 * Seconds until the access token expires.
 */
expires_in: number,
/**
 * The refresh token; absent when delivered by cookie.
 */
refresh_token?: string,
/**
 * Seconds until the session can no longer refresh if unused.
 */
refresh_expires_in: number,
/**
 * The scopes granted (RFC 6749 §5.1), for a session opened through OAuth with a scope.
 */
scope?: string, };

/**
 * `GET /api/me` answer.
 */
export type MeResponse = {
/**
 * User id.
 */
sub: string,
/**
 * Username at the time the token was issued.
 */
username: string,
/**
 * Session the token belongs to.
 */
session_id: string,
/**
 * E-mail address at the time the token was issued, when the user has one.
 */
email?: string,
/**
 * Whether it was confirmed then; present with `email`.
 */
email_verified?: boolean, };

/**
 * One live session in `GET /auth/sessions`.
 */
export type SessionView = {
/**
 * Session id (the `sid` claim).
 */
id: string,
/**
 * RFC 3339 creation time.
 */
created_at: string,
/**
 * RFC 3339 time of the last login or refresh.
 */
last_used_at: string,
/**
 * RFC 3339 time at which the session ends if not refreshed.
 */
expires_at: string,
/**
 * `User-Agent` seen at login.
 */
user_agent: string | null,
/**
 * Client IP seen at login.
 */
ip: string | null,
/**
 * Whether the calling access token belongs to this session.
 */
current: boolean, };

/**
 * `GET /auth/sessions` answer.
 */
export type SessionList = {
/**
 * Live sessions, newest first.
 */
sessions: Array<SessionView>,
/**
 * Present when there are more: pass it as `?cursor=` for the next page.
 */
next_cursor?: string, };

/**
 * An application the user allowed (`GET /auth/connected-apps`).
 */
export type ConnectedApp = {
/**
 * The client id.
 */
client_id: string,
/**
 * Its display name (the client id when it has none or was deleted).
 */
name: string,
/**
 * The scopes allowed.
 */
scopes: Array<string>,
/**
 * When the user first allowed it (RFC 3339).
 */
granted_at: string,
/**
 * When they last allowed more (RFC 3339).
 */
updated_at: string, };

/**
 * `GET /auth/connected-apps` answer.
 */
export type ConnectedAppList = {
/**
 * The applications, by client id.
 */
apps: Array<ConnectedApp>, };

/**
 * What happened, in the audit log (`GET /auth/events`' `type`). The names are also the stored
 * kind and the metrics label, a closed set.
 */
export type EventKind = "login_succeeded" | "login_failed" | "locked_out" | "refresh_reuse" | "grace_replay" | "dpop_key_refused" | "logout" | "logout_all" | "session_revoked" | "registered" | "user_added" | "user_deleted" | "key_rotated" | "client_added" | "client_deleted" | "client_updated" | "role_added" | "role_removed" | "consent_granted" | "app_disconnected" | "password_changed" | "user_disabled" | "user_enabled" | "password_reset_requested" | "password_reset" | "email_changed" | "email_verified" | "mfa_enabled" | "mfa_disabled" | "recovery_code_used" | "recovery_codes_regenerated" | "mfa_reset";

/**
 * One event of the caller's audit log in `GET /auth/events`.
 */
export type EventView = {
/**
 * Event id; increases with time.
 */
id: string,
/**
 * What happened.
 */
type: EventKind,
/**
 * RFC 3339 time.
 */
at: string,
/**
 * The session concerned.
 */
session_id: string | null,
/**
 * Client IP.
 */
ip: string | null,
/**
 * `User-Agent`.
 */
user_agent: string | null,
/**
 * Why, in a few words (`wrong_password` …).
 */
reason: string | null, };

/**
 * `GET /auth/events` answer.
 */
export type EventList = {
/**
 * Events, newest first.
 */
events: Array<EventView>,
/**
 * Present when there are more: pass it as `?cursor=` for the next page.
 */
next_cursor?: string, };

/**
 * RFC 7662 introspection answer.
 */
export type IntrospectionResponse = {
/**
 * Whether the token is currently active.
 */
active: boolean,
/**
 * User id.
 */
sub?: string,
/**
 * Username.
 */
username?: string,
/**
 * Client the token was issued to.
 */
client_id?: string,
/**
 * `Bearer` for access tokens, `refresh_token` for refresh tokens.
 */
token_type?: string,
/**
 * Expiry, seconds since the epoch.
 */
exp?: number,
/**
 * Issue time, seconds since the epoch.
 */
iat?: number,
/**
 * Issuer.
 */
iss?: string,
/**
 * Audience.
 */
aud?: string,
/**
 * Session id.
 */
sid?: string,
/**
 * Access token id.
 */
jti?: string,
/**
 * The scopes granted, space-separated.
 */
scope?: string,
/**
 * The user's roles, for an access token that carries them.
 */
roles?: Array<string>,
/**
 * RFC 9449 §6.2: the key a DPoP-bound token is bound to (`{"jkt": …}`).
 */
cnf?: { [key in string]: string }, };

/**
 * A client-credentials answer (RFC 6749 §4.4.3, §5.1): no refresh token.
 */
export type ClientTokenResponse = {
/**
 * Signed JWT access token.
 */
access_token: string,
/**
 * Always `Bearer`.
 */
token_type: string,
/**
 * Seconds until the access token expires.
 */
expires_in: number,
/**
 * The scopes granted, space-separated.
 */
scope?: string, };

/**
 * An authorization-code answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3): the refresh
 * token only when the client gets one, the ID token for an `openid` request.
 */
export type CodeTokenResponse = {
/**
 * Signed JWT access token.
 */
access_token: string,
/**
 * Always `Bearer`.
 */
token_type: string,
/**
 * Seconds until the access token expires.
 */
expires_in: number,
/**
 * The refresh token.
 */
refresh_token?: string,
/**
 * Seconds until the session can no longer refresh if unused, with a refresh token.
 */
refresh_expires_in?: number,
/**
 * The ID token.
 */
id_token?: string,
/**
 * The scopes granted, space-separated.
 */
scope: string, };

/**
 * A second factor a login may finish with (`methods` of an `mfa_required` answer).
 */
export type MfaMethod = "totp" | "recovery_code" | "webauthn";

/**
 * `401` answer of a correct password for an account with a second factor: the login goes on
 * at `POST /auth/login/mfa` with `mfa_token`.
 */
export type MfaRequiredBody = {
/**
 * Always `mfa_required`.
 */
error: ErrorCode,
/**
 * Human-readable detail.
 */
error_description?: string,
/**
 * Single-use, for five minutes: what `POST /auth/login/mfa` finishes.
 */
mfa_token: string,
/**
 * The factors the account has.
 */
methods: Array<MfaMethod>, };

/**
 * `POST /auth/login/mfa` body: the `mfa_token` and one factor.
 */
export type LoginMfaRequest = {
/**
 * From the `mfa_required` answer.
 */
mfa_token: string,
/**
 * A code from the authenticator app.
 */
code?: string | null,
/**
 * Or one of the recovery codes.
 */
recovery_code?: string | null,
/**
 * Or a passkey's answer to the options of `POST /auth/webauthn/login/start` with this
 * `mfa_token`.
 */
webauthn?: PasskeyAssertion | null, };

/**
 * `POST /auth/mfa/totp/setup` body.
 */
export type TotpSetupRequest = {
/**
 * The password now, as typed.
 */
current_password: string, };

/**
 * `POST /auth/mfa/totp/setup` answer: the secret to enrol, three ways.
 */
export type TotpSetupResponse = {
/**
 * The secret, base32 without padding (to type into an app).
 */
secret: string,
/**
 * The `otpauth://totp/…` URI (Key Uri Format).
 */
otpauth_uri: string,
/**
 * The URI as a QR code, an SVG document.
 */
qr_svg: string, };

/**
 * `POST /auth/mfa/totp/confirm` body.
 */
export type TotpConfirmRequest = {
/**
 * A current code from the app just enrolled.
 */
code: string, };

/**
 * The fresh proof a sensitive change may carry (`DELETE /auth/mfa/totp`,
 * `POST /auth/mfa/recovery-codes`): the password or a second-factor code.
 */
export type StepUpRequest = {
/**
 * The password now, as typed.
 */
current_password?: string | null,
/**
 * Or a code from the authenticator app.
 */
code?: string | null, };

/**
 * New recovery codes: shown this once, stored only as hashes.
 */
export type RecoveryCodesResponse = {
/**
 * Ten one-time codes.
 */
recovery_codes: Array<string>, };

/**
 * `GET /auth/mfa` answer: the caller's second factors.
 */
export type MfaStatus = {
/**
 * Whether an authenticator app is enrolled (and confirmed).
 */
totp: boolean,
/**
 * Unused recovery codes left.
 */
recovery_codes_left: number,
/**
 * Passkeys and security keys registered.
 */
webauthn_credentials: number,
/**
 * The factors a login asks for, empty when it needs the password only.
 */
methods: Array<MfaMethod>, };

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null;

/**
 * A passkey's answer to a ceremony's options.
 */
export type PasskeyAssertion = {
/**
 * The `ceremony` of the options.
 */
ceremony: string,
/**
 * The `PublicKeyCredential` the browser gave, as JSON (binary fields base64url).
 */
credential: JsonValue, };

/**
 * The options of a WebAuthn ceremony (`…/start`): `publicKey` is what
 * `navigator.credentials.create()` or `.get()` takes once its base64url fields are decoded;
 * `ceremony` goes back with the answer, within five minutes, once.
 */
export type PasskeyOptions = {
/**
 * The ceremony, sealed by the server.
 */
ceremony: string,
/**
 * `PublicKeyCredentialCreationOptions` or `…RequestOptions`, binary fields base64url.
 */
publicKey: JsonValue, };

/**
 * `POST /auth/webauthn/register/start` body: the current password (a passkey signs in alone,
 * so adding one takes what signing in takes), and for an account with a second factor and no
 * recent sign-in with it, a code.
 */
export type PasskeyRegisterStartRequest = {
/**
 * The password now, as typed (required).
 */
current_password?: string | null,
/**
 * A code from the authenticator app, for step-up.
 */
code?: string | null, };

/**
 * `POST /auth/webauthn/register/finish` body.
 */
export type PasskeyRegisterFinishRequest = {
/**
 * The `ceremony` of the start's options.
 */
ceremony: string,
/**
 * The `PublicKeyCredential` the browser created, as JSON (binary fields base64url).
 */
credential: JsonValue,
/**
 * A name to tell it apart (1–64 characters); `Passkey` when absent.
 */
name?: string | null, };

/**
 * One of the caller's passkeys.
 */
export type PasskeyView = {
/**
 * The credential id, base64url (what `DELETE /auth/webauthn/credentials/{id}` takes).
 */
id: string,
/**
 * Its name.
 */
name: string,
/**
 * RFC 3339 registration time.
 */
created_at: string,
/**
 * RFC 3339 time of its last sign-in, if any.
 */
last_used_at: string | null,
/**
 * Whether it can be synced off its device (a synced passkey).
 */
backup_eligible: boolean, };

/**
 * `POST /auth/webauthn/register/finish` answer.
 */
export type PasskeyRegistered = {
/**
 * The new passkey.
 */
credential: PasskeyView,
/**
 * Ten recovery codes when this was the account's first second factor: shown this once.
 */
recovery_codes?: Array<string>, };

/**
 * `GET /auth/webauthn/credentials` answer.
 */
export type PasskeyList = {
/**
 * The caller's passkeys, oldest first.
 */
credentials: Array<PasskeyView>, };

/**
 * `POST /auth/webauthn/login/start` body: empty for a sign-in with a passkey alone, or the
 * `mfa_token` of a login whose second factor is a passkey.
 */
export type PasskeyLoginStartRequest = {
/**
 * From the `mfa_required` answer.
 */
mfa_token?: string | null, };

/**
 * `POST /auth/webauthn/login/finish` body: a sign-in with a passkey alone.
 */
export type PasskeyLoginFinishRequest = {
/**
 * The `ceremony` of the start's options.
 */
ceremony: string,
/**
 * The `PublicKeyCredential` the browser gave, as JSON (binary fields base64url).
 */
credential: JsonValue,
/**
 * Where the refresh token goes, as at `/auth/login`.
 */
delivery: Delivery, };
