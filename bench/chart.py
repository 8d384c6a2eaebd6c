"""Draw the benchmark results as one PNG for the README: ``bench/results/chart.png``.

Reads ``bench/results/e2e.json`` (``bench/e2e.py``), ``bench/results/e2e-instructions.json``
(``bench/e2e_instructions.py``) and, when present, the micro suite's ratio
report (the newest of ``results/micro.json``, ``results/micro-N.json`` as ``bench/run.sh``
writes them, else the committed ``baseline/summary.json``); a panel whose input is missing is
left out. Every bar
is a ratio measured side by side in one run, as the JSON files record them::

    python bench/chart.py [--e2e PATH] [--instructions PATH] [--micro PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import summary  # noqa: E402  (bench/ is not a package)

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
COLORS = {"noauth": "#9e9e9e", "floor": "#607d8b", "fast": "#1976d2", "mcpauth": "#e65100"}


def _color(contender: str) -> str:
    return COLORS.get(contender.split("-")[0], "#757575")


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def _load_micro(path: Path) -> dict[str, Any] | None:
    """A ratio report of the micro suite, from a ratio report, a run or the summary."""
    try:
        return summary.load(path)
    except (OSError, ValueError, KeyError):
        return None


def default_micro() -> Path | None:
    """The newest ratio report of the micro suite: this run's, else the saved baseline's."""
    found = sorted(RESULTS.glob("micro*.json"), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    baseline = BENCH / "baseline" / "summary.json"
    return baseline if baseline.exists() else None


def rps_panel(ax: Axes, e2e: dict[str, Any]) -> None:
    """Requests/s of each contender / the no-auth app's, median and range over the rounds."""
    rps = e2e["rps"]
    names = list(rps["summary"])
    ratios = [rps["summary"][n]["rps_ratio"] for n in names]
    medians = [r["median"] for r in ratios]
    errors = [[m - r["min"] for m, r in zip(medians, ratios, strict=True)],
              [r["max"] - m for m, r in zip(medians, ratios, strict=True)]]
    bars = ax.bar(names, medians, yerr=errors, capsize=4, color=[_color(n) for n in names])
    for bar, value, ratio in zip(bars, medians, ratios, strict=True):  # above the range bar
        ax.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, ratio["max"]),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    targets = {"fast-same": 0.90, "fast-distinct": 0.60}
    for index, name in enumerate(names):
        if name in targets:
            ax.hlines(targets[name], index - 0.45, index + 0.45, colors="#c62828",
                      linestyles="dashed", linewidth=1.5,
                      label="target" if name == "fast-same" else "_nolegend_")
    versus = rps["versus_mcpauth"]
    cfg = e2e["config"]
    ax.set_title(f"requests/s / no-auth app (RS256, {cfg['rounds']} interleaved rounds of "
                 f"{cfg['duration']:g} s)\nfast / mcpauth: same token "
                 f"{versus['same']['median']:.1f}x, distinct {versus['distinct']['median']:.1f}x",
                 fontsize=10)
    ax.set_ylabel("ratio (higher is better)")
    ax.set_ylim(0, max(1.15, max(r["max"] for r in ratios) * 1.12))
    ax.axhline(1.0, color="#9e9e9e", linewidth=0.8)
    ax.legend(loc="upper right", fontsize=8)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)


def instructions_panel(ax: Axes, counted: dict[str, Any]) -> None:
    """The no-auth app's server instructions per request / each contender's (callgrind)."""
    results = counted["results"]
    base = results["noauth"]["instructions_per_request"]
    names = list(results)
    values = [base / results[n]["instructions_per_request"] for n in names]
    bars = ax.bar(names, values, color=[_color(n) for n in names])
    for bar, name, value in zip(bars, names, values, strict=True):
        ax.annotate(f"{value:.3f}\n{results[name]['instructions_per_request'] / 1e3:,.0f}k",
                    (bar.get_x() + bar.get_width() / 2, value), xytext=(0, 2),
                    textcoords="offset points", ha="center", fontsize=7)
    ratios = counted.get("ratios", {})
    extra = "; ".join(f"{key.replace(' x ', ' / ')}: {ratios[key]:.2f}x" for key in (
        "fast-same x mcpauth-same", "fast-distinct x floor-distinct") if key in ratios)
    ax.set_title("server instructions per request, no-auth / contender (callgrind: repeatable)"
                 f"\n{extra}", fontsize=10)
    ax.set_ylabel("ratio (higher is better)")
    ax.set_ylim(0, 1.2)
    ax.axhline(1.0, color="#9e9e9e", linewidth=0.8)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)


def latency_panel(ax: Axes, e2e: dict[str, Any]) -> None:
    """p50 and p99 latency / the no-auth app's (median over the rounds), log scale."""
    summary = e2e["rps"]["summary"]
    names = [n for n in summary if n != "noauth"]
    width = 0.38
    for offset, key, alpha in ((-width / 2, "p50_ratio", 1.0), (width / 2, "p99_ratio", 0.55)):
        values = [summary[n][key]["median"] for n in names]
        xs = [i + offset for i in range(len(names))]
        ax.bar(xs, values, width, color=[_color(n) for n in names], alpha=alpha,
               label=key.split("_")[0])
        for x, value in zip(xs, values, strict=True):
            ax.annotate(f"{value:.1f}", (x, value), xytext=(0, 2), textcoords="offset points",
                        ha="center", fontsize=7)
    ax.set_xticks(range(len(names)), names)
    ax.set_yscale("log")
    ax.axhline(1.0, color="#9e9e9e", linewidth=0.8)
    ax.set_title("latency / no-auth app (p50 solid, p99 light; lower is better)", fontsize=10)
    ax.set_ylabel("ratio (log)")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)


def rss_panel(ax: Axes, e2e: dict[str, Any]) -> None:
    """RSS of the no-auth and fast apps before and after the distinct-token stream."""
    rss = e2e["rss"]
    labels, values, colors = [], [], []
    for name in ("noauth", "fast"):
        for when in ("start", "end"):
            labels.append(f"{name}\n{'idle' if when == 'start' else 'after'}")
            values.append(rss[name][f"rss_{when}_mib"])
            colors.append(_color(name))
    bars = ax.bar(labels, values, color=colors)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(f"{value:.0f}", (bar.get_x() + bar.get_width() / 2, value),
                    xytext=(0, 2), textcoords="offset points", ha="center", fontsize=9)
    ceiling = rss["noauth"]["rss_end_mib"] + 32
    ax.axhline(ceiling, color="#c62828", linestyle="dashed", linewidth=1.2,
               label="no-auth + 32 MiB")
    bound = rss.get("bound_run", rss["bound"])
    ax.set_title(f"RSS (MiB) after {rss['tokens']:,} distinct {rss['alg']} tokens\ncache bound "
                 f"{bound['cache_size']} x {bound['bytes_per_entry_steady']} B = "
                 f"{bound['bound_mib']:.1f} MiB", fontsize=10)
    ax.set_ylabel("MiB")
    ax.legend(fontsize=8, loc="lower right")


def micro_panel(ax: Axes, micro: dict[str, Any]) -> bool:
    """The micro suite's rows that have a target: ours [c] / floor, against the target."""
    statistic = micro.get("statistic", "min")
    rows = [r for r in micro.get("results", [])
            if r.get("target") is not None and f"ratio_{statistic}" in r]
    if not rows:
        return False
    labels = [f"{r['row']}: {r['contender']}" for r in rows]
    values = [r[f"ratio_{statistic}"] for r in rows]
    ys = range(len(rows))
    colors = ["#1976d2" if v <= r["target"] else "#c62828"
              for v, r in zip(values, rows, strict=True)]
    ax.barh(ys, values, color=colors)
    ax.scatter([r["target"] for r in rows], ys, marker="|", s=200, color="black",
               label="target", zorder=3)
    for y, value in zip(ys, values, strict=True):
        ax.annotate(f"{value:.2f}", (value, y), xytext=(3, -3), textcoords="offset points",
                    fontsize=7)
    ax.set_yticks(ys, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_title(f"micro: time / floor ({statistic}; lower is better, red misses its target)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return True


def draw(e2e: dict[str, Any] | None, micro: dict[str, Any] | None, out: Path,
         counted: dict[str, Any] | None = None) -> Path:
    panels: list[Any] = []
    if e2e and e2e.get("rps"):
        panels += [lambda ax: rps_panel(ax, e2e), lambda ax: latency_panel(ax, e2e)]
    if counted and "noauth" in counted.get("results", {}):
        panels.append(lambda ax: instructions_panel(ax, counted))
    if e2e and e2e.get("rss"):
        panels.append(lambda ax: rss_panel(ax, e2e))
    if micro and any(r.get("target") is not None for r in micro.get("results", [])):
        panels.append(lambda ax: micro_panel(ax, micro))
    if not panels:
        raise SystemExit("nothing to draw: run bench/e2e.py (and the micro suite) first")
    columns = 2 if len(panels) > 1 else 1
    rows = (len(panels) + 1) // 2 if columns == 2 else 1
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 4.8 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax, panel in zip(flat, panels, strict=False):  # spare axes stay blank
        panel(ax)
    for ax in flat[len(panels):]:
        ax.axis("off")
    if e2e:
        v = e2e["versions"]
        impl = v.get("mcpauth-fast IMPLEMENTATION")
        fig.suptitle(f"mcpauth-fast {v.get('mcpauth-fast')} [{impl}]"
                     f" vs mcpauth {v.get('mcpauth')}; {v.get('python')}, uvicorn "
                     f"{v.get('uvicorn')} (uvloop, httptools), starlette {v.get('starlette')}, "
                     f"cryptography {v.get('cryptography')}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--e2e", default=str(RESULTS / "e2e.json"))
    parser.add_argument("--instructions", default=str(RESULTS / "e2e-instructions.json"))
    parser.add_argument("--micro", help="default: the newest micro*.json (see above)")
    parser.add_argument("--out", default=str(RESULTS / "chart.png"))
    args = parser.parse_args(argv)
    micro = Path(args.micro) if args.micro else default_micro()
    out = draw(_load(Path(args.e2e)), _load_micro(micro) if micro else None, Path(args.out),
               _load(Path(args.instructions)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
