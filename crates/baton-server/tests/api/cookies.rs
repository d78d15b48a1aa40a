//! Tests for cookies.
