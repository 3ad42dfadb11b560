//! The edge: path ids, query flags and JSON bodies become typed values here, or a
//! clear 4xx. Nothing malformed reaches a handler.

use std::fmt;

use lambda_http::http::header::{CONTENT_TYPE, USER_AGENT};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};

use crate::domain::{DeviceId, Origin, SessionId, UserId};
use crate::error::Error;

/// Bodies above this are refused with 413: the largest valid registration is ~4 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The `{userId}` path parameter of the service routes (`/admin/users/{userId}/…`).
pub fn user_id(request: &Request) -> Result<UserId, Error> {
    request
        .path_parameters_ref()
        .and_then(|p| p.first("userId"))
        .and_then(UserId::parse)
        .ok_or_else(|| Error::bad_request("INVALID_USER_ID", "Invalid user id"))
}

/// Whether the route has a `{id}` path parameter at all.
pub fn has_id(request: &Request) -> bool {
    request
        .path_parameters_ref()
        .is_some_and(|p| p.first("id").is_some())
}

/// The IAM principal API Gateway authenticated (the `AWS_IAM` authorization of the
/// service routes: a SigV4 signature it checked): its ARN. Anything else — no
/// authorization, a Bearer token — is refused with 403.
pub fn iam_caller(request: &Request) -> Result<String, Error> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone())
            .filter(|arn| arn.starts_with("arn:"))
            .ok_or(Error::Forbidden),
        _ => Err(Error::Forbidden),
    }
}

/// The JSON body as `T`, or `T::default()` when there is no body at all.
pub fn optional_json_body<T: DeserializeOwned + Default>(request: &Request) -> Result<T, Error> {
    let empty = match request.body() {
        Body::Empty => true,
        Body::Text(text) => text.trim().is_empty(),
        Body::Binary(bytes) => bytes.iter().all(u8::is_ascii_whitespace),
        _ => true,
    };
    if empty {
        Ok(T::default())
    } else {
        json_body(request)
    }
}

/// The `{id}` path parameter as a device id.
pub fn device_id(request: &Request) -> Result<DeviceId, Error> {
    DeviceId::parse(&path_id(request))
        .ok_or_else(|| Error::bad_request("INVALID_DEVICE_ID", "Invalid device id"))
}

/// The `{id}` path parameter as a session id.
pub fn session_id(request: &Request) -> Result<SessionId, Error> {
    SessionId::parse(&path_id(request))
        .ok_or_else(|| Error::bad_request("INVALID_SESSION_ID", "Invalid session id"))
}

/// Whether `{id}` names a device: the route is `…/devices/{id}/<action>`, not
/// `…/sessions/{id}/<action>` (the two heartbeat routes share one function).
pub fn has_device_id(request: &Request) -> bool {
    request.uri().path().rsplit('/').nth(2) == Some("devices")
}

fn path_id(request: &Request) -> String {
    request
        .path_parameters_ref()
        .and_then(|p| p.first("id"))
        .unwrap_or_default()
        .to_string()
}

/// The address the request came from, as API Gateway saw it: never a value the
/// client claims.
pub fn source_ip(request: &Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    }
}

/// The request's User-Agent header, at most 1 024 characters (header values are
/// visible ASCII, so nothing invisible comes through).
pub fn user_agent(request: &Request) -> String {
    let raw = request
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    raw.chars().take(1024).collect()
}

/// Where a request came from, for its security event.
pub fn origin(request: &Request) -> Origin {
    let user_agent = user_agent(request);
    Origin {
        source_ip: source_ip(request),
        user_agent: (!user_agent.is_empty()).then_some(user_agent),
        location: None,
    }
}

/// A boolean query flag: absent is false; only `true` and `false` are accepted.
pub fn flag(request: &Request, name: &str) -> Result<bool, Error> {
    match request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
    {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(Error::bad_request(
            "INVALID_QUERY",
            format!("Query parameter {name} must be true or false"),
        )),
    }
}

/// The JSON body as `T`. Unknown fields are ignored (the published client sends
/// extra device details); known ones must have the right type and size.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, Error> {
    if let Some(content_type) = request.headers().get(CONTENT_TYPE) {
        let media_type = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if !media_type.eq_ignore_ascii_case("application/json") {
            return Err(Error::UnsupportedMediaType);
        }
    }
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request(
            "INVALID_JSON",
            "Request body is required",
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::bad_request("INVALID_JSON", "Request body must be UTF-8 JSON"))?;
    let invalid_json = || Error::bad_request("INVALID_JSON", "Request body is not valid JSON");
    let mut json = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut json).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            Error::bad_request(
                "INVALID_FIELD",
                format!("{path}: {}", strip_position(&inner)),
            )
        } else {
            invalid_json()
        }
    })?;
    json.end().map_err(|_| invalid_json())?;
    Ok(value)
}

/// serde_json appends "at line 1 column 9"; the field path says more.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Unicode's format characters (general category Cf, Unicode 16.0): invisible, and
/// they reorder or hide text — U+202E RIGHT-TO-LEFT OVERRIDE turns "Chrome on
/// \u{202E}SOcam" into "Chrome on macOS" on screen, U+200B ZERO WIDTH SPACE makes two
/// equal-looking names differ — so a field holding one can pass for another in any UI.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// A character no text field takes: a control character, or an invisible format
/// character (see [`FORMAT_CHARACTERS`]).
pub fn is_refused(c: char) -> bool {
    c.is_control()
        || FORMAT_CHARACTERS
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&c))
}

/// A string field of 1 to `MAX` characters with no control or invisible characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize>(pub String);

impl<const MAX: usize> Text<MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<const MAX: usize>;
        impl<const MAX: usize> de::Visitor<'_> for Visitor<MAX> {
            type Value = Text<MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "a string of 1 to {MAX} characters, none of them control or invisible"
                )
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                let length = value.chars().count();
                if length == 0 || length > MAX || value.chars().any(is_refused) {
                    return Err(E::invalid_value(de::Unexpected::Str("(this value)"), &self));
                }
                Ok(Text(value.to_string()))
            }
        }
        deserializer.deserialize_str(Visitor::<MAX>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Body {
        fingerprint: Text<8>,
        #[serde(default)]
        name: Option<Text<4>>,
    }

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder();
        if let Some(content_type) = content_type {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        builder.body(lambda_http::Body::from(body)).unwrap()
    }

    fn parse(content_type: Option<&str>, body: &str) -> Result<Body, Error> {
        json_body::<Body>(&request(content_type, body))
    }

    fn code(result: Result<Body, Error>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn valid_bodies_parse_and_unknown_fields_are_ignored() {
        let body = parse(
            Some("application/json; charset=utf-8"),
            r#"{"fingerprint":"abc","extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(body.fingerprint.as_str(), "abc");
        assert!(body.name.is_none());
        assert!(parse(None, r#"{"fingerprint":"abc","name":null}"#).is_ok());
    }

    #[test]
    fn malformed_bodies_are_400_with_the_field_named() {
        assert_eq!(code(parse(None, "")), "INVALID_JSON");
        assert_eq!(code(parse(None, "{")), "INVALID_JSON");
        assert_eq!(
            code(parse(None, r#"{"fingerprint":"a"} x"#)),
            "INVALID_JSON"
        );
        assert_eq!(code(parse(None, "[]")), "INVALID_FIELD");
        let missing = parse(None, "{}").unwrap_err();
        assert_eq!(missing.code(), "INVALID_FIELD");
        assert!(missing.message("").contains("fingerprint"), "{missing}");
        let wrong_type = parse(None, r#"{"fingerprint":5}"#).unwrap_err();
        assert!(
            wrong_type
                .message("")
                .starts_with("fingerprint: invalid type"),
            "{wrong_type}"
        );
        let long = parse(None, r#"{"fingerprint":"a","name":"abcde"}"#).unwrap_err();
        assert!(long.message("").starts_with("name: "), "{long}");
        assert_eq!(code(parse(None, r#"{"fingerprint":""}"#)), "INVALID_FIELD");
        assert_eq!(
            code(parse(None, "{\"fingerprint\":\"a\\u0000\"}")),
            "INVALID_FIELD"
        );
    }

    #[test]
    fn invisible_format_characters_are_refused_and_visible_text_is_not() {
        // Right-to-left override, zero-width space and joiner, BOM, word joiner, a tag.
        for invisible in [
            "\u{202E}",
            "\u{200B}",
            "\u{200D}",
            "\u{FEFF}",
            "\u{2060}",
            "\u{E0041}",
        ] {
            let body = json!({ "fingerprint": format!("a{invisible}b") }).to_string();
            let refused = parse(None, &body).unwrap_err();
            assert_eq!(refused.code(), "INVALID_FIELD", "{invisible:?}");
            assert!(
                refused.message("").starts_with("fingerprint: "),
                "{refused}"
            );
        }
        for visible in ["Café", "Ζ", "東京", "São", "🙂", "a b"] {
            let body = json!({ "fingerprint": visible }).to_string();
            assert!(parse(None, &body).is_ok(), "{visible}");
        }
    }

    #[test]
    fn content_type_size_and_encoding() {
        assert_eq!(
            code(parse(Some("text/plain"), r#"{"fingerprint":"a"}"#)),
            "UNSUPPORTED_MEDIA_TYPE"
        );
        let huge = format!(r#"{{"fingerprint":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert_eq!(code(parse(None, &huge)), "PAYLOAD_TOO_LARGE");
        let binary = http::Request::builder()
            .body(lambda_http::Body::Binary(vec![b'{', 0xff, b'}']))
            .unwrap();
        assert_eq!(
            json_body::<Body>(&binary).unwrap_err().code(),
            "INVALID_JSON"
        );
    }
}
