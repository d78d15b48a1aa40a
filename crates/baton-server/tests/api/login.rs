//! Tests for login.
