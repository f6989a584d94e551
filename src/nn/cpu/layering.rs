//! The layer rule of [`super`] (see its module docs), checked on the source files:
//!
//! - code under `src/nn/cpu/` names no crate path but [`crate::error`] and the kernels
//!   themselves, and never climbs out with `super::super`;
//! - code under `src/nn/` (kernels and layers) names no model part and not `weights` (the
//!   loader builds layers, so layers must not know the loader);
//! - the files of `src/nn/cpu/` import each other (`super::x`, `crate::nn::cpu::x`, or a
//!   name `mod.rs` re-exports from `x`) without a cycle, and `mod.rs` only declares and
//!   re-exports.
//!
//! Comments and each file's test module are not code here: a doc link is not a dependency.
//! This file is test-only and is itself left out of the scan.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The only crate paths the kernels may name.
const KERNEL_MAY_NAME: [&str; 2] = ["crate::error", "crate::nn::cpu"];

/// Top-level modules above the layers (the model parts, and `weights`, which builds layers
/// from checkpoints): nothing under `src/nn/` may name them.
const ABOVE_THE_LAYERS: [&str; 12] = [
    "clip",
    "data",
    "detection",
    "detector",
    "eval",
    "imaging",
    "interaction",
    "labels",
    "model",
    "postprocess",
    "train",
    "weights",
];

/// This file, left out of the scan (it spells out the forbidden paths).
const THIS_FILE: &str = "layering";

fn source_dir(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `(module name, code)` of every `.rs` file directly in `dir`, sorted by name.
fn modules(dir: &Path) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (name, code_of(&text))
        })
        .filter(|(name, _)| name != THIS_FILE)
        .collect();
    found.sort();
    found
}

/// The code of a file: up to its test module (a `#[cfg(...test...)]` line followed by a
/// `mod` line), comments removed.
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            let line = lines[i].trim();
            line.starts_with("#[cfg(")
                && line.contains("test")
                && lines
                    .get(i + 1)
                    .is_some_and(|next| next.trim_start().starts_with("mod "))
        })
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .map(|line| strip_comment(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `line` without a `//` comment (one outside a string literal).
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path in `code` that starts with `root` (`crate::`, `super::`), brace groups
/// expanded: `use crate::{error::Result, nn::cpu::{A, b::C}}` gives `crate::error::Result`,
/// `crate::nn::cpu::A`, `crate::nn::cpu::b::C`.
fn paths(code: &str, root: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut start = 0;
    while let Some(offset) = code[start..].find(root) {
        let at = start + offset;
        start = at + root.len();
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue; // `my_crate::`, not `crate::`
        }
        expand(root, &code[start..], &mut found);
    }
    found
}

/// Append to `out` the paths `prefix` + the path tree at the start of `rest`.
fn expand(prefix: &str, rest: &str, out: &mut Vec<String>) {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut item_start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand_item(prefix, &group[item_start..i], out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_item(prefix, &group[item_start..i], out);
                    item_start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let segment: String = rest
        .chars()
        .take_while(|&c| is_ident(c) || c == '*')
        .collect();
    if segment.is_empty() {
        out.push(prefix.trim_end_matches("::").to_string());
        return;
    }
    let path = format!("{prefix}{segment}");
    let after = rest[segment.len()..].trim_start();
    if let Some(tail) = after.strip_prefix("::") {
        return expand(&format!("{path}::"), tail, out);
    }
    // `path as alias`: kept, so that a re-export is known by the name it exports.
    match after.strip_prefix("as ") {
        Some(alias) => {
            let alias: String = alias
                .trim_start()
                .chars()
                .take_while(|&c| is_ident(c))
                .collect();
            out.push(format!("{path} as {alias}"));
        }
        None => out.push(path),
    }
}

fn expand_item(prefix: &str, item: &str, out: &mut Vec<String>) {
    if !item.trim().is_empty() {
        expand(prefix, item, out);
    }
}

/// Names `mod.rs` re-exports, mapped to the module that defines them.
fn re_exports(mod_code: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in mod_code.split(';') {
        let Some(tree) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let mut expanded = Vec::new();
        expand("", tree, &mut expanded);
        for path in expanded {
            let segments: Vec<&str> = path.split("::").collect();
            let name = segments
                .last()
                .unwrap()
                .split(" as ")
                .last()
                .unwrap()
                .trim();
            names.insert(name.to_string(), segments[0].to_string());
        }
    }
    names
}

/// The sibling modules `code` depends on, or the names it uses that are neither a sibling
/// nor a re-export of one (items of `mod.rs` itself).
fn sibling_dependencies(
    code: &str,
    siblings: &BTreeSet<String>,
    re_exported: &BTreeMap<String, String>,
) -> (BTreeSet<String>, Vec<String>) {
    let mut dependencies = BTreeSet::new();
    let mut unresolved = Vec::new();
    let named =
        paths(code, "super::")
            .into_iter()
            .chain(paths(code, "crate::").into_iter().filter_map(|p| {
                p.strip_prefix("crate::nn::cpu::")
                    .map(|s| format!("super::{s}"))
            }));
    for path in named {
        let first = path["super::".len()..].split("::").next().unwrap_or("");
        if siblings.contains(first) {
            dependencies.insert(first.to_string());
        } else if let Some(module) = re_exported.get(first) {
            dependencies.insert(module.clone());
        } else {
            unresolved.push(path);
        }
    }
    (dependencies, unresolved)
}

/// A cycle of `graph`, as the modules along it (first repeated last), if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn kernels_are_a_layer_below_the_model() {
    let files = modules(&source_dir("src/nn/cpu"));
    assert!(files.len() > 5, "found only {} kernel files", files.len());
    let mut problems = Vec::new();

    // Nothing above the kernels.
    for (name, code) in &files {
        for path in paths(code, "crate::") {
            let allowed = KERNEL_MAY_NAME
                .iter()
                .any(|root| path == *root || path.starts_with(&format!("{root}::")));
            if !allowed {
                problems.push(format!("src/nn/cpu/{name}.rs names `{path}`"));
            }
        }
        if code.contains("super::super") {
            problems.push(format!(
                "src/nn/cpu/{name}.rs climbs out with `super::super`"
            ));
        }
    }

    // mod.rs only declares and re-exports.
    let mod_code = &files
        .iter()
        .find(|(name, _)| name == "mod")
        .expect("mod.rs")
        .1;
    for statement in mod_code.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let statement = statement.trim_start_matches("#[cfg(test)]").trim();
        if !["pub mod ", "pub use ", "mod "]
            .iter()
            .any(|start| statement.starts_with(start))
        {
            problems.push(format!(
                "src/nn/cpu/mod.rs holds code (`{statement}`): put it in a file of its own"
            ));
        }
    }

    // The sibling graph is acyclic.
    let siblings: BTreeSet<String> = files
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| name != "mod")
        .collect();
    let re_exported = re_exports(mod_code);
    let mut graph = BTreeMap::new();
    for (name, code) in files.iter().filter(|(name, _)| name != "mod") {
        let (dependencies, unresolved) = sibling_dependencies(code, &siblings, &re_exported);
        for path in unresolved {
            problems.push(format!(
                "src/nn/cpu/{name}.rs names `{path}`, which no sibling file defines"
            ));
        }
        if dependencies.contains(name) {
            problems.push(format!(
                "src/nn/cpu/{name}.rs imports itself through mod.rs"
            ));
        }
        graph.insert(name.clone(), dependencies);
    }
    if let Some(cycle) = find_cycle(&graph) {
        problems.push(format!(
            "import cycle among the kernels: {}",
            cycle.join(" → ")
        ));
    }

    assert!(
        problems.is_empty(),
        "layer rule broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn layers_name_no_model_part() {
    let mut problems = Vec::new();
    for dir in ["src/nn", "src/nn/cpu"] {
        for (name, code) in modules(&source_dir(dir)) {
            for path in paths(&code, "crate::") {
                let top = path.split("::").nth(1).unwrap_or("");
                if ABOVE_THE_LAYERS.contains(&top) {
                    problems.push(format!("{dir}/{name}.rs names `{path}`"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layers name model parts:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_groups_re_exports_and_cycles() {
    let code = code_of(
        "use crate::{error::Result, nn::cpu::{conv::A, B}};\n\
         // use crate::detection::resnet;\n\
         let s = \"// not a comment\"; super::winograd::go(); // crate::model\n\
         #[cfg(test)]\nmod tests { use crate::clip; }\n",
    );
    assert_eq!(
        paths(&code, "crate::"),
        [
            "crate::error::Result",
            "crate::nn::cpu::conv::A",
            "crate::nn::cpu::B"
        ]
    );
    let siblings: BTreeSet<String> = ["conv", "winograd", "epilogue"].map(String::from).into();
    let re_exported = re_exports("pub use epilogue::{B, Other as C};\npub use conv::D;");
    assert_eq!(re_exported["C"], "epilogue");
    let (dependencies, unresolved) = sibling_dependencies(&code, &siblings, &re_exported);
    assert_eq!(
        dependencies,
        ["conv", "epilogue", "winograd"].map(String::from).into()
    );
    assert!(unresolved.is_empty());

    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            graph.entry(to.to_string()).or_default();
        }
        graph
    };
    let cyclic = graph(&[("conv", "avx2"), ("avx2", "winograd"), ("winograd", "conv")]);
    assert_eq!(find_cycle(&cyclic).unwrap().len(), 4);
    let layered = graph(&[("conv", "avx2"), ("conv", "winograd"), ("winograd", "avx2")]);
    assert_eq!(find_cycle(&layered), None);
}
