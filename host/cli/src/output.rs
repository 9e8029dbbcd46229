//! Rendering of management API replies: `--output json` prints them as the server sent
//! them; text prints objects as aligned `key  value` lines and lists as tables.

use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn object(out: Output, v: &Value) {
    if out == Output::Json {
        println!("{v}");
        return;
    }
    let Some(map) = v.as_object() else {
        println!("{}", cell(v));
        return;
    };
    let width = map.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in map {
        println!("{k:width$}  {}", cell(v));
    }
}

/// `key` is the list's field in the reply (`{"functions": [...]}`); `columns` the fields
/// shown in text mode.
pub fn list(out: Output, v: &Value, key: &str, columns: &[&str]) {
    if out == Output::Json {
        println!("{v}");
        return;
    }
    let rows: Vec<Vec<String>> = v
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| columns.iter().map(|c| cell(item.get(*c).unwrap_or(&Value::Null))).collect())
                .collect()
        })
        .unwrap_or_default();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:w$}")).collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(columns.iter().map(|c| c.to_uppercase()).collect());
    for r in rows {
        line(r);
    }
}

/// A confirmation line for commands whose reply has no body (text mode only).
pub fn done(out: Output, message: &str) {
    if out == Output::Text {
        println!("{message}");
    }
}
