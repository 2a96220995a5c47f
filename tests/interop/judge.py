"""The judge: TensorFlow's loaders kept warm for a whole test run.

    python tests/interop/judge.py

Reads requests as JSON lines on stdin and answers each on stdout, in the
order they finish, until stdin closes. A request is {"id": N, "op": OP, ...};
its answer {"id": N, "ok": bool, "result": ..., "error": str or null,
"loads": n, "comparisons": m, "cached": k}, loads and comparisons counting
what TensorFlow did for it (tally.py), cached the loader runs whose outputs
came from this run's cache (VerdictCache; SERVEGRAPH_JUDGE_CACHE=0 turns it
off). Requests run concurrently.

Ops:
- run_saved_model {"export_dir", "inputs", "expected"?, "tolerance" (1e-5),
  "signature" ("serving_default"), "tags" ("serve"), "loaders"
  ("tf2,tf1,capi"), "cpus" (0), "examples"?: KEY, "omit_feature" ([])}:
  run_saved_model.py's check; result {loader: {"ok", "error", "outputs",
  "max_abs_diff"}}, ok when every loader ran and matched.
- run_signatures {"saved_model", "inputs": {signature: tensors}, "loaders",
  "signature"?, "tags"}: run_signatures.py's run; result {loader: {"ok",
  "error", "signatures"}}; ok (comparing is the caller's job).
- list_variables {"saved_model", "tags"}: what tf.saved_model.load restores.
- script {"script", "args", "cwd"?}: any script of tests/interop run as
  `python SCRIPT ARGS` would; result {"exit_code", "stdout", "stderr"}, ok
  when it exits 0.
- batch {"requests": [...]}: several requests at once; result their answers.
- selftest {"mode": "crash" | "hang" | "exit", "timeout"?}: a child that
  crashes, one that hangs, or its template dying, for the judge's own tests
  (in a third template, "probe", that loads nothing, so that no loader run
  of another test is disturbed).

Isolation. Two template processes ("zygotes") are started once: one with
TensorFlow imported (tf2, tf1, scripts), one with only the C API's shared
library loaded (capi, as TensorFlow Serving loads models). Each loader run
is a child forked from its template: a fresh process with nothing of any
earlier run (no eager context, resource manager, graph or session), which
loads once, answers through files and exits. A child that crashes, or runs
past the timeout ($SERVEGRAPH_JUDGE_TIMEOUT seconds, 600 by default) and is
killed, fails its request with the reason and its stderr; a template that
dies is started again and fails the requests it had in flight. Scripts that
must set up TensorFlow before importing it (TF_USE_LEGACY_KERAS) run as
their own interpreter.
"""
import collections
import hashlib
import json
import os
import queue
import runpy
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tally import read_tally  # noqa: E402

TIMEOUT = float(os.environ.get("SERVEGRAPH_JUDGE_TIMEOUT", "600"))
CACHE = os.environ.get("SERVEGRAPH_JUDGE_CACHE", "1") != "0"
LOADER_KIND = {"tf2": "tf", "tf1": "tf", "capi": "capi"}
ERROR_LINES = 15


# --- inside a forked child: the tasks ---

def task_loader(task):
    import loaders

    tags = task["tags"].split(",")
    return loaders.run_loader(task["loader"], task["export_dir"], task["inputs"], tags, task.get("cpus", 0))


def task_examples(task):
    import loaders

    return loaders.examples_spec(task["spec"], task["key"], task["omit"])


def task_list_variables(task):
    import loaders

    return loaders.list_variables(task["saved_model"], task["tags"].split(","))


def task_script(task):
    """Runs a script as its own __main__, with its arguments and working directory."""
    script = task["script"]
    os.chdir(task.get("cwd") or REPO)
    sys.argv = [script] + task["args"]
    sys.path.insert(0, os.path.dirname(script))
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
    return {"exit_code": code}


def task_selftest(task):
    if task["mode"] == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if task["mode"] == "hang":
        time.sleep(3600)
    if task["mode"] == "exit":
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(3600)
    return {"mode": task["mode"]}


TASKS = {
    "loader": task_loader,
    "examples": task_examples,
    "list_variables": task_list_variables,
    "script": task_script,
    "selftest": task_selftest,
}


def run_child(job):
    """The forked child: runs one task with its output going to the job's files; never returns."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        os.environ["SERVEGRAPH_JUDGE_TALLY"] = job["tally"]
        result = TASKS[job["task"]["fn"]](job["task"])
        with open(job["result"] + ".part", "w") as f:
            json.dump(result, f)
        os.rename(job["result"] + ".part", job["result"])
        code = 0
    except BaseException:  # noqa: B902 - the child reports everything, then exits
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def zygote(kind):
    """A template process: loads what its loaders need once, then forks a
    child per job read from stdin and reports {"tid", "pid"} when it forked
    and {"tid", "exit"} when the child ended (a negative exit is a signal)."""
    import numpy  # noqa: F401

    import loaders

    if kind == "tf":
        import tensorflow  # noqa: F401
    elif kind == "capi":
        loaders.c_library()
    stdin = sys.stdin.buffer.fileno()
    pending, children = b"", {}

    def say(message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    while True:
        ready, _, _ = select.select([stdin], [], [], 0.02)
        if ready:
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                job = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    run_child(job)
                children[pid] = job["tid"]
                say({"tid": job["tid"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            say({"tid": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})


# --- the server side ---

class Outcome:
    """What one task came to: ok, its result, an error, stdout and stderr, counts."""

    def __init__(self, ok, result=None, error=None, stdout="", stderr="", counts=None):
        self.ok, self.result, self.error = ok, result, error
        self.stdout, self.stderr = stdout, stderr
        self.counts = counts or no_counts()


class Zygote:
    """One template process and the jobs it has in flight; started again when it dies."""

    def __init__(self, kind):
        self.kind = kind
        self.lock = threading.Lock()
        self.generation = None

    def start(self):
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--zygote", self.kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=REPO, start_new_session=True)
        generation = {"proc": proc, "waiters": {}, "stderr": collections.deque(maxlen=ERROR_LINES)}
        threading.Thread(target=self.read_messages, args=(generation,), daemon=True).start()
        threading.Thread(target=self.read_stderr, args=(generation,), daemon=True).start()
        self.generation = generation

    def read_messages(self, generation):
        for line in generation["proc"].stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:  # something a library printed
                generation["stderr"].append(line.decode(errors="replace").rstrip())
                continue
            with self.lock:
                waiter = generation["waiters"].get(message["tid"])
                if "exit" in message:
                    generation["waiters"].pop(message["tid"], None)
            if waiter:
                waiter.put(message)
        generation["proc"].wait()
        try:  # children of the dead template would live on as orphans
            os.killpg(generation["proc"].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        with self.lock:
            waiters, generation["waiters"] = generation["waiters"], {}
        tail = "\n".join(generation["stderr"])
        for waiter in waiters.values():
            waiter.put({"died": f"the {self.kind} template process exited ({generation['proc'].returncode}): {tail}"})

    def read_stderr(self, generation):
        for line in generation["proc"].stderr:
            generation["stderr"].append(line.decode(errors="replace").rstrip())

    def submit(self, job):
        """Hands `job` to a live template; returns the queue its messages arrive on."""
        with self.lock:
            if self.generation is None or self.generation["proc"].poll() is not None:
                self.start()
            generation = self.generation
            waiter = queue.Queue()
            generation["waiters"][job["tid"]] = waiter
            generation["proc"].stdin.write((json.dumps(job) + "\n").encode())
            generation["proc"].stdin.flush()
        return waiter

    def stop(self):
        with self.lock:
            if self.generation is not None:
                try:
                    os.killpg(self.generation["proc"].pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


class VerdictCache:
    """Loader outputs of this run by everything that determines them: the
    bytes of every file of the SavedModel, the inputs, signatures, tags,
    loader and CPU count. Asked again for the same, it gives the same outputs
    without loading again (counted as cached, not as a load), and each
    request still compares them with its own expected values and tolerance.
    Failures are not kept: a failing run is run again."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = {}

    def get_or_run(self, key, run):
        with self.lock:
            entry = self.entries.get(key)
            first = entry is None
            if first:
                entry = self.entries[key] = {"done": threading.Event(), "outcome": None}
        if not first:
            entry["done"].wait()
            kept = entry["outcome"]
            if kept is None:
                return run()
            counts = dict(no_counts(), cached=1)
            return Outcome(True, kept.result, stdout=kept.stdout, stderr=kept.stderr, counts=counts)
        outcome = None
        try:
            outcome = run()
            return outcome
        finally:
            with self.lock:
                if outcome is not None and outcome.ok:
                    entry["outcome"] = outcome
                else:
                    del self.entries[key]
            entry["done"].set()


def directory_digest(directory):
    """SHA-256 over every file under `directory`: relative path, size and bytes, in path order."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode() + b"\0")
            with open(path, "rb") as f:
                data = f.read()
            digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


class Judge:
    def __init__(self):
        self.zygotes = {kind: Zygote(kind) for kind in ("tf", "capi", "probe")}
        self.slots = threading.Semaphore(int(os.environ.get("SERVEGRAPH_JUDGE_PARALLEL", "0")) or (os.cpu_count() or 1) + 1)
        self.tids = iter(range(1, 1 << 62))
        self.tid_lock = threading.Lock()
        self.cache = VerdictCache()

    def warm_up(self):
        for kind in ("tf", "capi"):
            with self.zygotes[kind].lock:
                self.zygotes[kind].start()

    def run_task(self, kind, task, timeout=TIMEOUT):
        """Runs `task` in a child of the `kind` template; fails loudly on a crash or a timeout."""
        with self.slots, tempfile.TemporaryDirectory(prefix="judge-") as tmp:
            with self.tid_lock:
                tid = next(self.tids)
            job = {"tid": tid, "task": task, **{name: os.path.join(tmp, name) for name in ("result", "stdout", "stderr", "tally")}}
            waiter = self.zygotes[kind].submit(job)
            deadline, pid, killed, end = time.monotonic() + timeout, None, False, None
            while end is None:
                try:
                    message = waiter.get(timeout=max(0.0, deadline - time.monotonic()) if not killed else 60)
                except queue.Empty:
                    if killed or pid is None:
                        end = {"died": f"no answer from the {kind} template process"}
                        self.zygotes[kind].stop()
                        break
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    killed = True
                    continue
                if "pid" in message:
                    pid = message["pid"]
                else:
                    end = message
            stdout, stderr = read_text(job["stdout"]), read_text(job["stderr"])
            counts = dict(no_counts(), **read_tally(job["tally"]))
            if "died" in end:
                return Outcome(False, error=end["died"], stdout=stdout, stderr=stderr, counts=counts)
            if killed:
                return Outcome(False, error=f"timed out after {timeout:g} s and was killed", stdout=stdout,
                               stderr=stderr, counts=counts)
            if end["exit"] != 0:
                how = f"signal {-end['exit']}" if end["exit"] < 0 else f"exit code {end['exit']}"
                return Outcome(False, error=f"crashed ({how})", stdout=stdout, stderr=stderr, counts=counts)
            with open(job["result"]) as f:
                return Outcome(True, json.load(f), stdout=stdout, stderr=stderr, counts=counts)

    def run_fresh_script(self, task):
        """A script that must configure TensorFlow before importing it, in an interpreter of its own."""
        with tempfile.TemporaryDirectory(prefix="judge-") as tmp:
            tally_path = os.path.join(tmp, "tally")
            env = dict(os.environ, SERVEGRAPH_JUDGE_TALLY=tally_path)
            try:
                run = subprocess.run([sys.executable, task["script"], *task["args"]], cwd=task.get("cwd") or REPO,
                                     env=env, capture_output=True, text=True, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                return Outcome(False, error=f"timed out after {TIMEOUT:g} s and was killed")
            result = {"exit_code": run.returncode}
            return Outcome(True, result, stdout=run.stdout, stderr=run.stderr, counts=dict(no_counts(), **read_tally(tally_path)))

    # --- ops: each returns (ok, result, error, counts) ---

    def op_run_saved_model(self, request):
        counts = no_counts()
        inputs = request["inputs"]
        if request.get("examples"):
            task = {"fn": "examples", "spec": inputs, "key": request["examples"], "omit": request.get("omit_feature", [])}
            built = self.run_task("tf", task)
            if not built.ok:
                return False, None, f"building tf.Examples: {built.error}\n{built.stderr}", counts
            inputs = built.result
        signature = request.get("signature", "serving_default")
        expected = request.get("expected")
        outcomes = self.each_loader(request, request["export_dir"], {signature: inputs})
        report, failed = {}, False
        for loader, outcome in outcomes.items():
            add(counts, outcome.counts)
            entry = {"ok": outcome.ok, "error": None, "outputs": None, "max_abs_diff": None}
            if not outcome.ok:
                entry["error"] = error_lines(outcome)
            else:
                entry["outputs"] = outcome.result[signature]
                if expected is not None:
                    import loaders

                    entry["max_abs_diff"], problems = loaders.compare(entry["outputs"], expected, request.get("tolerance", 1e-5))
                    counts["comparisons"] += len(expected)
                    if problems:
                        entry["ok"], entry["error"] = False, problems
            failed |= not entry["ok"]
            report[loader] = entry
        return not failed, report, None if not failed else "a loader failed or differs", counts

    def op_run_signatures(self, request):
        counts = no_counts()
        inputs = request["inputs"]
        if request.get("signature"):
            inputs = {request["signature"]: inputs[request["signature"]]}
        report = {}
        for loader, outcome in self.each_loader(request, request["saved_model"], inputs).items():
            add(counts, outcome.counts)
            entry = {"ok": outcome.ok, "error": None, "signatures": None}
            if outcome.ok:
                entry["signatures"] = outcome.result
            else:
                entry["error"] = error_lines(outcome)
            report[loader] = entry
        return True, report, None, counts

    def each_loader(self, request, directory, inputs_by_signature):
        """{loader: Outcome} of every loader the request names, run side by side."""
        names = request.get("loaders", "tf2,tf1,capi").split(",")
        unknown = [n for n in names if n not in LOADER_KIND]
        if unknown:
            raise ValueError(f"unknown loaders {unknown}; known: {', '.join(LOADER_KIND)}")
        tasks = {
            name: {"fn": "loader", "loader": name, "export_dir": os.path.abspath(directory),
                   "inputs": inputs_by_signature, "tags": request.get("tags", "serve"), "cpus": request.get("cpus", 0)}
            for name in names
        }
        digest = directory_digest(directory) if CACHE else None
        return self.side_by_side({name: (LOADER_KIND[name], task) for name, task in tasks.items()}, digest)

    def side_by_side(self, tasks, digest=None):
        """{name: Outcome} of `tasks` ({name: (kind, task)}) run at once; with
        the `digest` of the SavedModel they load, outputs this run already
        has for the same task on the same bytes, wherever they are, come
        from the cache."""
        outcomes = {}

        def run(name, kind, task):
            if digest is None:
                outcomes[name] = self.run_task(kind, task)
            else:
                where = {k: v for k, v in task.items() if k != "export_dir"}
                key = json.dumps([digest, where], sort_keys=True)
                outcomes[name] = self.cache.get_or_run(key, lambda: self.run_task(kind, task))

        threads = [threading.Thread(target=run, args=(name, kind, task)) for name, (kind, task) in tasks.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {name: outcomes[name] for name in tasks}

    def op_list_variables(self, request):
        task = {"fn": "list_variables", "saved_model": os.path.abspath(request["saved_model"]),
                "tags": request.get("tags", "serve")}
        outcome = self.run_task("tf", task)
        return outcome.ok, outcome.result, None if outcome.ok else "\n".join(error_lines(outcome)), outcome.counts

    def op_script(self, request):
        script = os.path.abspath(os.path.join(REPO, request["script"]))
        if os.path.dirname(script) != HERE or not script.endswith(".py"):
            raise ValueError(f"{request['script']} is not a script of tests/interop")
        task = {"fn": "script", "script": script, "args": request.get("args", []), "cwd": request.get("cwd")}
        with open(script) as f:
            fresh = "TF_USE_LEGACY_KERAS" in f.read()
        outcome = self.run_fresh_script(task) if fresh else self.run_task("tf", task)
        if not outcome.ok:
            return False, None, f"{request['script']}: {outcome.error}\n{outcome.stderr[-4000:]}", outcome.counts
        result = dict(outcome.result, stdout=outcome.stdout, stderr=outcome.stderr)
        ok = result["exit_code"] == 0
        return ok, result, None if ok else f"{request['script']} exited with {result['exit_code']}", outcome.counts

    def op_selftest(self, request):
        outcome = self.run_task("probe", {"fn": "selftest", "mode": request["mode"]}, request.get("timeout", TIMEOUT))
        return outcome.ok, outcome.result, outcome.error, outcome.counts

    def op_batch(self, request):
        answers = [None] * len(request["requests"])

        def run(index, sub):
            answers[index] = self.answer(sub)

        threads = [threading.Thread(target=run, args=(i, sub)) for i, sub in enumerate(request["requests"])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts = no_counts()
        for answer in answers:
            add(counts, answer)
        ok = all(a["ok"] for a in answers)
        return ok, answers, None if ok else "a request of the batch failed", counts

    def answer(self, request):
        """The answer to one request; a request that cannot be run is answered not ok."""
        try:
            op = getattr(self, "op_" + request["op"], None)
            if op is None:
                raise ValueError(f"unknown op {request['op']!r}")
            ok, result, error, counts = op(request)
        except Exception as problem:  # noqa: B902 - a bad request is answered, never fatal
            ok, result, error, counts = False, None, f"{type(problem).__name__}: {problem}", no_counts()
        return {"id": request.get("id"), "ok": ok, "result": result, "error": error, **counts}


def no_counts():
    return {"loads": 0, "comparisons": 0, "cached": 0}


def add(counts, more):
    for name in counts:
        counts[name] += more[name]


def error_lines(outcome):
    lines = [outcome.error] if outcome.error else []
    return lines + outcome.stderr.strip().splitlines()[-ERROR_LINES:]


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def serve():
    judge = Judge()
    judge.warm_up()
    write_lock = threading.Lock()

    def handle(line):
        try:
            request = json.loads(line)
        except json.JSONDecodeError as problem:
            request = {"id": None, "op": f"unreadable request ({problem})"}
        answer = judge.answer(request)
        with write_lock:
            try:
                sys.stdout.write(json.dumps(answer) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                pass  # the client is gone

    handlers = []
    for line in sys.stdin:
        if line.strip():
            handlers.append(threading.Thread(target=handle, args=(line,), daemon=True))
            handlers[-1].start()
    for handler in handlers:
        handler.join()
    for zygote in judge.zygotes.values():
        zygote.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        zygote(sys.argv[2])
    elif len(sys.argv) == 1:
        serve()
    else:
        sys.exit(__doc__)
