use super::*;

/// A greeting jitgate writes is read back the same (the client side of jitgate reads what the
/// server side writes).
#[test]
fn greetings_round_trip() {
    let g = Greeting {
        version: b"5.5.5-10.11.6-MariaDB".to_vec(),
        connection_id: 42,
        scramble: (1..=20).collect(),
        capabilities: cap::RELAYED | cap::SSL,
        charset: 45,
        status: status::AUTOCOMMIT,
        plugin: b"caching_sha2_password".to_vec(),
    };
    let back = Greeting::parse(&g.encode()).expect("parses");
    assert_eq!(back.version, g.version);
    assert_eq!(back.connection_id, 42);
    assert_eq!(back.scramble, g.scramble);
    assert_eq!(back.capabilities, g.capabilities);
    assert_eq!(back.plugin, g.plugin);
}

/// A handshake response jitgate writes upstream is read back the same.
#[test]
fn handshake_responses_round_trip() {
    let h = HandshakeResponse {
        capabilities: cap::RELAYED,
        max_packet: 1 << 24,
        charset: 45,
        user: b"svc".to_vec(),
        auth: vec![7; 20],
        database: Some(b"app".to_vec()),
        plugin: b"mysql_native_password".to_vec(),
    };
    let back = HandshakeResponse::parse(&h.encode()).expect("parses");
    assert_eq!(back.user, h.user);
    assert_eq!(back.auth, h.auth);
    assert_eq!(back.database, h.database);
    assert_eq!(back.plugin, h.plugin);
}

/// Truncated input is refused, never read past its end.
#[test]
fn truncated_handshakes_are_refused() {
    let h = HandshakeResponse {
        capabilities: cap::RELAYED,
        user: b"svc".to_vec(),
        auth: vec![7; 20],
        ..Default::default()
    }
    .encode();
    for n in 0..32 {
        assert!(HandshakeResponse::parse(&h[..n]).is_none() || n == 32);
    }
    for n in 0..40 {
        let _ = Greeting::parse(&h[..n.min(h.len())]);
    }
}

/// ERR packets carry their number and SQLSTATE where clients look for them.
#[test]
fn err_packets_carry_code_and_sqlstate() {
    let p = err_packet(ErrorCode::READ_ONLY, "no");
    assert_eq!(u16::from_le_bytes([p[1], p[2]]), 1792);
    assert_eq!(
        err_sqlstate(&p).map(|s| s.as_str().to_owned()),
        Some("25006".into())
    );
    assert!(is_eof(&[0xfe, 0, 0, 2, 0]));
    assert_eq!(eof_status(&[0xfe, 0, 0, 8, 0]), status::MORE_RESULTS_EXISTS);
    assert_eq!(
        ok_status(&ok_packet(status::AUTOCOMMIT)),
        status::AUTOCOMMIT
    );
}

/// jitgate never offers the upstream local files (LOAD DATA LOCAL), compression, TLS it does not
/// do itself, or connection attributes of the client.
#[test]
fn relayed_capabilities_exclude_local_files_compression_and_ssl() {
    for flag in [
        cap::LOCAL_FILES,
        cap::COMPRESS,
        cap::SSL,
        cap::CONNECT_ATTRS,
    ] {
        assert_eq!(cap::RELAYED & flag, 0);
    }
}
