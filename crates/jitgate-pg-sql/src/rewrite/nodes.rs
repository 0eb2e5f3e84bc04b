//! Building parse-tree nodes.

use pg_query::protobuf::{self, a_const, Alias, Node};
use pg_query::NodeEnum;

/// Written into the `location` of every `RangeVar` the rewriter has vetted (resolved and found
/// clear, a CTE, or the base of a masking subquery). The parser only ever writes offsets ≥ -1, so
/// no statement can carry it in; the census afterwards finds any relation that was not vetted.
/// Locations do not survive deparsing, so the marker never reaches the upstream.
pub(crate) const VETTED: i32 = i32::MIN + 0x6a67;

/// A double-quoted identifier (always quoted: never a keyword, never case-folded).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn node(n: NodeEnum) -> Node {
    Node { node: Some(n) }
}

pub(crate) fn string(s: &str) -> Node {
    node(NodeEnum::String(protobuf::String {
        sval: s.to_string(),
    }))
}

pub(crate) fn integer_const(i: i32) -> Node {
    node(NodeEnum::AConst(protobuf::AConst {
        isnull: false,
        location: -1,
        val: Some(a_const::Val::Ival(protobuf::Integer { ival: i })),
    }))
}

pub(crate) fn alias(name: &str, colnames: Vec<Node>) -> Alias {
    Alias {
        aliasname: name.to_string(),
        colnames,
    }
}

/// `(query) AS alias`
pub(crate) fn range_subselect(query: protobuf::SelectStmt, alias: Alias) -> Node {
    node(NodeEnum::RangeSubselect(Box::new(
        protobuf::RangeSubselect {
            lateral: false,
            subquery: Some(Box::new(node(NodeEnum::SelectStmt(Box::new(query))))),
            alias: Some(alias),
        },
    )))
}

/// A target list entry `name` (a column) or `*`.
pub(crate) fn column_target(name: Option<&str>) -> Node {
    let field = match name {
        Some(n) => string(n),
        None => node(NodeEnum::AStar(protobuf::AStar {})),
    };
    node(NodeEnum::ResTarget(Box::new(protobuf::ResTarget {
        name: String::new(),
        indirection: Vec::new(),
        val: Some(Box::new(node(NodeEnum::ColumnRef(protobuf::ColumnRef {
            fields: vec![field],
            location: -1,
        })))),
        location: -1,
    })))
}

/// `SELECT <targets> FROM <from>`
pub(crate) fn select(targets: Vec<Node>, from: Node) -> protobuf::SelectStmt {
    protobuf::SelectStmt {
        target_list: targets,
        from_clause: vec![from],
        limit_option: protobuf::LimitOption::Default as i32,
        op: protobuf::SetOperation::SetopNone as i32,
        ..Default::default()
    }
}
