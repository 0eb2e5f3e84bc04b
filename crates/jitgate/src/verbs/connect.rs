//! `connect RESOURCE [--uri]`: a fresh credential for the caller's live grant, as a libpq URI or
//! straight into psql (the client's command line and the URI for MySQL and Databricks SQL
//! resources).

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
    if uri.starts_with("postgresql://") {
        return exec_psql(uri);
    }
    // MySQL and Databricks SQL resources: the client's command line (the `mariadb` client takes
    // `mysql`'s options; `beeline` takes the JDBC URL) and the URI, for drivers.
    if let Some(command) = answer.get("command").and_then(Value::as_str) {
        println!("{command}");
    }
    println!("{uri}");
    Ok(())
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
