"""Asks a judge of its own (judge.py) one request, for the command-line
scripts that are thin clients of it."""
import json
import os
import subprocess
import sys

JUDGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "judge.py")


def ask(request):
    """The judge's answer to `request`: {"ok", "result", "error", "loads",
    "comparisons", "cached"}; says on stderr what TensorFlow did for it."""
    run = subprocess.run([sys.executable, JUDGE], input=json.dumps(dict(request, id=1)) + "\n",
                         capture_output=True, text=True)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        sys.exit(f"the judge failed ({run.returncode}):\n{run.stderr}")
    answer = json.loads(lines[-1])
    print(f"judge: {answer['loads']} loads, {answer['comparisons']} comparisons", file=sys.stderr)
    return answer
