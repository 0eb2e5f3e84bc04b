//! A Rust client (mysql_async): prepared statements over the binary protocol, the same as
//! direct in a clear session, and checked like COM_QUERY texts in guarded ones.

use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder};

use crate::env::start;

fn opts(port: u16, user: &str, password: &str) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(Some("app"))
        // jitgate takes the password in clear on loopback without TLS.
        .enable_cleartext_plugin(true)
}

/// The code of a server error.
fn code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// Prepared statements (prepare, execute twice, close, reset) give what they give directly; a
/// masked subject's prepared reads are masked, a read-only grant cannot prepare a write; a
/// change of user is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_run_over_the_binary_protocol() {
    let Some(env) = start() else { return };
    let erin = env.grant("erin");
    let mut through = Conn::new(opts(env.listen, &erin.login, &erin.password))
        .await
        .expect("connect through jitgate");
    let mut direct = Conn::new(opts(
        env.db.port(),
        jitgate_testkit::mariadb::SERVICE_USER,
        jitgate_testkit::mariadb::SERVICE_PASSWORD,
    ))
    .await
    .expect("connect directly");
    let sql = "SELECT id, name, ssn, CAST(id * 1.5 AS DECIMAL(6,2)) FROM customers WHERE id > ? ORDER BY id";
    type Row = (i32, String, String, String);
    let a: Vec<Row> = through.exec(sql, (1,)).await.expect("through");
    let b: Vec<Row> = direct.exec(sql, (1,)).await.expect("direct");
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
    // One statement prepared, executed twice, closed; then a reset of the connection.
    let stmt = through
        .prep("SELECT COUNT(*) FROM orders WHERE customer = ?")
        .await
        .expect("prepare");
    let one: Option<i64> = through.exec_first(&stmt, (1,)).await.expect("execute");
    let three: Option<i64> = through.exec_first(&stmt, (3,)).await.expect("execute");
    assert_eq!((one, three), (Some(2), Some(1)));
    through.close(stmt).await.expect("close");
    through.reset().await.expect("reset");
    let pong: Option<i64> = through.query_first("SELECT 7").await.expect("after reset");
    assert_eq!(pong, Some(7));
    through.disconnect().await.expect("disconnect");
    direct.disconnect().await.expect("disconnect");

    // COM_CHANGE_USER would log in as someone else without a credential of theirs: refused.
    let mut changing = Conn::new(opts(env.listen, &erin.login, &erin.password))
        .await
        .expect("connect");
    let changed = changing
        .change_user(mysql_async::ChangeUserOpts::default().with_user(Some("root".into())))
        .await;
    assert!(changed.is_err(), "change_user passed");

    // A masked subject's prepared statements are rewritten as its text queries are: the
    // server compares and returns masked values only (binary rows pass the detectors too).
    let alice = env.grant("alice");
    let mut masked = Conn::new(opts(env.listen, &alice.login, &alice.password))
        .await
        .expect("alice connects");
    let ssn: Vec<String> = masked
        .exec("SELECT ssn FROM customers WHERE id = ?", (1,))
        .await
        .expect("a masked prepared read");
    assert_eq!(ssn, vec!["*******6789".to_owned()]);
    let guessed: Vec<u32> = masked
        .exec("SELECT id FROM customers WHERE ssn = ?", ("123-45-6789",))
        .await
        .expect("a masked prepared predicate");
    assert!(guessed.is_empty(), "{guessed:?}");
    let mixed: Vec<(u32, Option<String>, String)> = masked
        .exec(
            "SELECT o.id, c.email, CAST(o.total AS CHAR) FROM orders o JOIN customers c ON c.id = o.customer ORDER BY o.id",
            (),
        )
        .await
        .expect("a masked prepared join");
    assert_eq!(mixed.len(), 3);
    assert!(mixed
        .iter()
        .all(|(_, e, _)| e.as_deref().is_some_and(|e| e.starts_with("***@"))));
    let refused = masked
        .exec::<String, _, _>("SELECT ssn FROM CUSTOMERS WHERE id = ?", (1,))
        .await
        .expect_err("refused");
    assert_eq!(code(&refused), Some(1227), "{refused}");
    masked.disconnect().await.expect("disconnect");

    // A read-only grant cannot prepare a write.
    let (login, password) = env.rob();
    let mut rob = Conn::new(opts(env.listen, &login, &password))
        .await
        .expect("rob connects");
    let refused = rob
        .exec_drop("DELETE FROM orders WHERE id = ?", (10,))
        .await
        .expect_err("refused");
    assert_eq!(code(&refused), Some(1792), "{refused}");
    rob.disconnect().await.expect("disconnect");
}
