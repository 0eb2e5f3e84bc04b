//! Real clients (psql, tokio-postgres, pgbench) work through jitgate as they do direct.

mod common;

use common::{sqlstate, start};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_queries_through_a_grant() {
    let env = start();
    let grant = env.grant("5m");
    let (ok, out, err) = env.psql(&grant.uri, &["-c", "select current_user, 40 + 2"]);
    assert!(ok, "psql failed: {err}\n{}", env.gateway.log());
    // The upstream sees jitgate's service role; the client never learns its password.
    assert_eq!(out.trim(), "svc|42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_and_extended_protocol_with_binary_values() {
    let env = start();
    let grant = env.grant("5m");
    let client = env.connect(&grant.uri).await.expect("connect");

    let rows = client
        .simple_query(
            "create table t(id int primary key, name text, data bytea); select 1; select 2",
        )
        .await
        .unwrap();
    assert!(!rows.is_empty());

    // tokio-postgres sends parameters and receives results in binary format.
    let insert = client
        .prepare("insert into t values ($1, $2, $3)")
        .await
        .unwrap();
    for i in 0..100i32 {
        let blob: Vec<u8> = (0..=255u8).cycle().take(i as usize * 10).collect();
        client
            .execute(&insert, &[&i, &format!("name-{i}"), &blob])
            .await
            .unwrap();
    }
    let row = client
        .query_one(
            "select count(*), sum(length(data))::int8 from t where id >= $1",
            &[&10i32],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 90);
    assert_eq!(row.get::<_, i64>(1), (10..100).map(|i| i * 10).sum::<i64>());
    let blob: Vec<u8> = client
        .query_one("select data from t where id = 3", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(blob, (0..=255u8).cycle().take(30).collect::<Vec<_>>());

    // Errors come back with their SQLSTATE and the session goes on.
    let err = client.query("select 1/0", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("22012"));
    let n: i32 = client.query_one("select 7", &[]).await.unwrap().get(0);
    assert_eq!(n, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_notices_and_notifications_pass_through() {
    let env = start();
    let grant = env.grant("5m");
    let mut client = env.connect(&grant.uri).await.unwrap();
    client.batch_execute("create table k(v int)").await.unwrap();

    let tx = client.transaction().await.unwrap();
    tx.execute("insert into k values (1)", &[]).await.unwrap();
    tx.rollback().await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute("insert into k values (2)", &[]).await.unwrap();
    tx.commit().await.unwrap();
    let vals: Vec<i32> = client
        .query("select v from k", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(vals, vec![2]);

    // LISTEN/NOTIFY and RAISE NOTICE, seen by psql.
    let (ok, out, err) = env.psql(
        &grant.uri,
        &[
            "-c",
            "listen ch",
            "-c",
            "notify ch, 'hello'",
            "-c",
            "do $$ begin raise notice 'note %', 41 + 1; end $$",
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("NOTICE:  note 42"), "stderr: {err}");
    // psql prints notifications on standard output.
    assert!(
        out.contains("Asynchronous notification \"ch\" with payload \"hello\""),
        "stdout: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_streams_both_ways() {
    use bytes::Bytes;
    use futures_util::{SinkExt, StreamExt};
    let env = start();
    let grant = env.grant("5m");
    let client = env.connect(&grant.uri).await.unwrap();
    client
        .batch_execute("create table c(id int, payload text)")
        .await
        .unwrap();

    let sink = client.copy_in("copy c from stdin").await.unwrap();
    let mut sink = Box::pin(sink);
    let rows = 200_000;
    for chunk in 0..(rows / 1000) {
        let mut data = String::new();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            data.push_str(&format!("{i}\tpayload number {i} with some padding text\n"));
        }
        sink.send(Bytes::from(data)).await.unwrap();
    }
    let copied = sink.as_mut().finish().await.unwrap();
    assert_eq!(copied, rows as u64);

    let stream = client.copy_out("copy c to stdout").await.unwrap();
    let mut stream = Box::pin(stream);
    let mut bytes = 0usize;
    let mut lines = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        bytes += chunk.len();
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
    }
    assert_eq!(lines, rows);
    assert!(bytes > rows * 40);

    // psql's \copy uses the same protocol from the client side.
    let file = env.gateway.dir().join("out.tsv");
    let (ok, _, err) = env.psql(
        &grant.uri,
        &[
            "-c",
            &format!(
                "\\copy (select * from c where id < 10) to '{}'",
                file.display()
            ),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_the_real_query_and_only_with_the_right_key() {
    let env = start();
    let grant = env.grant("5m");
    let client = env.connect(&grant.uri).await.unwrap();
    let token = client.cancel_token();
    let started = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel_query(tokio_postgres::NoTls).await
    });
    let err = client.query("select pg_sleep(30)", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    canceller.await.unwrap().unwrap();
    // The session survives a cancelled query.
    let n: i32 = client.query_one("select 1", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sessions_cancel_key_cancels_nothing() {
    let env = start();
    let grant = env.grant("5m");
    let victim = env.connect(&grant.uri).await.unwrap();
    let running =
        tokio::spawn(async move { victim.query("select pg_sleep(2)", &[]).await.map(|_| ()) });
    // A guessed key: jitgate's own pid/secret space, not the upstream's.
    let addr = env.gateway.listen_addrs()[0];
    for pid in [1i32, 2, 1000] {
        let mut packet = Vec::new();
        packet.extend_from_slice(&16u32.to_be_bytes());
        packet.extend_from_slice(&80877102u32.to_be_bytes());
        packet.extend_from_slice(&pid.to_be_bytes());
        packet.extend_from_slice(&12345i32.to_be_bytes());
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(&mut s, &packet).unwrap();
    }
    running.await.unwrap().expect("the query ran to completion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_runs_through_the_gateway() {
    let env = start();
    env.cluster
        .psql("app", "grant create on schema public to svc")
        .unwrap();
    let grant = env.grant("5m");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("pgbench")
            .args(args)
            .arg(&grant.uri)
            .output()
            .expect("running pgbench");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "pgbench {args:?} failed:\n{text}");
        text
    };
    run(&["-i", "-s", "1", "-q"]);
    for mode in ["simple", "extended", "prepared"] {
        let out = run(&["-S", "-c", "4", "-j", "2", "-t", "200", "-M", mode]);
        assert!(out.contains("number of failed transactions: 0"), "{out}");
        assert!(
            out.contains("number of transactions actually processed: 800/800"),
            "{out}"
        );
    }
    let out = run(&["-c", "2", "-t", "50"]);
    assert!(out.contains("number of failed transactions: 0"), "{out}");
}
