//! The documentation agrees with the binary. `docs/cli.md` holds every
//! subcommand's `--help` exactly as the built binary prints it (after a help
//! text changes, `BLESS=1 cargo test --test offline docs::` rewrites those
//! blocks); the README fits a first screen; every relative link in the README
//! and `docs/` reaches a file (and a heading, for `#anchor`s into Markdown);
//! every `servegraph` command in their shell blocks names a subcommand that
//! exists, with flags its `--help` lists.

use crate::common;

use std::path::{Path, PathBuf};

/// The README's budget: what is left after the first screen belongs in `docs/`.
const README_MAX_LINES: usize = 260;

/// The line in `docs/cli.md` that marks the fenced block holding `command`'s help.
fn help_marker(command: &[&str]) -> String {
    let words: Vec<&str> = std::iter::once("servegraph")
        .chain(command.iter().copied())
        .chain(std::iter::once("--help"))
        .collect();
    format!("<!-- {} -->", words.join(" "))
}

/// What `servegraph COMMAND --help` prints.
fn help_text(command: &[&str]) -> String {
    printed_help(command, "--help")
}

/// What `servegraph COMMAND FLAG` prints, FLAG one of the help flags.
fn printed_help(command: &[&str], flag: &str) -> String {
    let mut args = command.to_vec();
    args.push(flag);
    let output = common::servegraph(&args);
    assert!(
        output.status.success(),
        "servegraph {} failed: {}",
        args.join(" "),
        common::stderr(&output)
    );
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// What the reference documents of `command`: its `--help-all` where its
/// `--help` offers one (the short help lists only the common flags), else
/// its `--help`.
fn reference_text(command: &[&str]) -> String {
    let help = help_text(command);
    if !help.contains("--help-all") {
        return help;
    }
    printed_help(command, "--help-all")
}

/// The subcommands the top-level `--help` lists, `help` itself left out
/// (a name is indented by two spaces; a wrapped description by more).
fn subcommands() -> Vec<String> {
    let top = help_text(&[]);
    let names: Vec<String> = top
        .lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line[2..].starts_with(char::is_whitespace))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect();
    assert!(
        names.len() >= 5,
        "found only {names:?} under Commands: in\n{top}"
    );
    names
}

fn repo_file(relative: &str) -> PathBuf {
    common::repo_root().join(relative)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The byte range of the fenced block's body that follows `marker`'s line.
fn block_after(doc: &str, marker: &str) -> Option<std::ops::Range<usize>> {
    let at = doc.find(&format!("{marker}\n"))? + marker.len() + 1;
    let rest = &doc[at..];
    let fence_line = rest.find('\n')?;
    if !rest[..fence_line].starts_with("```") {
        return None;
    }
    let body = at + fence_line + 1;
    let end = doc[body..]
        .match_indices("```")
        .find(|(i, _)| *i == 0 || doc.as_bytes()[body + i - 1] == b'\n')?
        .0;
    Some(body..body + end)
}

/// A new section for a subcommand `docs/cli.md` does not have yet.
fn new_section(command: &[&str], help: &str) -> String {
    format!(
        "\n## `servegraph {}`\n\n{}\n```text\n{help}```\n",
        command.join(" "),
        help_marker(command)
    )
}

/// `doc` with `command`'s block holding `help`; the second value says whether it changed.
fn with_help(doc: &str, command: &[&str], help: &str) -> (String, bool) {
    match block_after(doc, &help_marker(command)) {
        Some(range) if doc[range.clone()] == *help => (doc.to_string(), false),
        Some(range) => {
            let mut updated = doc.to_string();
            updated.replace_range(range, help);
            (updated, true)
        }
        None => (format!("{doc}{}", new_section(command, help)), true),
    }
}

/// Every help block `docs/cli.md` must hold: the top level's, then each subcommand's.
fn documented_commands() -> Vec<Vec<String>> {
    std::iter::once(Vec::new())
        .chain(subcommands().into_iter().map(|name| vec![name]))
        .collect()
}

#[test]
fn cli_reference_matches_every_help_text() {
    let path = repo_file("docs/cli.md");
    let original = read(&path);
    let mut doc = original.clone();
    let mut stale = Vec::new();
    for command in documented_commands() {
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        let (updated, changed) = with_help(&doc, &words, &reference_text(&words));
        if changed {
            stale.push(format!("servegraph {} --help", words.join(" ")));
        }
        doc = updated;
    }
    if std::env::var_os("BLESS").is_some() {
        if doc != original {
            std::fs::write(&path, &doc).unwrap();
        }
        return;
    }
    assert!(
        stale.is_empty(),
        "docs/cli.md disagrees with {stale:?}; rewrite it with \
         `BLESS=1 cargo test --test offline docs::` and read the diff"
    );
}

#[test]
fn cli_reference_documents_no_removed_subcommand() {
    let doc = read(&repo_file("docs/cli.md"));
    let known = subcommands();
    let gone: Vec<&str> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("<!-- servegraph "))
        .filter_map(|rest| rest.strip_suffix(" --help -->"))
        .filter(|name| !known.iter().any(|k| k == name))
        .collect();
    assert!(
        gone.is_empty(),
        "docs/cli.md documents {gone:?}, which `servegraph --help` does not list; remove those sections"
    );
}

#[test]
fn readme_fits_the_first_screen() {
    let lines = read(&repo_file("README.md")).lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, over {README_MAX_LINES}: move the detail into docs/"
    );
}

/// The README and every Markdown file under `docs/`.
fn documentation_files() -> Vec<PathBuf> {
    let mut files = vec![repo_file("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo_file("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 5, "docs/ holds only {docs:?}");
    files.extend(docs);
    files
}

/// The lines outside fenced code blocks, with inline code spans blanked out.
fn prose_lines(doc: &str) -> Vec<String> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            lines.push(without_code_spans(line));
        }
    }
    lines
}

fn without_code_spans(line: &str) -> String {
    line.split('`')
        .enumerate()
        .map(|(i, piece)| if i % 2 == 0 { piece } else { "" })
        .collect()
}

/// Every `[text](target)` link target in `doc`'s prose.
fn link_targets(doc: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(doc) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn heading_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(doc: &str) -> Vec<String> {
    let mut in_fence = false;
    let mut found = Vec::new();
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            found.push(heading_anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// Why `target`, linked from `from`, does not resolve; `None` when it does.
fn broken_link(from: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let path = if file.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().unwrap().join(file)
    };
    if !path.exists() {
        return Some(format!("{target}: no file {}", path.display()));
    }
    let is_markdown = path.extension().is_some_and(|e| e == "md");
    if anchor.is_empty() || !is_markdown || anchors(&read(&path)).iter().any(|a| a == anchor) {
        return None;
    }
    Some(format!(
        "{target}: no heading #{anchor} in {}",
        path.display()
    ))
}

#[test]
fn relative_links_reach_existing_files_and_headings() {
    let mut broken = Vec::new();
    for file in documentation_files() {
        let targets = link_targets(&read(&file));
        for problem in targets.iter().filter_map(|t| broken_link(&file, t)) {
            broken.push(format!("{}: {problem}", file.display()));
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_catches_a_missing_file_and_heading() {
    let readme = repo_file("README.md");
    assert_eq!(broken_link(&readme, "docs/guide.md"), None);
    assert_eq!(broken_link(&readme, "#exit-codes"), None);
    assert!(broken_link(&readme, "docs/no-such-page.md").is_some());
    assert!(broken_link(&readme, "docs/guide.md#no-such-heading").is_some());
    assert_eq!(
        heading_anchor(" Inspecting a model: `show` and `scan`"),
        "inspecting-a-model-show-and-scan"
    );
}

/// The commands of `doc`'s `sh` blocks, continuation lines joined.
fn shell_commands(doc: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in doc.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match fence {
            Some(info) if !in_sh => in_sh = matches!(info.trim(), "sh" | "bash" | "console"),
            Some(_) => in_sh = false,
            None if in_sh => {
                let line = line.split(" #").next().unwrap_or(line);
                match line.strip_suffix('\\') {
                    Some(head) => pending.push_str(head),
                    None => commands.push(std::mem::take(&mut pending) + line),
                }
            }
            None => {}
        }
    }
    commands
}

/// Shell words, with quoted parts kept whole (enough for documentation).
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c.is_whitespace() => words.extend(Some(std::mem::take(&mut word))),
            (None, c) => word.push(c),
        }
    }
    words.push(word);
    words.retain(|w| !w.is_empty());
    words
}

/// `command` split where one shell command ends (`&&`, `||`, `;`, a pipe). A `|`
/// before a flag or without spaces is a synopsis's alternative (`[-v | -q]`,
/// `--method a|b`), not a pipe.
fn split_commands(command: &str) -> Vec<String> {
    let mut separated = command
        .replace("&&", "\n")
        .replace("||", "\n")
        .replace(';', "\n");
    while let Some(at) = separated
        .match_indices(" | ")
        .map(|(at, _)| at)
        .find(|at| !separated[at + 3..].starts_with('-'))
    {
        separated.replace_range(at..at + 3, "\n");
    }
    separated.lines().map(str::to_string).collect()
}

/// The `servegraph` invocations in `command`, as words.
fn servegraph_invocations(command: &str) -> Vec<Vec<String>> {
    split_commands(command)
        .iter()
        .map(String::as_str)
        .map(shell_words)
        .filter(|words| {
            words
                .first()
                .is_some_and(|w| w.rsplit('/').next() == Some("servegraph"))
        })
        .collect()
}

/// The flag a documentation word names (`[--tag` → `--tag`, `--explain=NODE`
/// and `--explain[=NODE]` → `--explain`).
fn flag_of(word: &str) -> Option<&str> {
    let word = word.trim_start_matches(['[', '(']);
    let flag = word.split(['=', '[', ']', '.', ')']).next().unwrap_or(word);
    let is_long = flag.starts_with("--") && flag.len() > 2;
    let is_short = flag.len() == 2
        && flag.starts_with('-')
        && flag[1..].starts_with(|c: char| c.is_ascii_alphabetic());
    (is_long || is_short).then_some(flag)
}

/// Whether `help` lists `flag` as a whole word.
fn help_lists(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(at, _)| {
        let next = help[at + flag.len()..].chars().next();
        !next.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

/// What is wrong with one documented `servegraph` invocation.
fn invocation_problems(words: &[String], known: &[String]) -> Vec<String> {
    let line = words.join(" ");
    let Some(subcommand) = words.get(1) else {
        return vec![format!("`{line}` names no subcommand")];
    };
    if !known.contains(subcommand) {
        return vec![format!("`{line}`: no subcommand {subcommand} in {known:?}")];
    }
    let help = reference_text(&[subcommand]);
    words[2..]
        .iter()
        .filter_map(|w| flag_of(w))
        .filter(|flag| !help_lists(&help, flag))
        .map(|flag| format!("`{line}`: `servegraph {subcommand} --help` has no {flag}"))
        .collect()
}

#[test]
fn documented_commands_use_existing_subcommands_and_flags() {
    let known = subcommands();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in documentation_files() {
        for command in shell_commands(&read(&file)) {
            for words in servegraph_invocations(&command) {
                checked += 1;
                for problem in invocation_problems(&words, &known) {
                    problems.push(format!("{}: {problem}", file.display()));
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} servegraph commands found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_command_checker_catches_an_unknown_flag_and_subcommand() {
    let known = subcommands();
    let words = |line: &str| servegraph_invocations(line).remove(0);
    let good = words("servegraph export A B --output x=y:0 --overwrite -q");
    assert_eq!(invocation_problems(&good, &known), Vec::<String>::new());
    let typo = words("servegraph export A B --outptu x=y:0");
    assert_eq!(invocation_problems(&typo, &known).len(), 1);
    let prefix = words("servegraph export A B --out x=y:0");
    assert_eq!(invocation_problems(&prefix, &known).len(), 1);
    let synopsis =
        words("servegraph export A B [--explain[=NODE]] [--method predict|classify|regress] [-q]");
    assert_eq!(invocation_problems(&synopsis, &known), Vec::<String>::new());
    let piped = servegraph_invocations("servegraph show D | head && servegraph size D");
    assert_eq!(piped.len(), 2);
    let either = words("servegraph export A B [--verbose | --quite]");
    assert_eq!(invocation_problems(&either, &known).len(), 1);
    let unknown = words("servegraph exprot A B");
    assert_eq!(invocation_problems(&unknown, &known).len(), 1);
    let joined = shell_commands("```sh\nservegraph show \\\n    --dir D --all # note\n```\n");
    assert_eq!(
        joined,
        vec!["servegraph show     --dir D --all".to_string()]
    );
}

#[test]
fn blessing_adds_a_missing_block_and_replaces_a_stale_one() {
    let doc = "# CLI\n\n<!-- servegraph size --help -->\n```text\nold\n```\n";
    let (same, changed) = with_help(doc, &["size"], "old\n");
    assert_eq!((same.as_str(), changed), (doc, false));
    let (replaced, changed) = with_help(doc, &["size"], "new\nhelp\n");
    assert!(changed);
    assert!(replaced.contains("```text\nnew\nhelp\n```\n"), "{replaced}");
    assert!(!replaced.contains("old"), "{replaced}");
    let (added, changed) = with_help(doc, &["scan"], "scan help\n");
    assert!(changed);
    let block = block_after(&added, "<!-- servegraph scan --help -->").unwrap();
    assert_eq!(&added[block], "scan help\n");
}

#[test]
fn the_guide_lists_every_validate_rule_in_order() {
    let guide = read(&repo_file("docs/guide.md"));
    let listed: Vec<&str> = guide
        .lines()
        .skip_while(|line| !line.starts_with("| rule | severity |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .filter_map(|row| row.split('`').nth(1))
        .collect();
    let rules: Vec<&str> = servegraph::lint::Rule::ALL.iter().map(|r| r.id()).collect();
    assert_eq!(listed, rules, "docs/guide.md's validate table");
}
