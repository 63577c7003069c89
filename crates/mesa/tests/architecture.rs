//! The shape docs/architecture.md promises, checked: no source file of the domain crate over
//! 600 lines, and no import circle between its modules (`types` ← `model` ← `outbox`,
//! `lifecycle`, `ports` ← `desk`; the contract's value types in `policy::terms` are a leaf of
//! their own, so the model can use them without depending on the policy host).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to, at the granularity the rule is about: top-level modules,
/// with `policy::terms` on its own.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/");
    if rel == "policy/terms.rs" {
        return "policy::terms".into();
    }
    let first = rel.split('/').next().unwrap().trim_end_matches(".rs");
    first.to_string()
}

/// Modules a file refers to through `crate::…` paths (imports and inline paths), outside
/// its `#[cfg(test)]` part.
fn references(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut parts = path.split("::");
        let first = parts.next().unwrap_or_default();
        if first.is_empty() || first.chars().next().is_some_and(char::is_uppercase) {
            continue;
        }
        if first == "policy" && parts.next() == Some("terms") {
            out.insert("policy::terms".to_string());
        } else {
            out.insert(first.to_string());
        }
    }
    out
}

#[test]
fn no_domain_source_file_is_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by capability: {long:?}");
}

#[test]
fn domain_modules_import_each_other_in_one_direction_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let from = module_of(&src, f);
        let text = std::fs::read_to_string(f).unwrap();
        let deps = graph.entry(from.clone()).or_default();
        for to in references(&text) {
            if to != from {
                deps.insert(to);
            }
        }
    }
    // A cycle is an edge a → b with a path b → … → a.
    fn reaches(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        if from == to {
            return true;
        }
        if !seen.insert(from.to_string()) {
            return false;
        }
        graph
            .get(from)
            .is_some_and(|next| next.iter().any(|n| reaches(graph, n, to, seen)))
    }
    let mut cycles = Vec::new();
    for (a, deps) in &graph {
        for b in deps {
            if reaches(&graph, b, a, &mut BTreeSet::new()) {
                cycles.push(format!("{a} → {b} → … → {a}"));
            }
        }
    }
    assert!(cycles.is_empty(), "import circles: {cycles:#?}");
    // The leaves stay leaves.
    assert!(
        graph["types"].is_empty(),
        "types imports {:?}",
        graph["types"]
    );
    assert!(
        graph["policy::terms"]
            .iter()
            .all(|m| m == "types" || m == "ticket"),
        "policy::terms imports {:?}",
        graph["policy::terms"]
    );
}
