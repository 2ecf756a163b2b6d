//! One durable write for the whole project: product code replaces files and moves unreadable
//! ones aside only through `rota_store::write_durably` / `quarantine` (fsio.rs), so every file
//! Rota owns gets the same temp → fsync → rename → directory fsync sequence, owner-only modes,
//! Windows' busy-file retries and one `.corrupt-<ms>` suffix. This scans the product sources for
//! raw writes and fails naming each one.

use std::path::{Path, PathBuf};

/// Calls that write or replace a file's content in place of the shared helper.
const RAW_WRITES: &[&str] = &[
    "fs::write(",
    "fs::rename(",
    "File::create(",
    ".persist(",
    "NamedTempFile::new",
];

/// Files allowed to write directly, and why.
const ALLOWED: &[(&str, &str)] = &[
    ("crates/rota-store/src/fsio.rs", "the helper itself"),
    (
        "crates/rota-trim/src/lib.rs",
        "stages a build artifact (the web extension) into the build tree, not user data",
    ),
    (
        "crates/rota-mock/src/main.rs",
        "the test server's own state dump, not a Rota file",
    ),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/rota-store lies two levels below the repository root")
        .to_owned()
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

/// The product's sources: every crate's `src/`, the app's `src-tauri/src` (tests, examples,
/// benches and `#[cfg(test)]` modules set up fixtures however they like).
fn product_sources(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
    {
        rust_files(&entry.path().join("src"), &mut files);
    }
    rust_files(&root.join("src-tauri/src"), &mut files);
    files.sort();
    files
}

/// `(line number, line)` of raw writes in `source`, up to its `#[cfg(test)]` module.
fn raw_writes(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        if RAW_WRITES.iter().any(|w| code.contains(w)) {
            found.push((i + 1, code.to_owned()));
        }
    }
    found
}

#[test]
fn product_code_writes_files_only_through_the_durable_helper() {
    let root = repo_root();
    let files = product_sources(&root);
    assert!(
        files.len() > 50,
        "the scan found the product sources: {}",
        files.len()
    );
    let mut offenders = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if ALLOWED.iter().any(|(allowed, _)| *allowed == rel) {
            continue;
        }
        let source = std::fs::read_to_string(file).unwrap();
        for (line, code) in raw_writes(&source) {
            offenders.push(format!("{rel}:{line}: {code}"));
        }
    }
    assert!(
        offenders.is_empty(),
        "raw file writes outside rota_store::write_durably/quarantine:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_scan_sees_a_raw_write_and_stops_at_the_test_module() {
    let source = "fn save() {\n    std::fs::write(p, b)?;\n}\n// fs::rename( in a comment\n#[cfg(test)]\nmod tests { fn t() { std::fs::write(p, b).unwrap(); } }\n";
    assert_eq!(
        raw_writes(source),
        vec![(2, "std::fs::write(p, b)?;".to_owned())]
    );
}
