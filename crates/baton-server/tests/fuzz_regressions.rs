//! Replays every input kept in `fuzz/regressions/<target>/` through the checks its fuzz target
//! runs (`fuzz/src/lib.rs`, shared with the targets): once a crash is found and fixed, it stays
//! fixed. The fuzzing itself is `scripts/fuzz`, outside the test command.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("the regressions folder") {
        let path = entry.expect("an entry").path();
        if path.file_name().is_some_and(|n| n == ".gitkeep") {
            continue;
        }
        check(&std::fs::read(&path).expect("an input"));
        replayed += 1;
    }
    assert!(replayed > 0, "no inputs in {}", dir.display());
}

#[test]
fn token_inputs() {
    replay("token", checks::token);
}

#[test]
fn request_inputs() {
    replay("request", checks::request);
}

#[test]
fn username_inputs() {
    replay("username", checks::username);
}

#[test]
fn dpop_inputs() {
    replay("dpop", checks::dpop);
}
