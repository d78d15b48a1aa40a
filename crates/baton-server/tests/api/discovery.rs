//! Tests for discovery.
