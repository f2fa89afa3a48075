"""Command line of bench/detect-eval."""
import argparse
import json
import multiprocessing
import os
import sys
import time

from . import runner, score
from .scenarios import SCENARIOS

DESCRIPTION = """Detection benchmark for dnswatch (issue 8, "Proof").

Generates realistic DNS traffic (an authoritative server's resolvers with
caches, organisations and seasonality; an office resolver's stub clients with
DHCP churn, a VPN pool, office hours and holidays), injects anomalies with
ground truth, writes real pcap files, replays them through `dnswatch replay`
and scores the JSON alert log: per alert kind and per scenario family recall,
precision, false alerts per watched entry per month on the controls, and
median detection delay; the 2016-shaped scenario per signal.
"""


def _run(args):
    name, opts = args
    t = time.time()
    try:
        r = runner.run_scenario(name, opts)
    except Exception as e:  # report the scenario as failed, keep the others
        import traceback
        r = {"name": name, "error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()}
    r["wall_s"] = round(time.time() - t, 1)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench/detect-eval", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter scenarios (3-week controls, 16-day anomaly runs), for the test suite")
    ap.add_argument("--scale", type=float, default=1.0, help="traffic volume factor (default 1)")
    ap.add_argument("--json", action="store_true", help="print machine-readable results (JSON) instead of tables")
    ap.add_argument("--keep", metavar="DIR", help="keep each scenario's pcaps, config, orgs/holidays files, database and alert log in DIR/<scenario>")
    ap.add_argument("--only", metavar="NAME", action="append", help="run only this scenario (repeat, or comma-separate, for several)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--check", action="store_true", help="exit 1 when a budget is missed (naming it)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="scenarios run in parallel (default: CPUs)")
    ap.add_argument("--bin", default=runner.default_bin(), help="dnswatch binary (default target/release/dnswatch, built if missing)")
    ap.add_argument("--seed", type=int, default=1, help="seed of every scenario (default 1)")
    a = ap.parse_args(argv)
    if a.list:
        for n, f in SCENARIOS.items():
            doc = (f.__doc__ or "").strip().split("\n")[0]
            print(n + ("  " + doc if doc else ""))
        return 0
    names = list(SCENARIOS)
    if a.only:
        want = [x for o in a.only for x in o.split(",") if x]
        bad = [x for x in want if x not in SCENARIOS]
        if bad:
            print("error: unknown scenario(s): %s (see --list)" % ", ".join(bad), file=sys.stderr)
            return 2
        names = want
    if a.scale <= 0:
        print("error: --scale must be positive", file=sys.stderr)
        return 2
    binary = runner.ensure_bin(os.path.abspath(a.bin))
    reference, msg = runner.probe_reference(binary)
    if not reference:
        print("note: %s does not accept [detectors] organisations_file/holidays_file (%s); running without them"
              % (binary, msg.splitlines()[-1] if msg else "check-config failed"), file=sys.stderr)
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
    opts = {"quick": a.quick, "scale": a.scale, "seed": a.seed, "bin": binary, "reference": reference,
            "keep": os.path.abspath(a.keep) if a.keep else None}
    # Longest first for balance.
    heavy = {"case-2016": 0, "auth-control-s1": 1, "auth-control-s2": 2}
    order = sorted(names, key=lambda n: heavy.get(n, 10))
    t0 = time.time()
    results = []
    jobs = max(1, min(a.jobs, len(order)))
    work = [(n, opts) for n in order]
    if jobs == 1:
        it = map(_run, work)
        pool = None
    else:
        pool = multiprocessing.Pool(jobs)
        it = pool.imap_unordered(_run, work)
    for r in it:
        results.append(r)
        if "error" in r:
            print("  %-20s FAILED: %s" % (r["name"], r["error"]), file=sys.stderr)
        else:
            print("  %-20s %6.1fs  %8d lookups  %3d pcaps  %5d alerts  replay rc %d" % (
                r["name"], r["wall_s"], r["lookups_generated"], r["pcaps"], len(r["alerts"]), r["replay_rc"]),
                file=sys.stderr, flush=True)
    if pool:
        pool.close()
        pool.join()
    results.sort(key=lambda r: names.index(r["name"]))
    failed = [r for r in results if "error" in r or r.get("replay_rc") != 0]
    ok = [r for r in results if r not in failed]
    summary = score.summarise(ok)
    elapsed = round(time.time() - t0, 1)
    complete = not failed
    problems = score.integrity(results, names)
    if a.json:
        out = {"complete": complete, "integrity": problems, "options": {k: v for k, v in opts.items()}, "elapsed_s": elapsed,
               "summary": summary, "false_patterns": score.false_patterns(ok),
               "scenarios": [{k: v for k, v in r.items() if k != "trace"} for r in results]}
        print(json.dumps(out, indent=1))
    else:
        print("dnswatch detection benchmark: %d scenarios, %s, scale %g, seed %d, %s, %.0fs" % (
            len(results), "quick" if a.quick else "full", a.scale, a.seed, binary, elapsed))
        print("organisations/holidays files: %s" % ("passed to the detectors" if reference else "not accepted by this binary"))
        print()
        print(score.render(summary, ok))
    for r in failed:
        print("scenario %s failed: %s" % (r["name"], r.get("error") or "replay exit %s: %s" % (
            r.get("replay_rc"), r.get("replay_stderr", "")[-500:])), file=sys.stderr)
    if failed:
        return 1
    if a.check:
        for p in problems:
            print("integrity: %s" % p, file=sys.stderr)
        if problems:
            return 1
        missed = [b for b in summary["budgets"] if not b["ok"]]
        for b in missed:
            print("budget missed: %s (value %s)" % (b["budget"], b["value"]), file=sys.stderr)
        if missed:
            return 1
    return 0
