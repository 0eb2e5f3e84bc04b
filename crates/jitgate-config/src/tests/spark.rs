//! `kind = "spark-connect"` resources: plain upstreams, the Databricks preset, and refusals.

use crate::tests::{error, parse_ok};
use crate::*;

fn spark(config: &Config) -> &SparkConnectUpstream {
    match &config.resources[0].upstream {
        Upstream::SparkConnect(sc) => sc,
        other => panic!("expected a spark-connect upstream, got {}", other.kind()),
    }
}

#[test]
fn a_plain_upstream_gets_defaults() {
    let config = parse_ok(
        r#"[resources.lake]
kind = "spark-connect"
listen = "127.0.0.1:15102"

[resources.lake.upstream]
host = "spark.internal"
"#,
    );
    let sc = spark(&config);
    assert_eq!(
        (sc.host.as_str(), sc.port, sc.tls),
        ("spark.internal", 15002, false)
    );
    assert!(sc.token.is_none() && sc.headers.is_empty() && sc.databricks.is_none());
    assert_eq!(sc.default_database, "default");
    let text = config.describe();
    assert!(text.contains("resource lake (spark-connect)"), "{text}");
    assert!(
        text.contains("endpoint: spark.internal:15002 (plaintext)"),
        "{text}"
    );
}

#[test]
fn tokens_headers_and_tls_are_read() {
    std::env::set_var("JITGATE_TEST_SPARK_TOKEN", "tok");
    let config = parse_ok(
        r#"[resources.lake]
kind = "spark-connect"
listen = "127.0.0.1:15102"

[resources.lake.upstream]
host = "spark.internal"
port = 443
tls = true
token_env = "JITGATE_TEST_SPARK_TOKEN"
headers = { "x-team" = "data" }
default_database = "sales"
"#,
    );
    let sc = spark(&config);
    assert_eq!(sc.default_database, "sales");
    assert!(sc.tls);
    assert_eq!(sc.port, 443);
    assert_eq!(sc.token.as_ref().map(Secret::expose), Some("tok"));
    assert_eq!(sc.headers, [("x-team".to_string(), "data".to_string())]);
    let text = config.describe();
    assert!(
        text.contains("upstream bearer token: env JITGATE_TEST_SPARK_TOKEN"),
        "{text}"
    );
    assert!(!text.contains("tok\n"), "{text}");
}

#[test]
fn the_databricks_preset_means_tls_bearer_and_cluster_header() {
    std::env::set_var("JITGATE_TEST_DATABRICKS_TOKEN", "dapi123");
    let config = parse_ok(
        r#"[resources.dbx]
kind = "spark-connect"
listen = "127.0.0.1:15103"

[resources.dbx.databricks]
workspace_host = "https://adb-1234.5.azuredatabricks.net/"
cluster_id = "0123-456789-abcdefgh"
token_env = "JITGATE_TEST_DATABRICKS_TOKEN"
"#,
    );
    let sc = spark(&config);
    assert_eq!(sc.host, "adb-1234.5.azuredatabricks.net");
    assert_eq!((sc.port, sc.tls), (443, true));
    assert_eq!(sc.token.as_ref().map(Secret::expose), Some("dapi123"));
    assert_eq!(
        sc.headers,
        [(
            "x-databricks-cluster-id".to_string(),
            "0123-456789-abcdefgh".to_string()
        )]
    );
    assert!(config.describe().contains(
        "Databricks workspace adb-1234.5.azuredatabricks.net, cluster 0123-456789-abcdefgh"
    ));
}

#[test]
fn mistakes_are_named() {
    let head = "[resources.lake]\nkind = \"spark-connect\"\nlisten = \"127.0.0.1:15102\"\n";
    let e = error(head);
    assert!(e.contains("needs an [upstream] table"), "{e}");
    let e = error(&format!(
        "{head}[resources.lake.databricks]\nworkspace_host = \"h\"\ncluster_id = \"c\"\n"
    ));
    assert!(e.contains("needs a token"), "{e}");
    let e = error(&format!(
        "{head}[resources.lake.upstream]\nhost = \"h\"\nheaders = {{ authorization = \"x\" }}\n"
    ));
    assert!(e.contains("token_env or token_file"), "{e}");
    assert!(
        e.contains("resources.lake.upstream.headers.authorization"),
        "{e}"
    );
    let e = error(
        "[resources.p]\nkind = \"postgres\"\nlisten = \"127.0.0.1:1\"\n[resources.p.databricks]\nx = 1\n",
    );
    assert!(e.contains("preset of kind = \"spark-connect\""), "{e}");
    let e = error(&format!(
        "{head}[resources.lake.upstream]\nhost = \"h\"\ndefault_database = \"a.b\"\n"
    ));
    assert!(e.contains("one database (schema) name"), "{e}");
}

#[test]
fn the_databricks_preset_binds_the_workspace_api_and_provision_rules() {
    std::env::set_var("JITGATE_TEST_DATABRICKS_TOKEN2", "dapi456");
    let config = parse_ok(
        r#"[resources.dbx]
kind = "spark-connect"
listen = "127.0.0.1:15104"

[resources.dbx.databricks]
workspace_host = "adb-1234.5.azuredatabricks.net"
cluster_id = "0123-456789-abcdefgh"
token_env = "JITGATE_TEST_DATABRICKS_TOKEN2"
account_id = "acc-1"
warehouse_id = "wh01"
catalog = "main"
identities = { alice = "alice@example.com" }
token_max_lifetime = "90d"

[[resources.dbx.databricks.provision]]
requesters = ["group:analysts"]
group = "jit-sales"
privileges = [{ securable = "TABLE", name = "main.sales.orders", privileges = ["SELECT"] }]
foreign = "remove"
"#,
    );
    let w = &spark(&config)
        .databricks
        .as_ref()
        .expect("preset")
        .workspace;
    assert_eq!(w.api_url, "https://adb-1234.5.azuredatabricks.net");
    let account = w.account.as_ref().expect("account");
    assert_eq!(account.api_url, "https://accounts.cloud.databricks.com");
    assert!(
        account.token.is_none(),
        "OAuth or the workspace token by default"
    );
    assert!(w.oauth.is_none());
    assert_eq!(
        w.identities,
        [("alice".to_string(), "alice@example.com".to_string())]
    );
    let rule = &w.provision[0];
    assert_eq!(rule.requesters, [Requester::Group("analysts".into())]);
    assert_eq!(rule.privileges[0].securable_type, "table");
    assert_eq!(rule.foreign, ForeignPolicy::Remove);
    assert!(w.provision.len() == 1 && w.reconcile_interval.as_secs() == 300);
    let text = config.describe();
    assert!(
        text.contains(
            "workspace API: https://adb-1234.5.azuredatabricks.net with the bearer token"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "provision for group:analysts: group jit-sales, privileges [SELECT on table main.sales.orders], foreign Remove"
        ),
        "{text}"
    );
    assert!(!text.contains("dapi456"), "{text}");
}

#[test]
fn workspace_api_mistakes_are_named() {
    std::env::set_var("JITGATE_TEST_DATABRICKS_TOKEN3", "dapi789");
    let head = "[resources.dbx]\nkind = \"spark-connect\"\nlisten = \"127.0.0.1:15105\"\n\
                [resources.dbx.databricks]\nworkspace_host = \"h\"\ncluster_id = \"c\"\n\
                token_env = \"JITGATE_TEST_DATABRICKS_TOKEN3\"\n";
    // The bearer token must not cross a network in clear.
    let e = error(&format!("{head}api_url = \"http://10.0.0.5:8080\"\n"));
    assert!(e.contains("https://"), "{e}");
    let e = error(&format!("{head}client_id = \"sp\"\n"));
    assert!(e.contains("client_secret_env"), "{e}");
    let e = error(&format!("{head}accounts_url = \"https://a\"\n"));
    assert!(e.contains("needs account_id"), "{e}");
    let e = error(&format!(
        "{head}[[resources.dbx.databricks.provision]]\nforeign = \"alert\"\n"
    ));
    assert!(
        e.contains("a group, privileges, a token (token_for)"),
        "{e}"
    );
    let e = error(&format!(
        "{head}[[resources.dbx.databricks.provision]]\ntoken_for = \"sp/../x\"\n"
    ));
    assert!(e.contains("application id"), "{e}");
    // A rule may give a token only.
    let config = parse_ok(&format!(
        "{head}[[resources.dbx.databricks.provision]]\ntoken_for = \"6f5ccf28-d83a-4957\"\n"
    ));
    let Upstream::SparkConnect(sc) = &config.resources[0].upstream else {
        panic!("a Spark Connect resource");
    };
    let rule = &sc.databricks.as_ref().expect("preset").workspace.provision[0];
    assert_eq!(rule.token_for.as_deref(), Some("6f5ccf28-d83a-4957"));
    assert!(!rule.needs_identity());
    let e = error(&format!(
        "{head}[[resources.dbx.databricks.provision]]\nprivileges = [{{ securable = \"table\", name = \"a b\", privileges = [\"SELECT\"] }}]\n"
    ));
    assert!(e.contains("full name"), "{e}");
    let e = error(&format!("{head}catalog = \"main'; --\"\n"));
    assert!(e.contains("letters, digits"), "{e}");
}
