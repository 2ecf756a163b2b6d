//! Every `ROTA_*` variable is declared once (`rota_config::env`), read through its constant,
//! and the README's table documents exactly the user-facing ones.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rota_config::env::{ALL, Audience};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/rota-config lies two levels below the repository root")
        .to_owned()
}

/// `ROTA_` names in `text`: upper-case words that do not end in `_` (so `ROTA_ANTHROPIC_*`
/// patterns in prose are not names).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("ROTA_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let before = rest[..i].chars().next_back();
        if !name.ends_with('_') && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.insert(name.to_owned());
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_readme_table_lists_exactly_the_user_variables() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let table: String = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect::<Vec<_>>()
        .join("\n");
    let documented = names_in(&table);
    let declared: BTreeSet<String> = ALL
        .iter()
        .filter(|(_, a)| *a == Audience::User)
        .map(|(n, _)| (*n).to_owned())
        .collect();
    let missing: Vec<_> = declared.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "declared in rota_config::env but not in the README's table: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "in the README's table but not declared in rota_config::env: {unknown:?}"
    );
    for (name, audience) in ALL {
        if *audience == Audience::Test {
            assert!(
                !readme.contains(name),
                "{name} is a test hook, not a setting"
            );
        }
    }
}

#[test]
fn names_are_unique_and_prefixed() {
    let mut seen = BTreeSet::new();
    for (name, _) in ALL {
        assert!(name.starts_with(rota_config::env::PREFIX), "{name}");
        assert!(seen.insert(*name), "{name} declared twice");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Product code names a variable only through `rota_config::env` (its tests, up to the
/// `#[cfg(test)]` module, are free to set them by name).
#[test]
fn product_code_reads_variables_through_their_constants() {
    let root = repo_root();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        rust_files(&entry.path().join("src"), &mut files);
    }
    rust_files(&root.join("src-tauri/src"), &mut files);
    let declaration = root.join("crates/rota-config/src/env.rs");
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| **f != declaration) {
        let source = std::fs::read_to_string(file).unwrap();
        for (i, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            if code.contains("\"ROTA_") {
                offenders.push(format!(
                    "{}:{}: {code}",
                    file.strip_prefix(&root).unwrap().display(),
                    i + 1
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "ROTA_* literals outside rota_config::env:\n{}",
        offenders.join("\n")
    );
}
