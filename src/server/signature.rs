//! Twilio's request signature (`X-Twilio-Signature`): HMAC-SHA1 over the full URL
//! followed by the POST parameters sorted by name, each name directly followed by
//! its value, base64-encoded.
//!
//! The check accepts what Twilio's own validators accept where Twilio's signing is
//! known to vary, and nothing more:
//! - the URL as it is, or with its scheme's default port added or removed
//!   (`https://host/x` and `https://host:443/x`; `http` and `:80`), as twilio-python's
//!   `RequestValidator.validate` tries both. Everything after the authority (path,
//!   query, their percent-encoding) is signed byte for byte. A non-default port is never
//!   dropped, although twilio-python drops any port: the URL phonetree checks comes from
//!   its own public URL, and Twilio keeps a port that differs from the default.
//! - repeated parameter names joined either as twilio-python joins them (the distinct
//!   values of one name in sorted order) or as twilio-node did before
//!   twilio/twilio-node#723 (names in JavaScript's UTF-16 order, each name's values in
//!   arrival order, repeats kept).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Length of a base64-encoded HMAC-SHA1 tag (20 bytes, padded).
const ENCODED_TAG_LEN: usize = 28;

/// The signature Twilio sends for a request to `url` with form `params`, in the form
/// twilio-python computes: names sorted, the distinct values of each name sorted.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let Some(mac) = signed_mac(auth_token, url, &sorted_distinct(params)) else {
        return String::new();
    };
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `signature` is a Twilio signature of this request: over `url` with or
/// without its default port, with `params` joined as twilio-python or twilio-node join
/// repeated names. Each candidate is verified in constant time; a header that is not
/// canonical padded base64 of a 20-byte tag is refused.
pub fn signature_matches(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    if signature.len() != ENCODED_TAG_LEN {
        return false;
    }
    let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    let toggled = with_default_port_toggled(url);
    let urls = std::iter::once(url).chain(toggled.as_deref());
    let mut pairs = name_value_pairs(params);
    pairs.sort_unstable();
    // twilio-node's join can only differ from twilio-python's when a name repeats, or when
    // UTF-16 order differs from code point order, which needs a name outside ASCII.
    let node_may_differ = pairs.windows(2).any(|w| w[0].0 == w[1].0)
        || pairs.iter().any(|(name, _)| !name.is_ascii());
    pairs.dedup();
    let python = join(&pairs);
    let node = node_may_differ
        .then(|| arrival_order(params))
        .filter(|node| *node != python);
    let joins = std::iter::once(python.as_str()).chain(node.as_deref());
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let Ok(keyed) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return false;
    };
    let mut matched = false;
    // Every candidate is tried, so the time taken does not tell which form matched.
    for url in urls {
        for joined in joins.clone() {
            let mut mac = keyed.clone();
            mac.update(url.as_bytes());
            mac.update(joined.as_bytes());
            matched |= mac.verify_slice(&tag).is_ok();
        }
    }
    matched
}

/// `params` as borrowed name/value pairs, in arrival order.
fn name_value_pairs(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The HMAC over `url` followed by the joined parameters.
fn signed_mac(auth_token: &str, url: &str, joined_params: &str) -> Option<Hmac<Sha1>> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).ok()?;
    mac.update(url.as_bytes());
    mac.update(joined_params.as_bytes());
    Some(mac)
}

/// twilio-python's join: `sorted(set(names))`, and for each name `sorted(set(values))`.
/// Sorting the pairs and dropping identical ones is the same thing, since `str` orders
/// by code point as Python does.
fn sorted_distinct(params: &[(String, String)]) -> String {
    let mut pairs = name_value_pairs(params);
    pairs.sort_unstable();
    pairs.dedup();
    join(&pairs)
}

/// twilio-node's join before it adopted twilio-python's: `Object.keys(params).sort()`
/// (UTF-16 code-unit order), each name's values as they arrived, repeats kept.
fn arrival_order(params: &[(String, String)]) -> String {
    let mut pairs = name_value_pairs(params);
    // A stable sort keeps one name's values in arrival order.
    pairs.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    join(&pairs)
}

/// Each name directly followed by its value, in the order given.
fn join(pairs: &[(&str, &str)]) -> String {
    let mut joined = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len()).sum());
    for (k, v) in pairs {
        joined.push_str(k);
        joined.push_str(v);
    }
    joined
}

/// `url` with the default port of its scheme removed when present, added when no port
/// is given; `None` for another scheme or port, or no host. Only the authority changes.
fn with_default_port_toggled(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else if scheme.eq_ignore_ascii_case("http") {
        "80"
    } else {
        return None;
    };
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_len);
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    // The port follows the last ':' that is not inside an IPv6 literal's brackets.
    match host_port.rfind(':') {
        Some(colon) if !host_port[colon..].contains(']') => {
            let port = &host_port[colon + 1..];
            (port == default_port).then(|| {
                let without = &authority[..host_start + colon];
                format!("{scheme}://{without}{tail}")
            })
        }
        _ if host_port.is_empty() => None,
        _ => Some(format!("{scheme}://{authority}:{default_port}{tail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The signature of exactly `data`, to sign joins that `twilio_signature` does not make.
    fn signature_of(auth_token: &str, data: &str) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key");
        mac.update(data.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOC_SIGNATURE: &str = "GvWf1cFY/Q7PnoempGyD5oXAezc=";

    /// The parameters of the worked example of Twilio's security documentation.
    fn doc_example() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ])
    }

    /// The worked example of Twilio's security documentation.
    #[test]
    fn matches_twilio_documentation_example() {
        let params = doc_example();
        assert_eq!(twilio_signature("12345", DOC_URL, &params), DOC_SIGNATURE);
        assert!(signature_matches("12345", DOC_URL, &params, DOC_SIGNATURE));
        assert!(!signature_matches(
            "12345",
            DOC_URL,
            &params,
            "GvWf1cFY/Q7PnoempGyD5oXAezd="
        ));
        assert!(!signature_matches("wrong", DOC_URL, &params, DOC_SIGNATURE));
    }

    #[test]
    fn a_signature_over_the_url_with_or_without_the_default_port_is_accepted() {
        let params = pairs(&[("CallSid", "CA1"), ("Digits", "7")]);
        for (signed, requested) in [
            (
                "https://ivr.example.com/twilio/voice?a=1",
                "https://ivr.example.com:443/twilio/voice?a=1",
            ),
            (
                "https://ivr.example.com:443/twilio/voice?a=1",
                "https://ivr.example.com/twilio/voice?a=1",
            ),
            (
                "http://ivr.example.com/twilio/voice",
                "http://ivr.example.com:80/twilio/voice",
            ),
            (
                "http://ivr.example.com:80/twilio/voice",
                "http://ivr.example.com/twilio/voice",
            ),
            ("https://ivr.example.com", "https://ivr.example.com:443"),
            (
                "https://ivr.example.com:443?x=1",
                "https://ivr.example.com?x=1",
            ),
            ("http://[::1]:80/x", "http://[::1]/x"),
            ("https://ivr.example.com/x", "https://ivr.example.com/x"),
        ] {
            let sig = twilio_signature("tok", signed, &params);
            assert!(
                signature_matches("tok", requested, &params, &sig),
                "signed over {signed}, requested {requested}"
            );
        }
    }

    #[test]
    fn only_the_default_port_of_the_scheme_is_added_or_removed() {
        let params = pairs(&[("CallSid", "CA1")]);
        for (signed, requested) in [
            // Not the scheme's default port.
            (
                "https://ivr.example.com/x",
                "https://ivr.example.com:8443/x",
            ),
            (
                "https://ivr.example.com:8443/x",
                "https://ivr.example.com/x",
            ),
            ("http://ivr.example.com/x", "http://ivr.example.com:443/x"),
            ("https://ivr.example.com/x", "https://ivr.example.com:80/x"),
            // Path and query are signed byte for byte.
            (
                "https://ivr.example.com:443/a/b",
                "https://ivr.example.com/a%2Fb",
            ),
            (
                "https://ivr.example.com/a%2fb",
                "https://ivr.example.com:443/a%2Fb",
            ),
            (
                "https://ivr.example.com/x?y=%20",
                "https://ivr.example.com:443/x?y=+",
            ),
            (
                "https://ivr.example.com/x?next=https://other.example:443/",
                "https://ivr.example.com/x?next=https://other.example/",
            ),
            // Another scheme has no default port here.
            ("ftp://ivr.example.com/x", "ftp://ivr.example.com:443/x"),
        ] {
            let sig = twilio_signature("tok", signed, &params);
            assert!(
                !signature_matches("tok", requested, &params, &sig),
                "signed over {signed}, requested {requested}"
            );
        }
    }

    #[test]
    fn toggling_the_default_port_changes_only_the_authority() {
        assert_eq!(
            with_default_port_toggled("https://h.example/p:443?q=h:443#f").as_deref(),
            Some("https://h.example:443/p:443?q=h:443#f")
        );
        assert_eq!(
            with_default_port_toggled("https://user:pw@h.example:443/x").as_deref(),
            Some("https://user:pw@h.example/x")
        );
        assert_eq!(
            with_default_port_toggled("http://[2001:db8::1]/x").as_deref(),
            Some("http://[2001:db8::1]:80/x")
        );
        assert_eq!(with_default_port_toggled("https://h.example:8443/x"), None);
        assert_eq!(with_default_port_toggled("https:///x"), None);
        assert_eq!(with_default_port_toggled("/relative"), None);
    }

    #[test]
    fn repeated_names_are_accepted_as_twilio_python_or_twilio_node_join_them() {
        let url = "https://ivr.example.com/twilio/voice";
        let params = pairs(&[
            ("To", "+1"),
            ("Digits", "2"),
            ("Digits", "1"),
            ("Digits", "2"),
        ]);
        let python = signature_of("tok", &format!("{url}Digits1Digits2To+1"));
        let node = signature_of("tok", &format!("{url}Digits2Digits1Digits2To+1"));
        assert_eq!(twilio_signature("tok", url, &params), python);
        assert!(signature_matches("tok", url, &params, &python));
        assert!(signature_matches("tok", url, &params, &node));
        // Either join with the default port added.
        let with_port = "https://ivr.example.com:443/twilio/voice";
        let node_port = signature_of("tok", &format!("{with_port}Digits2Digits1Digits2To+1"));
        assert!(signature_matches("tok", url, &params, &node_port));
        for other in [
            "Digits1Digits2Digits2To+1", // sorted with the repeat kept
            "Digits2Digits1To+1",        // arrival order without the repeat
            "Digits2To+1",               // the first value only
            "Digits2Digits2To+1",        // a value left out
        ] {
            let sig = signature_of("tok", &format!("{url}{other}"));
            assert!(!signature_matches("tok", url, &params, &sig), "{other}");
        }
    }

    #[test]
    fn names_sort_by_code_point_for_python_and_by_utf16_for_node() {
        let url = "https://ivr.example.com/x";
        // U+FF21 sorts before U+1F600 by code point, after it in UTF-16 (0xD83D < 0xFF21).
        let params = pairs(&[("\u{1F600}", "a"), ("\u{FF21}", "b")]);
        let python = signature_of("tok", &format!("{url}\u{FF21}b\u{1F600}a"));
        let node = signature_of("tok", &format!("{url}\u{1F600}a\u{FF21}b"));
        assert_eq!(twilio_signature("tok", url, &params), python);
        assert!(signature_matches("tok", url, &params, &python));
        assert!(signature_matches("tok", url, &params, &node));
    }

    #[test]
    fn a_header_that_is_not_the_canonical_base64_of_a_tag_is_refused() {
        let params = pairs(&[("CallSid", "CA1234567890ABCDE")]);
        let url = "https://ivr.example.com/x";
        let good = twilio_signature("12345", url, &params);
        assert!(signature_matches("12345", url, &params, &good));
        let tag = base64::engine::general_purpose::STANDARD
            .decode(&good)
            .expect("valid");
        let truncated = base64::engine::general_purpose::STANDARD.encode(&tag[..19]);
        let no_padding = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&tag);
        for bad in [
            String::new(),
            no_padding.clone(),
            format!("{no_padding}=="),
            format!("{good} "),
            format!(" {no_padding}"),
            truncated,
            "not base64 at all, but 28 c".to_owned(),
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@=".to_owned(),
        ] {
            assert!(!signature_matches("12345", url, &params, &bad), "{bad:?}");
        }
        // The documented example's tag has a '/': its URL-safe spelling is refused.
        let doc = doc_example();
        assert!(signature_matches("12345", DOC_URL, &doc, DOC_SIGNATURE));
        let url_safe = DOC_SIGNATURE.replace('/', "_");
        assert!(!signature_matches("12345", DOC_URL, &doc, &url_safe));
    }

    /// The tag's last character carries two unused bits; a header with them set
    /// decodes to the same bytes under a lax decoder, and is refused here.
    #[test]
    fn a_non_canonical_last_character_is_refused() {
        let params = doc_example();
        // 'c' is 28 (0b011100): its low two bits are unused; 'd', 'e', 'f' set them.
        for last in ['d', 'e', 'f'] {
            let bad = format!("{}{last}=", &DOC_SIGNATURE[..26]);
            assert!(!signature_matches("12345", DOC_URL, &params, &bad), "{bad}");
        }
    }
}
