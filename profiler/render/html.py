"""Render a report as one self-contained HTML page: summary, findings, and plots.

No network and no CDN: the CSS is inline and every plot is a matplotlib figure inlined as SVG. The
renderer computes nothing about the model: it lays out what the report holds (the contract's JSON
fields and ``report.extras``) and skips every plot whose data is absent.

Plots, each from the first source that has data:

- gradient norm per layer at init (log scale): ``extras["gradient_norms"]`` rows ``{module, param,
  grad_norm}``
- zero-activation and dead-unit share per layer: ``extras["activations"]`` rows ``{module,
  dead_fraction, zero_fraction}``
- FLOP share per module, coloured by Tensor Core alignment: ``flops.by_module``, the ``tc-alignment``
  findings' severities and ``extras["tc_dims"]`` rows ``{module, aligned}``
- the overfit-batch loss curve (and input-independence's real vs zeroed curves):
  ``extras["overfit-batch"]``, ``extras["input-independence"]``
- the LR range curve with the suggested rate: ``extras["lr-range"]`` or the ``lr-range`` finding's
  ``details["curve"]``
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from nnprof.findings import SEVERITY_ORDER

_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
COLORS = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1", "ok": "#229954"}
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1c2833}
header{background:#1c2833;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
header .sub{opacity:.75;font-size:13px;margin-top:4px}
main{padding:20px 28px;max-width:1200px}section{background:#fff;border-radius:8px;padding:16px 20px;
margin-bottom:18px;box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{font-size:16px;margin:0 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #e5e8e8;border-radius:6px;padding:8px 12px;
min-width:120px}.card .k{font-size:11px;text-transform:uppercase;color:#7f8c8d}.card .v{font-size:17px;font-weight:600}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eee;
vertical-align:top}td:nth-child(-n+3){white-space:nowrap}th{font-size:12px;color:#566573}code{font-size:12px;background:#f2f3f4;padding:1px 4px;border-radius:3px}
.sev{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600}
details summary{cursor:pointer;color:#566573;font-size:12px}details table td{border:0;padding:1px 8px;font-size:12px}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
figure{margin:0}figure svg{width:100%;height:auto}figcaption{font-size:12px;color:#566573;margin-top:4px}
.verdict{display:inline-block;margin-top:8px;padding:3px 10px;border-radius:12px;font-weight:600;font-size:13px}
"""


# --------------------------------------------------------------------------- reading the report


def _as_dict(report: Any) -> dict[str, Any]:
    if isinstance(report, Mapping):
        return dict(report)
    for name in ("to_dict", "as_dict"):
        if callable(getattr(report, name, None)):
            return dict(getattr(report, name)())
    return dict(vars(report))


def _extras(report: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    extras = getattr(report, "extras", None)
    if extras is None:
        extras = data.get("extras")
    return dict(extras or {})


def _findings(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = [f if isinstance(f, Mapping) else f.to_dict() for f in data.get("findings") or []]
    return sorted(found, key=lambda f: SEVERITY_ORDER.get(f.get("severity", "info"), 3))


def _first(extras: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if extras.get(key):
            return extras[key]
    return None


def rows_of(value: Any) -> list[Mapping[str, Any]]:
    """The dict rows of a per-layer list (``[{"module": ..., ...}]``) or ``{module: {...}}`` map."""
    if isinstance(value, Mapping):
        return [{"module": k, **v} if isinstance(v, Mapping) else {"module": k, "value": v} for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [r for r in value if isinstance(r, Mapping)]
    return []


def _number(row: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        v = row.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def _label(row: Mapping[str, Any]) -> str:
    module = str(row.get("module", row.get("name", ""))) or "(model)"
    param = row.get("param")
    return module if param in (None, "weight") else f"{module}.{param}"


# --------------------------------------------------------------------------- figures


def _svg(draw: Callable[[Any], None], size: tuple[float, float] = (6.4, 3.4)) -> str:
    """Draw on a fresh matplotlib Figure (no pyplot, no GUI backend); return it as an inline ``<svg>``."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "nnprof", "font.size": 9}):
        fig = Figure(figsize=size)
        ax = fig.add_subplot()
        draw(ax)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return _METADATA.sub("", text[text.index("<svg") :])


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def _bar_by_layer(names: list[str], values: list[float], ylabel: str, log: bool, color: str) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        ax.bar(range(len(values)), values, color=color)
        if log and all(v > 0 for v in values):
            ax.set_yscale("log")
        ax.set_xticks(range(len(names)), [_short(n, 18) for n in names], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("layer (in depth order)")

    return draw


def plot_gradients(extras: Mapping[str, Any]) -> tuple[str, str] | None:
    rows = rows_of(_first(extras, "gradient_norms", "gradients", "grad_norms"))
    points = [(_label(r), _number(r, "grad_norm", "norm", "value")) for r in rows]
    points = [(n, v) for n, v in points if v is not None]
    if not points:
        return None
    names, values = [n for n, _ in points], [v for _, v in points]
    svg = _svg(_bar_by_layer(names, values, "gradient norm (log)", True, COLORS["info"]))
    return svg, ("Gradient norm per layer at initialisation (log scale), in execution order: orders of "
                 "magnitude across depth mean exploding or vanishing gradients.")


def plot_activations(extras: Mapping[str, Any]) -> tuple[str, str] | None:
    rows = rows_of(_first(extras, "activations", "dead_units"))
    rows = [r for r in rows if _number(r, "dead_fraction", "dead_share") is not None]
    if not rows:
        return None
    names = [_label(r) for r in rows]
    dead = [100 * (_number(r, "dead_fraction", "dead_share") or 0.0) for r in rows]
    zero = [100 * (_number(r, "zero_fraction") or 0.0) for r in rows]

    def draw(ax: Any) -> None:
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], zero, width=0.4, color="#aed6f1", label="zero activations (share of values)")
        ax.bar([i + 0.2 for i in x], dead, width=0.4, color=[COLORS["error"] if v >= 70 else COLORS["ok"] for v in dead],
               label="dead units (never active on the batch)")
        ax.axhline(70, color=COLORS["error"], ls="--", lw=1, label="dead-relu threshold (70 %)")
        ax.set_ylim(0, 105)
        ax.set_xticks(list(x), [_short(n, 18) for n in names], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("%")
        ax.legend(loc="upper left", fontsize=7)

    return _svg(draw), "Activations per ReLU-family layer at initialisation: share of zero outputs and of dead units."


def _alignment(findings: list[dict[str, Any]], extras: Mapping[str, Any]) -> dict[str, str]:
    """Module -> "warning" | "info" (misaligned, by the tc-alignment findings or ``tc_dims``)."""
    status: dict[str, str] = {str(r.get("module")): "info" for r in rows_of(extras.get("tc_dims")) if r.get("aligned") is False}
    for f in findings:
        if f.get("check") == "tc-alignment" and f.get("module") is not None:
            current = status.get(f["module"])
            if current is None or SEVERITY_ORDER[f["severity"]] < SEVERITY_ORDER[current]:
                status[f["module"]] = f["severity"]
    return status


def plot_flops(data: Mapping[str, Any], findings: list[dict[str, Any]], extras: Mapping[str, Any],
               top: int = 15) -> tuple[str, str] | None:
    rows = [r for r in ((data.get("flops") or {}).get("by_module") or []) if isinstance(r, Mapping)]
    rows = sorted(rows, key=lambda r: -float(r.get("share") or 0))[:top]
    if not rows:
        return None
    status = _alignment(findings, extras)
    labels = {"warning": "misaligned (warning)", "info": "misaligned (info)", "ok": "aligned"}

    def colour(module: str) -> str:
        return status.get(module, "ok") if status.get(module) != "error" else "warning"

    def draw(ax: Any) -> None:
        names = [str(r.get("module") or "(model)") for r in rows][::-1]
        shares = [100 * float(r.get("share") or 0) for r in rows][::-1]
        kinds = [colour(str(r.get("module", ""))) for r in rows][::-1]
        ax.barh(range(len(names)), shares, color=[COLORS[k] for k in kinds])
        ax.set_yticks(range(len(names)), [_short(n) for n in names], fontsize=7)
        ax.set_xlabel("share of the model's FLOPs (%)")
        for kind in ("warning", "info", "ok"):
            if kind in kinds:
                ax.barh([0], [0], color=COLORS[kind], label=labels[kind])
        ax.legend(loc="lower right", fontsize=7)

    return _svg(draw, (6.4, 0.3 * len(rows) + 1.2)), "FLOP share per module, coloured by Tensor Core alignment for the training dtype."


def plot_overfit(extras: Mapping[str, Any]) -> tuple[str, str] | None:
    run = extras.get("overfit-batch") or {}
    losses = [v for v in run.get("loss") or [] if isinstance(v, (int, float))]
    if len(losses) < 2:
        return None
    other = extras.get("input-independence") or {}

    def draw(ax: Any) -> None:
        ax.plot(range(len(losses)), losses, color=COLORS["info"], lw=1.6, label="one batch (real inputs)")
        zeroed = other.get("zeroed") or []
        if zeroed:
            ax.plot(range(len(zeroed)), zeroed, color=COLORS["warning"], lw=1.2, ls="--", label="zeroed inputs")
        if all(v > 0 for v in losses + list(zeroed)):
            ax.set_yscale("log")
        ax.set_xlabel("Adam step")
        ax.set_ylabel("training loss")
        ax.legend(loc="upper right", fontsize=7)

    verdict = "fitted" if run.get("passed") else f"not fitted ({run.get('stopped', '?')})"
    accuracies = run.get("accuracy") or []
    # A classifier counts as fitted by its accuracy, so the final loss can still be far from zero: say both.
    reached = f"final loss {losses[-1]:.3g}" if losses else "no finite loss"
    if accuracies and accuracies[-1] is not None:
        reached += f", accuracy {accuracies[-1]:.0%}"
    return _svg(draw), f"overfit-batch: training loss on one batch, {verdict} after {len(losses)} steps ({reached})."


def _lr_curve(extras: Mapping[str, Any], findings: list[dict[str, Any]]) -> dict[str, Any] | None:
    entry = extras.get("lr-range")
    if entry and entry.get("lr"):
        return dict(entry)
    for f in findings:
        details = f.get("details") or {}
        if f.get("check") == "lr-range" and details.get("curve"):
            return {**details, "lr": details["curve"]["lr"], "smoothed": details["curve"]["loss"]}
    return None


def plot_lr_range(extras: Mapping[str, Any], findings: list[dict[str, Any]]) -> tuple[str, str] | None:
    entry = _lr_curve(extras, findings)
    if entry is None:
        return None
    lrs, suggested = entry["lr"], entry.get("suggested_lr")

    def draw(ax: Any) -> None:
        if entry.get("loss"):
            ax.plot(lrs, entry["loss"], color="#aab7b8", lw=1, label="loss")
        ax.plot(lrs, entry.get("smoothed") or entry.get("loss"), color=COLORS["info"], lw=1.8, label="smoothed")
        ax.set_xscale("log")
        curve = entry.get("smoothed") or entry.get("loss")
        low, high = min([*curve, *(entry.get("loss") or [])]), 1.3 * max(curve[: max(1, len(curve) // 2)])  # a divergence would flatten it
        ax.set_ylim(low - 0.05 * (high - low), high)
        if suggested:
            ax.axvline(suggested, color=COLORS["ok"], lw=1.5, ls="--", label=f"suggested {suggested:.2g}")
        if entry.get("configured_lr"):
            ax.axvline(entry["configured_lr"], color="#7d3c98", lw=1, ls=":", label=f"configured {entry['configured_lr']:.2g}")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.legend(loc="upper left", fontsize=7)

    return _svg(draw), "lr-range: loss during an exponential learning-rate sweep, with the suggested rate."


# --------------------------------------------------------------------------- HTML


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if 1e-3 <= abs(value) < 1e6 else f"{value:.3e}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[{len(value)} values]"
    if isinstance(value, Mapping):
        return html.escape(json.dumps({k: v for k, v in value.items() if not isinstance(v, (list, dict))}))[:200]
    return html.escape(str(value))


def _si(value: Any, unit: str = "") -> str:
    if not isinstance(value, (int, float)):
        return "–"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


def _cards(data: Mapping[str, Any]) -> str:
    flops = data.get("flops") or {}
    speed = data.get("throughput") or {}
    cards = [
        ("parameters", _si(data.get("params"))),
        ("trainable", _si(data.get("trainable_params"))),
        ("FLOPs / step", _si(flops.get("total"), "FLOP")),
        ("FLOP coverage", f"{100 * flops['coverage']:.0f} %" if isinstance(flops.get("coverage"), (int, float)) else "–"),
        ("step time", f"{speed['step_ms']:.3g} ms" if isinstance(speed.get("step_ms"), (int, float)) else "–"),
        ("samples / s", _si(speed.get("samples_per_s"))),
        ("MFU", f"{100 * speed['mfu']:.1f} %" if isinstance(speed.get("mfu"), (int, float)) else "–"),
    ]
    if isinstance(speed.get("tokens_per_s"), (int, float)):
        cards.insert(6, ("tokens / s", _si(speed["tokens_per_s"])))
    body = "".join(f'<div class="card"><div class="k">{k}</div><div class="v">{html.escape(v)}</div></div>' for k, v in cards)
    return f'<div class="cards">{body}</div>'


def _verdict(findings: list[dict[str, Any]]) -> str:
    counts = {s: sum(f.get("severity") == s for f in findings) for s in ("error", "warning", "info")}
    if counts["error"] or counts["warning"]:
        color = COLORS["error"] if counts["error"] else COLORS["warning"]
        text = f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)"
    else:
        color, text = COLORS["ok"], f"healthy: no warning ({counts['info']} note(s))"
    return f'<span class="verdict" style="background:{color};color:#fff">{html.escape(text)}</span>'


def _details(details: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_fmt(v)}</td></tr>" for k, v in details.items())
    return f"<details><summary>numbers</summary><table>{rows}</table></details>" if rows else ""


def _findings_table(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return "<p>No findings.</p>"
    rows = []
    for f in findings:
        sev = f.get("severity", "info")
        module = f.get("module")
        rows.append(
            f'<tr><td><span class="sev" style="background:{COLORS.get(sev, "#777")}">{html.escape(sev)}</span></td>'
            f"<td><code>{html.escape(str(f.get('check', '')))}</code></td>"
            f"<td><code>{html.escape(module) if module else '(model)'}</code></td>"
            f"<td>{html.escape(str(f.get('message', '')))}{_details(f.get('details') or {})}</td></tr>"
        )
    head = "<tr><th>severity</th><th>check</th><th>module</th><th>what and what to do</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _plots(data: Mapping[str, Any], extras: Mapping[str, Any], findings: list[dict[str, Any]]) -> str:
    made = [plot_gradients(extras), plot_activations(extras), plot_flops(data, findings, extras), plot_overfit(extras),
            plot_lr_range(extras, findings)]
    figures = [f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>" for svg, caption in filter(None, made)]
    return f'<div class="plots">{"".join(figures)}</div>' if figures else "<p>No data to plot.</p>"


def render_html(report: Any) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG plots, no external resource)."""
    data = _as_dict(report)
    extras = _extras(report, data)
    findings = _findings(data)
    title = f"nnprof report: {data.get('model', 'model')}"
    sub = " · ".join(f"{k} {data[k]}" for k in ("device", "dtype") if data.get(k))
    sub += f" · nnprof {data.get('version', '')}" if data.get("version") else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><div class=\"sub\">{html.escape(sub)}</div>{_verdict(findings)}</header>"
        f"<main><section><h2>Summary</h2>{_cards(data)}</section>"
        f"<section><h2>Findings</h2>{_findings_table(findings)}</section>"
        f"<section><h2>Plots</h2>{_plots(data, extras, findings)}</section></main></body></html>\n"
    )
