//! The project's Markdown stands alone: every relative link leads to a file of the repository,
//! every `#anchor` to a heading of its file, and no page mentions files the repository does not
//! have.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Folders never read: build output, installed packages, git's own files.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", ".git"];

/// Names of files outside the repository that pages used to refer to. Spelled in pieces so that
/// a search of the repository for these names finds only real references.
fn outside_names() -> [String; 3] {
    [
        ["..", "/shared"].concat(),
        ["DESIGN", ".md"].concat(),
        ["STYLE", ".md"].concat(),
    ]
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_ref()) {
                markdown_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "md") {
            out.push(path);
        }
    }
}

/// The text with fenced code blocks and inline code spans blanked out (newlines kept, so that
/// line numbers still hold): links and headings are never inside them.
fn without_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let marker = fence_marker(line);
        let in_fence = match (&fence, marker) {
            (None, Some(open)) => {
                fence = Some(open);
                true
            }
            (Some(open), Some(close))
                if close.starts_with(open.as_str()) && line.trim() == close =>
            {
                fence = None;
                true
            }
            (Some(_), _) => true,
            (None, None) => false,
        };
        if in_fence {
            if line.ends_with('\n') {
                out.push('\n');
            }
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code || c == '\n' {
                out.push(c);
            }
        }
    }
    out
}

/// The run of three or more backticks or tildes a line starts with, if any.
fn fence_marker(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let first = trimmed.chars().next().filter(|&c| c == '`' || c == '~')?;
    let marker: String = trimmed.chars().take_while(|&c| c == first).collect();
    (marker.len() >= 3).then_some(marker)
}

/// GitHub's anchor for a heading: lowercase, spaces to `-`, punctuation other than `-` and `_`
/// dropped (the text of a link or code span in the heading counts, its markup does not).
fn slug(heading: &str) -> String {
    let text = link_texts(heading);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// `[text](target)` replaced by `text`.
fn link_texts(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|at| open + at) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|at| close + at) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The anchors a page's headings produce, a repeated heading getting `-1`, `-2`… as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    // Headings keep their code spans' text: only fences are skipped here.
    let mut fence: Option<String> = None;
    for line in text.lines() {
        if let Some(marker) = fence_marker(line) {
            match &fence {
                None => fence = Some(marker),
                Some(open) if marker.starts_with(open.as_str()) && line.trim() == marker => {
                    fence = None;
                }
                Some(_) => {}
            }
            continue;
        }
        if fence.is_some() {
            continue;
        }
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&level) || !trimmed[level..].starts_with(' ') {
            continue;
        }
        let base = slug(trimmed[level..].trim().trim_end_matches('#'));
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// Every link target of a page with its line: `[text](target)`, `![alt](target)` and
/// `[label]: target` definitions.
fn links(text: &str) -> Vec<(usize, String)> {
    let text = without_code(text);
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("](").map(|at| from + at) {
        let start = at + 2;
        let mut depth = 0usize;
        let mut end = None;
        for (offset, c) in text[start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(start + offset);
                    break;
                }
                ')' => depth -= 1,
                '\n' => break,
                _ => {}
            }
        }
        if let Some(end) = end {
            found.push((line_of(at), target_of(&text[start..end])));
        }
        from = start;
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[')
            && let Some(close) = trimmed.find("]:")
        {
            found.push((line_of(offset), target_of(&trimmed[close + 2..])));
        }
        offset += line.len();
    }
    found
}

/// The destination of a link: `<…>` unwrapped, an optional `"title"` dropped.
fn target_of(inside: &str) -> String {
    let inside = inside.trim();
    if let Some(rest) = inside.strip_prefix('<') {
        return rest.split('>').next().unwrap_or_default().to_owned();
    }
    inside
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `path` with `.` and `..` resolved, or `None` when it climbs above where it starts.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// Every problem of the Markdown pages under `root`, as `page:line: what`.
fn problems(root: &Path) -> Vec<String> {
    let mut pages = Vec::new();
    markdown_files(root, &mut pages);
    let mut problems = Vec::new();
    let mut anchors_of: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for page in &pages {
        let text = fs::read_to_string(page).unwrap();
        let shown = page.strip_prefix(root).unwrap().display().to_string();
        for name in outside_names() {
            for (index, line) in text.lines().enumerate() {
                if line.contains(&name) {
                    problems.push(format!(
                        "{shown}:{}: mentions {name}, which is not in the repository",
                        index + 1
                    ));
                }
            }
        }
        let dir = page.parent().unwrap().strip_prefix(root).unwrap();
        for (line, target) in links(&text) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let path = path.replace("%20", " ");
            let relative = if path.is_empty() {
                Some(page.strip_prefix(root).unwrap().to_path_buf())
            } else if let Some(from_root) = path.strip_prefix('/') {
                normalize(Path::new(from_root))
            } else {
                normalize(&dir.join(&path))
            };
            let Some(relative) = relative else {
                problems.push(format!(
                    "{shown}:{line}: {target} leads outside the repository"
                ));
                continue;
            };
            let file = root.join(&relative);
            if !file.exists() {
                problems.push(format!("{shown}:{line}: {target}: no such file"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if file.extension().is_none_or(|ext| ext != "md") {
                continue;
            }
            let known = anchors_of
                .entry(file.clone())
                .or_insert_with(|| anchors(&fs::read_to_string(&file).unwrap()));
            if !known.contains(anchor) {
                problems.push(format!(
                    "{shown}:{line}: {target}: no heading of {} has the anchor #{anchor}",
                    relative.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn markdown_links_lead_somewhere_and_name_nothing_outside() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut pages = Vec::new();
    markdown_files(root, &mut pages);
    assert!(
        pages.iter().any(|page| page.ends_with("docs/api.md")),
        "found no pages under {}",
        root.display()
    );
    let problems = problems(root);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("Beside Orcheo's backend"), "beside-orcheos-backend");
    assert_eq!(
        slug("`GET /api/artifacts/{artifact_id}` (and `…/download`)"),
        "get-apiartifactsartifact_id-and-download"
    );
    assert_eq!(
        slug("Identity provider keys (JWKS)"),
        "identity-provider-keys-jwks"
    );
    assert_eq!(slug("See [the API](api.md) now"), "see-the-api-now");
    assert_eq!(
        slug("snake_case and kebab-case"),
        "snake_case-and-kebab-case"
    );
}

#[test]
fn repeated_headings_are_numbered_and_fenced_ones_ignored() {
    let page = "# Top\n## Notes\n```sh\n# not a heading\n```\n## Notes\n#hashtag\n";
    let found: Vec<_> = anchors(page).into_iter().collect();
    assert_eq!(found, ["notes", "notes-1", "top"]);
}

#[test]
fn finds_links_of_every_form_but_not_in_code() {
    let page = "See [a](a.md) and ![img](i.png \"title\") and [b\n](<b c.md#x>).\n\
                `[not](code.md)`\n```\n[not](fenced.md)\n```\n[ref]: r.md\n";
    let found = links(page);
    assert_eq!(
        found,
        [
            (1, "a.md".to_owned()),
            (1, "i.png".to_owned()),
            (2, "b c.md#x".to_owned()),
            (7, "r.md".to_owned()),
        ]
    );
}

#[test]
fn reports_missing_files_unknown_anchors_and_outside_files() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-links-check");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(root.join("docs")).unwrap();
    fs::write(root.join("docs/guide.md"), "# Guide\n## Set up\n").unwrap();
    let outside = &outside_names()[1];
    fs::write(
        root.join("README.md"),
        format!(
            "[ok](docs/guide.md#set-up) [ok](#readme) [gone](docs/gone.md)\n\
             [bad anchor](docs/guide.md#setup)\n[up](../elsewhere.md)\nsee {outside}\n\
             # Readme\n"
        ),
    )
    .unwrap();
    // Folders that are not the project's own pages are never read.
    fs::create_dir_all(root.join("node_modules/pkg")).unwrap();
    fs::write(root.join("node_modules/pkg/README.md"), "[x](nowhere.md)\n").unwrap();
    let found = problems(&root);
    assert_eq!(
        found,
        [
            format!("README.md:4: mentions {outside}, which is not in the repository"),
            "README.md:1: docs/gone.md: no such file".to_owned(),
            "README.md:2: docs/guide.md#setup: no heading of docs/guide.md has the anchor #setup"
                .to_owned(),
            "README.md:3: ../elsewhere.md leads outside the repository".to_owned(),
        ]
    );
    fs::remove_dir_all(&root).unwrap();
}
