//! `connect RESOURCE [--uri]`: a fresh credential for the caller's live grant, as a libpq URI or
//! straight into psql (a `mysql` command line and URI for MySQL resources).

use crate::client::{Client, Failure};
use crate::output::print_json;
use serde_json::{json, Value};

pub fn connect(
    client: &Client,
    resource: &str,
    uri_only: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    let answer: Value = client.post("/connect", &json!({ "resource": resource }))?;
    if as_json {
        print_json(&answer);
        return Ok(());
    }
    let uri = answer
        .get("uri")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new("bad_response", "the server's answer has no uri"))?;
    if uri_only {
        println!("{uri}");
        return Ok(());
    }
    // Spark Connect resources have no shell to open: the URI goes to PySpark or Databricks
    // Connect (`SparkSession.builder.remote(URI)`).
    if uri.starts_with("sc://") {
        println!("{uri}");
        eprintln!("use it with SparkSession.builder.remote(\"…\").getOrCreate()");
        return Ok(());
    }
    if uri.starts_with("mysql://") {
        print_mysql(&answer, uri);
        return Ok(());
    }
    exec_psql(uri)
}

/// A MySQL resource: the `mysql` command line (the `mariadb` client takes the same options) and
/// the URI, for drivers. The password is given in clear to jitgate, so only over TLS or
/// loopback; MySQL's own client asks for `--enable-cleartext-plugin` on loopback without TLS.
fn print_mysql(answer: &Value, uri: &str) {
    let field = |k: &str| match answer.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    println!(
        "mysql -h {} -P {} -u {} -p{} {}",
        field("host"),
        field("port"),
        field("login"),
        field("password"),
        field("database")
    );
    println!("{uri}");
}

/// Replaces this process with psql, so that signals, the terminal and the exit status are
/// psql's own.
fn exec_psql(uri: &str) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let error = std::process::Command::new("psql").arg(uri).exec();
    let failure = if error.kind() == std::io::ErrorKind::NotFound {
        Failure::new(
            "psql_not_found",
            "psql is not on PATH; use `jitgate connect RESOURCE --uri` with another client",
        )
    } else {
        Failure::new("psql_failed", format!("running psql: {error}"))
    };
    Err(failure.into())
}
