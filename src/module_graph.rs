//! The check that the top-level modules of `src/` import each other without a cycle (leaves at the bottom).
//!
//! It reads every `src/**/*.rs`, takes each `crate::<module>` (and, in a top-level module's own file,
//! `super::<module>`) as an edge from the file's top-level module to `<module>`, and fails on a cycle, printing
//! it with the lines that make each edge. Comments do not count, nor does test code (files named `tests.rs` or
//! `*_tests.rs`, and inline `#[cfg(test)] mod … { … }` blocks), as with `cargo modules`' default. Run it with
//! `scripts/check-module-cycles.sh` (or `cargo test --lib module_graph -- --nocapture`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// module → module it imports → where (file:line), in order.
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The code of a file without comments and without inline test modules.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if t.starts_with("#[cfg(test)]") {
            // `#[cfg(test)] mod tests { … }` (or any item with a block): skip to its closing brace.
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim().is_empty() {
                j += 1;
            }
            if j < lines.len() && lines[j].trim_end().ends_with('{') {
                let indent = lines[j].len() - lines[j].trim_start().len();
                let mut k = j + 1;
                while k < lines.len()
                    && !(lines[k].trim_start().starts_with('}')
                        && lines[k].len() - lines[k].trim_start().len() == indent)
                {
                    k += 1;
                }
                i = k + 1;
            } else {
                i = j + 1;
            }
            continue;
        }
        if !t.starts_with("//") {
            let code = match lines[i].find("//") {
                Some(at) if !lines[i][..at].contains('"') => &lines[i][..at],
                _ => lines[i],
            };
            out.push((i + 1, code));
        }
        i += 1;
    }
    out
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let top_of = |p: &Path| -> String {
        let rel = p.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("a component");
        let first = first.as_os_str().to_string_lossy();
        first.strip_suffix(".rs").unwrap_or(&first).to_string()
    };
    let tops: BTreeSet<String> = files.iter().map(|p| top_of(p)).collect();
    let mut g = Graph::new();
    for p in &files {
        let top = top_of(p);
        let name = p.file_name().expect("a name").to_string_lossy();
        if top == "lib" || top == "main" || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let rel = p.strip_prefix(src).expect("under src");
        // `super::` names a top-level module only in a top-level module's own file.
        let is_root = rel.components().count() == 1 || name == "mod.rs";
        let is_root = is_root && rel.components().count() <= 2;
        let text =
            std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        for (line, code) in code_lines(&text) {
            let mut prefixes = vec!["crate::"];
            if is_root {
                prefixes.push("super::");
            }
            for prefix in prefixes {
                for (at, _) in code.match_indices(prefix) {
                    let before = code[..at].chars().next_back();
                    if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                        continue;
                    }
                    let to = ident_at(&code[at + prefix.len()..]);
                    if to != top && tops.contains(to) {
                        g.entry(top.clone())
                            .or_default()
                            .entry(to.to_string())
                            .or_default()
                            .push(format!("src/{}:{line}", rel.display()));
                    }
                }
            }
        }
    }
    g
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(g: &Graph) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a Graph,
        next: usize,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    impl<'a> T<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            for w in self.g.get(v).into_iter().flat_map(|m| m.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.stack.contains(&w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    comp.insert(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = T {
        g,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

fn describe(g: &Graph) -> String {
    let mut s = String::new();
    for comp in cycles(g) {
        let names: Vec<_> = comp.iter().map(String::as_str).collect();
        s.push_str(&format!("cycle between {}:\n", names.join(", ")));
        for from in &comp {
            for (to, at) in g.get(from).into_iter().flatten() {
                if comp.contains(to) {
                    s.push_str(&format!("  {from} -> {to}  ({})\n", at.join(", ")));
                }
            }
        }
    }
    if s.is_empty() {
        s.push_str("no cycle between the top-level modules of src/; layers, leaves first:\n");
        for (level, names) in layers(g).iter().enumerate() {
            s.push_str(&format!("  {level}: {}\n", names.join(", ")));
        }
    }
    s
}

/// The modules of an acyclic graph by height: 0 imports no other module, n imports some of height n - 1.
fn layers(g: &Graph) -> Vec<Vec<String>> {
    fn height(g: &Graph, m: &str, memo: &mut BTreeMap<String, usize>) -> usize {
        if let Some(h) = memo.get(m) {
            return *h;
        }
        let h = g
            .get(m)
            .into_iter()
            .flat_map(|to| to.keys())
            .map(|to| height(g, to, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(m.to_string(), h);
        h
    }
    let mut memo = BTreeMap::new();
    let modules: BTreeSet<&String> = g
        .keys()
        .chain(g.values().flat_map(|to| to.keys()))
        .collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for m in modules {
        let h = height(g, m, &mut memo);
        if out.len() <= h {
            out.resize(h + 1, Vec::new());
        }
        out[h].push(m.clone());
    }
    out
}

#[test]
fn the_top_level_modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    let report = describe(&g);
    println!("{report}");
    assert!(
        cycles(&g).is_empty(),
        "import cycle between top-level modules of src/:\n{report}"
    );
}

#[test]
fn a_cycle_is_found_and_test_code_and_comments_do_not_count() {
    let code = "use crate::a::X;\n// crate::b\nfn f() {} // crate::c\n#[cfg(test)]\nmod tests {\n    use crate::d;\n}\nuse crate::e;\n";
    let lines: Vec<String> = code_lines(code)
        .iter()
        .map(|(_, l)| l.to_string())
        .collect();
    assert_eq!(lines.join("|"), "use crate::a::X;|fn f() {} |use crate::e;");
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), vec!["here".into()]);
    }
    let found = cycles(&g);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].iter().cloned().collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    g.get_mut("c").expect("c").remove("a");
    assert!(cycles(&g).is_empty());
    assert_eq!(layers(&g), [vec!["d"], vec!["c"], vec!["b"], vec!["a"]]);
}
