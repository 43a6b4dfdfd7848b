//! Hygiene gates, run as tests by `cargo xtask test` (rust-analyzer's `xtask tidy` style): what
//! review would otherwise have to remember. Each test names the files and lines that break its
//! rule.

use std::path::{Path, PathBuf};

/// The longest function body, in lines, and the longest source file before its tests module.
const MAX_FUNCTION: usize = 80;
const MAX_FILE: usize = 600;

/// The workspace's Rust sources that ship: `src/` of each crate and of the Python package,
/// `xtask/src`; not tests, examples, benches or fuzz targets.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = crate::root();
    let mut files = Vec::new();
    for crate_dir in std::fs::read_dir(root.join("crates")).expect("crates/").flatten() {
        walk(&crate_dir.path().join("src"), &mut files);
    }
    walk(&root.join("python/src"), &mut files);
    walk(&root.join("xtask/src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("source");
            (path.strip_prefix(&root).expect("under the root").to_path_buf(), text)
        })
        .collect()
}

/// The lines of `text` before its `#[cfg(test)]` module.
fn before_tests(text: &str) -> Vec<&str> {
    text.lines().take_while(|line| *line != "#[cfg(test)]").collect()
}

fn fail_on(broken: Vec<String>, rule: &str) {
    assert!(broken.is_empty(), "{rule}:\n  {}", broken.join("\n  "));
}

#[test]
fn every_module_opens_with_its_doc_comment() {
    let broken = sources()
        .into_iter()
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    fail_on(broken, "modules without a `//!` header saying what they are");
}

#[test]
fn no_source_file_is_longer_than_600_lines_before_its_tests() {
    let broken = sources()
        .into_iter()
        .filter_map(|(path, text)| {
            let lines = before_tests(&text).len();
            (lines > MAX_FILE).then(|| format!("{}: {lines} lines", path.display()))
        })
        .collect();
    fail_on(broken, "source files over 600 lines before their tests module (split them by job)");
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let mut broken = Vec::new();
    for (path, text) in sources() {
        let lines = before_tests(&text);
        for (start, line) in lines.iter().enumerate() {
            let Some(indent) = function_start(line) else { continue };
            // rustfmt closes a function's body at the indentation of its `fn`.
            let close = format!("{indent}}}");
            let Some(opens) = (start..lines.len()).find(|&i| lines[i].ends_with('{') || lines[i].ends_with(';')) else {
                continue;
            };
            if lines[opens].ends_with(';') {
                continue;
            }
            if let Some(end) = (opens..lines.len()).find(|&i| lines[i] == close) {
                let length = end - start + 1;
                if length > MAX_FUNCTION {
                    broken.push(format!("{}:{}: {length} lines: {}", path.display(), start + 1, line.trim()));
                }
            }
        }
    }
    fail_on(broken, "functions over 80 lines (split them)");
}

/// The indentation of a line that starts a function, `None` for other lines.
fn function_start(line: &str) -> Option<&str> {
    let code = line.trim_start();
    let indent = &line[..line.len() - code.len()];
    let mut rest = code;
    for qualifier in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe ", "extern \"C\" "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    rest.starts_with("fn ").then_some(indent)
}

#[test]
fn no_function_takes_too_many_arguments() {
    let broken = sources()
        .into_iter()
        .flat_map(|(path, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, line)| line.contains(concat!("allow(clippy::", "too_many_arguments)")))
                .map(|(n, _)| format!("{}:{}", path.display(), n + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    fail_on(
        broken,
        "functions allowed too many arguments (clippy's `too_many_arguments`): pass a context struct instead",
    );
}

#[test]
fn environment_variables_are_named_in_an_env_module() {
    let broken = sources()
        .into_iter()
        .filter(|(path, _)| !path.ends_with("env.rs") && !path.starts_with("xtask"))
        .flat_map(|(path, text)| {
            before_tests(&text)
                .iter()
                .enumerate()
                .filter(|(_, line)| {
                    let code = line.trim_start();
                    !code.starts_with("//")
                        && ["std::env::var", "std::env::set_var"].iter().any(|call| code.contains(call))
                })
                .map(|(n, line)| format!("{}:{}: {}", path.display(), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    fail_on(broken, "environment variables read outside an `env.rs`: name them there and read them through it");
}

#[test]
fn every_crate_takes_the_workspace_lints() {
    let root = crate::root();
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
        .map(|entry| entry.path().join("Cargo.toml"))
        .filter(|path| path.is_file())
        .collect();
    manifests.extend([root.join("python/Cargo.toml"), root.join("xtask/Cargo.toml")]);
    let broken = manifests
        .into_iter()
        .filter(|path| !std::fs::read_to_string(path).expect("manifest").contains("[lints]\nworkspace = true"))
        .map(|path| path.display().to_string())
        .collect();
    fail_on(broken, "manifests without `[lints] workspace = true`");
}
