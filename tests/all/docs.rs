//! The docs run as written: every fenced block of README.md and the docs/ pages whose
//! info string is `sh runnable` is executed, in reading order (`PAGES`), in one bash
//! session (`set -euo pipefail`, and `curl` fails on an HTTP error, so a failing command
//! fails the test) against a fresh `waygate up` with its bundled examples — the real binary on port 0, found
//! through `WAYGATE_DATA_DIR` — from the repository root, with `waygate` on the PATH.
//!
//! The docs show most steps twice, with curl and with the CLI, which can't both run in one
//! session (the second would create what the first did). So a block is marked for a
//! track: `sh runnable` runs in both, `sh runnable curl` and `sh runnable cli` in their
//! own; each track is its own session on its own server. The curl track needs `curl` and
//! `jq` and is skipped, with a message, where they are missing (`.ci/run` installs them).
//! A block that is not marked is illustration and is not run.

use crate::harness::Spawned;

/// `(line of the opening fence, the block's text)` of each block runnable in `track`
/// (`"curl"` or `"cli"`), in order.
fn runnable_blocks(markdown: &str, track: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    // The aws track (docs/aws.md) is a walk-through of its own: shared blocks are not in it.
    let both = if track == "aws" { "```sh runnable aws".to_string() } else { "```sh runnable".to_string() };
    let own = format!("```sh runnable {track}");
    for (i, line) in markdown.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == both || line.trim_end() == own => current = Some((i + 1, String::new())),
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

/// The docs, in reading order: the README, then the reference pages as its "Where to read
/// on" lists them. Runnable blocks run in this order (later pages continue the README's
/// walk-throughs).
const PAGES: &[&str] = &[
    "README.md",
    "docs/gateway.md",
    "docs/configuration.md",
    "docs/backends.md",
    "docs/functions.md",
    "docs/aws.md",
    "docs/management-api.md",
    "docs/cli.md",
    "docs/declarations.md",
    "docs/access-control.md",
    "docs/secrets.md",
    "docs/stages.md",
    "docs/isolation.md",
    "docs/limits.md",
    "docs/observability.md",
    "docs/console.md",
    "docs/operations.md",
    "docs/scaling.md",
    "docs/performance.md",
];

#[test]
fn every_docs_page_is_listed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for e in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let name = format!("docs/{}", e.unwrap().file_name().to_string_lossy());
        if name.ends_with(".png") {
            // An illustration (the console's screenshot): checked as a link target below.
            continue;
        }
        assert!(PAGES.contains(&name.as_str()), "{name} is not in PAGES (and so not run or linted)");
    }
}

#[test]
fn docs_run_as_written_with_the_cli() {
    run_track("cli");
}

#[test]
fn docs_run_as_written_with_curl() {
    let missing: Vec<&str> = ["curl", "jq"]
        .into_iter()
        .filter(|t| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        eprintln!("skipped: the curl track of the docs needs {} (`.ci/run` installs them)", missing.join(" and "));
        return;
    }
    run_track("curl");
}

/// The AWS CLI and boto3 blocks (docs/aws.md), with the clients from PyPI: from the
/// virtualenv `.ci/run` makes (`target/aws-venv`, or `WAYGATE_AWS_VENV`), else from the
/// PATH; skipped, with a message, where they are missing.
#[test]
fn docs_run_as_written_with_the_aws_cli_and_boto3() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::env::var_os("WAYGATE_AWS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/aws-venv"));
    let path = format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let has = std::process::Command::new("sh")
        .args(["-c", "command -v aws >/dev/null && command -v curl >/dev/null && python3 -c 'import boto3'"])
        .env("PATH", &path)
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        eprintln!(
            "skipped: the aws track of the docs needs curl, the AWS CLI and boto3 \
             (`.ci/run` installs them: python3 -m venv target/aws-venv && target/aws-venv/bin/pip install awscli boto3)"
        );
        return;
    }
    run_track_with("aws", &path);
}

fn run_track(track: &str) {
    run_track_with(track, &std::env::var("PATH").unwrap_or_default());
}

fn run_track_with(track: &str, search_path: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut blocks = Vec::new();
    for page in PAGES {
        let text = std::fs::read_to_string(root.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        blocks.extend(runnable_blocks(&text, track).into_iter().map(|(line, b)| (format!("{page}:{line}"), b)));
    }
    assert!(blocks.len() >= 2, "the walk-throughs are marked runnable for {track}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // With the bundled examples, as a reader's first `waygate up` (the configuration
    // walk-through uses `orders`).
    let server = Spawned::start_with_examples(&data, &dir.path().join("server.log"));
    // `curl` answers an HTTP error with a failure, as a reader would notice it.
    let mut script = String::from("set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; }\n");
    for (line, text) in &blocks {
        script.push_str(&format!("echo '== {line}'\n{text}"));
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_waygate")).parent().unwrap().to_path_buf();
    let path = format!("{}:{search_path}", bin.display());
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
        "a docs block failed in the {track} track ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn runnable_blocks_are_found_in_order() {
    let md =
        "text\n```sh runnable\na\nb\n```\n```sh\nno\n```\n```sh runnable cli\nc\n```\n```sh runnable curl\nd\n```\n";
    assert_eq!(runnable_blocks(md, "cli"), vec![(2, "a\nb\n".to_string()), (9, "c\n".to_string())]);
    assert_eq!(runnable_blocks(md, "curl"), vec![(2, "a\nb\n".to_string()), (12, "d\n".to_string())]);
}

/// GitHub's heading anchor: lower case, punctuation other than `-` and `_` dropped,
/// spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The cells of a table row: `|` outside code spans and not escaped.
fn cells(row: &str) -> usize {
    let (mut n, mut code, mut prev) = (0, false, ' ');
    for c in row.trim().trim_start_matches('|').trim_end_matches('|').chars() {
        match c {
            '`' => code = !code,
            '|' if !code && prev != '\\' => n += 1,
            _ => {}
        }
        prev = c;
    }
    n + 1
}

/// What the Markdown lint finds in one file: unclosed fences, table rows whose cell count
/// differs from their header's, relative links to files that don't exist, and `#anchor`
/// links to headings that don't exist.
fn lint(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.display();
    let mut problems = Vec::new();
    let mut anchors = std::collections::HashSet::new();
    let mut links = Vec::new();
    let (mut fence, mut table): (Option<usize>, Option<usize>) = (None, None);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        // A fence is indented by at most three spaces (CommonMark).
        if line.trim_start().starts_with("```") && line.len() - line.trim_start().len() <= 3 {
            fence = match fence {
                None => Some(n),
                Some(_) => None,
            };
            table = None;
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if let Some(h) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) {
            anchors.insert(slug(h));
        }
        if line.trim_start().starts_with('|') {
            let c = cells(line);
            match table {
                None => table = Some(c),
                Some(want) if want != c => {
                    problems.push(format!("{name}:{n}: a table row of {c} cells under a header of {want}"))
                }
                Some(_) => {}
            }
        } else {
            table = None;
        }
        // Links outside code spans.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            links.push((n, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    if let Some(open) = fence {
        problems.push(format!("{name}:{open}: a code fence that is never closed"));
    }
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    for (n, link) in links {
        if link.starts_with("http://") || link.starts_with("https://") || link.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = link.split_once('#').unwrap_or((link.as_str(), ""));
        if file.is_empty() {
            if !anchors.contains(anchor) {
                problems.push(format!("{name}:{n}: link to #{anchor}, which no heading has"));
            }
        } else if !file_link_ok(dir, file) {
            problems.push(format!("{name}:{n}: link to {link}, which does not exist"));
        }
    }
    problems
}

fn file_link_ok(dir: &std::path::Path, file: &str) -> bool {
    // The repository stands alone: nothing outside it.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize();
    match (dir.join(file).canonicalize(), root) {
        (Ok(target), Ok(root)) => target.starts_with(root),
        _ => false,
    }
}

#[test]
fn markdown_has_no_broken_fences_tables_or_links() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut problems = Vec::new();
    let others = ["ARCHITECTURE.md", "SECURITY.md", "fuzz/README.md", "guest-examples/README.md"];
    for f in PAGES.iter().chain(&others) {
        problems.extend(lint(&root.join(f)));
    }
    assert!(problems.is_empty(), "{} Markdown problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_lint_finds_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.md");
    std::fs::write(
        &f,
        "# A b\n[ok](#a-b) [bad](#nope) [gone](missing.md)\n\n| a | b |\n|---|---|\n| 1 |\n\n```sh\nopen\n",
    )
    .unwrap();
    let p = lint(&f);
    assert_eq!(p.len(), 4, "{p:?}");
    assert_eq!(
        slug("Environments share one host: priority classes and capacity"),
        "environments-share-one-host-priority-classes-and-capacity"
    );
    assert_eq!(cells("| `a|b` | c \\| d | e |"), 3);
}
