//! The bad-input corpus (`testdata/bad/`, written by `examples/make_bad_corpus.rs`):
//! every case runs the CLI binary under a 2 GiB address-space cap on a copy of
//! its folder, and must exit 1 (`validate`: 2; never 101, never a signal) with a message naming
//! the culprit, write no OUT_DIR, leave no stray file and change no input byte.
//! The peak RSS over the corpus is measured with `/usr/bin/time` and printed.

use crate::common;

#[allow(dead_code)]
#[path = "../../examples/make_bad_corpus.rs"]
mod make_bad_corpus;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The address-space cap every case runs under: a hostile length that makes the
/// binary allocate gigabytes aborts it instead of passing unnoticed.
const ADDRESS_SPACE_CAP: &str = "2147483648";
const TIME: &str = "/usr/bin/time";

/// One file-system entry as a case leaves it: contents, link target, mode.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(PathBuf),
}

/// Every entry under `root`, symlinks not followed.
fn tree(root: &Path) -> BTreeMap<PathBuf, Item> {
    let mut items = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.permissions().mode();
            let item = if meta.file_type().is_symlink() {
                Item::Link(std::fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                stack.push(path.clone());
                Item::Dir(mode)
            } else {
                Item::File(mode, std::fs::read(&path).unwrap())
            };
            items.insert(relative, item);
        }
    }
    items
}

/// Paths whose entries differ between two trees (at most ten, in order).
fn differing(a: &BTreeMap<PathBuf, Item>, b: &BTreeMap<PathBuf, Item>) -> Vec<PathBuf> {
    let paths: std::collections::BTreeSet<&PathBuf> = a.keys().chain(b.keys()).collect();
    paths
        .into_iter()
        .filter(|path| a.get(*path) != b.get(*path))
        .take(10)
        .cloned()
        .collect()
}

fn without_modes(items: BTreeMap<PathBuf, Item>) -> BTreeMap<PathBuf, Item> {
    items
        .into_iter()
        .map(|(path, item)| {
            let item = match item {
                Item::Dir(_) => Item::Dir(0),
                Item::File(_, bytes) => Item::File(0, bytes),
                link => link,
            };
            (path, item)
        })
        .collect()
}

/// Copies a case folder, recreating symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&path).unwrap(), &target).unwrap();
        } else if meta.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn has_program(path: &str) -> bool {
    Command::new(path).arg("--version").output().is_ok()
}

/// A tool the test cannot do without: fail under CI, shout elsewhere.
fn missing(what: &str) {
    let message = format!("{what}; the corpus runs without it");
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!!!! {message} !!!!!!!!!!\n");
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A tmpfs mounted for one case, unmounted when the case ends.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .ok()?;
        status.success().then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// What a case's `setup` prepared: where OUT_DIR goes, and how to run the binary.
struct Prepared {
    out_dir: PathBuf,
    /// A wrapper that limits file size (a full disk simulated without a mount).
    fsize_limit: bool,
    _mount: Option<Mount>,
    /// Why this machine cannot stage the case at all (said loudly, not judged).
    cannot_stage: Option<String>,
}

fn prepare(setup: Option<&str>, scratch: &Path) -> Prepared {
    let mut prepared = Prepared {
        out_dir: scratch.join("out"),
        fsize_limit: false,
        _mount: None,
        cannot_stage: None,
    };
    match setup {
        None => {}
        Some("out_dir_is_symlink") => {
            std::fs::create_dir(scratch.join("elsewhere")).unwrap();
            std::os::unix::fs::symlink("elsewhere", &prepared.out_dir).unwrap();
        }
        Some("read_only_destination") => {
            let parent = scratch.join("read_only");
            std::fs::create_dir(&parent).unwrap();
            prepared.out_dir = parent.join("out");
            if is_root() {
                // Permission bits do not stop root; a read-only file system does.
                prepared._mount = Mount::tmpfs(&parent, "ro,size=64k");
                if prepared._mount.is_none() {
                    // Root ignores permission bits, so without a mount there
                    // is no read-only destination to stage on this machine.
                    prepared.cannot_stage = Some(
                        "cannot mount a read-only tmpfs, and root ignores permission bits".into(),
                    );
                }
            } else {
                std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o555)).unwrap();
            }
        }
        Some("full_destination") => {
            let parent = scratch.join("full");
            std::fs::create_dir(&parent).unwrap();
            prepared.out_dir = parent.join("out");
            prepared._mount = Mount::tmpfs(&parent, "size=4k");
            if prepared._mount.is_none() {
                eprintln!(
                    "full_destination: no tmpfs (needs root); simulating a full disk with \
                     prlimit --fsize=2048 (writes fail with EFBIG, SIGXFSZ ignored)"
                );
                prepared.fsize_limit = true;
            }
        }
        Some(
            name @ ("warmup_one_element_lists"
            | "warmup_just_over_value_limit"
            | "warmup_at_the_limits"),
        ) => {
            let body = generated_warmup(name);
            std::fs::write(scratch.join("case/warmup.json"), body).unwrap();
        }
        Some("saved_model_5m_empty_nodes") => {
            let file = scratch.join("case/model/saved_model.pb");
            let grown = with_empty_nodes(&std::fs::read(&file).unwrap(), 5_000_000);
            std::fs::write(file, grown).unwrap();
        }
        Some(other) => panic!("unknown setup {other:?}"),
    }
    prepared
}

/// The warm-up files too big to commit: 16,777,210 one-element lists (a
/// 67,108,852-byte file, inside the byte and value limits), one value
/// past the value limit, or 262,144 rows of 64 numbers (16 Mi values,
/// floats and integers mixed, inside every limit).
fn generated_warmup(name: &str) -> Vec<u8> {
    let row = format!("[{}1,1],", "0.5,".repeat(62));
    let (count, entry) = match name {
        "warmup_at_the_limits" => (262_144, row.as_bytes()),
        "warmup_one_element_lists" => (16_777_210, &b"[0],"[..]),
        _ => (16_777_217, &b"0,"[..]),
    };
    let mut body = b"{\"inputs\": [".to_vec();
    for _ in 0..count {
        body.extend_from_slice(entry);
    }
    body.pop();
    body.extend_from_slice(b"]}");
    assert!(body.len() <= 64 << 20, "{name}: {} bytes", body.len());
    body
}

/// `saved_model.pb` with `count` empty `node {}` entries appended to its
/// first graph (two bytes each on the wire, a few hundred bytes decoded),
/// spliced in as raw fields so the test itself never decodes them.
fn with_empty_nodes(bytes: &[u8], count: usize) -> Vec<u8> {
    use prost::Message;
    let mut saved = servegraph::proto::SavedModel::decode(bytes).unwrap();
    let mut meta = saved.meta_graphs.remove(0);
    let mut graph = meta.graph_def.take().unwrap().encode_to_vec();
    for _ in 0..count {
        graph.extend_from_slice(&[0x0a, 0x00]);
    }
    let mut meta_bytes = meta.encode_to_vec();
    length_delimited(&mut meta_bytes, 2, &graph);
    let mut out = saved.encode_to_vec();
    length_delimited(&mut out, 2, &meta_bytes);
    out
}

/// Appends field `number` holding `bytes`.
fn length_delimited(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    out.push((number << 3) | 2);
    prost::encoding::encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// The command for one case: time (peak RSS) → prlimit (address space) → servegraph.
fn command(args: &[String], prepared: &Prepared, rss_file: &Path, tools: &Tools) -> Command {
    let binary = env!("CARGO_BIN_EXE_servegraph");
    let mut chain: Vec<String> = Vec::new();
    if tools.time {
        chain.extend([TIME, "-f", "%M", "-o"].map(String::from));
        chain.push(rss_file.display().to_string());
    }
    if prepared.fsize_limit {
        // An ignored SIGXFSZ stays ignored across exec, so writes past the limit fail with EFBIG.
        chain.extend(
            [
                "sh",
                "-c",
                "trap '' XFSZ; exec \"$@\"",
                "sh",
                "prlimit",
                "--fsize=2048",
                "--",
            ]
            .map(String::from),
        );
    }
    if tools.prlimit {
        chain.extend(["prlimit", &format!("--as={ADDRESS_SPACE_CAP}"), "--"].map(String::from));
    }
    chain.push(binary.into());
    chain.extend(args.iter().cloned());
    let mut command = Command::new(&chain[0]);
    command.args(&chain[1..]);
    command
}

struct Tools {
    prlimit: bool,
    time: bool,
}

struct Outcome {
    name: String,
    peak_rss_kb: Option<u64>,
    problems: Vec<String>,
}

fn expand(text: &str, out_dir: &Path) -> String {
    let parent = out_dir.parent().unwrap_or(out_dir);
    text.replace("$OUT_DIR", &out_dir.display().to_string())
        .replace("$OUT_PARENT", &parent.display().to_string())
}

fn strings(spec: &serde_json::Value, field: &str) -> Vec<String> {
    spec[field]
        .as_array()
        .unwrap_or_else(|| panic!("case.json has no {field} list"))
        .iter()
        .map(|v| v.as_str().expect("strings").to_string())
        .collect()
}

/// `/usr/bin/time -o` writes "Command exited ..." lines first, then the format.
fn peak_rss(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

fn run_case(case_dir: &Path, tools: &Tools) -> Outcome {
    let name = case_dir.file_name().unwrap().to_string_lossy().into_owned();
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap())
            .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let timing = tempfile::tempdir().unwrap();
    let rss_file = timing.path().join("rss");
    let work = scratch.path().join("case");
    copy_tree(case_dir, &work);
    let prepared = prepare(spec["setup"].as_str(), scratch.path());
    if let Some(why) = &prepared.cannot_stage {
        eprintln!("\n!!!!!!!!!! case {name} NOT RUN on this machine: {why} !!!!!!!!!!\n");
        return Outcome {
            name,
            peak_rss_kb: None,
            problems: Vec::new(),
        };
    }
    let out_existed = prepared.out_dir.symlink_metadata().is_ok();
    let before = tree(scratch.path());
    let args: Vec<String> = strings(&spec, "args")
        .iter()
        .map(|a| expand(a, &prepared.out_dir))
        .collect();
    let output = command(&args, &prepared, &rss_file, tools)
        .current_dir(&work)
        .output()
        .unwrap();
    let mut problems = judge(&output, &spec, &prepared.out_dir);
    if !out_existed && prepared.out_dir.symlink_metadata().is_ok() {
        problems.push(format!(
            "OUT_DIR {} was written",
            prepared.out_dir.display()
        ));
    }
    let changed = differing(&before, &tree(scratch.path()));
    if !changed.is_empty() {
        problems.push(format!(
            "changed, appeared or vanished in the case copy or its temporary directory: {changed:?}"
        ));
    }
    let peak_rss_kb = peak_rss(&rss_file);
    if let (Some(cap), Some(kb)) = (spec["max_peak_rss_mib"].as_u64(), peak_rss_kb)
        && kb > cap * 1024
    {
        problems.push(format!(
            "peak RSS {} MiB, over the case's {cap} MiB",
            kb / 1024
        ));
    }
    Outcome {
        name,
        peak_rss_kb,
        problems,
    }
}

/// Exit code 1 (2 for `validate`, whose exit 1 means warnings) and a
/// message holding every expected text.
fn judge(output: &Output, spec: &serde_json::Value, out_dir: &Path) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut problems = Vec::new();
    let want = if spec["args"][0] == "validate" { 2 } else { 1 };
    if output.status.code() != Some(want) {
        problems.push(format!("exit status {} (want {want})", output.status));
    }
    for expected in strings(spec, "expect") {
        let expected = expand(&expected, out_dir);
        if !stderr.contains(&expected) {
            problems.push(format!("the message does not contain {expected:?}"));
        }
    }
    if !problems.is_empty() {
        let shown: String = stderr.trim().chars().take(600).collect();
        problems.push(format!("stderr: {shown}"));
    }
    problems
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(common::testdata("bad"))
        .expect("testdata/bad exists (cargo run --example make_bad_corpus)")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_bad_input_is_a_clean_error_under_a_memory_cap() {
    let tools = Tools {
        prlimit: has_program("prlimit"),
        time: Path::new(TIME).is_file(),
    };
    if !tools.prlimit {
        missing("prlimit is not installed: the cases run WITHOUT the 2 GiB address-space cap");
    }
    if !tools.time {
        missing("/usr/bin/time is not installed: peak RSS is NOT measured");
    }
    let dirs = case_dirs();
    assert!(dirs.len() >= 40, "only {} cases", dirs.len());
    let outcomes: Vec<Outcome> = dirs.iter().map(|d| run_case(d, &tools)).collect();
    let mut by_rss: Vec<(u64, &str)> = outcomes
        .iter()
        .filter_map(|o| o.peak_rss_kb.map(|kb| (kb, o.name.as_str())))
        .collect();
    by_rss.sort_unstable_by(|a, b| b.cmp(a));
    let top: Vec<String> = by_rss
        .iter()
        .take(3)
        .map(|(kb, name)| format!("{:.1} MiB {name}", *kb as f64 / 1024.0))
        .collect();
    println!(
        "bad-input corpus: {} cases; peak RSS {} (largest three: {})",
        outcomes.len(),
        top.first().map_or("not measured", String::as_str),
        top.join(", ")
    );
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.problems.is_empty())
        .map(|o| format!("{}:\n    {}", o.name, o.problems.join("\n    ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n")
    );
}

#[test]
fn the_corpus_is_what_its_generator_writes() {
    let scratch = tempfile::tempdir().unwrap();
    let fresh = scratch.path().join("bad");
    make_bad_corpus::generate(&fresh).unwrap();
    // Modes depend on the umask and the checkout, not on the generator.
    let committed = without_modes(tree(&common::testdata("bad")));
    let regenerated = without_modes(tree(&fresh));
    let differing = differing(&committed, &regenerated);
    assert!(
        differing.is_empty(),
        "testdata/bad differs from what examples/make_bad_corpus.rs writes \
         (run `cargo run --example make_bad_corpus`): {differing:?}"
    );
}
