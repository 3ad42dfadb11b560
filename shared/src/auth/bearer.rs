//! The `Authorization` header (RFC 6750 §2.1, RFC 9449 §7.1): exactly one, `Bearer` or
//! `DPoP` and exactly one token.

use lambda_http::Request;
use lambda_http::http::header::AUTHORIZATION;

use crate::error::{AuthFailure, Error};

/// Exactly one `Authorization: Bearer <token>` header, with one space and a
/// non-empty token of base64url and dots; anything else is malformed.
pub fn bearer_token(request: &Request) -> Result<&str, Error> {
    bearer(authorization_header(request)?)
}

/// The one `Authorization` header's value, `None` without one; repeated, or not
/// text, it is malformed.
pub fn authorization_header(request: &Request) -> Result<Option<&str>, Error> {
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let malformed = Error::Unauthorized(AuthFailure::Malformed);
    if values.next().is_some() {
        return Err(malformed);
    }
    value.to_str().map(Some).map_err(|_| malformed)
}

/// `Bearer <token>` (or `DPoP <token>`, the scheme of a key-bound token) with one
/// space and a non-empty token of base64url and dots; anything else is malformed, and
/// no value at all is missing.
pub fn bearer(header: Option<&str>) -> Result<&str, Error> {
    let value = header.ok_or(Error::Unauthorized(AuthFailure::Missing))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("DPoP "))
        .ok_or(Error::Unauthorized(AuthFailure::Malformed))?;
    let token_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if token.is_empty() || !token.chars().all(token_chars) {
        return Err(Error::Unauthorized(AuthFailure::Malformed));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_must_be_exactly_bearer_and_one_token() {
        let request = |values: &[&str]| {
            let mut builder = lambda_http::http::Request::builder();
            for value in values {
                builder = builder.header(AUTHORIZATION, *value);
            }
            builder.body(lambda_http::Body::Empty).unwrap()
        };
        for scheme in ["Bearer", "DPoP"] {
            let header = format!("{scheme} abc.def.ghi");
            assert_eq!(bearer_token(&request(&[&header])).unwrap(), "abc.def.ghi");
        }
        let code = |values: &[&str]| bearer_token(&request(values)).unwrap_err().code();
        assert_eq!(code(&[]), "MISSING_TOKEN");
        for bad in [
            "bearer a.b.c",
            "Bearer  a.b.c",
            "Bearer a.b.c d",
            "Bearer ",
            "Basic dXNlcg==",
            "a.b.c",
        ] {
            assert_eq!(code(&[bad]), "INVALID_TOKEN", "{bad:?}");
        }
        assert_eq!(code(&["Bearer a.b.c", "Bearer a.b.c"]), "INVALID_TOKEN");
    }
}
