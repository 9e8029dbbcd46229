//! Rendering of management API replies: `--output json` prints them as the server sent
//! them; text prints objects as aligned `key  value` lines and lists as tables; `id`
//! prints only what identifies the result (an API's or deployment's id, a function's or
//! alias's name, a version number; a new key itself), one per line, for scripts:
//! `ID=$(waygate api create shop --output id)`. `table` is another name for `text`.

use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[value(alias = "table")]
    Text,
    Json,
    Id,
}

/// What identifies a reply: its first field among these, as text. A reply that mints a
/// credential (`key create`, `cache issue-key`) carries it as `key`, and that comes first:
/// it is what a script needs and the only time it is shown. A configuration deployment is
/// identified by its `number` (it also names the version it deploys).
pub fn id_of(v: &Value) -> Option<String> {
    ["key", "id", "name", "number", "version", "statement_id", "code_hash"]
        .iter()
        .find_map(|k| v.get(*k).filter(|x| !x.is_null()))
        .map(cell)
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
    if out == Output::Id {
        println!("{}", id_of(v).unwrap_or_else(|| v.to_string()));
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
    if out == Output::Id {
        for item in v.get(key).and_then(Value::as_array).into_iter().flatten() {
            println!("{}", id_of(item).unwrap_or_else(|| item.to_string()));
        }
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

/// Runs `work` (a blocking call) while telling a person at a terminal that it is still
/// going: after a second, `what… Ns` on stderr, updated each second, erased when done.
/// Nothing is written when stderr is not a terminal (scripts, tests, pipes). For a code
/// upload, which answers when the code is compiled: seconds for a JavaScript or Python
/// component on two cores.
pub fn with_progress<T>(what: &str, work: impl FnOnce() -> T) -> T {
    use std::io::{IsTerminal, Write};
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let what = what.to_string();
    let ticker = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut shown = false;
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(std::time::Duration::from_secs(1))
        {
            shown = true;
            eprint!("\r{what}… {}s", started.elapsed().as_secs());
            let _ = std::io::stderr().flush();
        }
        if shown {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    });
    let out = work();
    drop(done);
    let _ = ticker.join();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn id_of_prefers_a_new_key_then_the_id() {
        assert_eq!(id_of(&json!({"name": "ci-dev", "key": "wgk_x", "policy": []})).as_deref(), Some("wgk_x"));
        assert_eq!(id_of(&json!({"id": "abc", "name": "shop"})).as_deref(), Some("abc"));
        assert_eq!(id_of(&json!({"name": "ci-dev", "created_at": "t"})).as_deref(), Some("ci-dev"));
        assert_eq!(id_of(&json!({"version": 3})).as_deref(), Some("3"));
        assert_eq!(id_of(&json!({"other": 1})), None);
    }
}
