use super::*;

fn table(name: &str) -> TableRef {
    TableRef {
        identifier: format!("`default`.`{name}`"),
        catalog: None,
        database: "default".into(),
        table: name.into(),
    }
}

fn cols(names: &[&str]) -> Vec<Column> {
    names
        .iter()
        .map(|n| Column {
            name: (*n).into(),
            ty: ColumnType::from_spark_name("string"),
        })
        .collect()
}

/// A schema is reused within the TTL, per table, and forgotten on clear.
#[test]
fn schemas_are_reused_per_table_until_cleared() {
    let cache = SchemaCache::default();
    assert!(cache.get(&table("a")).is_none());
    cache.put(table("a"), cols(&["id", "ssn"]));
    assert_eq!(cache.get(&table("a")), Some(cols(&["id", "ssn"])));
    assert!(cache.get(&table("b")).is_none());
    cache.clear();
    assert!(cache.get(&table("a")).is_none());
}

/// An expired schema is never used (a TTL of zero expires at once).
#[test]
fn expired_schemas_are_read_again() {
    let cache = SchemaCache::new(Duration::ZERO);
    cache.put(table("a"), cols(&["id"]));
    assert!(cache.get(&table("a")).is_none());
}

/// The cache holds at most CAPACITY tables: the oldest makes room.
#[test]
fn the_cache_is_bounded_and_drops_the_oldest() {
    let cache = SchemaCache::default();
    for i in 0..CAPACITY + 10 {
        cache.put(table(&format!("t{i}")), cols(&["id"]));
    }
    assert_eq!(cache.len(), CAPACITY);
    assert!(cache.get(&table("t0")).is_none());
    assert!(cache.get(&table(&format!("t{}", CAPACITY + 9))).is_some());
}

/// DESCRIBE rows up to the first `#` section are the columns (partition sections repeat some).
#[test]
fn describe_rows_end_at_the_first_section() {
    let text = |s: &str| Value::string(s);
    let column = |values: Vec<Value>| {
        Value::Struct(Struct {
            fields: vec![(
                7,
                Value::Struct(Struct {
                    fields: vec![(
                        1,
                        Value::List {
                            elem: crate::thrift::ty::STRING,
                            items: values,
                        },
                    )],
                }),
            )],
        })
    };
    let resp = Struct {
        fields: vec![(
            3,
            Value::Struct(Struct {
                fields: vec![(
                    3,
                    Value::List {
                        elem: crate::thrift::ty::STRUCT,
                        items: vec![
                            column(vec![
                                text("id"),
                                text("day"),
                                text("# Partition Information"),
                                text("day"),
                            ]),
                            column(vec![text("int"), text("date"), text(""), text("date")]),
                        ],
                    },
                )],
            }),
        )],
    };
    let got = columns_of(&resp).expect("columns");
    let names: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "day"]);
}
