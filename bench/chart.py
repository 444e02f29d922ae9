"""The chart of a run: each workload's ratios to the raw reference, one panel per workload."""

from __future__ import annotations

from pathlib import Path

from .report import LABELS, Report


def draw(report: Report, path: Path) -> None:
    """Draw each workload's ratios to the raw reference, one panel per workload."""
    import matplotlib  # noqa: PLC0415 - only the chart needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = [w for w in report.workloads if w.higher_is_better]
    rows = -(-(len(panels) + 2) // 4)  # the workloads, Client.request and start()
    figure, axes = plt.subplots(rows, 4, figsize=(17, 3.75 * rows), constrained_layout=True)
    flat = list(axes.flat)
    for axis, workload in zip(flat, panels, strict=False):
        names = [s for s in report.servers if report.ratio(workload.key, s) is not None]
        ratios = [report.ratio(workload.key, s) or 0.0 for s in names]
        _bars(axis, names, ratios, f"{workload.title} ({workload.unit})")
    axis = flat[len(panels)]
    names, ratios = [], []
    for label, pinned in (("Client.request", False), ("Client.request, pinned", True)):
        ratio = report.client_ratio(pinned)
        if ratio is not None:
            names.append(label)
            ratios.append(ratio)
    _bars(axis, names, ratios, "Client.request vs a raw client")
    axis = flat[len(panels) + 1]
    names = [s for s in report.servers if report.median("start_ms", s) is not None]
    values = [report.median("start_ms", s) or 0.0 for s in names]
    axis.barh([LABELS.get(s, s) for s in names], values, color=[_colour(s) for s in names])
    axis.set_xscale("log")
    axis.invert_yaxis()
    axis.tick_params(labelsize=8)
    axis.set_title("start() until listening (ms, lower is better)", fontsize=10)
    for index, value in enumerate(values):
        axis.text(value, index, f" {value:.2f}", va="center", fontsize=8)
    for axis in flat[len(panels) + 2 :]:
        axis.set_visible(False)
    figure.suptitle(
        f"linesock and its peers: ratio to the raw Python reference (log scale; "
        f"median of {report.settings['repetitions']})\n{report.machine}; {report.python}",
        fontsize=11,
    )
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _bars(axis: object, names: list[str], ratios: list[float], title: str) -> None:
    """One panel: a bar per server, on a log scale, with the 1x line."""
    from matplotlib.axes import Axes  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: PLC0415

    assert isinstance(axis, Axes)
    axis.barh([LABELS.get(s, s) for s in names], ratios, color=[_colour(s) for s in names])
    axis.set_xscale("log")
    axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.axvline(1.0, color="black", linewidth=0.8)
    axis.invert_yaxis()
    axis.set_title(title, fontsize=10)
    axis.tick_params(labelsize=8)
    for index, ratio in enumerate(ratios):
        axis.text(ratio, index, f" {ratio:.2f}x", va="center", fontsize=8)
    if ratios:
        axis.set_xlim(min(0.5, min(ratios) / 1.5), max(2.0, max(ratios) * 3))


def _colour(server: str) -> str:
    """The colour of a server's bars: grey for the raw reference, blue for linesock."""
    if server == "raw":
        return "tab:gray"
    if server.startswith("linesock") or server.startswith("Client"):
        return "tab:blue"
    if server == "redis":
        return "tab:red"
    return "tab:orange"
