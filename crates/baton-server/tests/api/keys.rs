//! Signing keys shared by instances on one database.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn a_token_signed_after_another_instance_rotated_is_accepted_at_once() {
    // Instances behind one load balancer share the issuer.
    let issuer = |s: &mut baton_server::Settings| s.issuer = Some("http://baton.test".into());
    let a = TestApp::spawn_with(issuer).await;
    let b = TestApp::spawn_in(a.dir.clone(), issuer).await;
    b.create_user("alice").await;
    let kid = b
        .state
        .baton
        .rotate_signing_key(None)
        .await
        .expect("rotate");
    let t = b.login_ok("alice").await;
    assert_eq!(jwt_header(&t.access)["kid"], kid.as_str());
    let r = a.get_bearer("/api/me", &t.access).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "A rereads the keys on the unknown kid"
    );
    let jwks = body(
        a.client
            .get(a.url("/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks"),
    )
    .await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&kid.as_str()), "{kids:?}");
    assert_eq!(kids.len(), 2, "the old key stays published");
}

#[tokio::test]
async fn forged_kids_are_refused_and_real_tokens_keep_working() {
    let app = TestApp::spawn().await;
    let t = app.user_session("alice").await;
    let header = jwt_header(&t.access);
    for i in 0..20 {
        let mut forged = header.clone();
        forged["kid"] = serde_json::json!(format!("forged-{i}"));
        use base64::Engine as _;
        let head = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&forged).expect("json"));
        let rest = t.access.split_once('.').expect("jwt").1;
        let r = app.get_bearer("/api/me", &format!("{head}.{rest}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    app.advance(10);
    assert_eq!(
        app.get_bearer("/api/me", &t.access).await.status(),
        StatusCode::OK
    );
}
