//! Functions masked subjects may not call, and SQL expression strings of DataFrame plans.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, ObjectNamePart, Query, Visit, Visitor};
use sqlparser::dialect::DatabricksDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::{lexical, Refusal};

/// Functions that reach outside the plan: Java reflection, reads of files, streams and change
/// feeds that bypass the catalog's tables (and so their masking), secrets and HTTP calls.
const REFUSED: &[(&str, &str)] = &[
    ("reflect", "it calls Java methods"),
    ("java_method", "it calls Java methods"),
    ("try_reflect", "it calls Java methods"),
    ("read_files", "it reads files directly"),
    ("read_kafka", "it reads streams directly"),
    ("read_kinesis", "it reads streams directly"),
    ("read_pubsub", "it reads streams directly"),
    ("read_pulsar", "it reads streams directly"),
    ("read_statestore", "it reads streaming state directly"),
    ("read_state_metadata", "it reads streaming state directly"),
    ("cloud_files_state", "it reads streaming state directly"),
    ("table_changes", "it reads a table's change feed unmasked"),
    ("event_log", "it reads pipeline logs directly"),
    ("secret", "it reads secrets"),
    ("try_secret", "it reads secrets"),
    ("list_secrets", "it reads secrets"),
    ("http_request", "it makes HTTP requests"),
    (
        "identifier",
        "it turns text into names jitgate cannot check",
    ),
];

/// Whether masked subjects are refused this function (SQL or DataFrame call), by name:
/// case-insensitive, a qualified name judged by its last part.
pub fn function_refused(name: &str) -> Option<Refusal> {
    let last = name
        .rsplit('.')
        .next()
        .unwrap_or(name)
        .trim()
        .trim_matches('`');
    let lower = last.to_ascii_lowercase();
    REFUSED.iter().find(|(n, _)| *n == lower).map(|(_, why)| {
        Refusal::new(format!(
            "jitgate refuses the function {last} to masked subjects: {why}"
        ))
    })
}

/// Checks the name of a function called in SQL: refused functions, and qualified names
/// (persistent functions, which may run queries of their own over protected tables).
pub(crate) fn check_function_name(name: &ObjectName) -> Result<(), Refusal> {
    let mut last = None;
    for part in &name.0 {
        match part {
            ObjectNamePart::Identifier(ident) => last = Some(ident.value.as_str()),
            ObjectNamePart::Function(_) => {
                return Err(Refusal::new(
                    "jitgate refuses computed function names to masked subjects",
                ))
            }
        }
    }
    let last = last.unwrap_or_default();
    if let Some(refusal) = function_refused(last) {
        return Err(refusal);
    }
    if name.0.len() > 1 {
        return Err(Refusal::new(format!(
            "jitgate refuses the qualified function {name} to masked subjects: persistent functions may read tables unmasked"
        )));
    }
    Ok(())
}

/// A SQL expression string from a DataFrame plan (`selectExpr`, `filter("…")`, `F.expr`), which
/// Spark parses as a select item: refuses subqueries of any kind (scalar, `EXISTS`,
/// `IN (SELECT …)`: they would read relations the plan's masking does not cover), refused
/// functions, and text that cannot be parsed.
pub fn check_expression(text: &str) -> Result<(), Refusal> {
    lexical::scan(text, false)?;
    let unparsable = |e: String| {
        Refusal::new(format!(
            "jitgate cannot analyse the expression {text:?} for masking: {e}"
        ))
    };
    let parsed = lexical::for_parsing(text);
    let mut parser = Parser::new(&DatabricksDialect)
        .try_with_sql(&parsed)
        .map_err(|e| unparsable(e.to_string()))?;
    let item = parser
        .parse_select_item()
        .map_err(|e| unparsable(e.to_string()))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(unparsable(format!("unexpected {}", next.token)));
    }
    let mut checks = ExpressionChecks;
    match item.visit(&mut checks) {
        ControlFlow::Break(refusal) => Err(refusal),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct ExpressionChecks;

impl Visitor for ExpressionChecks {
    type Break = Refusal;

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<Refusal> {
        ControlFlow::Break(Refusal::new(
            "jitgate refuses subqueries in DataFrame expressions to masked subjects: use joins of DataFrames instead",
        ))
    }

    fn pre_visit_relation(&mut self, _relation: &ObjectName) -> ControlFlow<Refusal> {
        ControlFlow::Break(Refusal::new(
            "jitgate refuses table references in DataFrame expressions to masked subjects",
        ))
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        match expr {
            Expr::Subquery(_) | Expr::Exists { .. } => {
                ControlFlow::Break(Refusal::new(
                    "jitgate refuses subqueries in DataFrame expressions to masked subjects: use joins of DataFrames instead",
                ))
            }
            Expr::Function(f) => match check_function_name(&f.name) {
                Ok(()) => ControlFlow::Continue(()),
                Err(refusal) => ControlFlow::Break(refusal),
            },
            _ => ControlFlow::Continue(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_functions() {
        for name in [
            "reflect",
            "JAVA_METHOD",
            "try_reflect",
            "system.builtin.reflect",
            "read_files",
            "`Reflect`",
            "identifier",
        ] {
            assert!(function_refused(name).is_some(), "{name}");
        }
        for name in ["upper", "sha2", "range", "reflection"] {
            assert!(function_refused(name).is_none(), "{name}");
        }
        let refusal = function_refused("java_method").expect("refused");
        assert!(refusal.message.contains("java_method"), "{refusal}");
    }

    #[test]
    fn expressions() {
        for ok in [
            "a + 1",
            "upper(name) AS n",
            "*",
            "transform(xs, x -> x + 1)",
            "CASE WHEN a > 'it\\'s' THEN 1 END",
            "count(*) FILTER (WHERE a > 1)",
        ] {
            assert_eq!(check_expression(ok), Ok(()), "{ok}");
        }
        for bad in [
            "(SELECT max(ssn) FROM people)",
            "EXISTS (SELECT 1 FROM people WHERE ssn = '1')",
            "a IN (SELECT ssn FROM people)",
            "a = 1 OR a IN (SELECT ssn FROM people)",
            "array_contains(array((SELECT 1)), 1)",
            "reflect('java.lang.System', 'getenv', 'X')",
            "upper(java_method('a', 'b'))",
            "db.my_udf(a)",
            "IDENTIFIER('ssn')",
            "jgmask_c + 1",
            "a +",
            "a; DROP TABLE t",
            "r'\\' || (SELECT 1)",
        ] {
            assert!(check_expression(bad).is_err(), "{bad}");
        }
    }
}
