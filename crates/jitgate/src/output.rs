//! What the CLI prints: aligned tables for people, the server's JSON for scripts.

use serde_json::Value;

/// Prints a value as one line of JSON (scripts read it with `jq`).
pub fn print_json(value: &Value) {
    println!("{value}");
}

/// Prints the server's answer as JSON with `--json`, else as `human` words it for people.
pub fn emit(as_json: bool, value: &Value, human: impl FnOnce(&Value) -> String) {
    if as_json {
        print_json(value);
    } else {
        print!("{}", with_newline(human(value)));
    }
}

fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// A field of a JSON object as display text: strings bare, null and absent as `-`.
pub fn text(value: &Value, field: &str) -> String {
    match value.get(field) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// An RFC 3339 time as `2025-01-31 14:05:09Z`: second precision is enough to read.
pub fn time(value: &Value, field: &str) -> String {
    let t = text(value, field);
    match (t.get(..10), t.get(11..19)) {
        (Some(date), Some(clock)) if t.len() >= 20 && t.ends_with('Z') => {
            format!("{date} {clock}Z")
        }
        _ => t,
    }
}

/// A duration in seconds as `30m`, `2h`, `1h30m`, `45s`.
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Rows under headers, each column as wide as its widest cell.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, or `empty` (and a newline) when it has no rows (a bare header row
    /// reads as an error).
    pub fn text(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            format!("{empty}\n")
        } else {
            self.render()
        }
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(one_line(cell).chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{:<w$}", one_line(c), w = *w))
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut out = line(self.headers.iter().map(|h| h.to_string()).collect());
        for row in &self.rows {
            out.push_str(&line(row.clone()));
        }
        out
    }
}

/// Newlines and tabs in a cell (a multi-line reason) would break the table's rows.
fn one_line(cell: &str) -> String {
    cell.replace(['\n', '\t', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["ID", "WHO"]);
        t.row(vec!["r_1".into(), "alice".into()]);
        t.row(vec!["r_longer".into(), "dana\nx".into()]);
        assert_eq!(
            t.render(),
            "ID        WHO\nr_1       alice\nr_longer  dana x\n"
        );
    }

    #[test]
    fn fields_and_times_read_well() {
        let v = json!({"a": "x", "n": 3, "t": "2025-01-31T14:05:09.123Z", "z": null});
        assert_eq!(text(&v, "a"), "x");
        assert_eq!(text(&v, "n"), "3");
        assert_eq!(text(&v, "z"), "-");
        assert_eq!(text(&v, "missing"), "-");
        assert_eq!(time(&v, "t"), "2025-01-31 14:05:09Z");
        assert_eq!(time(&v, "z"), "-");
    }

    #[test]
    fn durations_read_as_typed() {
        assert_eq!(duration(1800), "30m");
        assert_eq!(duration(5400), "1h30m");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(0), "0s");
    }
}
