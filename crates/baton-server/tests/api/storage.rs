//! Tests for storage.
