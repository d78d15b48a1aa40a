//! Unit tests of [`super`].

use super::*;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn cheap() -> Params {
    Params::new(64, 1, 1, None).expect("valid")
}

fn limits(workers: usize) -> HashingLimits {
    HashingLimits { workers, queue: 16 }
}

#[test]
fn length_rules_count_code_points_and_never_truncate() {
    assert_eq!(
        Password::new("1234567".into(), 8).err(),
        Some(PasswordError::TooShort(8))
    );
    assert!(Password::new("ééééééé€".into(), 8).is_ok());
    assert!(Password::new("é".repeat(1024), 8).is_ok());
    assert_eq!(
        Password::new("a".repeat(1025), 8).err(),
        Some(PasswordError::TooLong)
    );
}

fn rule(min_score: u8) -> PasswordRule {
    PasswordRule {
        min_length: 8,
        min_score,
    }
}

#[test]
fn a_score_of_zero_checks_the_length_alone() {
    assert!(Password::chosen("password".into(), "alice", rule(0)).is_ok());
    assert!(Password::chosen("alice1234".into(), "alice", rule(0)).is_ok());
    assert_eq!(
        Password::chosen("pass".into(), "alice", rule(0)).err(),
        Some(PasswordError::TooShort(8))
    );
}

#[test]
fn common_passwords_are_too_weak_and_say_why() {
    for weak in [
        "password",
        "password123",
        "qwertyuiop",
        "11111111",
        "letmein!",
    ] {
        match Password::chosen(weak.into(), "alice", rule(2)) {
            Err(PasswordError::TooWeak { score, min: 2, .. }) => assert!(score < 2, "{weak}"),
            other => panic!("{weak}: {other:?}"),
        }
    }
    let Err(e) = Password::chosen("password".into(), "alice", rule(2)) else {
        panic!("accepted");
    };
    let text = e.to_string();
    assert!(
        text.starts_with("password is too easy to guess (strength 0 of 4, at least 2 needed). "),
        "{text}"
    );
    assert!(!text.contains("password\""), "{text}");
}

#[test]
fn strong_passwords_pass_and_length_still_rules() {
    for strong in [
        "correct horse battery staple",
        "Tr0ub4dor&3-elk-vinyl",
        "q7#Vf9!mZ2@wLp",
    ] {
        assert!(
            Password::chosen(strong.into(), "alice", rule(3)).is_ok(),
            "{strong}"
        );
    }
    assert_eq!(
        Password::chosen("x".repeat(1025), "alice", rule(2)).err(),
        Some(PasswordError::TooLong)
    );
    // Past zxcvbn's first 100 characters, a long password is judged by its start.
    let long = format!(
        "{}{}",
        "correct horse battery staple ".repeat(4),
        "a".repeat(900)
    );
    assert!(Password::chosen(long, "alice", rule(4)).is_ok());
}

#[test]
fn the_username_is_refused_inside_its_own_password() {
    for with_name in [
        "alice-in-wonderland-7",
        "xx ALICE yy 2024 zz",
        "ＡＬＩＣＥ9-rabbit-hole",
    ] {
        assert_eq!(
            Password::chosen(with_name.into(), "alice", rule(1)).err(),
            Some(PasswordError::ContainsUsername),
            "{with_name}"
        );
    }
    // Case folding as usernames are compared: ß is ss.
    assert_eq!(
        Password::chosen("Strasse-of-the-night-42".into(), "strasse", rule(1)).err(),
        Some(PasswordError::ContainsUsername)
    );
    // Names too short to look for are only a known input to zxcvbn.
    assert!(Password::chosen("bob-lives-under-the-bridge".into(), "bo", rule(1)).is_ok());
}

#[test]
fn debug_never_shows_the_password() {
    let p = Password::presented("hunter22".into());
    assert!(!format!("{p:?}").contains("hunter22"));
}

#[tokio::test]
async fn hashes_verify_and_unknown_users_never_match() {
    let hasher = PasswordHasher::new(cheap(), limits(2)).expect("hasher");
    let pw = Password::presented("correct horse".into());
    let phc = hasher.hash(&pw).await.expect("hash");
    assert!(phc.starts_with("$argon2id$"));
    let good = hasher.verify(&pw, Some(&phc)).await.expect("verify");
    assert_eq!(
        good,
        Verified {
            ok: true,
            needs_rehash: false
        }
    );
    let bad = hasher
        .verify(&Password::presented("wrong".into()), Some(&phc))
        .await
        .expect("verify");
    assert!(!bad.ok);
    let unknown = hasher.verify(&pw, None).await.expect("verify");
    assert!(!unknown.ok);
}

#[tokio::test]
async fn old_parameters_ask_for_a_rehash() {
    let old = PasswordHasher::new(cheap(), limits(1)).expect("hasher");
    let pw = Password::presented("correct horse".into());
    let phc = old.hash(&pw).await.expect("hash");
    let new = PasswordHasher::new(Params::new(128, 1, 1, None).expect("valid"), limits(1))
        .expect("hasher");
    let v = new.verify(&pw, Some(&phc)).await.expect("verify");
    assert_eq!(
        v,
        Verified {
            ok: true,
            needs_rehash: true
        }
    );
}

#[tokio::test]
async fn hashes_are_standard_phc_strings_both_ways() {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
    let hasher = PasswordHasher::new(cheap(), limits(1)).expect("hasher");
    let pw = Password::presented("correct horse".into());
    let ours = hasher.hash(&pw).await.expect("hash");
    let parsed = PasswordHash::new(&ours).expect("a PHC string");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, cheap())
        .verify_password(b"correct horse", &parsed)
        .expect("the argon2 crate accepts our hash");
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, cheap())
        .hash_password(b"correct horse", &salt)
        .expect("hash")
        .to_string();
    let v = hasher.verify(&pw, Some(&theirs)).await.expect("verify");
    assert!(v.ok, "we accept the argon2 crate's hash");
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_instead_of_growing() {
    let slow = Params::new(8 * 1024, 4, 1, None).expect("valid");
    let hasher = PasswordHasher::new(
        slow,
        HashingLimits {
            workers: 1,
            queue: 2,
        },
    )
    .expect("hasher");
    let pw = Password::presented("correct horse".into());
    let answers = futures_join_all((0..12).map(|_| {
        let (hasher, pw) = (hasher.clone(), pw.clone());
        tokio::spawn(async move { hasher.hash(&pw).await })
    }))
    .await;
    let busy = answers
        .iter()
        .filter(|a| matches!(a, Err(HashError::Busy)))
        .count();
    let done = answers.iter().filter(|a| a.is_ok()).count();
    assert!(busy >= 8, "{busy} refused");
    assert!(done >= 1, "{done} hashed");
    assert_eq!(busy + done, 12);
}

#[tokio::test]
async fn a_stored_hash_asking_for_huge_work_is_refused_without_running_it() {
    let hasher = PasswordHasher::new(cheap(), limits(1)).expect("hasher");
    let pw = Password::presented("correct horse".into());
    let hostile = "$argon2id$v=19$m=4194304000,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
                   AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let v = hasher.verify(&pw, Some(hostile)).await.expect("answered");
    assert!(!v.ok);
    let slow = "$argon2id$v=19$m=64,t=100000,p=1$c29tZXNhbHRzb21lc2FsdA$\
                AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let v = hasher.verify(&pw, Some(slow)).await.expect("answered");
    assert!(!v.ok);
}

async fn futures_join_all<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.expect("join"));
    }
    out
}
