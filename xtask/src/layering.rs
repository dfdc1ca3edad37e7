//! The workspace's layering rules: which crate may depend on what.
//!
//! The rules live in [`RULES`], one table for every crate; `cargo test --workspace` checks them
//! (the test at the end of this file) and `cargo xtask layering` prints each one's result. A
//! crate added to the workspace is bound by every rule scoped to all crates at once; a rule about
//! it by name takes effect as soon as it is a member.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::{Failure, capture, cargo};

/// The server binary: the only crate allowed a web framework, and a dependency of nothing.
const SERVER: &str = "orcheo-trace-server";
/// The instrumentation crate, and so the only library allowed the OpenTelemetry SDK.
const TRACING: &str = "orcheo-tracing";

/// The crates a rule binds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    /// Every workspace crate but these.
    AllBut(&'static [&'static str]),
    /// These crates, once they are in the workspace.
    Only(&'static [&'static str]),
}

impl Scope {
    fn binds(self, krate: &str) -> bool {
        match self {
            Self::AllBut(names) => !names.contains(&krate),
            Self::Only(names) => names.contains(&krate),
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Self::AllBut(names) | Self::Only(names) => names,
        }
    }
}

/// Which dependency edges a rule follows from the crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Edges {
    /// What the crate is built with (`cargo tree -e normal`).
    Normal,
    /// Also what builds it and what its own tests use (`-e normal,build,dev`).
    All,
}

/// What a rule allows in a crate's dependency tree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Allowed {
    /// Anything but these. An entry is a package name, a `prefix*`, or `package/feature` for a
    /// feature of a package.
    AllBut(&'static [&'static str]),
    /// These packages and nothing else (features are not looked at).
    Only(&'static [&'static str]),
}

/// One layering rule.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The rule as a sentence, printed with its result.
    pub(crate) says: &'static str,
    pub(crate) scope: Scope,
    pub(crate) edges: Edges,
    pub(crate) allowed: Allowed,
}

/// Crates and features that mean I/O: a runtime, a network client or server, a database.
const IO: &[&str] = &["tokio", "reqwest", "diesel", "tonic", "hyper"];

/// Every layering rule of the workspace.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        says: "only orcheo-trace-server depends on actix-web or another actix crate",
        scope: Scope::AllBut(&[SERVER]),
        edges: Edges::Normal,
        allowed: Allowed::AllBut(&["actix*"]),
    },
    Rule {
        says: "nothing depends on orcheo-trace-server, not even for its tests",
        scope: Scope::AllBut(&[SERVER]),
        edges: Edges::All,
        allowed: Allowed::AllBut(&[SERVER]),
    },
    Rule {
        says: "the model, the content rules, the span tree and the prices do no I/O",
        scope: Scope::Only(&[
            "orcheo-trace-model",
            "orcheo-content",
            "orcheo-span-tree",
            "orcheo-pricing",
        ]),
        edges: Edges::Normal,
        allowed: Allowed::AllBut(IO),
    },
    Rule {
        // ADR 0005: span text as `SmolStr`. Any crate may read settings with orcheo-settings.
        // Default features only: the optional `openapi` feature (utoipa) is the server's.
        says: "orcheo-trace-model depends on serde and smol_str only",
        scope: Scope::Only(&["orcheo-trace-model"]),
        edges: Edges::Normal,
        allowed: Allowed::Only(&[
            "orcheo-trace-model",
            "smol_str",
            "serde",
            "serde_core",
            "serde_derive",
            "proc-macro2",
            "quote",
            "unicode-ident",
            "syn",
            "orcheo-settings",
            "thiserror",
            "thiserror-impl",
        ]),
    },
    Rule {
        // So that every crate, the model and the viewer included, may depend on it.
        says: "orcheo-settings depends on thiserror only",
        scope: Scope::Only(&["orcheo-settings"]),
        edges: Edges::Normal,
        allowed: Allowed::Only(&[
            "orcheo-settings",
            "thiserror",
            "thiserror-impl",
            "proc-macro2",
            "quote",
            "unicode-ident",
            "syn",
        ]),
    },
    Rule {
        says: "orcheo-tracing uses no database, no web framework and no gRPC server",
        scope: Scope::Only(&[TRACING]),
        edges: Edges::Normal,
        allowed: Allowed::AllBut(&["diesel", "actix*", "tonic/server", "hyper/server"]),
    },
    Rule {
        says: "the collector client reads trace stores and uses no database",
        scope: Scope::Only(&["orcheo-collector-client"]),
        edges: Edges::Normal,
        allowed: Allowed::AllBut(&["diesel"]),
    },
    Rule {
        says: "only orcheo-tracing and the binaries built on it have the OpenTelemetry SDK",
        scope: Scope::AllBut(&[TRACING, SERVER]),
        edges: Edges::Normal,
        allowed: Allowed::AllBut(&["opentelemetry_sdk"]),
    },
    Rule {
        says: "the viewer is files only: no dependencies but the settings crate",
        scope: Scope::Only(&["orcheo-trace-viewer"]),
        edges: Edges::Normal,
        allowed: Allowed::Only(&[
            "orcheo-trace-viewer",
            "orcheo-settings",
            "thiserror",
            "thiserror-impl",
            "proc-macro2",
            "quote",
            "unicode-ident",
            "syn",
        ]),
    },
    Rule {
        says: "the trace service serves nothing itself: no HTTP or gRPC server",
        scope: Scope::Only(&["orcheo-trace-service"]),
        edges: Edges::Normal,
        allowed: Allowed::AllBut(&["tonic/server", "hyper/server"]),
    },
    Rule {
        says: "ingest receives and writes; it fetches nothing: no HTTP client",
        scope: Scope::Only(&["orcheo-ingest"]),
        edges: Edges::Normal,
        allowed: Allowed::AllBut(&["reqwest"]),
    },
    Rule {
        says: "the store has no HTTP or gRPC client or server",
        scope: Scope::Only(&["orcheo-trace-store"]),
        edges: Edges::Normal,
        allowed: Allowed::AllBut(&["reqwest", "tonic", "hyper"]),
    },
];

/// Rules broken today, each by one crate having one package: the rule stays on for every other
/// crate and package. Removing an entry turns the rule on for it, and an entry that no longer
/// matches anything fails the check, so that it is removed once the dependency is gone.
pub(crate) const KNOWN_VIOLATIONS: &[(&str, &str)] = &[];

/// Crates the rules may name before they are workspace members.
const PLANNED: &[&str] = &[];

/// A crate's dependency tree: package names and `package/feature` entries, itself included.
pub(crate) type Tree = BTreeSet<String>;

/// What checking the rules found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// One line per rule: `ok`, `FAIL`, or known violations only.
    pub(crate) lines: Vec<String>,
    /// Violations not in the known list.
    pub(crate) broken: Vec<String>,
    /// Known violations that no longer happen, and crates the rules name that do not exist.
    pub(crate) stale: Vec<String>,
}

impl Report {
    pub(crate) fn passed(&self) -> bool {
        self.broken.is_empty() && self.stale.is_empty()
    }

    /// The broken rules, then the stale entries, one per line.
    pub(crate) fn problems(&self) -> String {
        self.broken
            .iter()
            .chain(&self.stale)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    }
}

/// Checks `rules` on the workspace `members`, reading a crate's tree with `tree`.
pub(crate) fn check<E>(
    rules: &[Rule],
    known: &[(&str, &str)],
    members: &BTreeSet<String>,
    mut tree: impl FnMut(&str, Edges) -> Result<Tree, E>,
) -> Result<Report, E> {
    let mut report = Report::default();
    let mut trees: BTreeMap<(String, Edges), Tree> = BTreeMap::new();
    let mut known_seen = BTreeSet::new();
    for rule in rules {
        let mut new = Vec::new();
        let mut expected = Vec::new();
        for krate in members.iter().filter(|krate| rule.scope.binds(krate)) {
            let deps = match trees.entry((krate.clone(), rule.edges)) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(tree(krate, rule.edges)?),
            };
            for offender in offenders(krate, deps, rule.allowed) {
                let found = format!("{krate} has {offender}");
                match known
                    .iter()
                    .find(|(k, package)| k == krate && *package == offender)
                {
                    Some(entry) => {
                        known_seen.insert(*entry);
                        expected.push(found);
                    }
                    None => new.push(found),
                }
            }
        }
        let binds_none = !members.iter().any(|krate| rule.scope.binds(krate));
        let status = if binds_none {
            "--  "
        } else if !new.is_empty() {
            "FAIL"
        } else if expected.is_empty() {
            "ok  "
        } else {
            "ok* "
        };
        let mut line = format!("{status} {}", rule.says);
        if binds_none {
            line.push_str(" (no such crate yet)");
        }
        if !new.is_empty() {
            line = format!("{line} (found: {})", new.join(", "));
        }
        if !expected.is_empty() {
            line = format!("{line} (known, to fix: {})", expected.join(", "));
        }
        report.lines.push(line);
        report.broken.extend(
            new.into_iter()
                .map(|found| format!("{}: {found}", rule.says)),
        );
    }
    for entry in known {
        if !known_seen.contains(entry) {
            report.stale.push(format!(
                "KNOWN_VIOLATIONS lists {} having {}, which breaks no rule any more: remove the entry",
                entry.0, entry.1
            ));
        }
    }
    Ok(report)
}

/// The entries of `deps` that `allowed` refuses; for a package pattern, the pattern matched, so
/// that the known violations name what the rule names.
fn offenders(krate: &str, deps: &Tree, allowed: Allowed) -> Vec<String> {
    let mut found = BTreeSet::new();
    for dep in deps.iter().filter(|dep| dep.as_str() != krate) {
        match allowed {
            Allowed::AllBut(forbidden) => {
                for &pattern in forbidden {
                    if matches(pattern, dep) {
                        found.insert(if pattern.ends_with('*') {
                            dep.clone()
                        } else {
                            pattern.to_owned()
                        });
                    }
                }
            }
            Allowed::Only(names) => {
                if !dep.contains('/') && !names.contains(&dep.as_str()) {
                    found.insert(dep.clone());
                }
            }
        }
    }
    found.into_iter().collect()
}

/// Whether the tree entry `dep` (a package or `package/feature`) is what `pattern` names: a
/// package pattern never matches a feature entry, and the reverse.
fn matches(pattern: &str, dep: &str) -> bool {
    if pattern.contains('/') != dep.contains('/') {
        return false;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => dep.starts_with(prefix),
        None => dep == pattern,
    }
}

/// Entries from `cargo tree --prefix none -e …,features` output: `name vX.Y.Z (…)` for a
/// package, `name feature "f"` for one of its features.
pub(crate) fn parse_tree(output: &str) -> Tree {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            match (words.next(), words.next()) {
                (Some("feature"), Some(feature)) => {
                    Some(format!("{name}/{}", feature.trim_matches('"')))
                }
                _ => Some(name.to_owned()),
            }
        })
        .collect()
}

/// A workspace crate's dependency tree, with features.
///
/// `--offline` so the check never needs the network; it then reads only this platform's
/// dependencies, since other platforms' packages may not have been downloaded.
pub(crate) fn cargo_tree(root: &Path, krate: &str, edges: Edges) -> Result<Tree, Failure> {
    let edges = match edges {
        Edges::Normal => "normal,features",
        Edges::All => "normal,build,dev,features",
    };
    let output = capture(cargo(root).args([
        "tree",
        "--offline",
        "--package",
        krate,
        "--edges",
        edges,
        "--prefix",
        "none",
    ]))?;
    Ok(parse_tree(&output))
}

/// The names of the workspace's own packages, from `cargo metadata --no-deps`.
pub(crate) fn workspace_packages(root: &Path) -> Result<BTreeSet<String>, Failure> {
    let json = capture(cargo(root).args([
        "metadata",
        "--offline",
        "--no-deps",
        "--format-version",
        "1",
    ]))?;
    let names = package_names(&json);
    if names.is_empty() {
        return Err(Failure::new(
            "found no packages in `cargo metadata` output".to_owned(),
        ));
    }
    Ok(names)
}

/// Package objects serialize as `{"name":"…","version":…`; dependency and target objects have
/// other keys after their name, so this pattern only finds packages.
fn package_names(json: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = json;
    while let Some(start) = rest.find("{\"name\":\"") {
        rest = &rest[start + "{\"name\":\"".len()..];
        if let Some(end) = rest.find('"') {
            if rest[end..].starts_with("\",\"version\":") {
                names.insert(rest[..end].to_owned());
            }
            rest = &rest[end..];
        }
    }
    names
}

/// The crates `rules` name that are neither workspace `members` nor [`PLANNED`]: a misspelt
/// name would make its rule bind nothing.
pub(crate) fn unknown_names(rules: &[Rule], members: &BTreeSet<String>) -> Vec<String> {
    rules
        .iter()
        .flat_map(|rule| rule.scope.names().iter().map(move |name| (rule, *name)))
        .filter(|(_, name)| !members.contains(*name) && !PLANNED.contains(name))
        .map(|(rule, name)| {
            format!(
                "the rule \"{}\" names {name}, which is neither a workspace crate nor a planned one",
                rule.says
            )
        })
        .collect()
}

/// Checks the workspace against [`RULES`].
pub(crate) fn check_workspace(root: &Path) -> Result<Report, Failure> {
    let members = workspace_packages(root)?;
    let mut report = check(RULES, KNOWN_VIOLATIONS, &members, |krate, edges| {
        cargo_tree(root, krate, edges)
    })?;
    report.stale.extend(unknown_names(RULES, &members));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|&name| name.to_owned()).collect()
    }

    /// A fake workspace: each crate's tree, the same for every kind of edge.
    fn check_fake(rules: &[Rule], known: &[(&str, &str)], trees: &[(&str, &[&str])]) -> Report {
        let members = trees.iter().map(|(name, _)| (*name).to_owned()).collect();
        check(rules, known, &members, |krate, _| {
            trees
                .iter()
                .find(|(name, _)| *name == krate)
                .map(|(_, deps)| set(deps))
                .ok_or(())
        })
        .unwrap()
    }

    #[test]
    fn the_workspace_keeps_its_layering() {
        let report = check_workspace(&crate::workspace_root()).unwrap();
        assert!(
            report.passed(),
            "layering rules broken:\n  {}\n\n{}",
            report.problems(),
            report.lines.join("\n")
        );
    }

    #[test]
    fn every_crate_may_depend_on_the_settings_crate() {
        const SETTINGS: [&str; 7] = [
            "orcheo-settings",
            "thiserror",
            "thiserror-impl",
            "proc-macro2",
            "quote",
            "unicode-ident",
            "syn",
        ];
        let with_settings = |krate: &'static str| -> Vec<&'static str> {
            std::iter::once(krate).chain(SETTINGS).collect()
        };
        let crates = [
            "orcheo-trace-model",
            "orcheo-trace-viewer",
            "orcheo-span-tree",
            "orcheo-tracing",
            "orcheo-collector-client",
            "orcheo-trace-store",
            "orcheo-ingest",
            "orcheo-trace-service",
            SERVER,
        ];
        let owned: Vec<(&str, Vec<&str>)> = crates
            .iter()
            .map(|&krate| (krate, with_settings(krate)))
            .chain([("orcheo-settings", SETTINGS.to_vec())])
            .collect();
        let trees: Vec<(&str, &[&str])> = owned
            .iter()
            .map(|(krate, deps)| (*krate, deps.as_slice()))
            .collect();
        let report = check_fake(RULES, &[], &trees);
        assert!(report.passed(), "{:?} {:?}", report.broken, report.stale);

        let report = check_fake(
            RULES,
            &[],
            &[(
                "orcheo-settings",
                &["orcheo-settings", "thiserror", "regex"],
            )],
        );
        assert_eq!(
            report.broken,
            ["orcheo-settings depends on thiserror only: orcheo-settings has regex"]
        );
    }

    #[test]
    fn a_new_violation_fails_and_a_known_one_does_not() {
        let trees: &[(&str, &[&str])] = &[
            (
                "orcheo-span-tree",
                &["orcheo-span-tree", "opentelemetry_sdk"],
            ),
            (
                "orcheo-trace-model",
                &["orcheo-trace-model", "serde", "tokio"],
            ),
            ("orcheo-tracing", &["orcheo-tracing", "opentelemetry_sdk"]),
            ("orcheo-trace-server", &["orcheo-trace-server", "actix-web"]),
        ];
        let known = &[("orcheo-span-tree", "opentelemetry_sdk")];
        let report = check_fake(RULES, known, trees);
        assert_eq!(
            report.broken,
            [
                "the model, the content rules, the span tree and the prices do no I/O: orcheo-trace-model has tokio",
                "orcheo-trace-model depends on serde and smol_str only: orcheo-trace-model has tokio",
            ]
        );
        assert!(report.stale.is_empty(), "{:?}", report.stale);

        let report = check_fake(RULES, &[], trees);
        assert!(
            report
                .broken
                .iter()
                .any(|line| line.ends_with("orcheo-span-tree has opentelemetry_sdk")),
            "{:?}",
            report.broken
        );
    }

    #[test]
    fn a_known_violation_that_is_gone_fails() {
        let trees: &[(&str, &[&str])] = &[("orcheo-span-tree", &["orcheo-span-tree", "serde"])];
        let report = check_fake(RULES, &[("orcheo-span-tree", "opentelemetry_sdk")], trees);
        assert!(report.broken.is_empty());
        assert_eq!(report.stale.len(), 1, "{:?}", report.stale);
        assert!(!report.passed());
    }

    #[test]
    fn prefixes_and_features_match_what_they_name() {
        let rule = [Rule {
            says: "no actix, no tonic server",
            scope: Scope::AllBut(&[]),
            edges: Edges::Normal,
            allowed: Allowed::AllBut(&["actix*", "tonic/server"]),
        }];
        let report = check_fake(
            &rule,
            &[],
            &[
                ("a", &["a", "actix-rt", "tonic", "tonic/channel"]),
                ("b", &["b", "tonic/server"]),
                ("actix-user", &["actix-user"]),
            ],
        );
        assert_eq!(
            report.broken,
            [
                "no actix, no tonic server: a has actix-rt",
                "no actix, no tonic server: b has tonic/server",
            ]
        );
    }

    #[test]
    fn a_rule_naming_an_unknown_crate_fails() {
        let rule = [Rule {
            says: "typo",
            scope: Scope::Only(&["orcheo-trace-modle"]),
            edges: Edges::Normal,
            allowed: Allowed::AllBut(&["tokio"]),
        }];
        let unknown = unknown_names(&rule, &set(&["orcheo-trace-model"]));
        assert_eq!(unknown.len(), 1, "{unknown:?}");
    }

    #[test]
    fn reads_packages_and_features_from_cargo_tree_output() {
        let output = "tonic v0.14.9\ntonic feature \"server\"\nserde v1.0.229 (*)\norcheo-span-tree v0.1.0 (/w/crates/orcheo-span-tree)\n\n";
        assert_eq!(
            parse_tree(output),
            set(&["tonic", "tonic/server", "serde", "orcheo-span-tree"])
        );
    }

    #[test]
    fn finds_package_names_but_not_dependency_or_target_names() {
        let json = r#"{"packages":[{"name":"orcheo-trace-model","version":"0.1.0","dependencies":[{"name":"serde","source":"registry"}],"targets":[{"kind":["lib"],"name":"orcheo_trace_model","src_path":"x"}]},{"name":"xtask","version":"0.1.0"}]}"#;
        let names: Vec<_> = package_names(json).into_iter().collect();
        assert_eq!(names, ["orcheo-trace-model", "xtask"]);
    }
}
