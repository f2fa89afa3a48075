//! The module graph has no cycles: every `crate::module` reference in a
//! module's non-test code points down the layers (see ARCHITECTURE.md).
//! A cycle fails with the path that closes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module of a file under `src/` (`None` for `main.rs`/`lib.rs`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "main" && name != "lib").then(|| name.to_string())
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `module -> modules it names`, test code excluded.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Some(m) = module_of(f.strip_prefix(&src).unwrap()) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let deps = g.entry(m.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != m {
                deps.insert(name);
            }
        }
    }
    g
}

fn find_cycle(
    g: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(pos) = stack.iter().position(|s| s == node) {
        let mut cycle = stack[pos..].to_vec();
        cycle.push(node.to_string());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    stack.push(node.to_string());
    for d in g.get(node).into_iter().flatten() {
        if let Some(c) = find_cycle(g, d, stack, done) {
            return Some(c);
        }
    }
    stack.pop();
    done.insert(node.to_string());
    None
}

#[test]
fn module_graph_has_no_cycles() {
    let g = graph();
    assert!(g.len() > 10, "found only {:?}", g.keys());
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(c) = find_cycle(&g, m, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_model_and_the_stages_point_down() {
    let g = graph();
    // Lower layers never name the wiring above them.
    let above = ["app", "daemon", "driver", "report", "config", "cli"];
    for low in [
        "model", "decode", "dns", "watch", "pipeline", "detect", "store", "capture",
    ] {
        let deps = g.get(low).cloned().unwrap_or_default();
        for a in above {
            assert!(!deps.contains(a), "{low} depends on {a}: {deps:?}");
        }
    }
    let model = g.get("model").cloned().unwrap_or_default();
    assert!(
        model.iter().all(|d| d == "time"),
        "model depends on {model:?}"
    );
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    let c = find_cycle(&g, "a", &mut Vec::new(), &mut BTreeSet::new());
    assert_eq!(c, Some(vec!["a".into(), "b".into(), "a".into()]));
}
