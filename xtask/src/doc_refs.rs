//! Every document the repository's text cites is in the repository: a `*.md` name in a comment,
//! a doc or a config file resolves to a file (from the repository root or from the citing file's
//! directory), each `§N` after it is a numbered heading of that file (`## 3.`, `### 3.1`), a bare
//! `§N` in a Markdown file is a heading of that file, and nothing points at the specification
//! folders that lived beside the repository. Run by `cargo test` (so by `cargo xtask test`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Text files that can cite a document.
const EXTENSIONS: &[&str] = &[
    "rs", "toml", "md", "yml", "yaml", "js", "html", "css", "sh", "h",
];
/// Directories never scanned: build output, dependencies, VCS data, the built UI.
const SKIP_DIRS: &[&str] = &["target", "node_modules", "dist", ".git"];
/// This file names the patterns it looks for; it is not scanned.
const SELF: &str = "xtask/src/doc_refs.rs";
/// Places outside the repository that earlier comments cited.
const OUTSIDE: &[&str] = &[
    "../shared/",
    "shared/spec",
    "shared/fixtures",
    "shared/seed",
];

/// The repository's text files: path relative to `root` (with `/`) → content.
pub(crate) fn load(root: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let hidden = name.starts_with('.') && name != ".github" && name != ".ci";
                if !hidden && !SKIP_DIRS.contains(&name.as_str()) && !name.starts_with("target") {
                    dirs.push(path);
                }
            } else if kind.is_file()
                && path
                    .extension()
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_string_lossy().as_ref()))
                && let Ok(text) = fs::read_to_string(&path)
                && let Ok(rel) = path.strip_prefix(root)
            {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel != SELF {
                    files.insert(rel, text);
                }
            }
        }
    }
    files
}

/// Every dangling citation in `files`, as `path:line: what`.
pub(crate) fn problems(files: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut headings_of: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in files {
        if Path::new(path).extension().is_some_and(|e| e == "md") {
            headings_of.insert(path.as_str(), headings(text));
        }
    }
    for (path, text) in files {
        let at = |i: usize| format!("{path}:{}", text[..i].matches('\n').count() + 1);
        for bad in OUTSIDE {
            for (i, _) in text.match_indices(bad) {
                out.push(format!(
                    "{}: `{bad}` is outside the repository; cite docs/ instead",
                    at(i)
                ));
            }
        }
        let mut claimed = BTreeSet::new();
        for (i, _) in text.match_indices(".md") {
            let end = i + 3;
            if text[end..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let start = text[..i]
                .char_indices()
                .rev()
                .take_while(|(_, c)| c.is_ascii_alphanumeric() || "_./-".contains(*c))
                .last()
                .map_or(i, |(j, _)| j);
            let token = &text[start..end];
            let name = token.rsplit('/').next().unwrap_or(token);
            // `<topic>.md`, `*.md`, URLs: not a citation of a file here.
            if name == ".md" || token.contains("//") || text[..start].ends_with(['*', '>']) {
                continue;
            }
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            let target = [normalize(token), normalize(&format!("{dir}/{token}"))]
                .into_iter()
                .flatten()
                .find(|p| files.contains_key(p));
            let cited = sections_after(text, end);
            if let Some((marks, _)) = &cited {
                claimed.extend(marks.iter().copied());
            }
            let Some(target) = target else {
                out.push(format!(
                    "{}: `{token}` is not a file of the repository",
                    at(start)
                ));
                continue;
            };
            if let Some((marks, sections)) = cited {
                for s in sections {
                    if !headings_of
                        .get(target.as_str())
                        .is_some_and(|h| h.contains(&s))
                    {
                        out.push(format!("{}: `{target}` has no section {s}", at(marks[0])));
                    }
                }
            }
        }
        for (i, _) in text.match_indices('§') {
            if claimed.contains(&i) {
                continue;
            }
            if let (Some(own), Some((marks, sections))) =
                (headings_of.get(path.as_str()), sections_after(text, i))
            {
                claimed.extend(marks);
                for s in sections {
                    if !own.contains(&s) {
                        out.push(format!("{}: this file has no section {s}", at(i)));
                    }
                }
            } else {
                out.push(format!(
                    "{}: `§` without the document it belongs to (write `docs/<file>.md §N`)",
                    at(i)
                ));
            }
        }
    }
    out
}

/// The numbers of a Markdown file's numbered headings: `## 3. Token refresh` → `3`,
/// `### 3.1 Refresh …` → `3.1`.
fn headings(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix('#')?
                .trim_start_matches('#')
                .strip_prefix(' ')?;
            let word = rest.split_whitespace().next()?.trim_end_matches('.');
            let numbered = !word.is_empty()
                && word
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            numbered.then(|| word.to_owned())
        })
        .collect()
}

/// The `§` list right after a citation ending at `from` (spaces, or a line break and a comment
/// marker, may come between): `§4`, `§3.3–3.4`, `§6, §9`. Returns where its `§`s are and the
/// sections (both ends of a range).
fn sections_after(text: &str, from: usize) -> Option<(Vec<usize>, Vec<String>)> {
    let rest = &text[from..];
    let skipped = rest.trim_start_matches([' ', '\t']);
    let skipped = match skipped.strip_prefix('\n') {
        Some(next) => next
            .trim_start()
            .trim_start_matches(['/', '!', '#', '*'])
            .trim_start(),
        None => skipped,
    };
    let mut marks = vec![from + (rest.len() - skipped.len())];
    let mut s = skipped.strip_prefix('§')?;
    let mut out = Vec::new();
    loop {
        let (n, after) = number(s)?;
        out.push(n);
        s = after;
        if let Some(r) = s.strip_prefix('–').or_else(|| s.strip_prefix('-'))
            && let Some((n, after)) = number(r)
        {
            out.push(n);
            s = after;
        }
        match s.strip_prefix(", §") {
            Some(next) => {
                marks.push(text.len() - s.len() + 2);
                s = next;
            }
            None => return Some((marks, out)),
        }
    }
}

/// A section number at the start of `s` (`3`, `3.1`; a trailing `.` is punctuation).
fn number(s: &str) -> Option<(String, &str)> {
    let len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n = s[..len].trim_end_matches('.');
    (!n.is_empty() && n.starts_with(|c: char| c.is_ascii_digit()))
        .then(|| (n.to_owned(), &s[n.len()..]))
}

/// `a/./b/../c` → `a/c`; `None` when it climbs out of the repository.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(files: &[(&str, &str)]) -> BTreeMap<String, String> {
        files
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
            .collect()
    }

    const RULES: &str = "# Rules\n\n## 3. Refresh\n\n### 3.1 Near expiry\n\n### 3.4 Persist\n\n\
                         ## 4. Rotation\n\nSee §3.1 and [product.md §2](product.md).\n";
    const PRODUCT: &str = "# Product\n\n## 2. Accounts\n";

    #[test]
    fn every_citation_in_the_repository_resolves() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let files = load(root);
        assert!(
            files.contains_key("docs/rules.md")
                && files.contains_key("crates/rota-core/src/lib.rs"),
            "the scan missed the repository's files"
        );
        let problems = problems(&files);
        assert!(
            problems.is_empty(),
            "dangling citations:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn good_citations_pass() {
        let files = repo(&[
            ("docs/rules.md", RULES),
            ("docs/product.md", PRODUCT),
            (
                "crates/a/src/lib.rs",
                "//! Refresh (docs/rules.md §3.1, docs/rules.md §3–4, docs/product.md §2).\n\
                 /// Persist (docs/rules.md\n/// §3.4). See docs/rules.md §3.1–3.4, §4.\n\
                 /// Glob `docs/*.md`, template `docs/<topic>.md`, https://x.org/a/README.md.\n",
            ),
        ]);
        assert_eq!(problems(&files), Vec::<String>::new());
    }

    #[test]
    fn dangling_citations_fail() {
        let files = repo(&[
            ("docs/rules.md", RULES),
            ("docs/product.md", PRODUCT),
            (
                "crates/a/src/lib.rs",
                "//! Gone: reliability.md §2.\n\
                 //! Wrong section: docs/rules.md §5, docs/rules.md §3.2–3.4.\n\
                 //! Bare: see §3.1.\n\
                 //! Outside: ../shared/spec/product.md\n",
            ),
            (
                "README.md",
                "See [spec](docs/spec.md) and docs/product.md §9.\n",
            ),
        ]);
        assert_eq!(
            problems(&files),
            vec![
                "README.md:1: `docs/spec.md` is not a file of the repository",
                "README.md:1: `docs/product.md` has no section 9",
                "crates/a/src/lib.rs:4: `../shared/` is outside the repository; cite docs/ instead",
                "crates/a/src/lib.rs:4: `shared/spec` is outside the repository; cite docs/ instead",
                "crates/a/src/lib.rs:1: `reliability.md` is not a file of the repository",
                "crates/a/src/lib.rs:2: `docs/rules.md` has no section 5",
                "crates/a/src/lib.rs:2: `docs/rules.md` has no section 3.2",
                "crates/a/src/lib.rs:4: `../shared/spec/product.md` is not a file of the repository",
                "crates/a/src/lib.rs:3: `§` without the document it belongs to (write `docs/<file>.md §N`)",
            ]
        );
    }
}
