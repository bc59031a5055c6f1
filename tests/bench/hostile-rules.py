#!/usr/bin/env python3
"""hostile-rules.py: what hostile rule files cost to load.

Generates rule files an attacker (or a broken generator) could hand to
`refguardctl rules check` or a reloading refguardd, runs
`refguardctl rules check FILE` on each and prints the exit status, the
wall time and the peak RSS of the run. It prints figures; it is not a
test (docs/reliability.md, "Hostile rule files", quotes them).

    hostile-rules.py [--ctl PATH] [--ctl PATH]... [--timeout S] [--keep]

Several --ctl binaries (say, one built from main and one from a branch)
are measured on the same files, side by side. Default: ./refguardctl.
Each run is killed after --timeout seconds ("timeout") and may map at
most --mem MiB (an old build then fails to allocate: exit 1 or SIGABRT).
"""
import argparse
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def gen_rules_1mb(path):
    """About 1 MB of ordinary rules: many small ones."""
    with open(path, "w") as f:
        i = 0
        size = 0
        while size < 1 << 20:
            s = ('rule r%d {\n    desc "generated rule %d"\n'
                 '    when referee.email.domain == "d%d.example"\n'
                 '    action review\n    score 1\n}\n' % (i, i, i))
            f.write(s)
            size += len(s)
            i += 1


def gen_list_20k(path):
    """One inline list of 20,000 string values, used by one rule."""
    with open(path, "w") as f:
        f.write("list big [\n")
        for i in range(20000):
            f.write('    "value-%06d.example",\n' % i)
        f.write("]\nrule big_list {\n    when referee.email.domain in "
                "list big\n    action review\n    score 1\n}\n")


def gen_nest_paren(path, n=30000):
    """A condition inside n parentheses."""
    with open(path, "w") as f:
        f.write("rule deep {\n    when " + "(" * n + "referee.ip.private" +
                ")" * n + "\n    action review\n    score 1\n}\n")


def gen_nest_not(path, n=35000):
    """n nested not: the old parser took it, evaluation overflowed."""
    with open(path, "w") as f:
        f.write("rule deep_not {\n    when " + "not " * n +
                "referee.ip.private\n    action review\n    score 1\n}\n")


def gen_noise(path, n=100 * 1024):
    """n bytes of printable noise, quotes and all, no comment sign."""
    rnd = random.Random(1)
    alphabet = bytes(c for c in range(0x20, 0x7f) if c != ord("#"))
    with open(path, "wb") as f:
        f.write(bytes(rnd.choice(alphabet) for _ in range(n)) + b"\n")


def gen_quotes(path, n=100 * 1024):
    """n double quotes: as many unterminated strings."""
    with open(path, "wb") as f:
        f.write(b'"' * n + b"\n")


def gen_bad(path, n=100 * 1024):
    """One line of n characters that are no token: an error each."""
    with open(path, "wb") as f:
        f.write(b"@" * n + b"\n")


CASES = [
    ("1 MB rule set", "big.rules", gen_rules_1mb),
    ("20k-value list", "list20k.rules", gen_list_20k),
    ("30k nested (", "paren30k.rules", gen_nest_paren),
    ("35k nested not", "not35k.rules", gen_nest_not),
    ("100 KB noise", "noise.rules", gen_noise),
    ("100 KB quotes", "quotes.rules", gen_quotes),
    ("100 KB bad chars", "bad.rules", gen_bad),
]


def measure(ctl, path, timeout, mem_mib):
    """(exit status or signal, seconds, peak RSS in MiB) of one run."""
    def limit():
        # An old build can take tens of GiB: keep the machine alive.
        lim = mem_mib << 20
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    t0 = time.monotonic()
    p = subprocess.Popen([ctl, "rules", "check", path], preexec_fn=limit,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid != 0:
            break
        if time.monotonic() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            return ("timeout", time.monotonic() - t0, ru.ru_maxrss / 1024)
        time.sleep(0.01)
    secs = time.monotonic() - t0
    if os.WIFSIGNALED(status):
        rc = "SIG" + signal.Signals(os.WTERMSIG(status)).name[3:]
    else:
        rc = str(os.WEXITSTATUS(status))
    return (rc, secs, ru.ru_maxrss / 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctl", action="append", help="refguardctl to measure")
    ap.add_argument("--timeout", type=float, default=120,
                    help="seconds before a run is killed (120)")
    ap.add_argument("--mem", type=int, default=8192,
                    help="address space limit of a run, MiB (8192): "
                    "past it the run fails to allocate")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    ctls = a.ctl or ["./refguardctl"]
    for c in ctls:
        if not os.access(c, os.X_OK):
            sys.exit("hostile-rules: %s is not executable" % c)
    # No core files from the crashes this is about.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    tmp = tempfile.mkdtemp(prefix="rghostile.")
    try:
        print("%-16s %9s  %-28s %8s %8s %10s" %
              ("file", "bytes", "refguardctl", "exit", "seconds",
               "peak MiB"))
        for what, name, gen in CASES:
            path = os.path.join(tmp, name)
            gen(path)
            size = os.path.getsize(path)
            for c in ctls:
                rc, secs, rss = measure(c, path, a.timeout, a.mem)
                print("%-16s %9d  %-28s %8s %8.2f %10.1f" %
                      (what, size, c[-28:], rc, secs, rss), flush=True)
    finally:
        if a.keep:
            print("hostile-rules: kept", tmp)
        else:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
