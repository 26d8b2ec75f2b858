#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the benchmark's XPN-BENCH lines into bench.json, bench.md, bench.png.

Usage: bench-report.py SERIAL_LOG OUTDIR LAB_DESCRIPTION
"""
import json
import random
import re
import statistics
import sys

DRIVERS = ["xen_pv_net", "xen-netfront", "xen_pv_net-trusted", "xen-netfront-trusted0", "e1000"]
LABELS = {
    "xen_pv_net": "xen_pv_net",
    "xen-netfront": "xen-netfront (C)",
    "xen_pv_net-trusted": "xen_pv_net trusted=1",
    "xen-netfront-trusted0": "xen-netfront trusted=0",
    "e1000": "e1000 (emulated)",
}
# What each trust mode costs: (numerator, denominator, label).
MODE_RATIOS = [
    ("xen_pv_net", "xen_pv_net-trusted", "ours: default (TX copied) / trusted=1 (zero-copy)"),
    ("xen-netfront-trusted0", "xen-netfront", "C: trusted=0 (bounce) / default"),
    ("xen_pv_net", "xen-netfront-trusted0", "ours default / C trusted=0 (both safe)"),
]
# metric: (label, unit, higher is better)
METRICS = {
    "tcp_tx": ("TCP guest->dom0", "Mbit/s", True),
    "tcp_rx": ("TCP dom0->guest", "Mbit/s", True),
    "udp_pps": ("UDP 64 B, unthrottled", "packets/s", True),
    "rtt_avg_ms": ("ping RTT average", "ms", False),
    "rtt_p99_ms": ("ping RTT p99", "ms", False),
    "cpu_s_per_gb": ("guest CPU per GB moved", "CPU s/GB", False),
}
# Where the host's CPUs went and what happened to the UDP packets: shown
# beside the benchmark, not compared (optional: older logs lack them).
# metric: (label, unit)
DIAG = {
    "udp_sent_pps": ("UDP 64 B sent by the guest", "packets/s"),
    "udp_lost_pct": ("UDP 64 B lost in dom0", "% of sent"),
}
TESTS = {"tcp_tx": "TCP guest->dom0", "tcp_rx": "TCP dom0->guest", "udp": "UDP 64 B"}
for _t, _label in TESTS.items():
    DIAG[f"host_{_t}_dom0"] = (f"{_label}: dom0", "host CPUs")
    DIAG[f"host_{_t}_domU"] = (f"{_label}: domU", "host CPUs")
LINE = re.compile(r"XPN-BENCH round=(\d+) driver=(\S+) metric=(\S+) value=(\S+)")
# The headline comparisons: their intervals are the benchmark's target.
HEADLINE = ("tcp_tx", "tcp_rx", "udp_pps")
TARGET = 0.10
RESAMPLES = 10000


def bootstrap_ratio(a, b, rng):
    """Ratio of the means of a and b with a 95% percentile bootstrap
    interval: each driver's rounds are resampled with replacement, on their
    own (the two drivers' rounds are separate measurements)."""
    point = statistics.fmean(a) / statistics.fmean(b)
    ratios = []
    for _ in range(RESAMPLES):
        ma = statistics.fmean(rng.choices(a, k=len(a)))
        mb = statistics.fmean(rng.choices(b, k=len(b)))
        if mb > 0:
            ratios.append(ma / mb)
    ratios.sort()
    lo = ratios[int(0.025 * len(ratios))]
    hi = ratios[min(len(ratios) - 1, int(0.975 * len(ratios)))]
    return point, lo, hi


def main():
    log, outdir, desc = sys.argv[1], sys.argv[2], sys.argv[3]
    # A run the lab's emulation ended early: only its complete rounds, with
    # a note saying so (see scripts/bench.sh).
    last = int(sys.argv[4]) if len(sys.argv) > 4 else None
    note = sys.argv[5] if len(sys.argv) > 5 else ""
    raw = {}
    with open(log, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            rnd, drv, met, val = int(m[1]), m[2], m[3], m[4]
            if last is not None and rnd > last:
                continue
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
                "mean": statistics.fmean(vals),
                "median": statistics.median(vals),
                "min": min(vals),
                "max": max(vals),
                "n": len(vals),
            }

    diag = {
        d: {m: statistics.fmean(v for _, v in raw[d][m]) for m in DIAG if raw.get(d, {}).get(m)}
        for d in DRIVERS
    }
    rng = random.Random(20261202)

    def ratio(a, b, met):
        point, lo, hi = bootstrap_ratio([v for _, v in raw[a][met]], [v for _, v in raw[b][met]], rng)
        better = METRICS[met][2]
        significant = lo > 1 or hi < 1
        return {
            "ratio": point,
            "ci95": [lo, hi],
            "half_width": (hi - lo) / 2 / point,
            "significant": significant,
            # whether the difference favours the numerator's driver
            "favours_numerator": significant and ((point > 1) == better),
        }

    rounds = re.search(r"XPN-BENCH-ROUNDS (\d+) vcpus=(\d+)", open(log, errors="replace").read())
    doc = {
        "lab": desc,
        "rounds": last if last is not None else (int(rounds[1]) if rounds else None),
        "note": note,
        "method": "ratios of the means over the rounds; 95% intervals by percentile bootstrap "
        f"({RESAMPLES} resamples of each driver's rounds)",
        "drivers": DRIVERS,
        "metrics": {k: {"label": v[0], "unit": v[1], "higher_is_better": v[2]} for k, v in METRICS.items()},
        "raw": {d: {m: [{"round": r, "value": v} for r, v in vals] for m, vals in ms.items()} for d, ms in raw.items()},
        "summary": summary,
        "ratios": {
            "ours_over_c": {m: ratio("xen_pv_net", "xen-netfront", m) for m in METRICS},
            "ours_over_e1000": {m: ratio("xen_pv_net", "e1000", m) for m in METRICS},
        },
        "diagnostics": {"metrics": {k: {"label": v[0], "unit": v[1]} for k, v in DIAG.items()}, "means": diag},
        "mode_ratios": {
            f"{a}/{b}": {"label": label, **{m: ratio(a, b, m) for m in METRICS}}
            for a, b, label in MODE_RATIOS
        },
    }
    doc["target_met"] = all(doc["ratios"]["ours_over_c"][m]["half_width"] <= TARGET for m in HEADLINE)
    with open(f"{outdir}/bench.json", "w") as f:
        json.dump(doc, f, indent=2)

    def fmt(m, x):
        return ("{:.0f}" if METRICS[m][1] in ("Mbit/s", "packets/s") else "{:.3g}").format(x)

    def cell(d, m):
        s = summary[d][m]
        return f"{fmt(m, s['mean'])} ({fmt(m, s['min'])}–{fmt(m, s['max'])}, n={s['n']})"

    def rcell(r):
        return f"{r['ratio']:.2f} [{r['ci95'][0]:.2f}–{r['ci95'][1]:.2f}]"

    ours_c = doc["ratios"]["ours_over_c"]
    sig = []
    for m, (label, _, _) in METRICS.items():
        r = ours_c[m]
        if r["significant"]:
            sig.append(f"{label} ({'in favour of' if r['favours_numerator'] else 'against'} xen_pv_net)")
    same = [METRICS[m][0] for m in METRICS if not ours_c[m]["significant"]]
    widest = max(ours_c[m]["half_width"] for m in HEADLINE)
    rows = [
        f"Lab: {desc}",
        "",
        f"{doc['rounds'] or '?'} interleaved rounds (the PV drivers in alternating order, their other trust modes every 2nd round, e1000 every 4th). "
        "Each cell: mean (min–max, number of rounds). Ratios are ratios of the means with a 95% "
        f"bootstrap interval in brackets ({RESAMPLES} resamples of each driver's rounds); for RTT "
        "and CPU/GB lower is better, so a ratio below 1 favours xen_pv_net."
        + (f" {note}" if note else ""),
        "",
        "| metric | " + " | ".join(LABELS[d] for d in DRIVERS) + " | ours/C [95% CI] | ours/e1000 [95% CI] |",
        "|---|" + "---|" * (len(DRIVERS) + 2),
    ]
    for m, (label, unit, _) in METRICS.items():
        rows.append(
            f"| {label} ({unit}) | " + " | ".join(cell(d, m) for d in DRIVERS)
            + f" | {rcell(ours_c[m])} | {rcell(doc['ratios']['ours_over_e1000'][m])} |"
        )
    rows += [
        "",
        "What the trust modes cost (ratios of the means, 95% bootstrap intervals; the trust-mode "
        "rows are measured every second round):",
        "",
        "| metric | " + " | ".join(label for _, _, label in MODE_RATIOS) + " |",
        "|---|" + "---|" * len(MODE_RATIOS),
    ]
    for m, (label, unit, _) in METRICS.items():
        rows.append(
            f"| {label} ({unit}) | "
            + " | ".join(rcell(doc["mode_ratios"][f"{a}/{b}"][m]) for a, b, _ in MODE_RATIOS)
            + " |"
        )
    if all(m in diag[d] for d in DRIVERS for m in DIAG):
        ncpu = re.search(r"on (\d+) host cores", desc)
        rows += [
            "",
            "Where the host's CPUs went during each test (means over the rounds: CPU seconds per "
            "second that Xen accounted to dom0 and to the domU, out of the lab's "
            f"{ncpu[1] if ncpu else '?'} CPUs), and what became of the UDP packets the guest sent:",
            "",
            "| | " + " | ".join(LABELS[d] for d in DRIVERS) + " |",
            "|---|" + "---|" * len(DRIVERS),
        ]
        for t, label in TESTS.items():
            a, b = f"host_{t}_dom0", f"host_{t}_domU"
            rows.append(
                f"| {label}: dom0 + domU (host CPUs) | "
                + " | ".join(f"{diag[d][a]:.2f} + {diag[d][b]:.2f} = {diag[d][a] + diag[d][b]:.2f}" for d in DRIVERS)
                + " |"
            )
        for m in ("udp_sent_pps", "udp_lost_pct"):
            label, unit = DIAG[m]
            fmt_ = "{:.0f}" if unit == "packets/s" else "{:.0f}%"
            rows.append(f"| {label} ({unit}) | " + " | ".join(fmt_.format(diag[d][m]) for d in DRIVERS) + " |")
    rows += [
        "",
        "Significant differences from xen-netfront (the interval excludes 1): "
        + ("; ".join(sig) if sig else "none")
        + ". "
        + ("Not significant: " + "; ".join(same) + "." if same else ""),
        "",
        f"The widest interval of the headline ratios (TCP both ways, UDP packets/s) is ±{widest * 100:.1f}%: "
        + ("within" if doc["target_met"] else "NOT within")
        + f" the benchmark's target of ±{TARGET * 100:.0f}%.",
    ]
    with open(f"{outdir}/bench.md", "w") as f:
        f.write("\n".join(rows) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    colors = {
        "xen_pv_net": "#d9531e",
        "xen-netfront": "#4a7ebb",
        "xen_pv_net-trusted": "#f0a07a",
        "xen-netfront-trusted0": "#9ab8de",
        "e1000": "#9a9a9a",
    }
    for ax, (m, (label, unit, better)) in zip(axes.flat, METRICS.items()):
        med = [summary[d][m]["mean"] for d in DRIVERS]
        lo = [summary[d][m]["mean"] - summary[d][m]["min"] for d in DRIVERS]
        hi = [summary[d][m]["max"] - summary[d][m]["mean"] for d in DRIVERS]
        ax.bar(DRIVERS, med, yerr=[lo, hi], capsize=4, color=[colors[d] for d in DRIVERS])
        ax.set_title(f"{label}\n({unit}, {'higher' if better else 'lower'} is better)", fontsize=10)
        if m in ("tcp_tx", "tcp_rx", "udp_pps"):
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelsize=7, labelrotation=20)
    fig.suptitle(f"xen_pv_net vs xen-netfront vs e1000 — {desc}", fontsize=10)
    fig.tight_layout()
    fig.savefig(f"{outdir}/bench.png", dpi=90)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
