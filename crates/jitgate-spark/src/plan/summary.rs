//! A readable one-line summary of a Spark Connect plan, for the audit trail.

use std::fmt::Write as _;

use spark_connect_proto::command::CommandType;
use spark_connect_proto::expression::ExprType;
use spark_connect_proto::plan::OpType;
use spark_connect_proto::read::ReadType;
use spark_connect_proto::relation::RelType;
use spark_connect_proto::{Command, Expression, Plan, Relation};

/// Longest summary kept in the audit trail; SQL text beyond it is cut with "…".
const MAX_SUMMARY: usize = 4096;

/// A one-line account of what a plan does: the SQL text of SQL relations and commands; the
/// operators, tables and columns of DataFrame plans.
pub fn summarize(plan: Option<&Plan>) -> String {
    let mut s = Summary::default();
    match plan.and_then(|p| p.op_type.as_ref()) {
        Some(OpType::Root(rel)) => s.relation(rel),
        Some(OpType::Command(cmd)) => s.command(cmd),
        // Newer clients may compress large plans; a plan rewriter must decompress or refuse.
        Some(OpType::CompressedOperation(_)) => s.ops.push("compressed plan".into()),
        None => s.ops.push("empty plan".into()),
    }
    s.finish()
}

#[derive(Default)]
struct Summary {
    sql: Vec<String>,
    ops: Vec<String>,
    tables: Vec<String>,
    columns: Vec<String>,
    functions: Vec<String>,
}

impl Summary {
    fn finish(self) -> String {
        let mut out = String::new();
        if !self.sql.is_empty() {
            let _ = write!(out, "sql: {}", self.sql.join("; "));
        }
        // A plan that is only SQL says everything with its text.
        if self.ops.iter().any(|op| op != "SQL") {
            if !out.is_empty() {
                out.push_str(" | ");
            }
            let _ = write!(out, "plan: {}", self.ops.join(" > "));
        }
        if !self.tables.is_empty() {
            let _ = write!(out, " | tables: {}", self.tables.join(", "));
        }
        if !self.columns.is_empty() {
            let _ = write!(out, " | columns: {}", self.columns.join(", "));
        }
        if !self.functions.is_empty() {
            let _ = write!(out, " | functions: {}", self.functions.join(", "));
        }
        if out.len() > MAX_SUMMARY {
            let mut cut = MAX_SUMMARY;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }

    fn command(&mut self, cmd: &Command) {
        let Some(kind) = cmd.command_type.as_ref() else {
            self.ops.push("empty command".into());
            return;
        };
        match kind {
            CommandType::SqlCommand(sql) => {
                #[allow(deprecated)] // Older clients still send the text in `sql`.
                let text = &sql.sql;
                if !text.is_empty() {
                    self.sql.push(text.clone());
                }
                self.ops.push("SQL".into());
                if let Some(input) = &sql.input {
                    self.relation(input);
                }
            }
            CommandType::WriteOperation(w) => {
                self.ops.push("Write".into());
                if let Some(input) = &w.input {
                    self.relation(input);
                }
            }
            CommandType::WriteOperationV2(w) => {
                self.ops.push(format!("WriteTo {}", w.table_name));
                if let Some(input) = &w.input {
                    self.relation(input);
                }
            }
            CommandType::CreateDataframeView(v) => {
                self.ops.push(format!("CreateView {}", v.name));
                if let Some(input) = &v.input {
                    self.relation(input);
                }
            }
            other => self.ops.push(variant_name(other)),
        }
    }

    fn relation(&mut self, rel: &Relation) {
        let Some(kind) = rel.rel_type.as_ref() else {
            return;
        };
        match kind {
            RelType::Sql(sql) => {
                self.sql.push(sql.query.clone());
                self.ops.push("SQL".into());
            }
            RelType::Read(read) => match &read.read_type {
                Some(ReadType::NamedTable(t)) => {
                    self.ops.push("Read".into());
                    self.tables.push(t.unparsed_identifier.clone());
                }
                Some(ReadType::DataSource(d)) => {
                    let format = d.format.as_deref().unwrap_or("default");
                    self.ops.push(format!("ReadSource {format}"));
                    self.tables.extend(d.paths.iter().cloned());
                }
                None => self.ops.push("Read".into()),
            },
            RelType::Project(p) => {
                self.ops.push("Project".into());
                self.expressions(&p.expressions);
                self.input(&p.input);
            }
            RelType::Filter(f) => {
                self.ops.push("Filter".into());
                self.expressions(f.condition.as_slice());
                self.input(&f.input);
            }
            RelType::Join(j) => {
                self.ops.push("Join".into());
                self.expressions(j.join_condition.as_slice());
                self.columns.extend(j.using_columns.iter().cloned());
                self.input(&j.left);
                self.input(&j.right);
            }
            RelType::SetOp(s) => {
                self.ops.push("SetOperation".into());
                self.input(&s.left_input);
                self.input(&s.right_input);
            }
            RelType::Sort(s) => {
                self.ops.push("Sort".into());
                for order in &s.order {
                    if let Some(child) = &order.child {
                        self.expression(child);
                    }
                }
                self.input(&s.input);
            }
            RelType::Limit(l) => {
                self.ops.push(format!("Limit {}", l.limit));
                self.input(&l.input);
            }
            RelType::Offset(o) => {
                self.ops.push(format!("Offset {}", o.offset));
                self.input(&o.input);
            }
            RelType::Tail(t) => {
                self.ops.push(format!("Tail {}", t.limit));
                self.input(&t.input);
            }
            RelType::Aggregate(a) => {
                self.ops.push("Aggregate".into());
                self.expressions(&a.grouping_expressions);
                self.expressions(&a.aggregate_expressions);
                self.input(&a.input);
            }
            RelType::Deduplicate(d) => {
                self.ops.push("Deduplicate".into());
                self.columns.extend(d.column_names.iter().cloned());
                self.input(&d.input);
            }
            RelType::Drop(d) => {
                self.ops.push("Drop".into());
                self.columns.extend(d.column_names.iter().cloned());
                self.input(&d.input);
            }
            RelType::SubqueryAlias(a) => {
                self.ops.push(format!("Alias {}", a.alias));
                self.input(&a.input);
            }
            RelType::ToDf(t) => {
                self.ops.push("ToDF".into());
                self.input(&t.input);
            }
            RelType::WithColumns(w) => {
                self.ops.push("WithColumns".into());
                for alias in &w.aliases {
                    self.columns.extend(alias.name.iter().cloned());
                    if let Some(e) = &alias.expr {
                        self.expression(e);
                    }
                }
                self.input(&w.input);
            }
            RelType::ShowString(s) => {
                self.ops.push("Show".into());
                self.input(&s.input);
            }
            RelType::Range(r) => {
                let start = r.start.unwrap_or(0);
                self.ops.push(format!("Range {start}..{}", r.end));
            }
            RelType::LocalRelation(_) => self.ops.push("LocalRelation".into()),
            other => self.ops.push(variant_name(other)),
        }
    }

    fn input(&mut self, input: &Option<Box<Relation>>) {
        if let Some(rel) = input {
            self.relation(rel);
        }
    }

    fn expressions(&mut self, exprs: &[Expression]) {
        for e in exprs {
            self.expression(e);
        }
    }

    fn expression(&mut self, e: &Expression) {
        let Some(kind) = e.expr_type.as_ref() else {
            return;
        };
        match kind {
            ExprType::UnresolvedAttribute(a) => self.column(&a.unparsed_identifier),
            ExprType::ExpressionString(s) => self.column(&s.expression),
            ExprType::UnresolvedStar(_) => self.column("*"),
            ExprType::UnresolvedFunction(f) => {
                if !self.functions.contains(&f.function_name) {
                    self.functions.push(f.function_name.clone());
                }
                for arg in &f.arguments {
                    self.expression(arg);
                }
            }
            ExprType::Alias(a) => {
                if let Some(inner) = &a.expr {
                    self.expression(inner);
                }
            }
            ExprType::Cast(c) => {
                if let Some(inner) = &c.expr {
                    self.expression(inner);
                }
            }
            ExprType::SortOrder(o) => {
                if let Some(inner) = &o.child {
                    self.expression(inner);
                }
            }
            _ => {}
        }
    }

    fn column(&mut self, name: &str) {
        if !self.columns.iter().any(|c| c == name) {
            self.columns.push(name.to_string());
        }
    }
}

/// The name of an enum variant from its Debug text, without formatting its (possibly large)
/// contents: the writer stops at the first `(`.
pub(crate) fn variant_name(value: &impl std::fmt::Debug) -> String {
    struct UntilParen(String);
    impl std::fmt::Write for UntilParen {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            match s.find(['(', ' ', '{']) {
                Some(i) => {
                    self.0.push_str(&s[..i]);
                    Err(std::fmt::Error)
                }
                None if self.0.len() > 64 => Err(std::fmt::Error),
                None => {
                    self.0.push_str(s);
                    Ok(())
                }
            }
        }
    }
    let mut w = UntilParen(String::new());
    let _ = write!(w, "{value:?}");
    w.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use spark_connect_proto::{expression, read, Filter, Project, Read, SqlCommand};

    fn rel(kind: RelType) -> Relation {
        Relation {
            common: None,
            rel_type: Some(kind),
        }
    }

    fn column(name: &str) -> Expression {
        Expression {
            common: None,
            expr_type: Some(ExprType::UnresolvedAttribute(
                expression::UnresolvedAttribute {
                    unparsed_identifier: name.into(),
                    plan_id: None,
                    is_metadata_column: None,
                },
            )),
        }
    }

    #[test]
    fn dataframe_plans_name_operators_tables_and_columns() {
        let read = rel(RelType::Read(Read {
            is_streaming: false,
            read_type: Some(ReadType::NamedTable(read::NamedTable {
                unparsed_identifier: "people".into(),
                options: Default::default(),
            })),
        }));
        let filter = rel(RelType::Filter(Box::new(Filter {
            input: Some(Box::new(read)),
            condition: Some(column("age")),
        })));
        let project = rel(RelType::Project(Box::new(Project {
            input: Some(Box::new(filter)),
            expressions: vec![column("name"), column("age")],
        })));
        let plan = Plan {
            op_type: Some(OpType::Root(project)),
        };
        assert_eq!(
            summarize(Some(&plan)),
            "plan: Project > Filter > Read | tables: people | columns: name, age"
        );
    }

    #[test]
    fn sql_commands_show_their_text() {
        #[allow(deprecated)]
        let command = SqlCommand {
            input: Some(rel(RelType::Sql(spark_connect_proto::Sql {
                query: "select 1".into(),
                ..Default::default()
            }))),
            ..Default::default()
        };
        let plan = Plan {
            op_type: Some(OpType::Command(Command {
                command_type: Some(CommandType::SqlCommand(command)),
            })),
        };
        assert_eq!(summarize(Some(&plan)), "sql: select 1");
    }

    #[test]
    fn variant_names_do_not_format_contents() {
        #[derive(Debug)]
        #[allow(dead_code)]
        enum E {
            Catalog(Vec<u8>),
        }
        assert_eq!(variant_name(&E::Catalog(vec![1; 1000])), "Catalog");
    }
}
