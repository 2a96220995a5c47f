//! The client of the judge (`tests/interop/judge.py`): one Python process per
//! test binary, started on first use, holding TensorFlow's loaders warm and
//! answering requests (JSON lines) from every test thread at once.
//!
//! Every answer says how many models TensorFlow loaded, how many outputs it
//! compared and how many loader runs it took from the run's cache (the same
//! SavedModel bytes, inputs and loader asked for again); with the comparisons
//! made here in Rust they add up to the line `judge: N loads, M comparisons,
//! K skipped (C loader runs reused ...)` printed when the binary exits, which
//! CI sums over the run.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};

static LOADS: AtomicU64 = AtomicU64::new(0);
static COMPARISONS: AtomicU64 = AtomicU64::new(0);
static SKIPPED: AtomicU64 = AtomicU64::new(0);
static CACHED: AtomicU64 = AtomicU64::new(0);
static SUMMARY: Once = Once::new();
static JUDGE: OnceLock<Judge> = OnceLock::new();

/// How long an answer may take: the judge kills a loader after its own
/// timeout (`SERVEGRAPH_JUDGE_TIMEOUT`, 600 s), so this only catches a judge
/// that stopped answering altogether.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1800);

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The check passed (for a script: it exited 0).
    pub ok: bool,
    /// What the op returns (see `tests/interop/judge.py`); null when it could not run.
    pub result: Value,
    /// Why it failed, when it did.
    pub error: String,
}

impl Answer {
    /// The whole answer, for a failed assertion's message.
    pub fn describe(&self) -> String {
        format!("{}\n{:#}", self.error, self.result)
    }
}

/// Requests waiting for their answers, or why none will come.
#[derive(Default)]
struct Waiting {
    senders: HashMap<u64, Sender<Value>>,
    closed: Option<String>,
}

/// A running judge process.
pub struct Judge {
    stdin: Mutex<ChildStdin>,
    waiting: Arc<Mutex<Waiting>>,
    next_id: AtomicU64,
}

/// The judge of this test binary, started with `python` on first use.
pub fn judge(python: &Path) -> &'static Judge {
    JUDGE.get_or_init(|| Judge::start(python))
}

impl Judge {
    fn start(python: &Path) -> Judge {
        print_summary_at_exit();
        let mut child = Command::new(python)
            .arg(super::repo_root().join("tests/interop/judge.py"))
            .current_dir(super::repo_root())
            .env("TF_CPP_MIN_LOG_LEVEL", "3")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the judge with {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("the judge's stdin is piped");
        let stdout = child.stdout.take().expect("the judge's stdout is piped");
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let reader_waiting = Arc::clone(&waiting);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let answer: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("the judge answered something not JSON ({e}): {line}")
                });
                let id = answer["id"].as_u64().unwrap_or(0);
                let sender = reader_waiting.lock().unwrap().senders.remove(&id);
                if let Some(sender) = sender {
                    let _ = sender.send(answer);
                }
            }
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            let mut waiting = reader_waiting.lock().unwrap();
            waiting.closed = Some(format!("the judge exited ({status})"));
            waiting.senders.clear();
        });
        Judge {
            stdin: Mutex::new(stdin),
            waiting,
            next_id: AtomicU64::new(1),
        }
    }

    /// Asks one request (`{"op": ..., ...}`) and waits for its answer.
    pub fn ask(&self, request: Value) -> Answer {
        self.ask_all(vec![request]).pop().expect("one answer")
    }

    /// Sends every request before waiting for any, so the judge runs them
    /// side by side; returns their answers in order.
    pub fn ask_all(&self, requests: Vec<Value>) -> Vec<Answer> {
        let mut receivers = Vec::new();
        for mut request in requests {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            request["id"] = json!(id);
            let (sender, receiver) = channel();
            {
                let mut waiting = self.waiting.lock().unwrap();
                if let Some(why) = &waiting.closed {
                    panic!("{why}: no judge to ask");
                }
                waiting.senders.insert(id, sender);
            }
            let mut stdin = self.stdin.lock().unwrap();
            writeln!(stdin, "{request}")
                .and_then(|()| stdin.flush())
                .unwrap_or_else(|e| panic!("cannot write to the judge: {e}"));
            receivers.push(receiver);
        }
        receivers
            .into_iter()
            .map(|receiver| {
                let answer = receiver.recv_timeout(ANSWER_TIMEOUT).unwrap_or_else(|e| {
                    let why = self.waiting.lock().unwrap().closed.clone();
                    panic!(
                        "no answer from the judge ({e}): {}",
                        why.unwrap_or_default()
                    )
                });
                count(&answer);
                Answer {
                    ok: answer["ok"] == true,
                    error: answer["error"].as_str().unwrap_or_default().to_string(),
                    result: answer["result"].clone(),
                }
            })
            .collect()
    }
}

/// Adds what an answer (or a batch's answers) says TensorFlow did.
fn count(answer: &Value) {
    let field = |name: &str| answer[name].as_u64().unwrap_or(0);
    LOADS.fetch_add(field("loads"), Ordering::Relaxed);
    COMPARISONS.fetch_add(field("comparisons"), Ordering::Relaxed);
    CACHED.fetch_add(field("cached"), Ordering::Relaxed);
}

/// Counts what a judge of its own did for a command-line client (the
/// `judge: N loads, M comparisons` line the client prints on stderr).
pub fn count_client_line(stderr: &str) {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("judge: "))
        .unwrap_or_else(|| panic!("the client did not say what its judge did: {stderr}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [loads, comparisons] = numbers[..] else {
        panic!("unexpected judge line: {line}");
    };
    LOADS.fetch_add(loads, Ordering::Relaxed);
    COMPARISONS.fetch_add(comparisons, Ordering::Relaxed);
}

/// Counts outputs compared in Rust with what a loader returned.
pub fn count_comparisons(outputs: usize) {
    COMPARISONS.fetch_add(outputs as u64, Ordering::Relaxed);
}

/// Counts an interop test that could not run (no Python with TensorFlow).
pub fn count_skipped() {
    print_summary_at_exit();
    SKIPPED.fetch_add(1, Ordering::Relaxed);
}

/// Registers the summary line, once per binary.
pub fn print_summary_at_exit() {
    SUMMARY.call_once(|| {
        // SAFETY: `print_summary` is a plain `extern "C" fn()` that only reads
        // atomics and writes to stderr, as an exit handler may.
        let registered = unsafe { libc::atexit(print_summary) };
        assert_eq!(registered, 0, "cannot register the judge's summary");
    });
}

extern "C" fn print_summary() {
    eprintln!(
        "judge: {} loads, {} comparisons, {} skipped ({} loader runs reused from this run's cache)",
        LOADS.load(Ordering::Relaxed),
        COMPARISONS.load(Ordering::Relaxed),
        SKIPPED.load(Ordering::Relaxed),
        CACHED.load(Ordering::Relaxed),
    );
}

/// The output of a script of `tests/interop` run by the judge.
pub struct ScriptRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// Why it did not run or failed (empty when it exited 0).
    pub error: String,
}

/// Runs `tests/interop/SCRIPT args...` in the judge, from the repository root.
pub fn run_script(python: &Path, script: &str, args: &[&std::ffi::OsStr]) -> ScriptRun {
    let args: Vec<&str> = args
        .iter()
        .map(|a| a.to_str().expect("script arguments are UTF-8"))
        .collect();
    let answer = judge(python).ask(json!({"op": "script", "script": script, "args": args}));
    let text = |field: &str| {
        answer.result[field]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    ScriptRun {
        success: answer.ok,
        stdout: text("stdout"),
        stderr: text("stderr"),
        error: answer.error,
    }
}

/// `tests/interop/run_saved_model.py`'s check as a request: `fields` are its
/// options (`export_dir`, `inputs`, `expected`, `tolerance`, `signature`,
/// `tags`, `loaders`, `cpus`, `examples`, `omit_feature`); the result is its
/// report `{loader: {"ok", "error", "outputs", "max_abs_diff"}}`.
pub fn run_saved_model(python: &Path, mut fields: Value) -> Answer {
    fields["op"] = json!("run_saved_model");
    judge(python).ask(fields)
}
