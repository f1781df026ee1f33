//! Extracts the bearer token from a request's headers, refusing anything that cannot be a
//! service-account token before any cryptography or API call is spent on it (AUTHN-01, AUTHN-02).
//!
//! Only the `Authorization` header is read. Identity headers a proxy might set (`X-Remote-User`,
//! `X-Remote-Group`, `Impersonate-User`, `Impersonate-Group`, ...) are never consulted: this server
//! sits behind no authenticating proxy, so anyone could send them (AUTHN-12).

use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::AuthError;

/// The longest token accepted, in bytes. Kubernetes service-account tokens are 1–2 KiB; the cap
/// keeps a hostile header from costing base64 decoding, JSON parsing or a TokenReview.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Room for the scheme and the spaces around the token.
const MAX_HEADER_BYTES: usize = MAX_TOKEN_BYTES + 64;

/// Returns the one bearer token of the request.
///
/// Requires exactly one `Authorization` header, the scheme `Bearer` (any case), one token after
/// it, and a token that passes [`check_token_shape`]. Never reads any other header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() {
        return Err(AuthError::Malformed("several Authorization headers"));
    }
    if value.len() > MAX_HEADER_BYTES {
        return Err(AuthError::Malformed("Authorization header too long"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("Authorization header is not visible ASCII"))?
        .trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err(AuthError::Malformed("empty Authorization header"));
    }
    // RFC 6750 §2.1: `Bearer 1*SP b64token`; the scheme is case-insensitive (RFC 9110 §11.1).
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed("scheme is not Bearer"));
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::Malformed("no token after Bearer"));
    }
    if token.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(AuthError::Malformed("more than one token after Bearer"));
    }
    check_token_shape(token)?;
    Ok(token)
}

/// The structural pre-check of a JWS compact token: at most [`MAX_TOKEN_BYTES`], three non-empty
/// segments separated by `.`, each unpadded base64url of a length base64 can produce.
///
/// It proves nothing about the token; it only makes sure that what reaches an [`Authenticator`]
/// (and maybe the API server) could be a JWT.
///
/// [`Authenticator`]: super::Authenticator
pub fn check_token_shape(token: &str) -> Result<(), AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed("token longer than 8 KiB"));
    }
    let not_three = AuthError::Malformed("token is not three non-empty dot-separated segments");
    // One pass over the bytes with a table: every report's token goes through here.
    let mut segments = 1;
    let mut segment_len = 0usize;
    for &b in token.as_bytes() {
        if b == b'.' {
            if segment_len == 0 || segments == 3 {
                return Err(not_three);
            }
            check_segment_len(segment_len)?;
            segments += 1;
            segment_len = 0;
        } else if BASE64URL[usize::from(b)] {
            segment_len += 1;
        } else {
            return Err(AuthError::Malformed(
                "token has a character outside unpadded base64url",
            ));
        }
    }
    if segment_len == 0 || segments != 3 {
        return Err(not_three);
    }
    check_segment_len(segment_len)
}

/// Unpadded base64 never leaves a single character over (one character carries 6 bits).
fn check_segment_len(len: usize) -> Result<(), AuthError> {
    if len % 4 == 1 {
        return Err(AuthError::Malformed(
            "token segment has a length base64 cannot produce",
        ));
    }
    Ok(())
}

/// The bytes of unpadded base64url: `A-Z`, `a-z`, `0-9`, `-` and `_`.
const BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    /// Shaped like a JWT; not a valid one (nothing here verifies signatures).
    const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz";

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            match HeaderValue::from_bytes(v) {
                Ok(v) => map.append(AUTHORIZATION, v),
                Err(e) => panic!("test header {v:?}: {e}"),
            };
        }
        map
    }

    #[test]
    fn accepts_one_bearer_token() {
        let with = |v: String| headers(&[v.as_bytes()]);
        for value in [
            format!("Bearer {TOKEN}"),
            format!("bearer {TOKEN}"),
            format!("BEARER {TOKEN}"),
            format!("bEaReR {TOKEN}"),
            format!("Bearer   {TOKEN}"),
            format!("  Bearer {TOKEN}\t"),
        ] {
            assert_eq!(bearer_token(&with(value.clone())), Ok(TOKEN), "{value:?}");
        }
        let longest = format!("{}.{}.{}", "a".repeat(MAX_TOKEN_BYTES - 10), "bbbb", "cccc");
        assert_eq!(longest.len(), MAX_TOKEN_BYTES);
        assert_eq!(
            bearer_token(&with(format!("Bearer {longest}"))),
            Ok(longest.as_str())
        );
    }

    #[test]
    fn refuses_malformed_headers() {
        let huge = format!("Bearer {}", "a".repeat(20 * 1024));
        let just_over = format!(
            "Bearer {}.{}.{}",
            "a".repeat(MAX_TOKEN_BYTES - 9),
            "bbbb",
            "cccc"
        );
        let bearer = |t: &str| format!("Bearer {t}");
        #[rustfmt::skip]
        let cases: Vec<(Vec<Vec<u8>>, AuthError)> = vec![
            (vec![], AuthError::Missing),
            (vec![bearer(TOKEN).into(), bearer(TOKEN).into()], AuthError::Malformed("several Authorization headers")),
            (vec![bearer(TOKEN).into(), b"".to_vec()], AuthError::Malformed("several Authorization headers")),
            (vec![b"".to_vec()], AuthError::Malformed("empty Authorization header")),
            (vec![b"   ".to_vec()], AuthError::Malformed("empty Authorization header")),
            (vec![b"Bearer".to_vec()], AuthError::Malformed("no token after Bearer")),
            (vec![b"Bearer    ".to_vec()], AuthError::Malformed("no token after Bearer")),
            (vec![format!("Basic {TOKEN}").into()], AuthError::Malformed("scheme is not Bearer")),
            (vec![b"Basic dXNlcjpwYXNzd29yZA==".to_vec()], AuthError::Malformed("scheme is not Bearer")),
            (vec![format!("Token {TOKEN}").into()], AuthError::Malformed("scheme is not Bearer")),
            (vec![format!("Bearer:{TOKEN}").into()], AuthError::Malformed("scheme is not Bearer")),
            (vec![format!("Bearer\t{TOKEN}").into()], AuthError::Malformed("scheme is not Bearer")),
            (vec![TOKEN.into()], AuthError::Malformed("scheme is not Bearer")),
            (vec![format!("Bearer {TOKEN} {TOKEN}").into()], AuthError::Malformed("more than one token after Bearer")),
            (vec![b"Bearer a b".to_vec()], AuthError::Malformed("more than one token after Bearer")),
            (vec![format!("Bearer {TOKEN}\tx").into()], AuthError::Malformed("more than one token after Bearer")),
            (vec![format!("Bearer {TOKEN}\u{e9}").into()], AuthError::Malformed("Authorization header is not visible ASCII")),
            (vec![b"Bearer \xff\xfe.a.b".to_vec()], AuthError::Malformed("Authorization header is not visible ASCII")),
            (vec![huge.into()], AuthError::Malformed("Authorization header too long")),
            (vec![just_over.into()], AuthError::Malformed("token longer than 8 KiB")),
            (vec![bearer("abcd").into()], AuthError::Malformed("token is not three non-empty dot-separated segments")),
            (vec![bearer("abcd.efgh").into()], AuthError::Malformed("token is not three non-empty dot-separated segments")),
            (vec![bearer("abcd.efgh.ijkl.mnop").into()], AuthError::Malformed("token is not three non-empty dot-separated segments")),
            (vec![bearer("abcd.efgh.ijkl.mnop.qrst").into()], AuthError::Malformed("token is not three non-empty dot-separated segments")),
            (vec![bearer("abcd.efgh.").into()], AuthError::Malformed("token is not three non-empty dot-separated segments")),
            (vec![bearer(".efgh.ijkl").into()], AuthError::Malformed("token is not three non-empty dot-separated segments")),
            (vec![bearer("abcd..ijkl").into()], AuthError::Malformed("token is not three non-empty dot-separated segments")),
            (vec![bearer("..").into()], AuthError::Malformed("token is not three non-empty dot-separated segments")),
            (vec![bearer("abcd.efgh.ijk=").into()], AuthError::Malformed("token has a character outside unpadded base64url")),
            (vec![bearer("ab+d.efgh.ijkl").into()], AuthError::Malformed("token has a character outside unpadded base64url")),
            (vec![bearer("ab/d.efgh.ijkl").into()], AuthError::Malformed("token has a character outside unpadded base64url")),
            (vec![bearer("abcd.ef\"h.ijkl").into()], AuthError::Malformed("token has a character outside unpadded base64url")),
            (vec![bearer("abcd.efgh.ijklm").into()], AuthError::Malformed("token segment has a length base64 cannot produce")),
            (vec![bearer("a.efgh.ijkl").into()], AuthError::Malformed("token segment has a length base64 cannot produce")),
        ];
        for (values, want) in cases {
            let slices: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            assert_eq!(
                bearer_token(&headers(&slices)),
                Err(want),
                "{:?}",
                values
                    .iter()
                    .map(|v| String::from_utf8_lossy(v)
                        .chars()
                        .take(40)
                        .collect::<String>())
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn identity_headers_are_ignored() {
        let spoof = |map: &mut HeaderMap| {
            for (name, value) in [
                ("x-remote-user", "system:admin"),
                ("x-remote-group", "system:masters"),
                ("x-forwarded-user", "system:admin"),
                ("impersonate-user", "system:admin"),
                ("impersonate-group", "system:masters"),
                ("impersonate-uid", "0"),
                ("proxy-authorization", "Bearer aaaa.bbbb.cccc"),
            ] {
                map.append(name, HeaderValue::from_static(value));
            }
        };
        // With a token: the token, and nothing else, comes back.
        let mut with_token = headers(&[format!("Bearer {TOKEN}").as_bytes()]);
        spoof(&mut with_token);
        assert_eq!(bearer_token(&with_token), Ok(TOKEN));
        // Without one: identity headers do not stand in for it.
        let mut without = HeaderMap::new();
        spoof(&mut without);
        assert_eq!(bearer_token(&without), Err(AuthError::Missing));
    }

    proptest::proptest! {
        /// The one-pass check accepts exactly what its definition does.
        #[test]
        fn token_shape_is_its_definition(
            chars in proptest::collection::vec(
                proptest::sample::select(vec!['a', 'Z', '0', '9', '-', '_', '.', '=', '+', '/', ' ', 'é']),
                0..24,
            ),
        ) {
            let token: String = chars.into_iter().collect();
            shape_agrees(&token)?;
        }

        /// The same, on near-tokens: one to four segments of base64url of any length.
        #[test]
        fn token_shape_is_its_definition_near_the_edge(
            segments in proptest::collection::vec("[A-Za-z0-9_-]{0,9}", 1..5),
        ) {
            shape_agrees(&segments.join("."))?;
        }
    }

    fn shape_agrees(token: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let segments: Vec<&str> = token.split('.').collect();
        let defined = segments.len() == 3
            && segments.iter().all(|s| {
                !s.is_empty()
                    && s.len() % 4 != 1
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        proptest::prop_assert_eq!(check_token_shape(token).is_ok(), defined, "{:?}", token);
        Ok(())
    }
}
