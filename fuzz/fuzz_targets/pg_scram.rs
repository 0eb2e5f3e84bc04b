//! The server side of SCRAM-SHA-256 against arbitrary client messages: never a panic, never a
//! success without the password. Other inputs drive a real client (postgres-protocol's,
//! as libpq speaks it) with a password and optional byte edits the fuzzer chooses: the exchange
//! succeeds exactly when the password is right and nothing was edited, and then the client
//! accepts the server's signature.

#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use jitgate_control::scram::ScramVerifier;
use jitgate_pg::auth::ScramServer;
use libfuzzer_sys::fuzz_target;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

const PASSWORD: &str = "pencil";

/// Few iterations keep each run fast; the exchange does not depend on the count.
fn verifier() -> &'static ScramVerifier {
    static VERIFIER: OnceLock<ScramVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| ScramVerifier::derive(PASSWORD, b"jitgate-fuzz-salt", 16))
}

#[derive(Debug, Arbitrary)]
struct Edit {
    /// Which client message: the first or the final.
    final_message: bool,
    at: u16,
    byte: u8,
    /// Insert instead of replace.
    insert: bool,
}

/// A real client with this password (the right one when `None`) and these edits.
#[derive(Debug, Arbitrary)]
struct Client<'a> {
    password: Option<&'a str>,
    channel_binding: u8,
    edits: Vec<Edit>,
}

fn apply(edits: &[Edit], final_message: bool, msg: &mut Vec<u8>) {
    for e in edits.iter().filter(|e| e.final_message == final_message) {
        let at = usize::from(e.at) % (msg.len() + 1);
        if e.insert || at == msg.len() {
            msg.insert(at, e.byte);
        } else {
            msg[at] = e.byte;
        }
    }
}

fn raw(messages: &[&[u8]]) {
    let mut server = ScramServer::new(verifier(), ScramServer::random_nonce());
    let mut first = true;
    for msg in messages {
        let step = if first {
            server.client_first(msg).map(|_| ())
        } else {
            let outcome = server.client_final(msg);
            assert!(outcome.is_err(), "a guessed proof was accepted: {msg:?}");
            outcome.map(|_| ())
        };
        first = false;
        if step.is_err() {
            // After a failure the exchange is over: every later message is out of order.
            assert!(server.client_final(msg).is_err());
        }
    }
}

fn client(password: Option<&str>, channel_binding: u8, edits: &[Edit]) {
    let password = password.unwrap_or(PASSWORD);
    let binding = match channel_binding % 3 {
        0 => ChannelBinding::unrequested(),
        1 => ChannelBinding::unsupported(),
        _ => ChannelBinding::tls_server_end_point(vec![channel_binding; 32]),
    };
    let requested = channel_binding % 3 == 2;
    let mut client = ScramSha256::new(password.as_bytes(), binding);
    let mut server = ScramServer::new(verifier(), ScramServer::random_nonce());

    let mut first = client.message().to_vec();
    let first_original = first.clone();
    apply(edits, false, &mut first);
    let Ok(server_first) = server.client_first(&first) else {
        assert!(
            requested || first != first_original,
            "a real client's first message was refused"
        );
        return;
    };
    assert!(
        !requested || first != first_original,
        "channel binding was accepted"
    );
    if client.update(server_first.as_bytes()).is_err() {
        // The client refuses a nonce that does not extend its own (an edited first message).
        assert_ne!(
            first, first_original,
            "the client refused the server's first message"
        );
        return;
    }
    let mut last = client.message().to_vec();
    let last_original = last.clone();
    apply(edits, true, &mut last);
    let edited = first != first_original || last != last_original;
    // The client applies SASLprep, which maps some non-ASCII passwords onto others.
    let wrong = password != PASSWORD && password.is_ascii();
    let right = password == PASSWORD;
    match server.client_final(&last) {
        Ok(server_final) => {
            assert!(!edited, "an edited exchange was accepted");
            assert!(!wrong, "a wrong password was accepted: {password:?}");
            client
                .finish(server_final.as_bytes())
                .expect("the client verifies the server's signature");
        }
        Err(e) => assert!(edited || !right, "the right password was refused: {e}"),
    }
}

// An even first byte: raw client messages follow, separated by 0xff (never in SCRAM's UTF-8),
// so seeds are readable messages. An odd one: a real client, as the fuzzer describes it.
fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let messages: Vec<&[u8]> = rest.split(|&b| b == 0xff).collect();
        raw(&messages);
    } else if let Ok(c) = Client::arbitrary(&mut Unstructured::new(rest)) {
        client(c.password, c.channel_binding, &c.edits);
    }
});
