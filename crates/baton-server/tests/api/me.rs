//! Tests for me.
