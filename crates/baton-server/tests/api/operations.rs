//! Tests for operations.
