//! Spark configuration keys masked subjects may set, and the `SET` statement.

use crate::Refusal;

/// Keys masked subjects may set exactly.
const EXACT: &[&str] = &[
    "spark.sql.session.timeZone",
    "spark.sql.shuffle.partitions",
    "spark.sql.ansi.enabled",
    "spark.sql.session.localRelationCacheThreshold",
    "spark.sql.execution.pythonUDF.arrow.enabled",
    "spark.sql.execution.pythonUDTF.arrow.enabled",
    "spark.sql.autoBroadcastJoinThreshold",
    "spark.sql.files.maxPartitionBytes",
    "spark.sql.execution.arrow.maxRecordsPerBatch",
];

/// Families of keys masked subjects may set: presentation and performance of the Python
/// client's data transfer, eager evaluation in notebooks, adaptive query execution.
const PREFIXES: &[&str] = &[
    "spark.sql.execution.arrow.",
    "spark.sql.execution.pandas.",
    "spark.sql.repl.eagerEval.",
    "spark.sql.adaptive.",
    "spark.sql.pyspark.",
];

/// Whether a masked subject may set this Spark configuration key (Config RPC and SQL `SET`).
///
/// An allowlist (keys are case-sensitive, as Spark's are): anything touching parsing
/// (`spark.sql.parser.*`, notably `escapedStringLiterals`, on which the masks' string literals
/// depend), legacy behaviour (`spark.sql.legacy.*`), catalogs (`spark.sql.catalog.*`,
/// `spark.sql.defaultCatalog`), case sensitivity, or any key not known harmless is refused.
/// Within the allowed families, keys naming classes (plug-ins Spark would load) are refused.
pub fn may_set(key: &str) -> bool {
    if EXACT.contains(&key) {
        return true;
    }
    let lower = key.to_ascii_lowercase();
    PREFIXES
        .iter()
        .any(|p| key.starts_with(p) && key.len() > p.len())
        && !lower.contains("class")
        && !lower.contains("legacy")
        && !lower.contains("parser")
        && !lower.contains("catalog")
        && !lower.contains("casesensitive")
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether a masked or read-only subject may read this configuration key through the Config
/// call. Spark answers Config reads with values unredacted (SQL `SET` redacts them), and a
/// cluster's configuration can hold the credentials of the storage behind its tables: with
/// them, files could be read around jitgate altogether. Keys that look like credentials — what
/// Spark's own `spark.redaction.regex` matches (`secret`, `password`, `token`, `access.key`),
/// and `credential`, `private.key`, `.sas.` (Azure) in any case — are refused.
pub fn may_read(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let squeezed: String = lower
        .chars()
        .filter(|c| !matches!(c, '.' | '_' | '-'))
        .collect();
    !([
        "secret",
        "password",
        "passwd",
        "token",
        "accesskey",
        "credential",
        "privatekey",
    ]
    .iter()
    .any(|w| squeezed.contains(w))
        || lower.contains(".sas."))
}

/// Spark's `SET …` forms, read from the text as Spark's own parser reads them (sqlparser knows
/// only `SET key = value`): `None` when the text is not a `SET` statement, else whether a
/// masked subject may run it. Reading (`SET -v`, `SET key` of keys [`may_read`] allows) is
/// allowed, listing every setting (`SET`) is not; setting only
/// keys [`may_set`] allows; `SET TIME ZONE` sets `spark.sql.session.timeZone`; session variables
/// (`SET VAR`) are refused.
pub(crate) fn set_statement(sql: &str) -> Option<Result<(), Refusal>> {
    let text = sql.trim_start();
    let head = text.get(..3)?;
    if !head.eq_ignore_ascii_case("set") {
        return None;
    }
    let rest = &text[3..];
    if rest.chars().next().is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    Some(check_set(rest.trim()))
}

fn check_set(rest: &str) -> Result<(), Refusal> {
    let refused = |why: &str| {
        Refusal::new(format!(
            "jitgate refuses this SET statement to masked subjects: {why}"
        ))
    };
    // Spark accepts trailing semicolons; anything after one is another statement.
    let rest = rest.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    if rest.contains(';') {
        return Err(refused("only one statement may be sent at a time"));
    }
    // `SET -v` lists Spark's documented settings only; `SET` lists every setting, with values
    // redacted only under Spark's own key pattern (an Azure SAS key, say, is not).
    if rest == "-v" {
        return Ok(());
    }
    if rest.is_empty() {
        return Err(refused(
            "listing every setting could show credentials Spark does not redact; use SET -v or \
             SET <key>",
        ));
    }
    let mut words = rest.split_whitespace();
    let first = words.next().unwrap_or_default().to_ascii_uppercase();
    if first == "TIME" && words.next().is_some_and(|w| w.eq_ignore_ascii_case("ZONE")) {
        return if may_set("spark.sql.session.timeZone") {
            Ok(())
        } else {
            Err(refused("the session time zone may not be changed"))
        };
    }
    if first == "VAR" || first == "VARIABLE" {
        return Err(refused(
            "session variables are not supported for masked subjects",
        ));
    }
    let (key, value) = match rest.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v)),
        None => (rest, None),
    };
    let key = match key.strip_prefix('`').and_then(|k| k.strip_suffix('`')) {
        Some(inner) if !inner.contains('`') => inner,
        Some(_) => return Err(refused("the key is not a plain configuration key")),
        None => key,
    };
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if !plain {
        return Err(refused("the key is not a plain configuration key"));
    }
    match value {
        None if may_read(key) => Ok(()),
        None => Err(refused("the key looks like a credential")),
        Some(_) if may_set(key) => Ok(()),
        Some(_) => Err(Refusal::new(format!(
            "jitgate refuses setting {key} to masked subjects: only presentation and performance settings may be changed"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_not_read() {
        for key in [
            "spark.hadoop.fs.s3a.secret.key",
            "spark.hadoop.fs.s3a.access.key",
            "spark.hadoop.fs.azure.sas.data.acct.blob.core.windows.net",
            "spark.hadoop.fs.azure.account.oauth2.client.secret",
            "spark.databricks.token",
            "spark.jdbc.PASSWORD",
            "spark.hadoop.google.cloud.auth.service.account.json.keyfile.private_key",
            "spark.hadoop.fs.gs.auth.access_token.credential",
        ] {
            assert!(!may_read(key), "{key}");
        }
        for key in [
            "spark.sql.session.timeZone",
            "spark.sql.execution.arrow.pyspark.enabled",
            "spark.sql.ansi.enabled",
            "spark.connect.session.planCompression.threshold",
        ] {
            assert!(may_read(key), "{key}");
        }
    }

    #[test]
    fn allowlist() {
        for key in [
            "spark.sql.session.timeZone",
            "spark.sql.shuffle.partitions",
            "spark.sql.ansi.enabled",
            "spark.sql.execution.arrow.pyspark.enabled",
            "spark.sql.execution.pandas.convertToArrowArraySafely",
            "spark.sql.repl.eagerEval.enabled",
            "spark.sql.adaptive.enabled",
            "spark.sql.pyspark.jvmStacktrace.enabled",
            "spark.sql.session.localRelationCacheThreshold",
            "spark.sql.execution.pythonUDF.arrow.enabled",
        ] {
            assert!(may_set(key), "{key}");
        }
        for key in [
            "spark.sql.parser.escapedStringLiterals",
            "spark.sql.legacy.timeParserPolicy",
            "spark.sql.catalog.x",
            "spark.sql.defaultCatalog",
            "spark.sql.caseSensitive",
            "spark.sql.adaptive.customCostEvaluatorClass",
            "spark.sql.adaptive.",
            "spark.sql.SESSION.timeZone",
            "spark.sql.session.timezone",
            "spark.sql.ansi.enabled ",
            "spark.jars",
            "spark.sql.extensions",
            "spark.sql.warehouse.dir",
            "",
        ] {
            assert!(!may_set(key), "{key}");
        }
    }

    #[test]
    fn set_statements() {
        for sql in [
            "set -v",
            "  SET spark.sql.legacy.timeParserPolicy",
            "SET spark.sql.ansi.enabled = true",
            "SET spark.sql.shuffle.partitions=8;",
            "SET `spark.sql.ansi.enabled` = false",
            "SET TIME ZONE 'UTC'",
            "SET time zone LOCAL",
        ] {
            assert_eq!(set_statement(sql), Some(Ok(())), "{sql}");
        }
        for sql in [
            "SET spark.sql.parser.escapedStringLiterals=true",
            "SET spark.sql.legacy.x = 1",
            "SET spark.sql.caseSensitive=true",
            "SET VAR v = (SELECT ssn FROM people)",
            "SET a = 1; SELECT 2",
            "SET /* c */ spark.sql.legacy.x = 1",
            "SET `a`b` = 1",
            "SET spark.sql.ansi.enabled\\x = 1",
            "SET",
            "set ;",
            "SET spark.hadoop.fs.s3a.secret.key",
            "SET `spark.hadoop.fs.azure.sas.c.acct.blob.core.windows.net`",
        ] {
            assert!(matches!(set_statement(sql), Some(Err(_))), "{sql}");
        }
        assert_eq!(set_statement("SELECT 1"), None);
        assert_eq!(set_statement("SETTINGS"), None);
        assert_eq!(set_statement("se"), None);
    }
}
