"""Summarise a bench_cuda.py JSON (pytest --benchmark-json) as a Markdown table:
per workload, fastnn's and torch's best time per call, torch time / fastnn
time, and for the memory-bound ones the bandwidth reached as a share of the
copy's.
Usage: python bench/gpu_table.py bench_cuda.json"""
import json
import re
import sys


def main(path):
    runs = {}
    for b in json.load(open(path))["benchmarks"]:
        name, impl = re.match(r"test_gpu\[(\w+)-(.+)\]", b["name"]).groups()
        runs.setdefault(name, {"group": b["group"]})[impl] = b
    copy = max(b["extra_info"]["GB/s"] for k, b in runs.get("copy", {}).items() if k != "group")
    print(f"copy bandwidth (best of fastnn and torch): {copy:.0f} GB/s\n")
    print("| workload | fastnn | torch | torch / fastnn | fastnn GB/s (% of copy) "
          "| raw kernel | kernel GB/s (% of copy) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    def per_call(b):
        return b["stats"]["min"] / b["extra_info"].get("calls", 1)

    for name, r in runs.items():
        ours = r.get("fastnn")
        if ours is None:
            continue
        t = per_call(ours)
        others = [f"{per_call(r[k]) * 1e6:.0f} us{' (' + k[6:] + ')' if k != 'torch' else ''}"
                  for k in ("torch", "torch-tf32") if k in r]
        ratios = [f"{per_call(r[k]) / t:.2f}x" for k in ("torch", "torch-tf32") if k in r]
        raw = r.get("fastnn-kernel")
        cells = []
        for b in (ours, raw):
            bw = b["extra_info"].get("GB/s") if b else None
            cells.append(f"{bw:.0f} ({100 * bw / copy:.0f} %)" if bw else "")
        raw_t = f"{per_call(raw) * 1e6:.0f} us" if raw else ""
        print(f"| {r['group']} | {t * 1e6:.0f} us | {', '.join(others)} | {', '.join(ratios)} | {cells[0]} "
              f"| {raw_t} | {cells[1]} |")


if __name__ == "__main__":
    main(sys.argv[1])
