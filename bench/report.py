#!/usr/bin/python3
"""Turns one bench/run.sh result directory into results.md, plot.dat and scan.gp.

    report.py OUT_DIR                       write OUT_DIR/{results.md,plot.dat,scan.gp}
    report.py --splice RESULTS_MD DOC_MD    replace DOC_MD's text between the markers
                                            <!-- bench:results:begin/end --> with RESULTS_MD

runs.tsv lines: label, wall_s, maxrss_kib, exit, user_s, sys_s (from bench_timeit).
"""
import json
import os
import statistics
import sys
from collections import defaultdict

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"

SCANS = ["200x10+500", "1000x10+10000", "0x0+100000"]
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


def write_report(out):
    runs = load_runs(os.path.join(out, "runs.tsv"))
    info = machine(out)
    L = []
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

    # scan table
    L.append("### shm scan (dry run), holders x segments + unheld")
    L.append("")
    L.append("| population | reap | floor | psutil | lsof | reap / floor | psutil / reap "
             "| lsof / reap | reap peak RSS | reap / floor, CPU time |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in SCANS:
        m = {t: med(runs, f"scan/{sc}/{t}") for t in SCAN_TOOLS}
        if all(v is None for v in m.values()):
            continue
        L.append(f"| {sc} | {ms(m['reap'])} | {ms(m['floor'])} | {ms(m['psutil'])} | "
                 f"{ms(m['lsof'])} | {ratio(m['reap'], m['floor'])} | "
                 f"{ratio(m['psutil'], m['reap'])} | {ratio(m['lsof'], m['reap'])} | "
                 f"{mib(peak_rss_mib(runs, f'scan/{sc}/reap'))} | "
                 f"{ratio(cpu(runs, f'scan/{sc}/reap'), cpu(runs, f'scan/{sc}/floor'))} |")
    L.append("")

    # sweep table
    sweeps = sorted({k.split("/")[1] for k in runs if k.startswith("sweep/")}, key=int)
    if sweeps:
        L.append("### real sweep (unlink) of unheld segments, no holders")
        L.append("")
        L.append("| segments | reap | floor (--unlink) | psutil (--unlink) | reap / floor "
                 "| psutil / reap | reap peak RSS |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        for n in sweeps:
            m = {t: med(runs, f"sweep/{n}/{t}") for t in ("reap", "floor", "psutil")}
            L.append(f"| {int(n):,} | {ms(m['reap'])} | {ms(m['floor'])} | {ms(m['psutil'])} | "
                     f"{ratio(m['reap'], m['floor'])} | {ratio(m['psutil'], m['reap'])} | "
                     f"{mib(peak_rss_mib(runs, f'sweep/{n}/reap'))} |")
        L.append("")

    # process reap table
    kinds = [k for k in ("coop", "ignore") if f"reap/{k}/reap" in runs]
    if kinds:
        L.append("### process reap: 300 leaked orphans, whole command")
        L.append("")
        L.append("| victims | reap | reference (ref_reap.py) | reference / reap | reap peak RSS |")
        L.append("|---|---:|---:|---:|---:|")
        names = {"coop": "300 cooperative (die on SIGINT)",
                 "ignore": "300 ignoring SIGINT (need SIGKILL)"}
        for k in kinds:
            a, b = med(runs, f"reap/{k}/reap"), med(runs, f"reap/{k}/ref")
            L.append(f"| {names[k]} | {ms(a)} | {ms(b)} | {ratio(b, a)} | "
                     f"{mib(peak_rss_mib(runs, f'reap/{k}/reap'))} |")
        L.append("")

    # targets
    r_main = med(runs, f"scan/{MAIN}/reap")
    f_main = med(runs, f"scan/{MAIN}/floor")
    p_main = med(runs, f"scan/{MAIN}/psutil")
    rss_main = peak_rss_mib(runs, f"scan/{MAIN}/reap")
    coop = med(runs, "reap/coop/reap")
    ign = med(runs, "reap/ignore/reap")
    sweep = med(runs, "sweep/100000/reap")
    L.append("### targets (medians, this machine)")
    L.append("")
    L.append("| target | measured | verdict |")
    L.append("|---|---:|---|")

    def row(name, value_text, ok, value, target, lower=True):
        L.append(f"| {name} | {value_text} | {verdict(ok, value, target, lower)} |")

    rf = r_main / f_main if r_main and f_main else None
    row(f"scan at {MAIN} at or below the single-threaded floor (reap / floor <= 1.00)",
        ratio(r_main, f_main), rf is not None and rf <= 1.0, rf, 1.0)
    row(f"scan at {MAIN} within 1.25x of the floor (PRODUCT.md)", ratio(r_main, f_main),
        rf is not None and rf <= 1.25, rf, 1.25)
    pr = p_main / r_main if p_main and r_main else None
    row(f"scan at {MAIN} at least 8x faster than psutil", ratio(p_main, r_main),
        pr is not None and pr >= 8, pr, 8, lower=False)
    row(f"reap peak RSS at {MAIN} under 16 MiB", mib(rss_main),
        rss_main is not None and rss_main < 16, rss_main, 16)
    row("300 cooperative orphans reaped in at most 50 ms", ms(coop),
        coop is not None and coop <= 0.050, coop, 0.050)
    row("300 SIGINT-ignoring orphans reaped in at most 50 ms", ms(ign),
        ign is not None and ign <= 0.050, ign, 0.050)
    row("(PRODUCT.md: 300 SIGINT-ignoring orphans in 100 ms)", ms(ign),
        ign is not None and ign <= 0.100, ign, 0.100)
    row("100,000 unheld segments swept (real) in at most 1 s", ms(sweep),
        sweep is not None and sweep <= 1.0, sweep, 1.0)
    L.append("")

    # plot
    points = sorted({int(k.split("/")[1][5:]) for k in runs if k.startswith("scan/plot-")})
    with open(os.path.join(out, "plot.dat"), "w") as f:
        f.write("# holders(x10 segments, +1000 unheld)  " + "  ".join(SCAN_TOOLS) + "  (ms)\n")
        for n in points:
            vals = [med(runs, f"scan/plot-{n}/{t}") for t in SCAN_TOOLS]
            f.write(f"{n} " + " ".join("nan" if v is None else f"{v * 1000:.3f}" for v in vals)
                    + "\n")
    with open(os.path.join(out, "scan.gp"), "w") as f:
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
    for label in sorted(runs):
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
