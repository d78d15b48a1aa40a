//! Tests for bad input.
