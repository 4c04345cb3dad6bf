#!/usr/bin/env python3
"""Table, ratios and targets for bench/transfer/run.sh.

    report.py WORK_DIR OUT.json

Reads WORK_DIR/records.jsonl (one transfer a line), meta.tsv, handshakes.json and perf-*.top
when present; prints the report and writes the same as JSON to OUT.json.
"""

import json
import os
import re
import sys

MB = 1e6  # MB/s = 10^6 bytes per second
MIB = 1024 * 1024
TARGET_MBPS = 1000
TARGET_SCP = 3.0
TARGET_OVTP = 20.0
TARGET_RSS_MIB = 64


def load(work):
    records = [json.loads(line) for line in open(os.path.join(work, "records.jsonl")) if line.strip()]
    meta = {}
    for line in open(os.path.join(work, "meta.tsv")):
        key, _, value = line.rstrip("\n").partition("\t")
        meta[key] = value
    handshakes = None
    path = os.path.join(work, "handshakes.json")
    if os.path.exists(path):
        handshakes = json.load(open(path))
    profile = {}
    for side in ("server", "client"):
        for kind in ("top", "dso"):
            path = os.path.join(work, f"perf-{side}.{kind}")
            if os.path.exists(path):
                # perf pads with blanks and appends empty columns ("-  -"): keep "NN.NN%  symbol".
                rows = [re.sub(r"(\s+-)+\s*$", "", l.strip()) for l in open(path) if l.strip()]
                profile.setdefault(side, {})[kind] = [" ".join(r.split()) for r in rows]
    return records, meta, handshakes, profile


def mbps(r):
    """MB/s, when the data arrived intact (an ovtp pull that failed at its very end counts)."""
    if r["verified"] and r["seconds"]:
        return r["bytes"] / r["seconds"] / MB
    return None


def fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def main():
    work, out = sys.argv[1], sys.argv[2]
    records, meta, handshakes, profile = load(work)
    for r in records:
        r["mb_per_s"] = None if mbps(r) is None else round(mbps(r), 1)
        ours = (r["server_cpu_s"] or 0) + (r["client_cpu_s"] or 0)
        busy = r["machine_busy_cpu_s"]
        r["other_cpu_s"] = None if busy is None else round(max(0.0, busy - ours), 2)
        # Contention-proof efficiency: MB moved per CPU-second of server + client together.
        r["mb_per_cpu_s"] = round(r["bytes"] / MB / ours, 1) if ours and r["verified"] else None
    by = {(r["tool"], r["direction"]): r for r in records}

    size = int(meta.get("size_mib", 0))
    lines = []
    p = lines.append
    placement = ("servers on CPU 0, clients on CPU 1" if meta.get("pinned") == "1"
                 else "both sides on the shared CPUs")
    p(f"keyway transfer benchmark: a {size} MiB file (random) over loopback 127.0.0.1, one run, "
      f"{placement}")
    p(f"machine: {meta.get('nproc')} CPUs ({meta.get('cpu')}), kernel {meta.get('kernel')}, "
      f"files on {meta.get('tmpdir_fs')}; load {meta.get('loadavg_before')} -> {meta.get('loadavg_after')}")
    p(f"keyway {meta.get('keyway_git')} built {meta.get('keyway_binary_built')}; "
      f"{meta.get('openssh_version', 'scp skipped')}; "
      f"ovtp {meta.get('ovtp_version', 'skipped')} on Python {meta.get('python_version', '-')}")
    p("")
    header = (f"{'tool':<7} {'dir':<5} {'MiB':>5} {'seconds':>8} {'MB/s':>8} "
              f"{'RSS server':>11} {'RSS client':>11} {'CPU s srv/cli':>14} {'MB/CPU-s':>8} {'other CPU s':>11}  ok")
    p(header)
    p("-" * len(header))
    notes = []
    for r in records:
        mark = ""
        if r["note"]:
            notes.append(r["note"])
            mark = "*" * len(notes)
        rss_s = fmt(None if r["server_peak_rss_kib"] is None else r["server_peak_rss_kib"] / 1024, ".1f")
        rss_c = fmt(None if r["client_peak_rss_kib"] is None else r["client_peak_rss_kib"] / 1024, ".1f")
        cpu = f"{fmt(r['server_cpu_s'], '.2f')}/{fmt(r['client_cpu_s'], '.2f')}"
        status = "yes" if r["ok"] and r["verified"] else ("DATA OK, ERROR" if r["verified"] else "FAILED")
        p(f"{r['tool']:<7} {r['direction']:<5} {r['bytes'] / MIB:>5.0f} {fmt(r['seconds'], '.2f'):>8} "
          f"{fmt(r['mb_per_s'], '.1f'):>8} {rss_s + ' MiB':>11} {rss_c + ' MiB':>11} {cpu:>14} "
          f"{fmt(r['mb_per_cpu_s'], '.0f'):>8} {fmt(r['other_cpu_s'], '.2f'):>11}  {status}{mark}")
    for i, note in enumerate(notes, 1):
        p(f"{'*' * i} {note}")
    p("seconds: client wall time, process start and handshake included. MB/s: 10^6 bytes/s; a")
    p("smaller file gives the same unit. RSS: peak. MB/CPU-s: MB per CPU-second of server and")
    p("client together (sshd: its whole tree and lifetime). other CPU s: CPU used meanwhile by")
    p("anything else on the machine (noise): trust MB/s only when it is low.")

    ratios = {}
    for other in ("scp", "ovtp"):
        for direction in ("push", "pull"):
            k, o = by.get(("keyway", direction)), by.get((other, direction))
            if k and o and mbps(k) and mbps(o):
                ratios[f"keyway/{other} {direction}"] = round(mbps(k) / mbps(o), 2)
    p("")
    p("ratios (MB/s): " + ("   ".join(f"{k} {v:.1f}x" for k, v in ratios.items()) or "none"))

    targets = []

    def target(name, value, goal, passed, shown):
        targets.append({"target": name, "value": value, "goal": goal,
                        "result": "n/a" if passed is None else ("PASS" if passed else "FAIL")})
        p(f"  {targets[-1]['result']:<4}  {name:<38} {shown}")

    p("")
    p("targets:")
    for direction in ("push", "pull"):
        k = by.get(("keyway", direction))
        v = mbps(k) if k else None
        target(f"keyway {direction} >= {TARGET_MBPS} MB/s", None if v is None else round(v, 1), TARGET_MBPS,
               None if v is None else v >= TARGET_MBPS, f"{fmt(v, '.1f')} MB/s")
    for other, goal in (("scp", TARGET_SCP), ("ovtp", TARGET_OVTP)):
        for direction in ("push", "pull"):
            key = f"keyway/{other} {direction}"
            v = ratios.get(key)
            o = by.get((other, direction))
            extra = ""
            if o and not o["ok"] and o["verified"]:
                extra = f" ({other} {direction} ended with an error)"
            target(f"{key} >= {goal:g}x", v, goal, None if v is None else v >= goal,
                   (f"{v:.1f}x" if v is not None else "n/a") + extra)
    for side in ("server", "client"):
        values = [by[("keyway", d)][f"{side}_peak_rss_kib"] for d in ("push", "pull") if ("keyway", d) in by]
        values = [v for v in values if v is not None]
        v = max(values) / 1024 if values else None
        target(f"keyway {side} peak RSS <= {TARGET_RSS_MIB} MiB", None if v is None else round(v, 1),
               TARGET_RSS_MIB, None if v is None else v <= TARGET_RSS_MIB,
               f"{fmt(v, '.1f')} MiB (max of push and pull)")

    if handshakes:
        p("")
        p(f"keyway handshakes: {handshakes['messages_per_s']:.0f} messages/s "
          f"({handshakes['loops']} parallel loops of `keyway transfer send --message x`, "
          f"{handshakes['messages']} in {handshakes['wall_s']:.1f} s, {handshakes['failures']} failed)")
        p("  includes process start-up per message: a lower bound on handshakes/s; "
          f"server CPU {handshakes['server_cpu_s']} s, peak RSS {handshakes['server_peak_rss_kib'] / 1024:.1f} MiB")

    for side, data in profile.items():
        p("")
        p(f"perf record -g, keyway push, {side} (self time, top symbols):")
        for line in data.get("top", []):
            p("  " + line.strip())
        if data.get("dso"):
            p(f"  by DSO: " + "; ".join(" ".join(l.split()) for l in data["dso"]))

    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"meta": meta, "results": records, "ratios": ratios, "targets": targets,
                   "handshakes": handshakes, "profile": profile, "report": text}, f, indent=2)


if __name__ == "__main__":
    main()
