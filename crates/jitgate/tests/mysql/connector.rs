//! MySQL Connector/Python (`mysql-connector-python`), in pure Python and with its C extension
//! (its own libmysqlclient), logging in with `caching_sha2_password` over TLS: a clear subject
//! reads what a direct connection reads, over the text protocol and prepared cursors (binary
//! protocol); a masked subject reads the Rust masks of the direct values, whichever protocol,
//! and a parameter sent as long data (COM_STMT_SEND_LONG_DATA) is compared with masked values.

use std::process::Command;

use crate::env::{assert_no_clear, start_tls, Env};
use crate::masking::{expected_rows, people_masks};

/// The script: reads `people` (and `customers`) as `args` says, printing one JSON document.
/// `_mysql_connector` is imported first: the C extension needs the OpenSSL it ships with,
/// which must be loaded before Python's `ssl` module loads the system's.
const SCRIPT: &str = r#"
import _mysql_connector
import io, json, sys
import mysql.connector
from mysql.connector.connection_cext import CMySQLConnection

args = json.loads(sys.argv[1])
assert mysql.connector.HAVE_CEXT, "the C extension is not loaded"

def text(v):
    if v is None:
        return "NULL"
    if isinstance(v, (bytes, bytearray)):
        return v.decode()
    return str(v)

def connect(port, user, password, pure, tls, charset="utf8mb4"):
    kw = dict(host="127.0.0.1", port=port, user=user, password=password, database="app",
              use_pure=pure, charset=charset, connection_timeout=10)
    if tls:
        kw.update(ssl_ca=args["ca"], ssl_verify_cert=True)
    else:
        kw.update(ssl_disabled=True)
    c = mysql.connector.connect(**kw)
    assert isinstance(c, CMySQLConnection) != pure, type(c)
    return c

def read(c, sql, params=None, prepared=False):
    cur = c.cursor(prepared=True) if prepared else c.cursor()
    cur.execute(sql, params)
    rows = [[text(v) for v in row] for row in cur.fetchall()]
    cur.close()
    return rows

out = {}
people = "SELECT * FROM people ORDER BY id"
people_p = "SELECT * FROM people WHERE id > %s ORDER BY id"
customers = "SELECT id, name, email, ssn FROM customers ORDER BY id"
for pure in (True, False):
    direct = connect(args["direct_port"], args["direct_user"], args["direct_password"], pure, False)
    clear = connect(args["port"], args["clear_login"], args["clear_password"], pure, True)
    masked = connect(args["port"], args["masked_login"], args["masked_password"], pure, True)
    name = "pure" if pure else "cext"
    for label, c in (("direct", direct), ("clear", clear), ("masked", masked)):
        out[f"{name}.{label}.text"] = read(c, people)
        out[f"{name}.{label}.prepared"] = read(c, people_p, (0,), prepared=True)
        out[f"{name}.{label}.customers"] = read(c, customers)
        out[f"{name}.{label}.customers_prepared"] = read(c, customers + " LIMIT %s", (10,), prepared=True)
    # A guessed clear value matches nothing: the server compares masked values.
    out[f"{name}.masked.guess"] = read(masked, "SELECT id FROM customers WHERE ssn = %s", ("123-45-6789",), prepared=True)
    out[f"{name}.masked.guess_text"] = read(masked, "SELECT id FROM customers WHERE ssn = %s", ("123-45-6789",))
    # Columns without alias are named after the (rewritten) text the server ran.
    for prepared in (False, True):
        cur = masked.cursor(prepared=True) if prepared else masked.cursor()
        cur.execute("SELECT (SELECT COUNT(full_name) FROM people), (SELECT MAX(score) FROM people)")
        cur.fetchall()
        out[f"{name}.masked.names.{prepared}"] = list(cur.column_names)
        cur.close()
    if pure:
        # A file-like parameter goes as long data.
        for label, value in (("long_clear", b"123-45-6789"), ("long_masked", b"*******6789")):
            out[f"{name}.masked.{label}"] = read(masked, "SELECT id FROM customers WHERE ssn = %s", (io.BytesIO(value),), prepared=True)
    for label, sql, prepared in (("refused", "SELECT ssn FROM CUSTOMERS", False),
                                 ("warnings_prepared", "SHOW WARNINGS", True)):
        try:
            read(masked, sql, prepared=prepared)
            out[f"{name}.masked.{label}"] = None
        except mysql.connector.Error as e:
            out[f"{name}.masked.{label}"] = [e.errno, e.sqlstate]
    # A character set in which a backslash can hide in a multi-byte character: refused at
    # login (the handshake's collation) and in SET NAMES.
    try:
        connect(args["port"], args["masked_login"], args["masked_password"], pure, True, "gbk").close()
        out[f"{name}.masked.gbk_login"] = None
    except mysql.connector.Error as e:
        out[f"{name}.masked.gbk_login"] = e.errno
    try:
        read(masked, "SET NAMES gbk")
        out[f"{name}.masked.gbk_set"] = None
    except mysql.connector.Error as e:
        out[f"{name}.masked.gbk_set"] = e.errno
    for c in (direct, clear, masked):
        c.close()
print(json.dumps(out))
"#;

fn python_has_connector() -> bool {
    Command::new("python3")
        .args(["-c", "import _mysql_connector, mysql.connector"])
        .output()
        .is_ok_and(|o| o.status.success())
}

type Rows = Vec<Vec<String>>;

fn run(env: &Env, ca: &str, clear: (&str, &str), masked: (&str, &str)) -> serde_json::Value {
    let args = serde_json::json!({
        "ca": ca,
        "port": env.listen,
        "direct_port": env.db.port(),
        "direct_user": jitgate_testkit::mariadb::SERVICE_USER,
        "direct_password": jitgate_testkit::mariadb::SERVICE_PASSWORD,
        "clear_login": clear.0, "clear_password": clear.1,
        "masked_login": masked.0, "masked_password": masked.1,
    });
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &args.to_string()])
        .output()
        .expect("running python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        env.gateway.log()
    );
    assert_no_clear(
        "mysql-connector-python's masked reads",
        &masked_part(&stdout),
    );
    serde_json::from_str(&stdout).expect("the script's JSON")
}

/// The masked subject's part of the output (the direct and clear reads hold clear values).
fn masked_part(stdout: &str) -> String {
    let all: serde_json::Value = serde_json::from_str(stdout).unwrap_or_default();
    all.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.contains(".masked."))
                .map(|(_, v)| v.to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn rows(out: &serde_json::Value, key: &str) -> Rows {
    serde_json::from_value(out[key].clone()).unwrap_or_else(|e| panic!("{key}: {e}: {out}"))
}

#[test]
fn mysql_connector_python_pure_and_c_extension_read_clear_and_masked() {
    if !python_has_connector() {
        eprintln!("skipping: mysql-connector-python is not installed (scripts/install-deps test)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((env, ca)) = start_tls(dir.path(), "required") else {
        return;
    };
    let erin = env.grant("erin");
    let alice = env.grant("alice");
    let out = run(
        &env,
        &ca,
        (&erin.login, &erin.password),
        (&alice.login, &alice.password),
    );
    let customer_masks = {
        use jitgate_masking::{Mask, MySqlType};
        vec![
            None,
            None,
            Some((Mask::Email, MySqlType::Text)),
            Some((
                Mask::Partial {
                    keep_first: 0,
                    keep_last: 4,
                    pad: '*',
                },
                MySqlType::Text,
            )),
        ]
    };
    for flavour in ["pure", "cext"] {
        for (read, masks) in [
            ("text", people_masks()),
            ("prepared", people_masks()),
            ("customers", customer_masks.clone()),
            ("customers_prepared", customer_masks.clone()),
        ] {
            let direct = rows(&out, &format!("{flavour}.direct.{read}"));
            assert_eq!(direct.len(), 3, "{flavour} {read}");
            assert_eq!(
                rows(&out, &format!("{flavour}.clear.{read}")),
                direct,
                "{flavour}: a clear subject's {read} read differs from direct"
            );
            assert_eq!(
                rows(&out, &format!("{flavour}.masked.{read}")),
                expected_rows(direct, &masks),
                "{flavour}: a masked subject's {read} read is not the masks of the direct read"
            );
        }
        for guess in ["guess", "guess_text"] {
            assert!(
                rows(&out, &format!("{flavour}.masked.{guess}")).is_empty(),
                "{flavour} {guess}: {out}"
            );
        }
        // A prepared SHOW WARNINGS would relay messages unblotted: refused.
        for refused in ["refused", "warnings_prepared"] {
            assert_eq!(
                out[format!("{flavour}.masked.{refused}")],
                serde_json::json!([1227, "42000"]),
                "{flavour} {refused}"
            );
        }
    }
    for flavour in ["pure", "cext"] {
        // The handshake's collation (1043), or the SET NAMES the connector sends after it.
        let login = &out[format!("{flavour}.masked.gbk_login")];
        assert!(
            *login == serde_json::json!(1043) || *login == serde_json::json!(1227),
            "{flavour}: {login}"
        );
        assert_eq!(
            out[format!("{flavour}.masked.gbk_set")],
            serde_json::json!(1227),
            "{flavour}"
        );
    }
    let key = jitgate_masking::MaskKey::new(crate::masking::KEY, "test").expect("key");
    for flavour in ["pure", "cext"] {
        for prepared in ["False", "True"] {
            let names = out[format!("{flavour}.masked.names.{prepared}")].to_string();
            assert!(names.contains("(SELECT COUNT(full_name) FROM"), "{names}");
            assert!(!key.holds_key_material(names.as_bytes()), "{names}");
        }
    }
    assert!(rows(&out, "pure.masked.long_clear").is_empty(), "{out}");
    assert_eq!(rows(&out, "pure.masked.long_masked"), vec![vec!["1"]]);
}
