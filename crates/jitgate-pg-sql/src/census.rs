//! A complete, read-only inventory of a parse tree.
//!
//! pg_query's protobuf types derive `serde::Serialize`, and a derived `serialize` visits every
//! field of every node. The census is a serde `Serializer` that writes nothing: it watches the
//! struct names go by and writes down the nodes that matter for security (relations, function
//! calls, type names, operators, column references). Hand-written walkers can forget a field; this
//! cannot, so it is the backstop that makes the rewrite fail closed: whatever the rewriter did not
//! vet is found here.

use std::fmt;

use serde::ser::{self, Serialize};

/// A `RangeVar`: a relation named in the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelationSighting {
    pub schema: String,
    pub name: String,
    /// The parser's byte offset; the rewriter overwrites it with a marker on nodes it vetted.
    pub location: i32,
}

/// A `FuncCall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionSighting {
    /// Name parts as written: `[name]`, `[schema, name]` or `[catalog, schema, name]`.
    pub name: Vec<String>,
    /// The first argument when it is a string literal (`set_config('role', …)`).
    pub first_arg: Option<String>,
    /// The second argument when it is a string or boolean literal.
    pub second_arg: Option<String>,
    pub arg_count: usize,
    /// Column references inside its arguments (at any depth).
    pub arg_columns: Vec<ColumnSighting>,
}

impl FunctionSighting {
    /// The function's own name, without schema.
    pub fn base_name(&self) -> &str {
        self.name.last().map(String::as_str).unwrap_or("")
    }

    /// The schema it was qualified with, if any.
    pub fn schema(&self) -> Option<&str> {
        match self.name.len() {
            0 | 1 => None,
            n => Some(self.name[n - 2].as_str()),
        }
    }
}

/// An `A_Expr`: an operator application, `LIKE`, `IN`, `BETWEEN`, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OperatorSighting {
    pub kind: i32,
    pub name: Vec<String>,
}

/// A `ColumnRef`: `col`, `t.col`, `s.t.col`, `t.*`, `*`, or a bare `t` (a whole row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnSighting {
    pub fields: Vec<String>,
    pub star: bool,
}

/// Node types whose mere presence matters (for classification). A short list compared by
/// pointer-sized string equality is cheaper than hashing every node's type name.
const WATCHED: &[&str] = &[
    "SelectStmt",
    "InsertStmt",
    "UpdateStmt",
    "DeleteStmt",
    "MergeStmt",
    "IntoClause",
    "LockingClause",
    "RangeSubselect",
    "CommonTableExpr",
    "RangeFunction",
];

#[derive(Debug, Default)]
pub(crate) struct Census {
    pub relations: Vec<RelationSighting>,
    pub functions: Vec<FunctionSighting>,
    /// `TypeName` name parts (casts, `NULL::t`, column definitions).
    pub type_names: Vec<Vec<String>>,
    pub operators: Vec<OperatorSighting>,
    /// Operator names of `x op ANY (subquery)` sublinks.
    pub sublink_operators: Vec<Vec<String>>,
    pub columns: Vec<ColumnSighting>,
    /// A `CASE x WHEN …` with a test expression: it compares with an `=` found through
    /// `search_path`.
    pub case_with_operand: bool,
    /// Column references inside the argument of each `JSON_ARRAYAGG` / `JSON_OBJECTAGG`.
    pub json_aggregates: Vec<Vec<ColumnSighting>>,
    /// Which of [`WATCHED`] node types were met (bit i for `WATCHED[i]`).
    watched: u32,
    /// The first (outermost) one.
    pub root: Option<&'static str>,
    stack: Vec<Frame>,
}

/// One struct being serialised.
#[derive(Debug)]
struct Frame {
    name: &'static str,
    field: &'static str,
    /// Index of the element being serialised when `field` is a list.
    element: usize,
    location: i32,
    kind: i32,
    strings: Vec<String>,
    /// Literal arguments seen, tagged with \u{1} (first) or \u{2} (second).
    literals: Vec<String>,
    star: bool,
    arg_count: usize,
    /// For calls and JSON aggregates: column references met inside their arguments.
    arg_columns: Vec<ColumnSighting>,
}

impl Census {
    /// Takes the census of any pg_query tree (a statement, a list of nodes, a clause).
    pub fn of<T: Serialize + ?Sized>(tree: &T) -> Census {
        let mut census = Census::default();
        // The census never fails: every method returns Ok.
        let _ = tree.serialize(&mut census);
        census
    }

    /// Whether a node of this type (one of [`WATCHED`]) is in the tree.
    pub fn saw(&self, node_type: &str) -> bool {
        WATCHED
            .iter()
            .position(|w| *w == node_type)
            .is_some_and(|i| self.watched & (1 << i) != 0)
    }

    fn top(&mut self) -> Option<&mut Frame> {
        self.stack.last_mut()
    }

    /// The frame `depth` levels below the top (0 = top), with the field it is in.
    fn frame(&self, depth: usize) -> Option<&Frame> {
        self.stack
            .len()
            .checked_sub(depth + 1)
            .map(|i| &self.stack[i])
    }

    fn is(&self, depth: usize, name: &str, field: &str) -> bool {
        self.frame(depth)
            .is_some_and(|f| f.name == name && f.field == field)
    }

    fn on_str(&mut self, v: &str) {
        let Some(top) = self.frame(0) else { return };
        match (top.name, top.field) {
            ("RangeVar", "schemaname" | "relname") => {
                let field = top.field;
                if let Some(top) = self.top() {
                    top.strings.push(format!("{field}\u{0}{v}"));
                }
            }
            ("String", "sval") => self.on_name_part(v),
            _ => {}
        }
    }

    /// A `String` node: part of a name list, or a string literal.
    fn on_name_part(&mut self, v: &str) {
        // Name lists: owner.field → Node.node → String.sval.
        if self.is(1, "Node", "node") {
            if let Some(owner) = self.frame(2) {
                let wanted = matches!(
                    (owner.name, owner.field),
                    ("FuncCall", "funcname")
                        | ("TypeName", "names")
                        | ("AExpr", "name")
                        | ("SubLink", "oper_name")
                        | ("ColumnRef", "fields")
                );
                if wanted {
                    let i = self.stack.len() - 3;
                    self.stack[i].strings.push(v.to_string());
                }
                return;
            }
        }
        // Literal arguments: FuncCall.args[0 or 1] → Node.node → AConst.val → String.sval.
        if self.is(1, "AConst", "val")
            && self.is(2, "Node", "node")
            && self.is(3, "FuncCall", "args")
        {
            let i = self.stack.len() - 4;
            let call = &mut self.stack[i];
            match call.element {
                0 => call.literals.push(format!("\u{1}{v}")),
                1 => call.literals.push(format!("\u{2}{v}")),
                _ => {}
            }
        }
    }

    fn on_bool(&mut self, v: bool) {
        // Boolean literal arguments: FuncCall.args[1] → Node → AConst.val → Boolean.boolval.
        if self.is(0, "Boolean", "boolval")
            && self.is(1, "AConst", "val")
            && self.is(2, "Node", "node")
            && self.is(3, "FuncCall", "args")
        {
            let i = self.stack.len() - 4;
            let call = &mut self.stack[i];
            if call.element == 1 {
                call.literals.push(format!("\u{2}{v}"));
            }
        }
    }

    fn on_i32(&mut self, v: i32) {
        if let Some(top) = self.top() {
            match top.field {
                "location" => top.location = v,
                "kind" => top.kind = v,
                _ => {}
            }
        }
    }

    fn begin_struct(&mut self, name: &'static str) {
        if let Some(i) = WATCHED.iter().position(|w| *w == name) {
            self.watched |= 1 << i;
        }
        self.root.get_or_insert(name);
        if name == "AStar" && self.is(1, "ColumnRef", "fields") {
            // AStar → (Node) → ColumnRef: the Node frame is at depth 0 while AStar is opening.
            let i = self.stack.len() - 2;
            self.stack[i].star = true;
        }
        self.stack.push(Frame {
            name,
            field: "",
            element: 0,
            location: -1,
            kind: 0,
            strings: Vec::new(),
            literals: Vec::new(),
            star: false,
            arg_count: 0,
            arg_columns: Vec::new(),
        });
    }

    fn end_struct(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        match frame.name {
            "RangeVar" => {
                let mut schema = String::new();
                let mut name = String::new();
                for s in frame.strings {
                    if let Some(v) = s.strip_prefix("schemaname\u{0}") {
                        schema = v.to_string();
                    } else if let Some(v) = s.strip_prefix("relname\u{0}") {
                        name = v.to_string();
                    }
                }
                self.relations.push(RelationSighting {
                    schema,
                    name,
                    location: frame.location,
                });
            }
            "FuncCall" => {
                let mut first_arg = None;
                let mut second_arg = None;
                for s in frame.literals {
                    if let Some(v) = s.strip_prefix('\u{1}') {
                        first_arg = Some(v.to_string());
                    } else if let Some(v) = s.strip_prefix('\u{2}') {
                        second_arg = Some(v.to_string());
                    }
                }
                self.functions.push(FunctionSighting {
                    name: frame.strings,
                    first_arg,
                    second_arg,
                    arg_count: frame.arg_count,
                    arg_columns: frame.arg_columns,
                });
            }
            "TypeName" => self.type_names.push(frame.strings),
            "AExpr" => self.operators.push(OperatorSighting {
                kind: frame.kind,
                name: frame.strings,
            }),
            "SubLink" if !frame.strings.is_empty() => self.sublink_operators.push(frame.strings),
            "JsonArrayAgg" | "JsonObjectAgg" => self.json_aggregates.push(frame.arg_columns),
            "ColumnRef" => {
                let column = ColumnSighting {
                    fields: frame.strings,
                    star: frame.star,
                };
                // Every call (or JSON aggregate) it is an argument of, at any depth.
                for f in &mut self.stack {
                    let in_args = matches!(
                        (f.name, f.field),
                        ("FuncCall", "args") | ("JsonArrayAgg" | "JsonObjectAgg", "arg")
                    );
                    if in_args {
                        f.arg_columns.push(column.clone());
                    }
                }
                self.columns.push(column);
            }
            _ => {}
        }
    }
}

/// Never produced; serde requires an error type.
#[derive(Debug)]
pub(crate) struct CensusError;

impl fmt::Display for CensusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("census error")
    }
}

impl std::error::Error for CensusError {}

impl ser::Error for CensusError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        CensusError
    }
}

/// A list being serialised, and the frame whose field it is.
pub(crate) struct ListState<'a> {
    census: &'a mut Census,
    owner: Option<usize>,
    next: usize,
}

impl ListState<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CensusError> {
        if let Some(owner) = self.owner {
            let frame = &mut self.census.stack[owner];
            frame.element = self.next;
            if frame.name == "FuncCall" && frame.field == "args" {
                frame.arg_count = self.next + 1;
            }
        }
        self.next += 1;
        value.serialize(&mut *self.census)
    }
}

impl<'a> ser::Serializer for &'a mut Census {
    type Ok = ();
    type Error = CensusError;
    type SerializeSeq = ListState<'a>;
    type SerializeTuple = ListState<'a>;
    type SerializeTupleStruct = ListState<'a>;
    type SerializeTupleVariant = ListState<'a>;
    type SerializeMap = ListState<'a>;
    type SerializeStruct = &'a mut Census;
    type SerializeStructVariant = &'a mut Census;

    fn serialize_bool(self, v: bool) -> Result<(), CensusError> {
        self.on_bool(v);
        Ok(())
    }
    fn serialize_i8(self, _v: i8) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_i16(self, _v: i16) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), CensusError> {
        self.on_i32(v);
        Ok(())
    }
    fn serialize_i64(self, _v: i64) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_u8(self, _v: u8) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_u16(self, _v: u16) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_u32(self, _v: u32) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_u64(self, _v: u64) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_char(self, _v: char) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), CensusError> {
        self.on_str(v);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CensusError> {
        if self.is(0, "CaseExpr", "arg") {
            self.case_with_operand = true;
        }
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
    ) -> Result<(), CensusError> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CensusError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), CensusError> {
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<ListState<'a>, CensusError> {
        let owner = self.stack.len().checked_sub(1);
        Ok(ListState {
            census: self,
            owner,
            next: 0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<ListState<'a>, CensusError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<ListState<'a>, CensusError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        len: usize,
    ) -> Result<ListState<'a>, CensusError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<ListState<'a>, CensusError> {
        self.serialize_seq(len)
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<&'a mut Census, CensusError> {
        self.begin_struct(name);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<&'a mut Census, CensusError> {
        self.begin_struct(name);
        Ok(self)
    }
}

impl ser::SerializeStruct for &mut Census {
    type Ok = ();
    type Error = CensusError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CensusError> {
        if let Some(top) = self.top() {
            top.field = key;
            top.element = 0;
        }
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), CensusError> {
        self.end_struct();
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Census {
    type Ok = ();
    type Error = CensusError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CensusError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), CensusError> {
        self.end_struct();
        Ok(())
    }
}

impl ser::SerializeSeq for ListState<'_> {
    type Ok = ();
    type Error = CensusError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CensusError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CensusError> {
        Ok(())
    }
}

impl ser::SerializeTuple for ListState<'_> {
    type Ok = ();
    type Error = CensusError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CensusError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CensusError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for ListState<'_> {
    type Ok = ();
    type Error = CensusError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CensusError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CensusError> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for ListState<'_> {
    type Ok = ();
    type Error = CensusError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CensusError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CensusError> {
        Ok(())
    }
}

impl ser::SerializeMap for ListState<'_> {
    type Ok = ();
    type Error = CensusError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CensusError> {
        key.serialize(&mut *self.census)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CensusError> {
        value.serialize(&mut *self.census)
    }
    fn end(self) -> Result<(), CensusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census(sql: &str) -> Census {
        let parsed = pg_query::parse(sql, 0).expect("test SQL parses");
        Census::of(&parsed.protobuf)
    }

    #[test]
    fn finds_relations_everywhere() {
        let c = census(
            "SELECT (SELECT max(x) FROM a.t1), f((SELECT 1 FROM t2)) \
             FROM t3 WHERE EXISTS (SELECT 1 FROM \"T4\" WHERE y IN (SELECT z FROM t5))",
        );
        let mut names: Vec<_> = c
            .relations
            .iter()
            .map(|r| format!("{}.{}", r.schema, r.name))
            .collect();
        names.sort();
        assert_eq!(names, [".T4", ".t2", ".t3", ".t5", "a.t1"]);
    }

    #[test]
    fn function_names_and_literal_arguments() {
        let c = census("SELECT pg_catalog.set_config('role', 'x', false), lower(name) FROM t");
        assert_eq!(c.functions.len(), 2);
        let set = &c.functions[0];
        assert_eq!(set.name, ["pg_catalog", "set_config"]);
        assert_eq!(set.first_arg.as_deref(), Some("role"));
        assert_eq!(set.second_arg.as_deref(), Some("x"));
        assert_eq!(set.arg_count, 3);
        assert_eq!(c.functions[1].base_name(), "lower");
        assert_eq!(c.functions[1].first_arg, None);
    }

    #[test]
    fn columns_stars_types_and_operators() {
        let c = census(
            "SELECT t.*, c.ssn::int, x OPERATOR(pg_catalog.||) y, CASE a WHEN 1 THEN 2 END FROM t",
        );
        assert!(c.columns.iter().any(|col| col.star && col.fields == ["t"]));
        assert!(c.columns.iter().any(|col| col.fields == ["c", "ssn"]));
        assert!(c.type_names.iter().any(|t| t == &["pg_catalog", "int4"]));
        assert!(c.operators.iter().any(|o| o.name == ["pg_catalog", "||"]));
        assert!(c.case_with_operand);
        assert!(c.saw("SelectStmt"));
    }
}
