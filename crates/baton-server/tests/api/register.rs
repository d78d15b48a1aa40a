//! Tests for register.
