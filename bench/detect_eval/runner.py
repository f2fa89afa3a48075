"""Runs one scenario end to end: generate the lookups, write pcaps (one per
week), the organisations and holidays files and a config, replay them through
``dnswatch replay``, and read back the alert log and the database."""
import calendar
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time

from . import pcap as P
from .model import DAY
from .scenarios import SCENARIOS, matcher

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_bin():
    return os.path.join(REPO, "target", "release", "dnswatch")


def ensure_bin(path):
    """The binary to run; builds the release binary when the default is missing."""
    if os.path.exists(path):
        return path
    if os.path.abspath(path) != default_bin():
        raise SystemExit("error: %s: no such binary" % path)
    print("building %s (cargo build --release)" % path, flush=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    return path


def toml_str(s):
    return json.dumps(s)


def write_config(d, watch, reference, db="dnswatch.db", alerts="alerts.jsonl"):
    lines = ["# written by bench/detect-eval", "[storage]", "database = %s" % toml_str(db), "",
             "[watch]", "entries = [%s]" % ", ".join(toml_str(w) for w in watch), "",
             "[alerts]", "log = %s" % toml_str(alerts), "", "[metrics]", 'listen = ""', ""]
    if reference:
        lines += ["[detectors]", 'organisations_file = "orgs.csv"', 'holidays_file = "holidays.txt"', ""]
    path = os.path.join(d, "cfg.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def write_reference(d, orgs, holidays):
    with open(os.path.join(d, "orgs.csv"), "w") as f:
        f.write("# prefix,organisation (written by bench/detect-eval; not every network is listed)\n")
        for p, o in orgs:
            f.write("%s,%s\n" % (p, o))
    with open(os.path.join(d, "holidays.txt"), "w") as f:
        f.write("# public holidays (written by bench/detect-eval)\n")
        for h in holidays:
            f.write(h + "\n")


def probe_reference(binary):
    """Whether the binary accepts ``[detectors] organisations_file`` and ``holidays_file``."""
    d = tempfile.mkdtemp(prefix="detect-eval-probe-")
    try:
        write_reference(d, [("198.51.100.0/24", "Probe Org")], ["2026-01-01"])
        cfg = write_config(d, ["probe.example"], True)
        r = subprocess.run([binary, "check-config", "--config", cfg], capture_output=True, text=True)
        return r.returncode == 0, (r.stderr or r.stdout).strip()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def parse_ts(s):
    """µs since the epoch of an RFC 3339 UTC timestamp as dnswatch writes it."""
    date, _, rest = s.partition("T")
    y, m, d = map(int, date.split("-"))
    rest = rest.rstrip("Z")
    hms, _, frac = rest.partition(".")
    hh, mm, ss = map(int, hms.split(":"))
    us = int((frac + "000000")[:6]) if frac else 0
    return calendar.timegm((y, m, d, hh, mm, ss, 0, 0, 0)) * 1_000_000 + us


def write_pcaps(built, d):
    files = []
    start = built.cal.start
    week = 7 * DAY
    w = None
    cur = -1
    packets = 0
    for ev in built.events:
        k = (ev[0] - start) // week
        if k != cur:
            if w:
                w.close()
                packets += w.packets
            cur = k
            path = os.path.join(d, "%s-%03d.pcap" % (built.name, k))
            files.append(path)
            w = P.PcapWriter(path, built.soa)
        w.add(ev)
    if w:
        w.close()
        packets += w.packets
    return files, packets


def watched_count(built):
    """Generated lookups touching at least one watch entry (what the database should hold)."""
    ms = [matcher(e) for e in built.watch]
    return sum(1 for ev in built.events if any(m(ev) for m in ms))


def run_scenario(name, opts):
    """Returns a JSON-able result for one scenario."""
    t0 = time.time()
    built = SCENARIOS[name](opts["quick"], opts["scale"], opts["seed"])
    built.finish()
    t_gen = time.time() - t0
    keep = opts.get("keep")
    if keep:
        d = os.path.join(keep, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    else:
        d = tempfile.mkdtemp(prefix="detect-eval-%s-" % name)
    res = {"name": name, "family": built.family, "model": built.model, "control": built.control,
           "days": built.cal.days, "start": built.cal.start, "watch": built.watch,
           "injections": [i.to_json() for i in built.injections], "exempt": [
               {"kinds": list(k), "entries": sorted(e), "start": a, "end": b} for k, e, a, b in built.exempt],
           "signals": built.signals, "noise_entries": sorted(built.noise_entries),
           "lookups_generated": len(built.events), "lookups_watched_generated": watched_count(built),
           "reference_files": opts["reference"]}
    try:
        t1 = time.time()
        files, packets = write_pcaps(built, d)
        write_reference(d, built.orgs, built.holidays)
        cfg = write_config(d, built.watch, opts["reference"])
        del built
        t_pcap = time.time() - t1
        res.update(pcaps=len(files), packets=packets, pcap_bytes=sum(os.path.getsize(f) for f in files))
        t2 = time.time()
        db, alerts = os.path.join(d, "dnswatch.db"), os.path.join(d, "alerts.jsonl")
        cmd = [opts["bin"], "replay", "--db", db, "--alerts", alerts, "--config", cfg, "--no-progress", "--log", "error"]
        r = subprocess.run(cmd + files, capture_output=True, text=True)
        t_replay = time.time() - t2
        res["replay_rc"] = r.returncode
        res["replay_stderr"] = r.stderr[-2000:]
        res["replay_summary"] = r.stdout[-2000:]
        out = []
        bad = 0
        if os.path.exists(alerts):
            with open(alerts) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        a = json.loads(line)
                        out.append({"id": a.get("id"), "kind": a["kind"], "entry": a["entry"],
                                    "entries": a.get("entries") or [a["entry"]], "ts": parse_ts(a["ts"]),
                                    "name": a.get("name"), "querier": a.get("querier"), "window": a.get("window"),
                                    "message": a.get("message", "")})
                    except (KeyError, ValueError, TypeError):
                        bad += 1
        res["alerts"] = out
        res["alerts_malformed"] = bad
        try:
            c = sqlite3.connect(db)
            res["lookups_db"] = c.execute("SELECT count(*) FROM lookups").fetchone()[0]
            # Schema 8 interns entries in the names table.
            res["lookups_db_by_entry"] = dict(c.execute(
                "SELECT n.name, count(*) FROM lookups l JOIN names n ON n.id = l.entry GROUP BY n.name").fetchall())
            c.close()
        except sqlite3.Error as e:
            res["lookups_db"] = 0
            res["db_error"] = str(e)
        res["seconds"] = {"generate": round(t_gen, 2), "pcap": round(t_pcap, 2), "replay": round(t_replay, 2)}
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)
    return res
