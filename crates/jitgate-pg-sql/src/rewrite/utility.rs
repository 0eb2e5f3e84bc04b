//! Top-level statements: which ones a masked subject may run, and how.
//!
//! An allowlist: a statement type not named here is refused, so a new PostgreSQL command is
//! refused until someone decides how it can leak.

use pg_query::protobuf::{
    CreateTableAsStmt, ExplainStmt, Node, ObjectType, VariableSetStmt, ViewStmt,
};
use pg_query::NodeEnum;

use super::nodes::{quote_ident, VETTED};
use super::walker::Walker;
use super::SearchPathChange;
use crate::census::Census;
use crate::error::Refusal;
use crate::settings;

fn refuse(message: String) -> Result<(), Refusal> {
    Err(Refusal::insufficient_privilege(message))
}

impl Walker<'_> {
    pub(crate) fn statement(&mut self, node: &mut Node) -> Result<(), Refusal> {
        let Some(n) = node.node.as_mut() else {
            return Ok(());
        };
        match n {
            NodeEnum::SelectStmt(s) => self.select(s),
            NodeEnum::InsertStmt(s) => self.insert(s),
            NodeEnum::UpdateStmt(s) => self.update(s),
            NodeEnum::DeleteStmt(s) => self.delete(s),
            NodeEnum::MergeStmt(s) => self.merge(s),
            NodeEnum::CopyStmt(s) => self.copy(s),
            // Cursors and prepared statements keep the rewritten query; FETCH and EXECUTE then
            // only ever produce masked rows. (Parse messages of the extended protocol are
            // rewritten by the front like any statement.)
            NodeEnum::DeclareCursorStmt(s) => self.opt_query(&mut s.query),
            NodeEnum::PrepareStmt(s) => self.opt_query(&mut s.query),
            NodeEnum::ExecuteStmt(s) => self.exprs(&mut s.params),
            NodeEnum::ExplainStmt(s) => self.explain(s),
            NodeEnum::CreateTableAsStmt(s) => self.create_table_as(s),
            NodeEnum::ViewStmt(s) => self.create_view(s),
            NodeEnum::VariableSetStmt(s) => {
                set_variable(s)?;
                self.note_search_path(s);
                Ok(())
            }
            NodeEnum::TruncateStmt(s) => self.truncate(s),
            // Locks and maintenance name relations without reading their rows.
            NodeEnum::LockStmt(s) => {
                for rel in &mut s.relations {
                    if let Some(NodeEnum::RangeVar(rv)) = rel.node.as_mut() {
                        rv.location = VETTED;
                    }
                }
                Ok(())
            }
            NodeEnum::VacuumStmt(s) => {
                for rel in &mut s.rels {
                    if let Some(NodeEnum::VacuumRelation(v)) = rel.node.as_mut() {
                        if let Some(rv) = v.relation.as_mut() {
                            rv.location = VETTED;
                        }
                    }
                }
                Ok(())
            }
            NodeEnum::TransactionStmt(_)
            | NodeEnum::VariableShowStmt(_)
            | NodeEnum::FetchStmt(_)
            | NodeEnum::ClosePortalStmt(_)
            | NodeEnum::DeallocateStmt(_)
            | NodeEnum::ListenStmt(_)
            | NodeEnum::UnlistenStmt(_)
            | NodeEnum::NotifyStmt(_)
            | NodeEnum::DiscardStmt(_)
            | NodeEnum::ConstraintsSetStmt(_)
            | NodeEnum::CheckPointStmt(_) => Ok(()),
            // Schema changes that read no rows. Any protected relation they name (an index on
            // it, a CHECK constraint, LIKE, INHERITS, PARTITION OF, RENAME …) is left unvetted,
            // and the census refuses the statement: an index or constraint on a masked column
            // evaluates its real values, and their errors quote them.
            // The table being created is new; what it copies or inherits from is not vetted.
            NodeEnum::CreateStmt(s) => {
                if let Some(rv) = s.relation.as_mut() {
                    self.creates(rv);
                }
                Ok(())
            }
            NodeEnum::CreateSeqStmt(s) => {
                if let Some(rv) = s.sequence.as_mut() {
                    self.creates(rv);
                }
                Ok(())
            }
            NodeEnum::IndexStmt(_)
            | NodeEnum::AlterTableStmt(_)
            | NodeEnum::DropStmt(_)
            | NodeEnum::CommentStmt(_)
            | NodeEnum::AlterSeqStmt(_)
            | NodeEnum::RefreshMatViewStmt(_) => Ok(()),
            NodeEnum::CreateSchemaStmt(s) if s.schema_elts.is_empty() => Ok(()),
            // Renaming a schema (or anything but a relation or its columns) could move a
            // protected table out from under the policy's names.
            NodeEnum::RenameStmt(s) if s.relation.is_some() => Ok(()),
            NodeEnum::DoStmt(_) => refuse(
                "DO is not available to subjects with masked columns: the block's queries \
                 cannot be rewritten"
                    .into(),
            ),
            NodeEnum::CallStmt(_) => refuse(
                "CALL is not available to subjects with masked columns: a procedure's queries \
                 cannot be rewritten"
                    .into(),
            ),
            NodeEnum::CreateFunctionStmt(_) => refuse(
                "creating functions or procedures is not available to subjects with masked \
                 columns: their bodies read tables unmasked"
                    .into(),
            ),
            other => {
                let command = command_words(Census::of(other).root.unwrap_or("Statement"));
                refuse(format!(
                    "{command} is not available to subjects with masked columns"
                ))
            }
        }
    }

    /// Remembers `SET search_path` / `RESET search_path`, so the front can resolve the next
    /// statements' names as the upstream will. (Only for convenience: protected names are
    /// pinned to their schema whatever the path. SET LOCAL, rolled-back SETs and set_config are
    /// not followed.)
    fn note_search_path(&mut self, s: &VariableSetStmt) {
        use pg_query::protobuf::VariableSetKind as K;
        if !s.name.eq_ignore_ascii_case("search_path") || s.is_local {
            return;
        }
        if s.kind == K::VarReset as i32 || s.kind == K::VarSetDefault as i32 {
            self.search_path_change = Some(SearchPathChange::Reset);
        } else if s.kind == K::VarSetValue as i32 {
            let names: Option<Vec<String>> = s.args.iter().map(string_constant).collect();
            if let Some(names) = names {
                let quoted: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
                self.search_path_change = Some(SearchPathChange::Set(quoted.join(", ")));
            }
        }
    }

    /// Walks `node`, telling whether it reads or writes a protected relation.
    fn touches_protected(&mut self, node: &mut Node) -> Result<bool, Refusal> {
        let before = std::mem::replace(&mut self.protected_touched, false);
        self.statement(node)?;
        let touched = self.protected_touched;
        self.protected_touched = before || touched;
        Ok(touched)
    }

    /// Plans show filter constants, row estimates drawn from column statistics and, with
    /// VERBOSE, the masking expressions (with their keys): no EXPLAIN of protected relations.
    fn explain(&mut self, s: &mut ExplainStmt) -> Result<(), Refusal> {
        let Some(inner) = s.query.as_deref_mut() else {
            return Ok(());
        };
        if matches!(inner.node, Some(NodeEnum::ExecuteStmt(_))) {
            return refuse(
                "EXPLAIN EXECUTE is not available to subjects with masked columns: the prepared \
                 statement may read them"
                    .into(),
            );
        }
        if self.touches_protected(inner)? {
            return refuse(
                "EXPLAIN of a statement that reads masked columns is not available: plans show \
                 filter values, statistics-based estimates and the masking expressions"
                    .into(),
            );
        }
        Ok(())
    }

    /// CREATE TABLE AS / SELECT INTO copy masked rows (the query is rewritten). A materialized
    /// view would store the rewritten definition, masking keys included, for everyone to read.
    fn create_table_as(&mut self, s: &mut CreateTableAsStmt) -> Result<(), Refusal> {
        if let Some(rel) = s.into.as_mut().and_then(|i| i.rel.as_mut()) {
            self.creates(rel);
        }
        let Some(query) = s.query.as_deref_mut() else {
            return Ok(());
        };
        let touched = self.touches_protected(query)?;
        if touched && s.objtype == ObjectType::ObjectMatview as i32 {
            return refuse(
                "a materialized view over masked columns is not available: it would store the \
                 masking expressions in its definition"
                    .into(),
            );
        }
        Ok(())
    }

    /// A view over protected relations would store the rewritten definition (masking keys
    /// included) and read masked values for every user: refused.
    fn create_view(&mut self, s: &mut ViewStmt) -> Result<(), Refusal> {
        if let Some(rv) = s.view.as_mut() {
            self.creates(rv);
        }
        let Some(query) = s.query.as_deref_mut() else {
            return Ok(());
        };
        if self.touches_protected(query)? {
            return refuse(
                "a view over masked columns is not available to subjects with masked columns"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A statement's node type as the command a person typed: `CreateExtensionStmt` → `CREATE
/// EXTENSION`.
fn command_words(node_type: &str) -> String {
    let renamed = match node_type {
        "CreateTrigStmt" => "CreateTrigger",
        "CreateStatsStmt" => "CreateStatistics",
        "RuleStmt" => "CreateRule",
        "CreateFdwStmt" => "CreateForeignDataWrapper",
        "RenameStmt" => "AlterRename",
        "AlterObjectSchemaStmt" => "AlterSetSchema",
        other => other,
    };
    let mut out = String::new();
    for c in renamed.strip_suffix("Stmt").unwrap_or(renamed).chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn string_constant(node: &Node) -> Option<String> {
    match node.node.as_ref()? {
        NodeEnum::AConst(c) => match c.val.as_ref()? {
            pg_query::protobuf::a_const::Val::Sval(s) => Some(s.sval.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Masked subjects change only settings that cannot make the server echo statements, plans or
/// values (`crate::settings`); switching roles is refused with its own message. The client
/// encoding stays UTF-8 (as the session starts): masks applied in the result stream work on
/// UTF-8 text, and a conversion error would quote the character it could not convert.
fn set_variable(s: &VariableSetStmt) -> Result<(), Refusal> {
    use pg_query::protobuf::VariableSetKind as K;
    let name = s.name.to_ascii_lowercase();
    if name == "role" || name == "session_authorization" {
        return refuse(
            "SET ROLE and SET SESSION AUTHORIZATION are not available to subjects with masked \
             columns"
                .into(),
        );
    }
    // RESET ALL goes back to the start-up values; SET TRANSACTION and SET SESSION
    // CHARACTERISTICS (VarSetMulti) set transaction modes only.
    if s.kind == K::VarResetAll as i32 || s.kind == K::VarSetMulti as i32 {
        return Ok(());
    }
    settings::masked_may_set(&name, settings::new_value(s)).or_else(refuse)
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_words_read_like_sql() {
        assert_eq!(
            super::command_words("CreateExtensionStmt"),
            "CREATE EXTENSION"
        );
        assert_eq!(super::command_words("CreateTrigStmt"), "CREATE TRIGGER");
        assert_eq!(super::command_words("GrantStmt"), "GRANT");
    }
}
