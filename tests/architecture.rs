//! The layering docs/architecture.md describes, held by a test: its layer
//! table against the module graph, and no cycle among the top-level modules
//! or the files inside one, counted from `crate::` references in production
//! code (test modules, and the `testing.rs` fixtures they share, may reach
//! anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Production code of one file: without its `#[cfg(test)]` modules,
/// wherever they are in it.
fn production(text: &str) -> String {
    let mut kept = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]\nmod ") {
        kept.push_str(&rest[..at]);
        // The module ends where its braces balance.
        let body = &rest[at..];
        let open = body.find('{').unwrap_or(body.len());
        let mut depth = 0;
        let mut end = body.len();
        for (i, c) in body[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &body[end..];
    }
    kept.push_str(rest);
    kept
}

fn collect(dir: &Path, text: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, text);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_stem().is_some_and(|s| s != "testing")
        {
            text.push_str(&production(&std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// Top-level module → the top-level modules its production code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let reference = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if ["main", "lib"].contains(&name.as_str()) {
            continue;
        }
        let mut text = String::new();
        if path.is_dir() {
            collect(&path, &mut text);
        } else {
            text.push_str(&production(&std::fs::read_to_string(&path).unwrap()));
        }
        let uses: BTreeSet<String> = reference
            .captures_iter(&text)
            .map(|c| c[1].to_string())
            .filter(|m| *m != name)
            .collect();
        graph.insert(name, uses);
    }
    graph
}

/// A cycle through `node`, if any, as the path that closes it.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node.to_string());
        return Some(cycle);
    }
    path.push(node.to_string());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = cycle_from(graph, next, path) {
            return Some(cycle);
        }
    }
    path.pop();
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = graph();
    assert!(graph.len() > 10 && graph.contains_key("facts"), "{graph:?}");
    for node in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, node, &mut Vec::new()) {
            panic!("module cycle: {}", cycle.join(" -> "));
        }
    }
}

/// Inside each directory module (`src/tf/`, `src/checks/`, ...): file →
/// the sibling files its production code names, through `super::NAME` or
/// `crate::MODULE::NAME`. A parent's `mod.rs` is the module itself, not a
/// sibling.
fn inner_graphs() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graphs = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let module = dir.file_name().unwrap().to_string_lossy().into_owned();
        let reference =
            regex::Regex::new(&format!(r"(?:super|crate::{module})::([a-z_]+)")).unwrap();
        let mut graph = BTreeMap::new();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if name == "mod" {
                continue;
            }
            let mut text = String::new();
            if path.is_dir() {
                collect(&path, &mut text);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&production(&std::fs::read_to_string(&path).unwrap()));
            } else {
                continue;
            }
            graph.insert(name.clone(), (text, name));
        }
        let names: BTreeSet<String> = graph.keys().cloned().collect();
        let edges = graph
            .into_iter()
            .map(|(name, (text, own))| {
                let uses = reference
                    .captures_iter(&text)
                    .map(|c| c[1].to_string())
                    .filter(|m| *m != own && names.contains(m))
                    .collect();
                (name, uses)
            })
            .collect();
        graphs.insert(module, edges);
    }
    graphs
}

#[test]
fn files_inside_a_module_form_no_cycle() {
    let graphs = inner_graphs();
    assert!(graphs.contains_key("tf") && graphs["tf"].contains_key("cache"));
    for (module, graph) in &graphs {
        for node in graph.keys() {
            if let Some(cycle) = cycle_from(graph, node, &mut Vec::new()) {
                panic!("cycle inside src/{module}: {}", cycle.join(" -> "));
            }
        }
    }
}

/// The rows of docs/architecture.md's layer table, top to bottom: each
/// row's name and the modules in it.
fn layer_table() -> Vec<(String, Vec<String>)> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md");
    let doc = std::fs::read_to_string(doc).unwrap();
    let table = &doc[doc.find("| layer | modules |").expect("the layer table")..];
    let module = regex::Regex::new(r"`([a-z_]+)/?`").unwrap();
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            let names = module
                .captures_iter(cells[2])
                .map(|c| c[1].to_string())
                .collect();
            (cells[1].trim().to_string(), names)
        })
        .collect()
}

#[test]
fn the_layer_table_is_the_module_graph() {
    let graph = graph();
    let layers = layer_table();
    assert!(layers.len() >= 5, "{layers:?}");
    let row_of = |name: &str| {
        let rows: Vec<usize> = (0..layers.len())
            .filter(|&i| layers[i].1.iter().any(|m| m == name))
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "`{name}` is in {} rows of the layer table",
            rows.len()
        );
        rows[0]
    };
    for (name, uses) in &graph {
        let row = row_of(name);
        for used in uses {
            assert!(
                row_of(used) <= row,
                "`{name}` ({}) uses `{used}` ({}), a layer below it in docs/architecture.md",
                layers[row].0,
                layers[row_of(used)].0
            );
        }
    }
    for (layer, names) in &layers {
        for name in names {
            assert!(
                graph.contains_key(name),
                "the {layer} layer lists `{name}`, which is no module"
            );
        }
    }
}

#[test]
fn facts_never_reach_for_workers_checks_or_rules() {
    // Probing through workers is the runner's; facts must not reach back.
    let uses = &graph()["facts"];
    for forbidden in ["worker", "checks", "runner", "diagnose"] {
        assert!(!uses.contains(forbidden), "facts uses {forbidden}");
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        cycle_from(&graph, "a", &mut Vec::new()),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(cycle_from(&graph, "d", &mut Vec::new()), None);
}

/// The variants of `event::Event`, read from its source.
fn event_variants() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/event.rs");
    let text = std::fs::read_to_string(src).unwrap();
    let body = &text[text.find("pub enum Event<'a> {").unwrap()..];
    let body = &body[..body.find("\n}\n").unwrap()];
    let variant = regex::Regex::new(r"(?m)^    ([A-Z][A-Za-z]+)\b").unwrap();
    variant
        .captures_iter(body)
        .map(|c| c[1].to_string())
        .collect()
}

/// Each reporter's `on`: from `impl Reporter for` to the end of its block.
fn reporter_impls() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut files = Vec::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let text = production(&text);
        for (at, _) in text.match_indices("impl Reporter for ") {
            let block = &text[at..];
            let end = block.find("\n}\n").unwrap_or(block.len());
            found.push((path.display().to_string(), block[..end].to_string()));
        }
    }
    found
}

#[test]
fn every_reporter_names_every_event() {
    let variants = event_variants();
    assert!(
        variants.len() >= 6 && variants.contains(&"CheckFinished".to_string()),
        "{variants:?}"
    );
    let reporters = reporter_impls();
    // attachments, JUnit, baseline, console, JSON, GitHub, GitLab.
    assert!(reporters.len() >= 7, "{reporters:?}");
    for (file, block) in reporters {
        for variant in &variants {
            assert!(
                block.contains(&format!("Event::{variant}")),
                "a reporter in {file} does not name Event::{variant}"
            );
        }
        // A catch-all arm would let a new event through unhandled.
        assert!(
            !block.contains("_ =>") && !block.contains("..} =>") && !block.contains("if let"),
            "a reporter in {file} handles events by a catch-all:\n{block}"
        );
    }
}
