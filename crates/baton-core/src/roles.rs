//! Roles an operator gives users, carried in access tokens as `roles` (RFC 9068 §7.2.1.1).

/// Most roles one user may have.
pub const MAX_ROLES: usize = 32;
/// Longest role name.
pub const MAX_ROLE_LEN: usize = 64;

/// Why a role was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// Empty, too long, or with characters outside `A-Z a-z 0-9 . _ : -`.
    #[error("role names are 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")]
    Malformed,
    /// The user has [`MAX_ROLES`] roles already.
    #[error("a user has at most 32 roles")]
    TooMany,
}

/// Checks a role name.
pub fn parse_role(role: &str) -> Result<&str, RoleError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if role.is_empty() || role.len() > MAX_ROLE_LEN || !role.chars().all(ok) {
        return Err(RoleError::Malformed);
    }
    Ok(role)
}

/// `roles` with `role` added (sorted, no duplicates); `None` when it was there already.
pub fn with_role(roles: &[String], role: &str) -> Result<Option<Vec<String>>, RoleError> {
    let role = parse_role(role)?;
    if roles.iter().any(|r| r == role) {
        return Ok(None);
    }
    if roles.len() >= MAX_ROLES {
        return Err(RoleError::TooMany);
    }
    let mut out = roles.to_vec();
    out.push(role.to_owned());
    out.sort();
    Ok(Some(out))
}

/// `roles` without `role`; `None` when it was not there.
pub fn without_role(roles: &[String], role: &str) -> Option<Vec<String>> {
    roles
        .iter()
        .any(|r| r == role)
        .then(|| roles.iter().filter(|r| *r != role).cloned().collect())
}

/// The stored form of a list of roles: space-separated, `None` for none.
pub fn to_stored(roles: &[String]) -> Option<String> {
    (!roles.is_empty()).then(|| roles.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_plain_names_kept_sorted_and_bounded() {
        assert_eq!(parse_role("billing:admin"), Ok("billing:admin"));
        for bad in ["", "a b", "é", "a\"b", &"x".repeat(65)] {
            assert_eq!(parse_role(bad), Err(RoleError::Malformed), "{bad}");
        }
        let roles = with_role(&[], "b").expect("ok").expect("added");
        let roles = with_role(&roles, "a").expect("ok").expect("added");
        assert_eq!(roles, ["a", "b"]);
        assert_eq!(with_role(&roles, "a"), Ok(None));
        assert_eq!(to_stored(&roles).as_deref(), Some("a b"));
        assert_eq!(without_role(&roles, "a"), Some(vec!["b".to_owned()]));
        assert_eq!(without_role(&roles, "c"), None);
        assert_eq!(to_stored(&[]), None);
        let many: Vec<String> = (0..MAX_ROLES).map(|i| format!("r{i}")).collect();
        assert_eq!(with_role(&many, "one-more"), Err(RoleError::TooMany));
    }
}
