#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the benchmark's XPN-BENCH lines into bench.json, bench.md, bench.png.

Usage: bench-report.py SERIAL_LOG OUTDIR LAB_DESCRIPTION
"""
import json
import re
import statistics
import sys

DRIVERS = ["xen_pv_net", "xen-netfront", "e1000"]
# metric: (label, unit, higher is better)
METRICS = {
    "tcp_tx": ("TCP guest->dom0", "Mbit/s", True),
    "tcp_rx": ("TCP dom0->guest", "Mbit/s", True),
    "udp_pps": ("UDP 64 B, unthrottled", "packets/s", True),
    "rtt_avg_ms": ("ping RTT average", "ms", False),
    "rtt_p99_ms": ("ping RTT p99", "ms", False),
    "cpu_s_per_gb": ("guest CPU per GB moved", "CPU s/GB", False),
}
LINE = re.compile(r"XPN-BENCH round=(\d+) driver=(\S+) metric=(\S+) value=(\S+)")


def main():
    log, outdir, desc = sys.argv[1], sys.argv[2], sys.argv[3]
    raw = {}
    with open(log, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            rnd, drv, met, val = int(m[1]), m[2], m[3], m[4]
            try:
                v = float(val)
            except ValueError:
                continue
            raw.setdefault(drv, {}).setdefault(met, []).append((rnd, v))
    for d in DRIVERS:
        for met in METRICS:
            if not raw.get(d, {}).get(met):
                sys.exit(f"bench-report: no {met} figures for {d}: the run is incomplete")
    summary = {}
    for d in DRIVERS:
        summary[d] = {}
        for met in METRICS:
            vals = [v for _, v in raw[d][met]]
            summary[d][met] = {
                "median": statistics.median(vals),
                "min": min(vals),
                "max": max(vals),
                "n": len(vals),
            }

    def ratio(a, b, met):
        x, y = summary[a][met]["median"], summary[b][met]["median"]
        return x / y if y else float("nan")

    doc = {
        "lab": desc,
        "drivers": DRIVERS,
        "metrics": {k: {"label": v[0], "unit": v[1], "higher_is_better": v[2]} for k, v in METRICS.items()},
        "raw": {d: {m: [{"round": r, "value": v} for r, v in vals] for m, vals in ms.items()} for d, ms in raw.items()},
        "summary": summary,
        "ratios": {
            "ours_over_c": {m: ratio("xen_pv_net", "xen-netfront", m) for m in METRICS},
            "ours_over_e1000": {m: ratio("xen_pv_net", "e1000", m) for m in METRICS},
        },
    }
    with open(f"{outdir}/bench.json", "w") as f:
        json.dump(doc, f, indent=2)

    def cell(d, m):
        s = summary[d][m]
        fmt = "{:.0f}" if METRICS[m][1] in ("Mbit/s", "packets/s") else "{:.3g}"
        return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}–{fmt.format(s['max'])})"

    rows = [
        f"Lab: {desc}",
        "",
        "Median (min–max) over the rounds; ratios compare medians "
        "(for RTT and CPU/GB lower is better, so a ratio below 1 favours xen_pv_net).",
        "",
        "| metric | xen_pv_net | xen-netfront (C) | e1000 (emulated) | ours/C | ours/e1000 |",
        "|---|---|---|---|---|---|",
    ]
    for m, (label, unit, _) in METRICS.items():
        rows.append(
            f"| {label} ({unit}) | {cell('xen_pv_net', m)} | {cell('xen-netfront', m)} | {cell('e1000', m)} "
            f"| {doc['ratios']['ours_over_c'][m]:.2f} | {doc['ratios']['ours_over_e1000'][m]:.2f} |"
        )
    with open(f"{outdir}/bench.md", "w") as f:
        f.write("\n".join(rows) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    colors = {"xen_pv_net": "#d9531e", "xen-netfront": "#4a7ebb", "e1000": "#9a9a9a"}
    for ax, (m, (label, unit, better)) in zip(axes.flat, METRICS.items()):
        med = [summary[d][m]["median"] for d in DRIVERS]
        lo = [summary[d][m]["median"] - summary[d][m]["min"] for d in DRIVERS]
        hi = [summary[d][m]["max"] - summary[d][m]["median"] for d in DRIVERS]
        ax.bar(DRIVERS, med, yerr=[lo, hi], capsize=4, color=[colors[d] for d in DRIVERS])
        ax.set_title(f"{label}\n({unit}, {'higher' if better else 'lower'} is better)", fontsize=10)
        if m in ("tcp_tx", "tcp_rx", "udp_pps"):
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"xen_pv_net vs xen-netfront vs e1000 — {desc}", fontsize=10)
    fig.tight_layout()
    fig.savefig(f"{outdir}/bench.png", dpi=90)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
