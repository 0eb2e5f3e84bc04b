//! Detectors for credentials, found from their fixed openings: AWS access key ids (`AKIA`,
//! `ASIA`), JSON Web Tokens (`eyJ`, the base64 of `{"`) and PEM private-key blocks
//! (`-----BEGIN `).

use super::text::is_word;

/// `AKIA` or `ASIA` and 16 upper-case letters or digits, as a whole word.
pub(super) fn aws_key(t: &[u8], s: usize) -> Option<usize> {
    let end = s + 20;
    let body = t.get(s + 4..end)?;
    let ok = body
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && t.get(end).is_none_or(|b| !is_word(*b));
    ok.then_some(end)
}

fn base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn base64url_run(t: &[u8], i: usize) -> usize {
    t.get(i..)
        .map_or(0, |rest| rest.iter().take_while(|b| base64url(**b)).count())
}

/// Three base64url parts joined by dots (the signature may be empty, as with `alg: none`),
/// whose first part decodes to a JSON object naming its `alg`.
pub(super) fn jwt(t: &[u8], s: usize) -> Option<usize> {
    let header = base64url_run(t, s);
    if header < 10 || t.get(s + header) != Some(&b'.') {
        return None;
    }
    let payload_at = s + header + 1;
    let payload = base64url_run(t, payload_at);
    if payload < 2 || t.get(payload_at + payload) != Some(&b'.') {
        return None;
    }
    let signature_at = payload_at + payload + 1;
    let end = signature_at + base64url_run(t, signature_at);
    // Headers are short; a long one is not worth decoding.
    let json = decode_base64url(t.get(s..s + header.min(1024))?)?;
    let object = json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let names_alg = memchr::memmem::find(&json, b"\"alg\"").is_some();
    (object && names_alg).then_some(end)
}

/// Decodes unpadded base64url; a trailing partial group is decoded as far as it goes.
fn decode_base64url(text: &[u8]) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// `-----BEGIN … PRIVATE KEY…-----` through its `-----END …-----` line; a block whose end is
/// missing (a value cut short) runs to the end of the text, since all of it is key material.
pub(super) fn private_key(t: &[u8], s: usize) -> Option<usize> {
    let label_at = s + b"-----BEGIN ".len();
    let line_end = t[label_at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(t.len(), |n| label_at + n);
    let header = &t[label_at..line_end];
    let dashes = memchr::memmem::find(header, b"-----")?;
    memchr::memmem::find(&header[..dashes], b"PRIVATE KEY")?;
    let body_at = label_at + dashes + 5;
    let Some(end_at) = memchr::memmem::find(&t[body_at..], b"-----END ") else {
        return Some(t.len());
    };
    let end_label = body_at + end_at + b"-----END ".len();
    match memchr::memmem::find(&t[end_label..], b"-----") {
        Some(n) => Some(end_label + n + 5),
        None => Some(t.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_keys() {
        assert_eq!(aws_key(b"AKIAIOSFODNN7EXAMPLE", 0), Some(20));
        assert_eq!(aws_key(b"AKIAIOSFODNN7EXAMPLEX", 0), None);
        assert_eq!(aws_key(b"AKIAEXAMPLE", 0), None);
    }

    #[test]
    fn jwts_need_a_json_header_with_alg() {
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(jwt(token.as_bytes(), 0), Some(token.len()));
        let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
        assert_eq!(jwt(unsigned.as_bytes(), 0), Some(unsigned.len()));
        // base64 of {"typ":"JWT"} has no alg.
        assert_eq!(jwt(b"eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.abc", 0), None);
    }

    #[test]
    fn private_key_blocks() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nafter";
        assert_eq!(private_key(pem.as_bytes(), 0), Some(pem.len() - 6));
        assert_eq!(
            private_key(b"-----BEGIN PRIVATE KEY-----\nMIIE", 0),
            Some(32)
        );
        assert_eq!(private_key(b"-----BEGIN CERTIFICATE-----\nMIIE", 0), None);
    }
}
