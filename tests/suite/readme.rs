//! README.md as a newcomer reads it: every GraphQL example runs against demo data (as `serve
//! --demo` makes it: history up to now, today included) through the real schema, without errors,
//! and every top-level field it asks for has data (an example marked with the comment
//! [`QUIET_TODAY`] just above it keeps only some of today's groups, which at night may be none:
//! it must answer without errors, and have data once its `period: TODAY` reads LAST_7_DAYS); every `insights ...` command it shows names a
//! real command and flags that command has; the configuration table names each serve flag with
//! the environment variable it really reads.
use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{json, Value};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The bodies of the fenced blocks of a language (```graphql ... ```), with their line numbers.
fn blocks(text: &str, language: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if current.is_none() {
            if trimmed.strip_prefix("```") == Some(language) {
                current = Some((number + 1, String::new()));
            }
        } else if trimmed.starts_with("```") {
            out.extend(current.take());
        } else if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Whether a top-level answer has data: a non-empty list, an object with some non-null field
/// (and, for a connection, at least one node), a value that is not null.
fn has_data(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => {
            if let Some(nodes) = fields.get("nodes") {
                return nodes.as_array().is_some_and(|n| !n.is_empty());
            }
            if let Some(edges) = fields.get("edges") {
                return edges.as_array().is_some_and(|e| !e.is_empty());
            }
            fields.values().any(|v| !v.is_null())
        }
        _ => true,
    }
}

/// The comment above an example whose answer for TODAY may be empty at quiet hours.
const QUIET_TODAY: &str =
    "<!-- readme test: TODAY may be empty at quiet hours; also run over LAST_7_DAYS -->";

#[tokio::test]
async fn graphql_examples_answer_with_data_on_demo_data() {
    let lines: Vec<String> = readme().lines().map(String::from).collect();
    let examples = blocks(&readme(), "graphql");
    assert!(
        examples.len() >= 3,
        "README.md has {} graphql examples",
        examples.len()
    );
    for t in common::databases().await {
        let written = insights_core::demo::write_to_db_up_to(
            &t.db,
            "default",
            insights_core::demo::DemoOptions::new(3000),
            chrono::Utc::now(),
        )
        .await
        .expect("demo data");
        assert_eq!(written, 3000);
        for (line, example) in &examples {
            // `line` is the fence's 1-based number: the line above it is `lines[line - 2]`.
            let quiet = *line >= 2 && lines[line - 2].trim() == QUIET_TODAY;
            let example = if quiet {
                assert!(example.contains("period: TODAY"), "README.md line {line}");
                let today = common::query(&t.db, "default", example, json!({})).await;
                assert!(
                    today.get("errors").is_none() && today["data"].is_object(),
                    "{}: README.md line {line}: {today}",
                    t.kind
                );
                example.replace("period: TODAY", "period: LAST_7_DAYS")
            } else {
                example.clone()
            };
            let example = &example;
            let response = common::query(&t.db, "default", example, json!({})).await;
            assert!(
                response.get("errors").is_none(),
                "{}: README.md line {line}: errors: {response}",
                t.kind
            );
            let data = response["data"]
                .as_object()
                .unwrap_or_else(|| panic!("README.md line {line}: no data: {response}"));
            assert!(!data.is_empty(), "README.md line {line}");
            for (field, value) in data {
                assert!(
                    has_data(value),
                    "{}: README.md line {line}: `{field}` is empty: {value}",
                    t.kind
                );
            }
        }
    }
}

/// The `--help` of each command, by name (`""` for the top level).
fn help() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for command in [
        "", "serve", "migrate", "import", "demo", "schema", "keys", "tenants",
    ] {
        let mut args: Vec<&str> = command.split_whitespace().collect();
        args.push("--help");
        let output = Command::new(env!("CARGO_BIN_EXE_insights"))
            .args(&args)
            .output()
            .expect("insights --help");
        assert!(output.status.success(), "insights {command} --help");
        out.insert(
            command.to_string(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        );
    }
    for (group, subcommands) in [
        ("keys", &["create", "list", "revoke"][..]),
        ("tenants", &["list", "set"][..]),
    ] {
        for sub in subcommands {
            let output = Command::new(env!("CARGO_BIN_EXE_insights"))
                .args([group, sub, "--help"])
                .output()
                .expect("insights --help");
            assert!(output.status.success(), "insights {group} {sub} --help");
            out.insert(
                format!("{group} {sub}"),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            );
        }
    }
    out
}

#[test]
fn shell_commands_use_real_commands_and_flags() {
    let help = help();
    let mut checked = 0;
    for (line, block) in blocks(&readme(), "sh") {
        // Whole commands: continuation lines joined.
        let text = block.replace("\\\n", " ");
        for command in text.lines() {
            // Each `insights ...` invocation on the line, up to a comment, pipe or substitution.
            for (at, _) in command.match_indices("insights ") {
                let before = &command[..at];
                if !(before.is_empty() || before.ends_with(' ') || before.ends_with('(')) {
                    continue;
                }
                let rest = command[at + "insights ".len()..]
                    .split("$(")
                    .next()
                    .unwrap_or("")
                    .split(['#', '|', ')', ';'])
                    .next()
                    .unwrap_or("");
                let words: Vec<&str> = rest.split_whitespace().collect();
                let Some(first) = words.iter().find(|w| !w.starts_with('-')) else {
                    continue;
                };
                let mut name = first.to_string();
                if let Some(next) = words
                    .iter()
                    .skip_while(|w| *w != first)
                    .nth(1)
                    .filter(|_| name == "keys" || name == "tenants")
                {
                    name = format!("{name} {next}");
                }
                let Some(text) = help.get(&name) else {
                    panic!(
                        "README.md block at line {line}: `insights {rest}`: no command `{name}`"
                    );
                };
                for flag in words.iter().filter(|w| w.starts_with("--")) {
                    let flag = flag.split('=').next().unwrap();
                    assert!(
                        find_flag(text, flag).is_some(),
                        "README.md block at line {line}: `insights {rest}`: `{name}` has no {flag}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} insights commands found");
}

/// Where `--flag` is listed in a `--help` text (followed by its value name or a line end).
fn find_flag(text: &str, flag: &str) -> Option<usize> {
    text.match_indices(flag).map(|(at, _)| at).find(|at| {
        let after = &text[at + flag.len()..];
        after.starts_with(' ') || after.starts_with('\n') || after.starts_with('\r')
    })
}

/// Each row of the configuration table: the flag exists on `serve` and reads that variable.
#[test]
fn configuration_table_matches_the_flags() {
    let serve = &help()["serve"];
    let top = &help()[""];
    let mut rows = 0;
    for line in readme().lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with("`--") || !cells[2].starts_with("`INSIGHTS_") {
            continue;
        }
        let flag = cells[1].trim_matches('`');
        let env = cells[2].trim_matches('`');
        let text = if flag == "--database-url" { top } else { serve };
        let at = find_flag(text, flag).unwrap_or_else(|| panic!("serve has no {flag}"));
        let after = &text[at..];
        let entry_end = after[2..].find("\n      --").map_or(after.len(), |i| i + 2);
        assert!(
            after[..entry_end].contains(&format!("[env: {env}=")),
            "{flag} does not read {env}: {}",
            &after[..entry_end]
        );
        rows += 1;
    }
    assert!(rows >= 20, "only {rows} rows in the configuration table");
}
