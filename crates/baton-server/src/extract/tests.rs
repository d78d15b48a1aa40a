//! Unit tests of [`super`].

use super::*;
use axum::http::HeaderValue;

fn headers(auth: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(auth).expect("ascii"),
    );
    h
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
    assert_eq!(bearer_token(&headers("bEaReR abc")), Some("abc"));
}

#[test]
fn other_schemes_and_empty_tokens_are_no_token() {
    assert_eq!(bearer_token(&headers("Basic abc")), None);
    assert_eq!(bearer_token(&headers("Bearer ")), None);
    assert_eq!(bearer_token(&headers("Bearer")), None);
    assert_eq!(bearer_token(&HeaderMap::new()), None);
}

#[test]
fn basic_credentials_are_decoded_and_unescaped() {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode("my%20api:s3cr%3At");
    let h = headers(&format!("Basic {encoded}"));
    let c = basic_credentials(&h).expect("valid").expect("present");
    assert_eq!((c.id.as_str(), c.secret.as_str()), ("my api", "s3cr:t"));
    assert!(basic_credentials(&headers("Bearer abc"))
        .expect("ok")
        .is_none());
    assert!(basic_credentials(&headers("Basic !!!")).is_err());
}

fn forwarded(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append("x-forwarded-for", HeaderValue::from_str(v).expect("ascii"));
    }
    h
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

#[test]
fn the_client_is_the_right_most_untrusted_forwarded_address() {
    let trusted: Vec<IpNet> = vec![
        "10.0.0.0/8".parse().expect("cidr"),
        "2001:db8:ffff::1/128".parse().expect("cidr"),
    ];
    let proxy = ip("10.0.0.2");
    // A client's own entries to the left of what the proxy appended are ignored.
    let h = forwarded(&["203.0.113.9, 198.51.100.4"]);
    assert_eq!(client_ip(proxy, &h, &trusted), ip("198.51.100.4"));
    // Several proxies: skip the trusted ones from the right; header lines join in order.
    let h = forwarded(&["203.0.113.9", "198.51.100.4:5123, 10.1.2.3"]);
    assert_eq!(client_ip(proxy, &h, &trusted), ip("198.51.100.4"));
    // An untrusted peer's header is ignored.
    let h = forwarded(&["203.0.113.9"]);
    assert_eq!(client_ip(ip("192.0.2.1"), &h, &trusted), ip("192.0.2.1"));
    // Nothing but proxies, or no header: the left-most proxy seen, or the peer.
    let h = forwarded(&["10.9.9.9, 10.1.1.1"]);
    assert_eq!(client_ip(proxy, &h, &trusted), ip("10.9.9.9"));
    assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    // Garbage stops the walk at the last trusted hop.
    let h = forwarded(&["198.51.100.4, unknown, 10.1.1.1"]);
    assert_eq!(client_ip(proxy, &h, &trusted), ip("10.1.1.1"));
    // IPv4-mapped addresses are their IPv4 selves, as peer and as entry.
    let h = forwarded(&["::ffff:198.51.100.4"]);
    assert_eq!(
        client_ip(ip("::ffff:10.0.0.2"), &h, &trusted),
        ip("198.51.100.4")
    );
    let h = forwarded(&["[2001:db8::7]:443, 2001:db8:ffff::1"]);
    assert_eq!(client_ip(proxy, &h, &trusted), ip("2001:db8::7"));
}

#[test]
fn json_content_types_are_recognised() {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    assert!(is_json(&h));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    assert!(!is_json(&h));
}
