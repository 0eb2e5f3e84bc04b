//! The service account's login against a server that checks passwords as MySQL 8 does
//! (`caching_sha2_password` keeps SHA256(SHA256(password)) and answers a proof it has cached
//! with the fast path; `mysql_native_password` keeps SHA1(SHA1(password))), for what MariaDB
//! cannot show: a `caching_sha2_password` account, with and without an auth switch. MariaDB
//! accounts (native, ed25519) are tested end to end against a real server in the gateway's tests.

use std::time::Duration;

use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use super::*;
use crate::wire::{err_packet, ok_packet, status, ErrorCode};

const PASSWORD: &str = "svc-secret";

#[derive(Clone, Copy)]
enum Account {
    Native,
    /// `cached`: the server has the account in its cache (a login with the password has already
    /// succeeded), so the fast path answers.
    CachingSha2 {
        cached: bool,
    },
}

impl Account {
    fn plugin(self) -> &'static [u8] {
        match self {
            Account::Native => auth::NATIVE,
            Account::CachingSha2 { .. } => auth::CACHING_SHA2,
        }
    }
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The server's check of a proof against what it stores of the password.
fn verifies(account: Account, scramble: &[u8], proof: &[u8]) -> bool {
    match account {
        Account::Native => {
            let stored = Sha1::digest(Sha1::digest(PASSWORD));
            let mut h = Sha1::new();
            h.update(scramble);
            h.update(stored);
            Sha1::digest(xor(proof, &h.finalize())) == stored
        }
        Account::CachingSha2 { .. } => {
            let stored = Sha256::digest(Sha256::digest(PASSWORD));
            let mut h = Sha256::new();
            h.update(stored);
            h.update(scramble);
            proof.len() == 32 && Sha256::digest(xor(proof, &h.finalize())) == stored
        }
    }
}

/// Serves one login: greets with `greeting_plugin`, switches the client to the account's plugin
/// when it answered with another, and answers as MySQL 8 does. Returns what the client sent in
/// clear, if the server asked for it.
async fn serve(listener: TcpListener, greeting_plugin: &'static [u8], account: Account) {
    let Ok((tcp, _)) = listener.accept().await else {
        return;
    };
    let (r, w) = tokio::io::split(tcp);
    let mut reader = PacketReader::new(r, 1 << 16);
    let mut writer = PacketWriter::new(w);
    let scramble = auth::scramble();
    let greeting = Greeting {
        version: b"8.0.40".to_vec(),
        connection_id: 7,
        scramble: scramble.clone(),
        capabilities: cap::RELAYED | cap::REQUIRED | cap::PLUGIN_AUTH_LENENC | cap::CONNECT_WITH_DB,
        charset: 45,
        status: status::AUTOCOMMIT,
        plugin: greeting_plugin.to_vec(),
    };
    let _ = writer.send(0, &greeting.encode()).await;
    let _ = writer.flush().await;
    let Ok(p) = reader.next().await else { return };
    let Some(response) = HandshakeResponse::parse(&p.payload) else {
        return;
    };
    let mut seq = p.seq;
    let (scramble, proof) = if response.plugin == account.plugin() {
        (scramble, response.auth)
    } else {
        let fresh = auth::scramble();
        let _ = writer
            .send(seq + 1, &auth::switch_request(account.plugin(), &fresh))
            .await;
        let _ = writer.flush().await;
        let Ok(p) = reader.next().await else { return };
        seq = p.seq;
        (fresh, p.payload.to_vec())
    };
    let answer = match account {
        _ if response.user != b"svc" || !verifies(account, &scramble, &proof) => {
            err_packet(ErrorCode::ACCESS_DENIED, "Access denied for user 'svc'")
        }
        Account::CachingSha2 { cached: true } => {
            let _ = writer.send(seq + 1, &[0x01, 0x03]).await;
            seq += 1;
            ok_packet(status::AUTOCOMMIT)
        }
        Account::CachingSha2 { cached: false } => {
            let _ = writer.send(seq + 1, &auth::PERFORM_FULL_AUTH).await;
            let _ = writer.flush().await;
            // Whatever comes now, the test's client must not have sent the password: a
            // server reached without verified TLS never gets it.
            let Ok(p) = reader.next().await else { return };
            assert_ne!(p.payload.as_ref(), format!("{PASSWORD}\0").as_bytes());
            return;
        }
        Account::Native => ok_packet(status::AUTOCOMMIT),
    };
    let _ = writer.send(seq + 1, &answer).await;
    let _ = writer.flush().await;
    // Stay until the client leaves.
    let _ = reader.next().await;
}

/// Logs in as `svc` with `password` to a server greeting with `greeting_plugin` whose account
/// uses `account`.
async fn login(
    greeting_plugin: &'static [u8],
    account: Account,
    password: &str,
) -> Result<UpstreamConn, UpstreamError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(serve(listener, greeting_plugin, account));
    let target = UpstreamTarget {
        addr: addr.to_string(),
        host: "127.0.0.1".into(),
        tls: None,
        user: "svc".into(),
        password: Some(password.into()),
        database: "app".into(),
        connect_timeout: Duration::from_secs(5),
    };
    let conn = connect(&target, cap::RELAYED, 45, b"app").await;
    if conn.is_err() {
        server.await.expect("the server saw nothing wrong");
    }
    conn
}

/// A caching_sha2 account whose server greets with caching_sha2: the fast path, no switch.
#[tokio::test]
async fn caching_sha2_accounts_log_in_on_the_fast_path() {
    let conn = login(
        auth::CACHING_SHA2,
        Account::CachingSha2 { cached: true },
        PASSWORD,
    )
    .await;
    assert!(conn.is_ok(), "{:?}", conn.err());
    let wrong = login(
        auth::CACHING_SHA2,
        Account::CachingSha2 { cached: true },
        "guess",
    )
    .await;
    assert!(
        matches!(wrong, Err(UpstreamError::Refused(_))),
        "{:?}",
        wrong.err()
    );
}

/// A server greeting with one plugin whose account uses the other switches jitgate over, with a
/// fresh scramble the proof must sign: native → caching_sha2 and caching_sha2 → native.
#[tokio::test]
async fn accounts_of_the_other_plugin_are_reached_through_the_auth_switch() {
    let conn = login(
        auth::NATIVE,
        Account::CachingSha2 { cached: true },
        PASSWORD,
    )
    .await;
    assert!(conn.is_ok(), "{:?}", conn.err());
    let conn = login(auth::CACHING_SHA2, Account::Native, PASSWORD).await;
    assert!(conn.is_ok(), "{:?}", conn.err());
    let conn = login(auth::NATIVE, Account::Native, PASSWORD).await;
    assert!(conn.is_ok(), "{:?}", conn.err());
    let wrong = login(auth::CACHING_SHA2, Account::Native, "guess").await;
    assert!(
        matches!(wrong, Err(UpstreamError::Refused(_))),
        "{:?}",
        wrong.err()
    );
}

/// caching_sha2's full authentication (the server has not cached the account) would send the
/// password in clear: without TLS to a verified server jitgate refuses, and says why.
#[tokio::test]
async fn caching_sha2_full_authentication_is_refused_without_verified_tls() {
    let refused = login(
        auth::NATIVE,
        Account::CachingSha2 { cached: false },
        PASSWORD,
    )
    .await;
    match refused {
        Err(UpstreamError::Unsupported(why)) => {
            assert!(why.contains("verify-ca"), "{why}")
        }
        other => panic!("expected a refusal, got {:?}", other.err()),
    }
}
