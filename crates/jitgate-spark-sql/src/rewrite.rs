//! The mask-before-evaluate rewrite of a `spark.sql` text: masking subqueries spliced into the
//! original text, then verified.
//!
//! The text is not regenerated from sqlparser's tree: its Display re-quotes string literals the
//! ANSI way (`''` for `'`), which Spark reads differently (`'a''b'` is `ab` to Spark, and Spark
//! uses backslash escapes), so reserialising would change the user's statement. Only the names
//! of protected relations are replaced, located by their source spans.

use std::collections::HashMap;

use jitgate_masking::MaskedView;
use sqlparser::ast::{Query, Statement};
use sqlparser::tokenizer::Location;

use crate::analyse::{parse_one, Expected, Found, Kind, Walker};
use crate::names::quote_ident;
use crate::{lexical, masking_projection, Column, Namespace, Refusal, TableRef};

pub(crate) fn rewrite(
    sql: &str,
    kind: Kind,
    found: &[Found],
    ns: &Namespace,
    view: &MaskedView,
    schemas: &HashMap<TableRef, Vec<Column>>,
) -> Result<String, Refusal> {
    // One masking subquery per distinct table.
    let mut subqueries: HashMap<&TableRef, String> = HashMap::new();
    for f in found {
        if subqueries.contains_key(&f.table) {
            continue;
        }
        let columns = schemas.get(&f.table).ok_or_else(|| {
            Refusal::new(format!(
                "jitgate has no schema for the protected table {}; the statement is refused",
                f.table.identifier
            ))
        })?;
        let projection = masking_projection(view, &f.table, columns)?;
        let items = projection
            .iter()
            .map(|p| p.select_item())
            .collect::<Vec<_>>()
            .join(", ");
        subqueries.insert(
            &f.table,
            format!("SELECT {items} FROM {}", f.table.identifier),
        );
    }

    let lines = LineStarts::new(sql);
    let mut edits = Vec::with_capacity(found.len());
    for f in found {
        let (Some(start), Some(end)) = (
            lines.offset(sql, f.name_span.start),
            lines.offset(sql, f.name_span.end),
        ) else {
            return Err(unverified("a table name's position is outside the text"));
        };
        if start >= end {
            return Err(unverified("a table name has an empty position"));
        }
        let subquery = subqueries
            .get(&f.table)
            .ok_or_else(|| unverified("a masking subquery is missing"))?;
        let mut replacement = format!("({subquery})");
        if !f.has_alias {
            replacement.push_str(" AS ");
            replacement.push_str(&quote_ident(&f.table.table));
        }
        edits.push((start, end, replacement));
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(sql.len() + edits.iter().map(|e| e.2.len()).sum::<usize>());
    let mut at = 0;
    for (start, end, replacement) in &edits {
        if *start < at {
            return Err(unverified("table names overlap"));
        }
        let kept = sql
            .get(at..*start)
            .ok_or_else(|| unverified("a table name's position is not on a character boundary"))?;
        out.push_str(kept);
        out.push_str(replacement);
        at = *end;
    }
    out.push_str(
        sql.get(at..)
            .ok_or_else(|| unverified("a table name's position is not on a character boundary"))?,
    );

    let masking = subqueries
        .values()
        .map(|text| match parse_one(text) {
            Ok(Statement::Query(q)) => Ok(*q),
            _ => Err(unverified("a masking subquery does not parse")),
        })
        .collect::<Result<Vec<Query>, Refusal>>()?;
    verify(&out, kind, found.len(), ns, view, &masking)?;
    Ok(out)
}

fn unverified(why: &str) -> Refusal {
    Refusal::new(format!(
        "jitgate could not verify its masking rewrite of this statement ({why}); the statement is refused"
    ))
}

/// Re-parses the rewritten text and checks that every protected relation in it is the only
/// FROM item of one of the masking subqueries generated, and that there are as many as there
/// were references replaced.
fn verify(
    rewritten: &str,
    kind: Kind,
    replaced: usize,
    ns: &Namespace,
    view: &MaskedView,
    masking: &[Query],
) -> Result<(), Refusal> {
    lexical::scan(rewritten, true)?;
    let statement = parse_one(rewritten)?;
    let same_kind = matches!(
        (kind, &statement),
        (Kind::Query, Statement::Query(_)) | (Kind::TempView, Statement::CreateView(_))
    );
    if !same_kind {
        return Err(unverified("the statement changed kind"));
    }
    let mut walker = Walker::new(ns, view, Some(Expected { masking }));
    walker.walk(&statement, kind)?;
    if walker.masking_seen != replaced || walker.sanctioned_used != replaced {
        return Err(unverified(&format!(
            "{replaced} references replaced, {} masking subqueries found, {} reading a protected table",
            walker.masking_seen, walker.sanctioned_used
        )));
    }
    Ok(())
}

/// Byte offsets of line starts, to turn sqlparser's locations (1-based lines split at `\n`,
/// 1-based columns counting characters, not bytes) into byte offsets.
pub(crate) struct LineStarts(Vec<usize>);

impl LineStarts {
    pub(crate) fn new(sql: &str) -> LineStarts {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        LineStarts(starts)
    }

    pub(crate) fn offset(&self, sql: &str, location: Location) -> Option<usize> {
        let line = usize::try_from(location.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(location.column).ok()?.checked_sub(1)?;
        let start = *self.0.get(line)?;
        let end = self.0.get(line + 1).copied().unwrap_or(sql.len());
        let text = sql.get(start..end)?;
        if column == text.chars().count() {
            return Some(end);
        }
        text.char_indices().nth(column).map(|(i, _)| start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::util::{ns, view};

    const MASKING: &str =
        "SELECT `id` AS `id`, CAST(NULL AS string) AS `ssn` FROM `default`.`people`";

    fn check(text: &str, kind: Kind, replaced: usize) -> Result<(), Refusal> {
        let masking = match parse_one(MASKING) {
            Ok(Statement::Query(q)) => vec![*q],
            _ => panic!("masking subquery parses"),
        };
        verify(text, kind, replaced, &ns(), &view(), &masking)
    }

    #[test]
    fn verification_accepts_only_masking_subqueries() {
        let good = format!("SELECT * FROM ({MASKING}) AS p WHERE ssn = 'x'");
        assert_eq!(check(&good, Kind::Query, 1), Ok(()));
        let two = format!("SELECT * FROM ({MASKING}) p JOIN ({MASKING}) q ON true");
        assert_eq!(check(&two, Kind::Query, 2), Ok(()));
        // Count mismatches.
        assert!(check(&good, Kind::Query, 2).is_err());
        assert!(check(&two, Kind::Query, 1).is_err());
        // Kind changed.
        assert!(check(&good, Kind::TempView, 1).is_err());
        for bad in [
            "SELECT * FROM people".to_string(),
            format!("SELECT * FROM ({MASKING}) p, people"),
            "SELECT * FROM (SELECT `id` AS `id`, `ssn` AS `ssn` FROM `default`.`people`) p"
                .to_string(),
            format!("SELECT * FROM ({MASKING} WHERE `ssn` = '1') p"),
            format!("SELECT * FROM orders o, LATERAL ({MASKING}) p"),
            format!("SELECT * FROM ({MASKING} JOIN people) p"),
            format!("SELECT * FROM (SELECT * FROM ({MASKING}) p JOIN people q) x"),
        ] {
            assert!(check(&bad, Kind::Query, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn locations_count_characters() {
        let sql = "SELECT 'é'\n  , x FROM people";
        let lines = LineStarts::new(sql);
        let at = |line, column| lines.offset(sql, Location { line, column });
        assert_eq!(at(1, 1), Some(0));
        assert_eq!(at(1, 9), Some(8), "é");
        assert_eq!(at(1, 10), Some(10), "after é (two bytes)");
        assert_eq!(at(1, 11), Some(11), "end of line");
        assert_eq!(at(2, 1), Some(12));
        let people = sql.find("people").expect("people");
        assert_eq!(at(2, 12), Some(people));
        assert_eq!(at(2, 18), Some(sql.len()));
        assert_eq!(at(2, 19), None);
        assert_eq!(at(3, 1), None);
        assert_eq!(at(0, 0), None);
    }
}
