#!/usr/bin/python3
"""Turns one bench/run.sh result directory into results.md, plot.dat and scan.gp.

    report.py OUT_DIR                       write OUT_DIR/{results.md,plot.dat,scan.gp}
    report.py --splice RESULTS_MD DOC_MD    replace DOC_MD's text between the markers
                                            <!-- bench:results:begin/end --> with RESULTS_MD

runs.tsv lines: label, wall_s, maxrss_kib, exit, user_s, sys_s (from bench_timeit).
phases.tsv lines: label, run, phase, ms (reap's REAP_TRACE_PHASES output of timed runs).
pytest.tsv lines: config, per_test_s, overhead_s, session_s (pytest_overhead.py --tsv).
Writes procs.dat/procs.gp too (reap and the kill floor against N cooperative orphans).
"""
import json
import os
import statistics
import sys
from collections import defaultdict

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"

SCANS = ["300x10+3000", "1000x10+10000", "0x0+100000"]
TARGET_SCANS = ["300x10+3000", "1000x10+10000"]
SCAN_TOOLS = ["reap", "floor", "psutil", "lsof"]
MAIN = "1000x10+10000"


def load_runs(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 6:
                continue
            label, wall, rss, code, user, sys_ = parts[:6]
            runs[label].append({"wall": float(wall), "rss": int(rss), "exit": int(code),
                                "user": float(user), "sys": float(sys_)})
    return runs


def med(runs, label):
    r = runs.get(label)
    return statistics.median(x["wall"] for x in r) if r else None


def cpu(runs, label):
    r = runs.get(label)
    return statistics.median(x["user"] + x["sys"] for x in r) if r else None


def peak_rss_mib(runs, label):
    r = runs.get(label)
    return max(x["rss"] for x in r) / 1024 if r else None


def ms(v):
    if v is None:
        return "n/a"
    return f"{v * 1000:.1f} ms" if v < 10 else f"{v:.2f} s"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def mib(v):
    return "n/a" if v is None else f"{v:.1f} MiB"


def machine(out):
    info = {}
    try:
        with open(os.path.join(out, "machine.txt")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                info[k] = v
    except FileNotFoundError:
        pass
    return info


def verdict(ok, value, target, lower_is_better=True):
    if value is None:
        return "not measured"
    if ok:
        return "met"
    miss = (value / target - 1) * 100 if lower_is_better else (1 - value / target) * 100
    return f"**missed** by {miss:.0f}%"


def micro_table(out):
    path = os.path.join(out, "micro.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        data = json.load(f)
    lines = ["| benchmark | time per call | throughput |", "|---|---:|---:|"]
    for b in data.get("benchmarks", []):
        unit = b.get("time_unit", "ns")
        t = b["real_time"]
        tp = []
        if "bytes_per_second" in b:
            tp.append(f"{b['bytes_per_second'] / 2**20:.0f} MiB/s")
        if "items_per_second" in b:
            tp.append(f"{b['items_per_second'] / 1e6:.2f} M items/s")
        lines.append(f"| `{b['name']}` | {t:.1f} {unit} | {', '.join(tp)} |")
    return lines


def load_phases(path):
    """{label: {phase: median over runs of the run's total ms}} and phase order."""
    per_run = defaultdict(lambda: defaultdict(float))
    order = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 4:
                    continue
                label, run, phase, value = parts
                per_run[(label, run)][phase] += float(value)
                if phase not in order:
                    order.append(phase)
    except FileNotFoundError:
        return {}, []
    # reap's order of steps first, then any step this list does not know
    known = ["list", "scan", "plan", "signal and wait", "rescan", "act", "report"]
    order = [p for p in known if p in order] + [p for p in order if p not in known]
    by_label = defaultdict(lambda: defaultdict(list))
    for (label, _), phases in per_run.items():
        for phase in order:
            by_label[label][phase].append(phases.get(phase, 0.0))
    return ({label: {ph: statistics.median(v) for ph, v in d.items()}
             for label, d in by_label.items()}, order)


def load_pytest(path):
    rows = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 4:
                    rows[parts[0]] = [float(x) for x in parts[1:]]
    except FileNotFoundError:
        pass
    return rows


def proc_points(runs, kind):
    return sorted({int(k.split("/")[2]) for k in runs if k.startswith(f"proc/{kind}/")})


def write_dat(path, header, xs, medians_of):
    """A gnuplot data file: the header, then per x its medians in ms ("nan" where missing)."""
    with open(path, "w") as f:
        f.write(header + "\n")
        for n in xs:
            f.write(f"{n} " + " ".join("nan" if v is None else f"{v * 1000:.3f}"
                                       for v in medians_of(n)) + "\n")

def write_report(out):
    runs = load_runs(os.path.join(out, "runs.tsv"))
    phases, phase_order = load_phases(os.path.join(out, "phases.tsv"))
    info = machine(out)
    L = []
    targets = []  # (target, measured, verdict) for the summary table

    def target(name, text, value, limit, lower=True):
        ok = value is not None and (value <= limit if lower else value >= limit)
        v = verdict(ok, value, limit, lower)
        targets.append((name, text, v))
        return v

    L.append(f"Run of {info.get('date', '?')}, {info.get('rounds', '?')} alternating rounds per "
             "comparison (tools rotated every round, after one untimed validation run each); "
             "figures are medians of wall time of the whole command, peak RSS is the maximum "
             "over the runs (wait4 rusage).")
    L.append("")
    L.append("Machine: " + ", ".join(f"{k} {info[k]}" for k in (
        "cpu", "cpus", "mem", "os", "kernel", "virt") if info.get(k)) +
        f"; {info.get('base_processes', '?')} processes before the population was added; "
        f"{info.get('compiler', '')}; {info.get('python', '')} with psutil "
        f"{info.get('psutil', '?')}; lsof {info.get('lsof', '?')}; {info.get('reap', 'reap ?')}. "
        f"Load average (1, 5, 15 min) before the run {info.get('load_before', '?')}, after "
        f"{info.get('load_after', '?')}.")
    L.append("")

    # ---- target 1: process reap vs the kill floor
    rows = [(f"proc/{k}/{n}", k, n) for k in ("coop", "ignore", "ns-coop")
            for n in proc_points(runs, k)]
    if rows:
        L.append("### 1. process reap vs the kill floor (target: reap / floor <= 1.3)")
        L.append("")
        L.append("| orphans | reap | kill floor | reap / floor | verdict | reference "
                 "(ref_reap.py) | reference / reap | reap peak RSS |")
        L.append("|---|---:|---:|---:|---|---:|---:|---:|")
        names = {"coop": "cooperative (die on SIGINT)",
                 "ignore": "ignoring SIGINT (need SIGKILL)",
                 "ns-coop": "cooperative, in a private PID namespace"}
        for base, k, n in rows:
            a, f, ref = (med(runs, f"{base}/{t}") for t in ("reap", "floor", "ref"))
            r = a / f if a and f else None
            text = ratio(a, f)
            v = (target(f"{n} {names[k]}: reap / kill floor <= 1.3", text, r, 1.3)
                 if k == "ns-coop" or n == 300 else verdict(r is not None and r <= 1.3, r, 1.3))
            L.append(f"| {n:,} {names[k]} | {ms(a)} | {ms(f)} | {text} | {v} | {ms(ref)} | "
                     f"{ratio(ref, a)} | {mib(peak_rss_mib(runs, f'{base}/reap'))} |")
        L.append("")
        L.append("Kill floor: `bench_kill_floor` handed the victims' pids (pidfd_open each, "
                 "SIGINT, or SIGKILL for the SIGINT-ignoring population, epoll until all "
                 "exited). The plot below has reap and the floor against N (cooperative).")
        L.append("")

    # ---- target 2: shm dry run vs the floor
    if any(k.startswith("scan/") and not k.startswith("scan/plot-") for k in runs):
        scan_table(L, runs, target)
    p_main, r_main = med(runs, f"scan/{MAIN}/psutil"), med(runs, f"scan/{MAIN}/reap")
    if p_main and r_main:
        target(f"(PRODUCT.md) psutil at least 8x slower than reap at {MAIN}",
               ratio(p_main, r_main), p_main / r_main, 8, lower=False)

    # ---- target 3: no candidates
    v_ver = med(runs, "nocand/version")
    if v_ver is not None:
        L.append("### 3. a sweep with no candidates vs `reap --version` (target: <= 1.5x)")
        L.append("")
        L.append("| case | reap | reap --version | ratio | verdict | reap peak RSS |")
        L.append("|---|---:|---:|---:|---|---:|")
        cases = {"empty": "dry run of an empty dir (`-n --shm-only`)",
                 "other": "real sweep of a dir of 100 other-uid files (`--shm-only`)"}
        for c, text in cases.items():
            a = med(runs, f"nocand/{c}")
            if a is None:
                continue
            v = target(f"no candidates, {text}: <= 1.5x reap --version", ratio(a, v_ver),
                       a / v_ver if v_ver else None, 1.5)
            L.append(f"| {text} | {ms(a)} | {ms(v_ver)} | {ratio(a, v_ver)} | {v} | "
                     f"{mib(peak_rss_mib(runs, f'nocand/{c}'))} |")
        L.append("")
        L.append("300 idle processes of the benchmark are alive meanwhile, so a /proc scan "
                 "would show.")
        L.append("")

    # ---- target 4: scale
    sweeps = sorted({k.split("/")[1] for k in runs if k.startswith("sweep/")}, key=int)
    huges = sorted({k.split("/")[1] for k in runs if k.startswith("huge/")}, key=int)
    rss_main = peak_rss_mib(runs, f"scan/{MAIN}/reap")
    if sweeps or huges or rss_main is not None:
        L.append("### 4. scale: real sweeps of unheld segments, peak RSS")
        L.append("")
        L.append("| segments | reap | find -delete | floor (--unlink) | psutil (--unlink) "
                 "| reap / find | verdict (<= 0.8) | reap peak RSS |")
        L.append("|---|---:|---:|---:|---:|---:|---|---:|")
        for kind, counts in (("sweep", sweeps), ("huge", huges)):
            for n in counts:
                m = {t: med(runs, f"{kind}/{n}/{t}") for t in ("reap", "find", "floor", "psutil")}
                r = m["reap"] / m["find"] if m["reap"] and m["find"] else None
                v = (target(f"{int(n):,} unheld swept: reap / find <= 0.8",
                            ratio(m["reap"], m["find"]), r, 0.8)
                     if kind == "sweep" else "(no target)")
                L.append(f"| {int(n):,} | {ms(m['reap'])} | {ms(m['find'])} | "
                         f"{ms(m['floor'])} | {ms(m['psutil'])} | {ratio(m['reap'], m['find'])} "
                         f"| {v} | {mib(peak_rss_mib(runs, f'{kind}/{n}/reap'))} |")
        L.append("")
        L.append("`find DIR -maxdepth 1 -type f -user 65534 -delete` on an identical directory, "
                 "refilled before every run; the directory must be empty afterwards.")
        L.append("")
        for n in huges:
            rss = peak_rss_mib(runs, f"huge/{n}/reap")
            target(f"{int(n):,} unheld swept: peak RSS <= 64 MiB", mib(rss), rss, 64)
        if rss_main is not None:
            target(f"peak RSS at {MAIN} <= 16 MiB", mib(rss_main), rss_main, 16)

    # ---- target 5: pytest
    pt = load_pytest(os.path.join(out, "pytest.tsv"))
    if pt:
        L.append("### 5. the pytest plugin's cost per test (target: <= 2 ms)")
        L.append("")
        L.append("| config | median per test | overhead per test | verdict | session cost |")
        L.append("|---|---:|---:|---|---:|")
        for name, (per, over, session) in pt.items():
            if name == "plain":
                L.append(f"| plugin off | {per * 1e3:.3f} ms | | | |")
                continue
            v = target(f"pytest plugin, `{name}`: overhead per test <= 2 ms",
                       f"{over * 1e3:.3f} ms", over, 0.002)
            L.append(f"| `{name}` | {per * 1e3:.3f} ms | {over * 1e3:.3f} ms | {v} | "
                     f"{session * 1e3:.0f} ms |")
        L.append("")

    # ---- summary
    L.append("### targets (medians, this machine)")
    L.append("")
    L.append("| target | measured | verdict |")
    L.append("|---|---:|---|")
    for name, text, v in targets:
        L.append(f"| {name} | {text} | {v} |")
    L.append("")

    # ---- where the time goes
    if phases:
        L.append("### where reap's time goes (REAP_TRACE_PHASES, median per phase over the "
                 "timed runs)")
        L.append("")
        L.append("| run | wall | " + " | ".join(phase_order) + " | outside the phases |")
        L.append("|---|---:|" + "---:|" * (len(phase_order) + 1))
        for label in sorted(phases, key=label_key):
            p = phases[label]
            wall = med(runs, label)
            inside = sum(p.values()) / 1e3
            rest = ms(wall - inside) if wall is not None else "n/a"
            L.append(f"| {label} | {ms(wall)} | " +
                     " | ".join(f"{p[ph]:.1f} ms" if p.get(ph) else "" for ph in phase_order)
                     + f" | {rest} |")
        L.append("")
        L.append("A phase that runs more than once in a run (plan, signal and wait, rescan "
                 "rounds) is summed per run. \"Outside\" is the median wall time minus the "
                 "median phases: process start, option parsing, exit.")
        L.append("")

    # ---- plots
    points = sorted({int(k.split("/")[1][5:]) for k in runs if k.startswith("scan/plot-")})
    write_dat(os.path.join(out, "plot.dat"),
              "# holders(x10 segments, +1000 unheld)  " + "  ".join(SCAN_TOOLS) + "  (ms)",
              points, lambda n: [med(runs, f"scan/plot-{n}/{t}") for t in SCAN_TOOLS])
    with open(os.path.join(out, "scan.gp"), "w") if points else open(os.devnull, "w") as f:
        f.write(f"""set terminal pngcairo size 900,560 font ",11" noenhanced
set output "scan.png"
set title "shm scan (dry run): holders x 10 segments + 1000 unheld, median wall time"
set xlabel "holder processes"
set ylabel "milliseconds (log scale)"
set logscale y
set grid xtics ytics mytics
set key top left
set xtics ({", ".join(str(n) for n in points)})
plot "plot.dat" using 1:2 with linespoints lw 2 pt 7 title "reap -n --shm-only --json", \\
     "plot.dat" using 1:3 with linespoints lw 2 pt 5 title "floor (C++, 1 thread)", \\
     "plot.dat" using 1:4 with linespoints lw 2 pt 9 title "psutil algorithm", \\
     "plot.dat" using 1:5 with linespoints lw 2 pt 11 title "lsof +D DIR"
""")
    npoints = proc_points(runs, "coop")
    write_dat(os.path.join(out, "procs.dat"), "# cooperative orphans  reap  kill_floor  (ms)",
              npoints, lambda n: [med(runs, f"proc/coop/{n}/{t}") for t in ("reap", "floor")])
    with open(os.path.join(out, "procs.gp"), "w") if npoints else open(os.devnull, "w") as f:
        f.write(f"""set terminal pngcairo size 900,560 font ",11" noenhanced
set output "procs.png"
set title "process reap of N cooperative orphans, median wall time"
set xlabel "orphans (log scale)"
set ylabel "milliseconds (log scale)"
set logscale xy
set grid xtics ytics mytics
set key bottom right
set xrange [{min(npoints or [1]) / 1.5}:{max(npoints or [1]) * 1.5}]
set xtics ({", ".join(str(n) for n in npoints)})
plot "procs.dat" using 1:2 with linespoints lw 2 pt 7 title "reap --cwd --match --adopter", \\
     "procs.dat" using 1:3 with linespoints lw 2 pt 5 title "kill floor (pidfd_open, signal, epoll)"
""")
    if npoints:
        L.append("### process reap time against orphans")
        L.append("")
        L.append("![process reap against orphans](../bench/results/procs.png)")
        L.append("")
        L.append("| cooperative orphans | reap | kill floor | reap / floor |")
        L.append("|---|---:|---:|---:|")
        for n in npoints:
            a, b = med(runs, f"proc/coop/{n}/reap"), med(runs, f"proc/coop/{n}/floor")
            L.append(f"| {n:,} | {ms(a)} | {ms(b)} | {ratio(a, b)} |")
        L.append("")
    if points:
        L.append("### scan time against holder processes")
        L.append("")
        L.append("![scan time against holders](../bench/results/scan.png)")
        L.append("")
        L.append("| holders x 10 + 1000 unheld | " + " | ".join(SCAN_TOOLS) + " |")
        L.append("|---|" + "---:|" * len(SCAN_TOOLS))
        for n in points:
            L.append(f"| {n} | " + " | ".join(ms(med(runs, f"scan/plot-{n}/{t}"))
                                              for t in SCAN_TOOLS) + " |")
        L.append("")

    micro = micro_table(out)
    if micro:
        L.append("### parser micro-benchmarks (bench_proc_parse, Google Benchmark)")
        L.append("")
        L.extend(micro)
        L.append("")

    # all runs, for the spread
    L.append("<details><summary>every label: runs, median, min, max, peak RSS, exit codes"
             "</summary>")
    L.append("")
    L.append("| label | n | median | min | max | user+sys (median) | peak RSS | exit |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for label in sorted(runs, key=label_key):
        r = runs[label]
        walls = [x["wall"] for x in r]
        cpu_med = statistics.median(x["user"] + x["sys"] for x in r)
        codes = ",".join(sorted({str(x["exit"]) for x in r}))
        L.append(f"| {label} | {len(r)} | {ms(statistics.median(walls))} | {ms(min(walls))} | "
                 f"{ms(max(walls))} | {ms(cpu_med)} | {mib(peak_rss_mib(runs, label))} | {codes} |")
    L.append("")
    L.append("</details>")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def scan_table(L, runs, target):
    L.append("### 2. shm scan (dry run) vs the single-threaded floor (target: reap / floor <= "
             "0.8 at 300x10+3000 and 1000x10+10000)")
    L.append("")
    L.append("| population | reap | floor | psutil | lsof | reap / floor | verdict "
             "| psutil / reap | lsof / reap | reap peak RSS | reap / floor, CPU time |")
    L.append("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for sc in SCANS:
        m = {t: med(runs, f"scan/{sc}/{t}") for t in SCAN_TOOLS}
        if all(v is None for v in m.values()):
            continue
        r = m["reap"] / m["floor"] if m["reap"] and m["floor"] else None
        if sc in TARGET_SCANS:
            v = target(f"shm dry run at {sc}: reap / floor <= 0.8", ratio(m["reap"], m["floor"]),
                       r, 0.8)
        else:
            v = "(no target)"
        L.append(f"| {sc} | {ms(m['reap'])} | {ms(m['floor'])} | {ms(m['psutil'])} | "
                 f"{ms(m['lsof'])} | {ratio(m['reap'], m['floor'])} | {v} | "
                 f"{ratio(m['psutil'], m['reap'])} | {ratio(m['lsof'], m['reap'])} | "
                 f"{mib(peak_rss_mib(runs, f'scan/{sc}/reap'))} | "
                 f"{ratio(cpu(runs, f'scan/{sc}/reap'), cpu(runs, f'scan/{sc}/floor'))} |")
    L.append("")


def label_key(label):
    """Sorts labels with their numbers in numeric order (proc/coop/100 before proc/coop/1000)."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in label.split("/")]


def splice(results_md, doc_md):
    with open(results_md) as f:
        new = f.read()
    with open(doc_md) as f:
        doc = f.read()
    a, b = doc.find(BEGIN), doc.find(END)
    if a < 0 or b < a:
        sys.exit(f"report.py: {doc_md} lacks the markers {BEGIN} / {END}")
    doc = doc[:a + len(BEGIN)] + "\n" + new + doc[b:]
    with open(doc_md, "w") as f:
        f.write(doc)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--splice":
        splice(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2:
        write_report(sys.argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
