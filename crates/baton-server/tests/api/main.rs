//! Integration tests: each test starts the real server on port 0 with its own temporary SQLite
//! database and a manual clock, and talks HTTP to it.

// Tests state their expectations with `expect`; a failed one is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod helpers;

mod accounts;
mod audit;
mod bad_input;
mod clients;
mod clock;
mod cookies;
mod discovery;
mod dpop;
mod keys;
mod limits;
mod login;
mod mail;
mod me;
mod mfa;
mod oauth;
mod oidc;
mod operations;
mod passkeys;
mod refresh;
mod register;
mod sessions;
mod storage;
