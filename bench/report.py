#!/usr/bin/env python3
"""bench/report.py: turn the raw rows of bench/run.sh and bench/echo.sh into
bench/RESULTS.md (medians over interleaved rounds, ratios goring/Go, targets).

    python3 bench/report.py [--out bench/out] [--results bench/RESULTS.md]

Inputs in --out: env.txt, core.tsv (round impl procs name metric value),
echo.tsv (round server conns size metric value), echo_env.txt. Targets for
the core pairs come from bench/targets.txt; the echo targets (issue 3) are
below. bench/RESULTS-notes.md, hand-written, is copied in at the end.
"""
import argparse
import collections
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Echo targets (issue 3), at 64 and 1000 connections, for each goring server.
ECHO_BASE = "uring_single"  # the hand-written single-ring liburing server
ECHO_GO = "go_p2"           # Go with its default GOMAXPROCS on this 2-CPU machine
ECHO_TARGET_CONNS = ("64", "1000")

# Lower is better for these metrics; higher for msgs_per_s.
HIGHER_BETTER = {"msgs_per_s"}


def read_env(path):
    env = collections.OrderedDict()
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def read_tsv(path, ncols):
    rows = []
    if os.path.exists(path):
        for line in open(path):
            parts = line.rstrip("\n").split("\t")
            if len(parts) == ncols:
                rows.append(parts)
    return rows


def fnum(x):
    try:
        return float(x)
    except ValueError:
        return None


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 100000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fratio(v, digits=2):
    return "—" if v is None else f"{v:.{digits}f}"


def median(xs):
    return statistics.median(xs) if xs else None


def load_targets(path):
    """Lines: name metric procs check value [comment]; check is ratio<=,
    ratio>=, <= or >= (absolute); procs * matches any."""
    targets = []
    if os.path.exists(path):
        for line in open(path):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            f = line.split()
            if len(f) >= 5:
                targets.append((f[0], f[1], f[2], f[3], float(f[4])))
    return targets


def check(op, value, limit):
    if value is None:
        return None
    return {"<=": value <= limit, ">=": value >= limit}[op]


def core_section(rows, targets, lines, missed):
    # (name, metric, procs) -> impl -> {round: value}
    data = collections.defaultdict(lambda: collections.defaultdict(dict))
    failures = []
    for r, impl, procs, name, metric, value in rows:
        if metric == "exit":
            failures.append(f"{impl} `{name}` at procs={procs}, round {r}: exit status {value}")
            continue
        v = fnum(value)
        if v is not None:
            data[(name, metric, procs)][impl][r] = v
    if not data and not failures:
        lines.append("No core results yet (run `bench/run.sh`).\n")
        return
    nrounds = len({r for r, *_ in rows})
    lines.append(f"Median of {nrounds} interleaved rounds (each round runs goring and Go "
                 "back to back for every pair and procs value, alternating which goes first). "
                 "ratio = goring median / Go median; the range is the per-round goring/Go "
                 "ratio's min–max. Lower is better for every metric here.\n")
    lines.append("| benchmark | metric | procs | goring | Go | ratio | per-round ratios | target | |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for (name, metric, procs) in sorted(data, key=lambda k: (k[0], k[1], int(k[2]))):
        d = data[(name, metric, procs)]
        g, o = d.get("goring", {}), d.get("go", {})
        mg, mo = median(list(g.values())), median(list(o.values()))
        ratio = mg / mo if mg is not None and mo else None
        paired = [g[r] / o[r] for r in g if r in o and o[r]]
        spread = f"{min(paired):.2f}–{max(paired):.2f}" if paired else "—"
        tdesc, verdict = "", ""
        for tn, tm, tp, op, lim in targets:
            if tn == name and tm == metric and tp in ("*", procs):
                if op.startswith("ratio"):
                    ok = check(op[5:], ratio, lim)
                    tdesc = f"ratio {op[5:]} {lim:g}"
                else:
                    ok = check(op, mg, lim)
                    tdesc = f"{op} {lim:g}"
                verdict = "—" if ok is None else ("met" if ok else "**missed**")
                if ok is False:
                    missed.append(f"core `{name}` {metric} at procs={procs}: goring {fmt(mg)}, "
                                  f"Go {fmt(mo)}, ratio {fratio(ratio, 3)}; target {tdesc}")
        lines.append(f"| {name} | {metric} | {procs} | {fmt(mg)} | {fmt(mo)} | {fratio(ratio)} "
                     f"| {spread} | {tdesc} | {verdict} |")
    lines.append("")
    if failures:
        lines.append("Runs that failed (not in the medians):\n")
        lines.extend(f"- {f}" for f in failures)
        lines.append("")


def echo_section(rows, env, lines, missed):
    data = collections.defaultdict(lambda: collections.defaultdict(list))  # (c,s,label) -> metric -> [v]
    status = collections.defaultdict(set)
    labels = []
    for r, label, c, s, metric, value in rows:
        if label not in labels:
            labels.append(label)
        if metric in ("missing", "failed"):
            status[label].add(metric)
            continue
        v = fnum(value)
        if v is not None:
            data[(c, s, label)][metric].append(v)
    if not rows:
        lines.append("No echo results yet (run `bench/run.sh` or `bench/echo.sh`).\n")
        return
    nrounds = len({r for r, *_ in rows})
    lines.append(f"Median of {nrounds} interleaved round(s); {env.get('echo_client', '')}. "
                 "Client and server share the machine's CPUs, so server CPU seconds per million "
                 "messages (utime+stime from /proc/PID/stat around the measured run, all "
                 "threads) is the fairer efficiency figure. Servers: "
                 "goring_pN = examples/echo-server --procs N; go_p2 = bench/go/echo_server.go "
                 "(goroutine per connection, GOMAXPROCS 2); uring_single = "
                 "bench/echo_uring_single.c; uring_mt_p2 = bench/echo_uring_mt.c, 2 threads "
                 "with a ring each; epoll_p1 = bench/echo_epoll.c, 1 thread. Client CPU % is "
                 "echoload's own (100 = one CPU): near 100 the client, not the server, limits msgs/s.\n")
    for label in labels:
        if "missing" in status[label]:
            lines.append(f"- `{label}`: not built in this run, no numbers.")
        if "failed" in status[label]:
            lines.append(f"- `{label}`: did not start in some runs (see the run's log).")
    lines.append("")
    lines.append(f"| conns | size B | server | msgs/s | p50 us | p99 us | CPU s / M msgs | msgs/s ÷ {ECHO_BASE} | CPU ÷ {ECHO_BASE} | p99 ÷ {ECHO_GO} | client CPU % | errors |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    confs = sorted({(c, s) for (c, s, _) in data}, key=lambda k: (int(k[0]), int(k[1])))

    def med(c, s, label, m):
        return median(data.get((c, s, label), {}).get(m, []))

    for c, s in confs:
        base_rate, base_cpu = med(c, s, ECHO_BASE, "msgs_per_s"), med(c, s, ECHO_BASE, "cpu_s_per_M")
        go_p99 = med(c, s, ECHO_GO, "p99_us")
        for label in labels:
            if (c, s, label) not in data:
                continue
            rate, cpu, p99 = med(c, s, label, "msgs_per_s"), med(c, s, label, "cpu_s_per_M"), med(c, s, label, "p99_us")
            errs = sum(data[(c, s, label)].get("errors", []))
            rr = rate / base_rate if rate and base_rate else None
            cr = cpu / base_cpu if cpu and base_cpu else None
            pr = p99 / go_p99 if p99 and go_p99 else None
            lines.append(f"| {c} | {s} | {label} | {fmt(rate)} | {fmt(med(c, s, label, 'p50_us'))} | {fmt(p99)} "
                         f"| {fmt(cpu)} | {fratio(rr)} | {fratio(cr)} | {fratio(pr)} | {fmt(med(c, s, label, 'client_cpu_pct'))} | {errs:.0f} |")
    lines.append("")
    # targets, issue 3
    gr = [l for l in labels if l.startswith("goring")]
    lines.append(f"Targets (issue 3), at {' and '.join(ECHO_TARGET_CONNS)} connections: msgs/s ≥ 0.9 × "
                 f"{ECHO_BASE}, server CPU per message ≤ 1.1 × {ECHO_BASE}, p99 ≤ {ECHO_GO}.\n")
    if not gr or all((c, s, l) not in data for l in gr for c, s in confs):
        lines.append("goring's echo server has no numbers in this run: every echo target is **missed** (not measured).\n")
        missed.append("echo: goring's examples/echo-server not measured in this run")
        return
    lines.append("| server | conns | size B | msgs/s ÷ base | | CPU ÷ base | | p99 ÷ Go | |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for label in gr:
        for c, s in confs:
            if c not in ECHO_TARGET_CONNS or (c, s, label) not in data:
                continue
            rate, cpu, p99 = med(c, s, label, "msgs_per_s"), med(c, s, label, "cpu_s_per_M"), med(c, s, label, "p99_us")
            b_rate, b_cpu, g_p99 = med(c, s, ECHO_BASE, "msgs_per_s"), med(c, s, ECHO_BASE, "cpu_s_per_M"), med(c, s, ECHO_GO, "p99_us")
            rr = rate / b_rate if rate and b_rate else None
            cr = cpu / b_cpu if cpu and b_cpu else None
            pr = p99 / g_p99 if p99 and g_p99 else None
            v = [None if rr is None else rr >= 0.9, None if cr is None else cr <= 1.1, None if pr is None else pr <= 1.0]
            word = lambda ok: "—" if ok is None else ("met" if ok else "**missed**")
            lines.append(f"| {label} | {c} | {s} | {fratio(rr, 3)} | {word(v[0])} | {fratio(cr, 3)} | {word(v[1])} | {fratio(pr, 3)} | {word(v[2])} |")
            for ok, what, val, lim in zip(v, ("msgs/s ÷ " + ECHO_BASE, "CPU/msg ÷ " + ECHO_BASE, "p99 ÷ " + ECHO_GO),
                                         (rr, cr, pr), ("≥ 0.9", "≤ 1.1", "≤ 1.0")):
                if ok is False:
                    missed.append(f"echo `{label}` {c} conns {s} B: {what} = {fratio(val, 3)} (target {lim})")
    lines.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--targets", default=os.path.join(HERE, "targets.txt"))
    ap.add_argument("--notes", default=os.path.join(HERE, "RESULTS-notes.md"))
    a = ap.parse_args()
    env = read_env(os.path.join(a.out, "env.txt"))
    env.update(read_env(os.path.join(a.out, "echo_env.txt")))
    lines = ["# goring benchmark results", "",
             "Written by `bench/run.sh` (bench/report.py) from the run below; do not edit by hand: "
             "comments go in bench/RESULTS-notes.md, copied in at the end. "
             "How to run and how to read: bench/README.md.", "",
             "## Machine", ""]
    for k, label in (("date", "date"), ("cpu", "CPU"), ("cores", "cores"), ("mem", "memory"),
                     ("kernel", "kernel"), ("os", "OS"), ("cc", "compiler"), ("go", "Go"),
                     ("liburing", "liburing"), ("commit", "goring commit"),
                     ("load_before", "load average before"), ("load_after", "load average after")):
        if k in env:
            lines.append(f"- {label}: {env[k]}")
    lines.append("")
    lines.append("The machine is shared (other builds and tests may run at the same time): "
                 "read ratios and medians, not single times.\n")
    missed = []
    lines += ["## Core (issue 2): goring vs Go", ""]
    core_section(read_tsv(os.path.join(a.out, "core.tsv"), 6),
                 load_targets(a.targets), lines, missed)
    lines += ["## Echo (issue 3): goring vs Go, hand-written liburing and epoll", ""]
    echo_section(read_tsv(os.path.join(a.out, "echo.tsv"), 6), env, lines, missed)
    lines += ["## Targets missed in this run", ""]
    lines += [f"- {m}" for m in missed] if missed else ["None."]
    lines.append("")
    notes = a.notes
    if os.path.exists(notes):
        lines += ["## Notes", "", open(notes).read().strip(), ""]
    with open(a.results, "w") as f:
        f.write("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
