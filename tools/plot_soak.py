"""Plots a soak table (the Markdown rows `valvctl bench --soak-minutes` prints) as a PNG:
p50 and p99 latency (and the disk's own flush p99 when the table has it), and the server's
resident memory and open files, per minute; or several
runs side by side (p99 on a log scale, and memory), each table with its label.

    python3 tools/plot_soak.py soak.md soak.png     (needs matplotlib)
    python3 tools/plot_soak.py --compare out.png "256 MiB=a/soak.md" "64 MiB=b/soak.md"
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(path):
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        # 8 columns, or 10 with the disk probe's flush p50 and p99.
        if len(cells) in (8, 10) and cells[0].isdigit():
            yield [float(c) if c not in ("–", "") else float("nan") for c in cells]


def main(source, target):
    data = list(rows(source))
    minute = [r[0] for r in data]
    fig, (lat, mem) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    lat.plot(minute, [r[4] for r in data], label="p50")
    lat.plot(minute, [r[5] for r in data], label="p99")
    if data and len(data[0]) == 10:
        # The disk probe's own flushes in the data directory: a slow disk shows here too.
        lat.plot(minute, [r[9] for r in data], label="disk flush p99", linestyle="--")
    lat.set_ylabel("latency (ms)")
    lat.set_ylim(bottom=0)
    lat.legend()
    lat.set_title("Soak: latency, memory and open files per minute")
    mem.plot(minute, [r[6] for r in data], label="server RSS (MiB)", color="tab:green")
    mem.set_ylabel("RSS (MiB)")
    mem.set_ylim(bottom=0)
    files = mem.twinx()
    files.plot(minute, [r[7] for r in data], label="open files", color="tab:red")
    files.set_ylabel("open files")
    files.set_ylim(bottom=0)
    mem.set_xlabel("minute")
    mem.legend(loc="lower left")
    files.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(target, dpi=100)


def compare(target, runs):
    fig, (lat, mem) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for run in runs:
        label, source = run.split("=", 1)
        data = list(rows(source))
        minute = [r[0] for r in data]
        lat.plot(minute, [r[5] for r in data], label=f"p99, {label}")
        mem.plot(minute, [r[6] for r in data], label=f"RSS, {label}")
    lat.set_yscale("log")
    lat.set_ylabel("p99 latency (ms, log)")
    lat.legend()
    lat.set_title("Soaks side by side: p99 latency and server memory per minute")
    mem.set_ylabel("RSS (MiB)")
    mem.set_ylim(bottom=0)
    mem.set_xlabel("minute")
    mem.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(target, dpi=100)


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3:])
    else:
        main(sys.argv[1], sys.argv[2])
