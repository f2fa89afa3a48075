"""Scoring: alerts against ground truth.

An alert matches an injection when its kind is one the injection accepts,
its ``entries`` share an entry with the injection's, and its time is within
[start, end + tolerance]. In anomaly scenarios an alert matching nothing is
false (precision), except the consequences listed as exempt (``resumed``
after an injected silence); on controls every alert is false, counted per
watched entry per 30 days. Detection delay: first matching alert − start.
Injections not detectable in principle are reported apart and left out of
recall.
"""
import statistics

from .scenarios import DELAY_BUDGET_H

HOUR = 3600 * 1_000_000
MONTH_DAYS = 30.0
BUDGET_FALSE_PER_ENTRY_MONTH = 0.3
BUDGET_RECALL = 0.9


def match_scenario(res):
    """Annotates the result in place: per injection ``detected``/``delay_s``/
    ``matched_by``; per alert ``verdict`` (match, exempt, false)."""
    injs = res["injections"]
    for inj in injs:
        inj["detected"] = False
        inj["delay_s"] = None
        inj["matched_by"] = []
    for a in res.get("alerts", []):
        ents = set(a["entries"]) | {a["entry"]}
        verdict = "false"
        if not res["control"]:
            for inj in injs:
                if a["kind"] in inj["accepts"] and ents & set(inj["entries"]) and \
                        inj["start"] <= a["ts"] <= inj["end"] + inj["tol_s"] * 1_000_000:
                    verdict = "match"
                    inj["matched_by"].append(a["kind"])
                    d = (a["ts"] - inj["start"]) / 1e6
                    if not inj["detected"] or d < inj["delay_s"]:
                        inj["delay_s"] = d
                    inj["detected"] = True
            if verdict == "false":
                for ex in res.get("exempt", []):
                    if a["kind"] in ex["kinds"] and ents & set(ex["entries"]) and ex["start"] <= a["ts"] <= ex["end"]:
                        verdict = "exempt"
                        break
        a["verdict"] = verdict
    return res


def _median_h(xs):
    return round(statistics.median(xs) / 3600.0, 2) if xs else None


def _ratio(a, b):
    return round(a / b, 3) if b else None


def summarise(results):
    for r in results:
        match_scenario(r)
    anomaly = [r for r in results if not r["control"]]
    controls = [r for r in results if r["control"]]
    kinds = sorted({i["kind"] for r in anomaly for i in r["injections"]})
    alert_kinds = sorted({a["kind"] for r in results for a in r.get("alerts", [])})

    def inj_stats(injs):
        det = [i for i in injs if i["detectable"]]
        hit = [i for i in det if i["detected"]]
        nd = [i for i in injs if not i["detectable"]]
        return {"injections": len(injs), "detectable": len(det), "detected": len(hit),
                "recall": _ratio(len(hit), len(det)), "median_delay_h": _median_h([i["delay_s"] for i in hit]),
                "not_detectable": len(nd), "not_detectable_detected": sum(1 for i in nd if i["detected"])}

    by_kind = {}
    for k in kinds:
        by_kind[k] = inj_stats([i for r in anomaly for i in r["injections"] if i["kind"] == k])
    # Precision by alert kind (anomaly scenarios) and false alerts per entry-month (controls, per model).
    per_alert_kind = {}
    em = {}
    for r in controls:
        em[r["model"]] = em.get(r["model"], 0.0) + len(r["watch"]) * r["days"] / MONTH_DAYS
    for k in alert_kinds:
        al = [a for r in anomaly for a in r.get("alerts", []) if a["kind"] == k]
        tp = sum(1 for a in al if a["verdict"] == "match")
        fp = sum(1 for a in al if a["verdict"] == "false")
        row = {"alerts": len(al), "matched": tp, "false": fp, "precision": _ratio(tp, tp + fp)}
        for m in sorted(em):
            n = sum(1 for r in controls if r["model"] == m for a in r.get("alerts", []) if a["kind"] == k)
            row["control_false_%s" % m] = n
            row["false_per_entry_month_%s" % m] = round(n / em[m], 3)
        per_alert_kind[k] = row
    by_family = {}
    for fam in sorted({r["family"] for r in anomaly}):
        rs = [r for r in anomaly if r["family"] == fam]
        st = inj_stats([i for r in rs for i in r["injections"]])
        al = [a for r in rs for a in r.get("alerts", [])]
        tp = sum(1 for a in al if a["verdict"] == "match")
        fp = sum(1 for a in al if a["verdict"] == "false")
        st.update(alerts=len(al), false=fp, precision=_ratio(tp, tp + fp), model=rs[0]["model"])
        by_family[fam] = st
    control_rows = {}
    for m in sorted(em):
        rs = [r for r in controls if r["model"] == m]
        n = sum(len(r.get("alerts", [])) for r in rs)
        ks = {}
        for r in rs:
            for a in r.get("alerts", []):
                ks[a["kind"]] = ks.get(a["kind"], 0) + 1
        control_rows[m] = {"scenarios": len(rs), "entry_months": round(em[m], 2), "false_alerts": n,
                           "false_per_entry_month": round(n / em[m], 3), "by_kind": ks}
    overall = inj_stats([i for r in anomaly for i in r["injections"]])
    tp = sum(1 for r in anomaly for a in r.get("alerts", []) if a["verdict"] == "match")
    fp = sum(1 for r in anomaly for a in r.get("alerts", []) if a["verdict"] == "false")
    overall.update(alerts=tp + fp, false=fp, precision=_ratio(tp, tp + fp))
    case = {}
    for r in anomaly:
        if r.get("signals"):
            case[r["name"]] = {
                "signals": [{"signal": i["label"], "kind": i["kind"], "found": i["detected"],
                             "delay_h": round(i["delay_s"] / 3600, 2) if i["detected"] else None,
                             "detectable": i["detectable"], "why": i["why"]} for i in r["injections"]],
                "decoy_alerts": sum(1 for a in r.get("alerts", []) if set(a["entries"]) & set(r["noise_entries"])),
                "false_alerts": sum(1 for a in r.get("alerts", []) if a["verdict"] == "false"),
            }
    budgets = []
    for m, row in control_rows.items():
        budgets.append({"budget": "controls (%s): false alerts per watched entry per month <= %.1f" % (m, BUDGET_FALSE_PER_ENTRY_MONTH),
                        "value": row["false_per_entry_month"], "ok": row["false_per_entry_month"] <= BUDGET_FALSE_PER_ENTRY_MONTH})
    if overall["detectable"]:
        budgets.append({"budget": "recall of detectable injections >= %.1f" % BUDGET_RECALL, "value": overall["recall"],
                        "ok": overall["recall"] is not None and overall["recall"] >= BUDGET_RECALL})
    for k, lim in sorted(DELAY_BUDGET_H.items()):
        if k in by_kind and by_kind[k]["detectable"]:
            v = by_kind[k]["median_delay_h"]
            budgets.append({"budget": "median delay %s <= %dh" % (k, lim), "value": v, "ok": v is not None and v <= lim})
    return {"overall": overall, "by_injection_kind": by_kind, "by_alert_kind": per_alert_kind,
            "by_family": by_family, "controls": control_rows, "case_2016": case, "budgets": budgets}


def false_patterns(results, top=12):
    """Most frequent false alerts on controls: (model, kind, entry) with an example message."""
    pats = {}
    for r in results:
        if not r["control"]:
            continue
        for a in r.get("alerts", []):
            key = (r["model"], a["kind"], a["entry"])
            p = pats.setdefault(key, {"model": r["model"], "kind": a["kind"], "entry": a["entry"], "count": 0,
                                      "example": a["message"]})
            p["count"] += 1
    return sorted(pats.values(), key=lambda p: (-p["count"], p["model"], p["kind"], p["entry"]))[:top]


def _fmt(v, pct=False):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.2f" % v
    return str(v)


def table(headers, rows):
    w = [max(len(str(h)), *(len(_fmt(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(str(h).ljust(w[i]) for i, h in enumerate(headers))]
    out.append("  ".join("-" * w[i] for i in range(len(headers))))
    for r in rows:
        out.append("  ".join(_fmt(v).ljust(w[i]) for i, v in enumerate(r)))
    return "\n".join(out)


def render(summary, results):
    s = summary
    lines = []
    models = sorted(s["controls"])
    lines.append("Per alert kind (recall and delay over detectable injections whose kind it is; precision over "
                 "anomaly scenarios; false alerts per watched entry per month on the controls):")
    rows = []
    kinds = sorted(set(s["by_injection_kind"]) | set(s["by_alert_kind"]))
    for k in kinds:
        ik = s["by_injection_kind"].get(k, {})
        ak = s["by_alert_kind"].get(k, {})
        row = [k, ("%d/%d" % (ik["detected"], ik["detectable"])) if ik else "-", ik.get("recall"),
               ak.get("precision"), ak.get("alerts", 0)]
        row += [ak.get("false_per_entry_month_%s" % m, 0.0) for m in models]
        row += [ik.get("median_delay_h"), ("%d (%d hit)" % (ik["not_detectable"], ik["not_detectable_detected"]))
                if ik.get("not_detectable") else "-"]
        rows.append(row)
    lines.append(table(["kind", "found", "recall", "precision", "alerts"] + ["false/entry-mo %s" % m for m in models]
                       + ["median delay h", "not detectable"], rows))
    lines.append("")
    lines.append("Per scenario family:")
    rows = []
    for fam, f in s["by_family"].items():
        rows.append([fam, f["model"], "%d/%d" % (f["detected"], f["detectable"]), f["recall"], f["alerts"], f["false"],
                     f["precision"], f["median_delay_h"], f["not_detectable"]])
    lines.append(table(["family", "model", "found", "recall", "alerts", "false", "precision", "median delay h",
                        "not detectable"], rows))
    lines.append("")
    lines.append("Controls (every alert is false):")
    rows = [[m, c["scenarios"], c["entry_months"], c["false_alerts"], c["false_per_entry_month"],
             ", ".join("%s %d" % kv for kv in sorted(c["by_kind"].items(), key=lambda kv: -kv[1])) or "-"]
            for m, c in s["controls"].items()]
    lines.append(table(["model", "scenarios", "entry-months", "false alerts", "per entry-month", "by kind"], rows))
    for name, c in s["case_2016"].items():
        lines.append("")
        lines.append("%s: signals (decoy alerts: %d, other false alerts: %d)" % (name, c["decoy_alerts"], c["false_alerts"]))
        rows = [[x["signal"], x["kind"], "found" if x["found"] else ("missed" if x["detectable"] else "missed (not detectable)"),
                 x["delay_h"]] for x in c["signals"]]
        lines.append(table(["signal", "kind", "result", "delay h"], rows))
    lines.append("")
    lines.append("Injections:")
    rows = []
    for r in results:
        if r["control"] or r.get("signals"):
            continue
        for i in r["injections"]:
            rows.append([r["name"], i["label"], i["kind"], "yes" if i["detectable"] else "NO",
                         "found" if i["detected"] else "missed",
                         round(i["delay_s"] / 3600, 2) if i["detected"] else None, i["why"]])
    lines.append(table(["scenario", "injection", "kind", "detectable", "result", "delay h", "why"], rows))
    pats = false_patterns(results)
    if pats:
        lines.append("")
        lines.append("Top false-alert patterns on the controls:")
        for p in pats:
            lines.append("  %4d  %-6s %-13s %-28s e.g. %s" % (p["count"], p["model"], p["kind"], p["entry"], p["example"][:150]))
    fp_anom = {}
    for r in results:
        if r["control"]:
            continue
        for a in r.get("alerts", []):
            if a["verdict"] == "false":
                fp_anom.setdefault((a["kind"], a["entry"]), [0, a["message"]])[0] += 1
    if fp_anom:
        lines.append("")
        lines.append("Top unmatched alerts in anomaly scenarios:")
        for (k, e), (n, msg) in sorted(fp_anom.items(), key=lambda kv: -kv[1][0])[:10]:
            lines.append("  %4d  %-13s %-28s e.g. %s" % (n, k, e, msg[:150]))
    lines.append("")
    lines.append("Budgets (issue 8):")
    for b in s["budgets"]:
        lines.append("  [%s] %s: %s" % ("ok" if b["ok"] else "MISSED", b["budget"], _fmt(b["value"])))
    return "\n".join(lines)


def integrity(results, requested):
    """What must hold for the scores to mean anything, whatever the budgets:
    every requested scenario ran and was scored, the replay recorded what the
    generator wrote for the watch list, and every alert line was read. Returns
    the problems found (empty when sound). `--check` fails on any of them;
    tests/detect_eval.rs asserts the same list is empty."""
    problems = []
    ran = [r["name"] for r in results]
    if ran != list(requested):
        problems.append("scenarios run %s differ from those requested %s" % (ran, list(requested)))
    controls = {}
    for r in results:
        n = r["name"]
        if "error" in r:
            problems.append("%s: %s" % (n, r["error"]))
            continue
        if r.get("replay_rc") != 0:
            problems.append("%s: replay exit %s" % (n, r.get("replay_rc")))
        if r.get("pcaps", 0) < 1:
            problems.append("%s: no pcap written" % n)
        if not r.get("packets", 0) > r.get("lookups_generated", 0):
            problems.append("%s: fewer packets than lookups (queries and responses expected)" % n)
        if r.get("alerts_malformed", 0):
            problems.append("%s: %d alert lines without kind/entry/ts" % (n, r["alerts_malformed"]))
        gen, stored = r.get("lookups_watched_generated", 0), r.get("lookups_db", 0)
        # A lookup in 1,000 may pair differently at a capture boundary.
        if stored <= 0 or abs(stored - gen) > 1 + gen / 1000:
            problems.append("%s: database holds %d lookups, the generator wrote %d watched ones%s" % (
                n, stored, gen, " (%s)" % r["db_error"] if r.get("db_error") else ""))
        if r.get("control"):
            controls[r.get("model")] = controls.get(r.get("model"), 0) + 1
            if r.get("injections"):
                problems.append("%s: a control with injections" % n)
        else:
            if not r.get("injections"):
                problems.append("%s: an anomaly scenario without injections" % n)
            for i in r.get("injections", []):
                if not isinstance(i.get("detected"), bool) or not isinstance(i.get("detectable"), bool):
                    problems.append("%s: injection %s not scored" % (n, i.get("label")))
                elif i["detected"] and i.get("delay_s", -1) < 0:
                    problems.append("%s: injection %s detected before it started" % (n, i.get("label")))
        for a in r.get("alerts", []):
            if not isinstance(a.get("verdict"), str) or not a.get("entries"):
                problems.append("%s: alert %s not scored or without entries" % (n, a.get("id")))
    return problems
