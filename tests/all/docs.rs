//! The docs run as written: every fenced block of README.md whose info string is
//! `sh runnable` is executed, in order, in one bash session (`set -euo pipefail`, so a
//! failing command fails the test) against a fresh `waygate up` — the real binary on
//! port 0, found by the CLI through `WAYGATE_DATA_DIR` — from the repository root, with
//! `waygate` on the PATH. A block that is not marked is illustration (other ports, `jq`,
//! a second machine) and is not run.

use crate::harness::Spawned;

/// `(line of the opening fence, the block's text)` of each runnable block, in order.
fn runnable_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == "```sh runnable" => current = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.starts_with("```") => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unclosed runnable block");
    blocks
}

#[test]
fn readme_runnable_blocks_run_as_written() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = runnable_blocks(&readme);
    assert!(blocks.len() >= 2, "the walk-throughs are marked runnable");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Spawned::start(&data, &dir.path().join("server.log"));
    let mut script = String::from("set -euo pipefail\n");
    for (line, text) in &blocks {
        script.push_str(&format!("echo '== README.md:{line}'\n{text}"));
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_waygate")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&root)
        .env("PATH", path)
        .env("WAYGATE_DATA_DIR", &data)
        .env_remove("WAYGATE_ENDPOINT")
        .env_remove("WAYGATE_TOKEN")
        .output()
        .expect("bash");
    server.kill();
    assert!(
        out.status.success(),
        "a README block failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn runnable_blocks_are_found_in_order() {
    let md = "text\n```sh runnable\na\nb\n```\n```sh\nno\n```\n```sh runnable\nc\n```\n";
    assert_eq!(runnable_blocks(md), vec![(2, "a\nb\n".to_string()), (9, "c\n".to_string())]);
}
