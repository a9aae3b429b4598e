"""The report as one self-contained HTML page: tables, and charts drawn as inline SVG (analysis/svg.py).

Why no plotting library: the desk's chart stack is pyqtgraph, which draws on Qt widgets, needs a QApplication
(and a display or the offscreen platform) and by the layer rules lives in `ui/` only; the report runs headless
from the CLI and its layer may not import Qt. The charts wanted here (histograms with a density line, signed
bars) are a few dozen SVG elements each, so drawing them directly costs less than a dependency (matplotlib would
add ~40 MB and a font cache for the same pictures) and keeps the page a single file that opens anywhere, with no
scripts and no network. Every string from the telemetry or the file system is escaped before it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from imperium_desk.analysis.report import Report
from imperium_desk.analysis.svg import bar_chart, fmt, histogram_chart

PARENT_ROWS = 200  # the page lists the worst parents by shortfall; the JSON has them all

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1320px;
       color: #1d2430; background: #fbfbfd; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #d6dae3; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #5b6475; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e3e6ee; padding: 3px 10px; text-align: right; white-space: nowrap; }
th { background: #eef1f6; } td.l, th.l { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg { background: #fff; border: 1px solid #e3e6ee; }
svg .title { font-size: 14px; font-weight: 600; fill: #1d2430; }
svg .tick, svg .value { font-size: 11px; fill: #5b6475; } svg .label { font-size: 12px; fill: #1d2430; }
svg .grid { stroke: #eef0f4; } svg .axis { stroke: #8a93a6; }
svg .bar { fill: #5b8def; } svg .bar.negative { fill: #e0735a; }
svg .density { fill: none; stroke: #d9480f; stroke-width: 2; }
.warn { color: #9a3412; }
"""


def render(built: Report) -> str:
    """The page for a report from `analysis.report.build_report`."""
    report = built.data
    source = report["source"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Post-trade report: {escape(str(source['path']))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Imperium Desk: post-trade report</h1>",
        f'<p class="meta">{escape(str(source["path"]))}: {source["records"]} records, '
        f"{source['bytes']} bytes, schema version {escape(str(source['schema_version']))}</p>",
    ]
    parts += _warnings(report.get("warnings", []))
    parts += _summary(report)
    parts += _shortfall(report)
    parts += _by_group(report)
    parts += _distributions(report)
    parts += _outliers(report)
    parts += _protections(report)
    parts += _parents(built.worst_parents(PARENT_ROWS), report["summary"]["parents"])
    parts.append("</body></html>")
    return "\n".join(parts)


def _cell(value: Any, left: bool = False) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = _number(value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    elif isinstance(value, list):
        text = ", ".join(_plain(v) for v in value)
    else:
        text = str(value)
    cls = ' class="l"' if left or not isinstance(value, (int, float)) or isinstance(value, bool) else ""
    return f"<td{cls}>{escape(text)}</td>"


def _plain(value: Any) -> str:
    return _number(value) if isinstance(value, float) else str(value)


def _number(value: float) -> str:
    """A table number: thousands separated from 1,000 up (money), else 4 significant digits."""
    return f"{value:,.2f}" if abs(value) >= 1000 else fmt(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], left_columns: int = 1) -> list[str]:
    head = "".join(
        f'<th class="l">{escape(h)}</th>' if i < left_columns else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = ["<tr>" + "".join(_cell(v, i < left_columns) for i, v in enumerate(row)) + "</tr>" for row in rows]
    return ["<table>", f"<tr>{head}</tr>", *body, "</table>"]


def _warnings(warnings: list[str]) -> list[str]:
    return [f'<p class="warn">{escape(w)}</p>' for w in warnings]


def _summary(report: dict[str, Any]) -> list[str]:
    s = report["summary"]
    rows = [
        ("time", f"{s['first_timestamp']} to {s['last_timestamp']}"),
        ("modes / scenarios", f"{', '.join(s['modes']) or '-'} / {', '.join(s['scenario_ids']) or '-'}"),
        ("parents", s["parents"]),
        ("parents by status", s["parents_by_status"]),
        ("incomplete parents", s["incomplete_parents"]),
        ("children / fills", f"{s['children']} / {s['fills']}"),
        ("filled qty / turnover (₹)", f"{s['filled_qty']} / {_number(s['turnover'])}"),
        ("arrival slippage (bps, value-weighted)", s["arrival_slippage_bps"]),
        ("fill slippage vs intended (bps, mean)", s["fill_slippage_bps_mean"]),
        (
            "implementation shortfall (₹ / bps)",
            f"{_number(s['implementation_shortfall'])} / {_plain(s['implementation_shortfall_bps'])}",
        ),
        ("fees (₹)", s["fees"]),
        ("markouts (bps, qty-weighted)", s["markouts_bps"] or "-"),
        ("errors by bucket", s["errors_by_bucket"] or "-"),
        ("retries by bucket", s["retries_by_bucket"] or "-"),
        ("rejects by bucket", s["rejects_by_bucket"] or "-"),
        ("cancelled qty", s["cancelled_qty"]),
        ("events", s["events"]),
    ]
    return ["<h2>Summary</h2>", *_table(("", "value"), rows, left_columns=2)]


def _shortfall(report: dict[str, Any]) -> list[str]:
    b = report["is_breakdown"]
    names = ("delay_cost", "trading_cost", "opportunity_cost", "fees", "implementation_shortfall")
    labels = ("delay", "trading", "opportunity", "fees", "total")
    chart = bar_chart(
        "Implementation shortfall by component",
        "bps of decision value",
        [(label, b[f"{name}_bps"]) for label, name in zip(labels, names, strict=True)],
    )
    rows = [(label, b[name], b[f"{name}_bps"]) for label, name in zip(labels, names, strict=True)]
    fee_rows = list(b["fee_breakdown"].items())
    return [
        "<h2>Implementation shortfall</h2>",
        f'<p class="meta">Over {b["parents"]} parents with a known shortfall ({b["parents_excluded"]} left out: '
        f"no end mid or decision price); benchmark value Σ P_d·Q = ₹{_number(b['benchmark_value'])}.</p>",
        f'<div class="charts">{chart}</div>',
        *_table(("component", "₹", "bps"), rows),
        "<h3>Fees by component (₹, all parents)</h3>",
        *_table(("component", "₹"), fee_rows),
    ]


def _protections(report: dict[str, Any]) -> list[str]:
    """The exits the desk's protections sent, by reason, with the cost of the stop (nothing when none was sent)."""
    p = report.get("protections")
    if not p or not p["exits"]:
        return []
    rows = [(reason, g["exits"], g["filled"], g["cost_vs_trigger_bps_mean"], g["cost_vs_level_bps_mean"])
            for reason, g in p["by_reason"].items()]
    rows.append(("all", p["exits"], sum(g["filled"] for g in p["by_reason"].values()),
                 p["cost_vs_trigger_bps_mean"], p["cost_vs_level_bps_mean"]))
    return [
        "<h2>Protective exits</h2>",
        '<p class="meta">The cost of the stop: the exit\'s average price against the price that triggered it and '
        "against the level crossed, in bps, adverse positive (mean per exit).</p>",
        *_table(("reason", "exits", "filled", "vs trigger bps", "vs level bps"), rows),
    ]


def _by_group(report: dict[str, Any]) -> list[str]:
    out = ["<h2>Slippage by algo and by urgency</h2>", '<div class="charts">']
    for key, title in (("by_algo", "algo"), ("by_urgency", "urgency")):
        groups = report[key]
        out.append(
            bar_chart(
                f"Arrival slippage by {title}",
                "bps (value-weighted)",
                [(name, g["arrival_slippage_bps"]) for name, g in groups.items()],
            )
        )
    out.append("</div>")
    headers = (
        "group",
        "parents",
        "fills",
        "filled qty",
        "turnover ₹",
        "arrival bps",
        "arrival bps (mean)",
        "fill slip bps",
        "IS ₹",
        "IS bps",
        "fees ₹",
    )
    for key, title in (("by_algo", "By algo"), ("by_urgency", "By urgency")):
        rows = [
            (
                name,
                g["parents"],
                g["fills"],
                g["filled_qty"],
                g["turnover"],
                g["arrival_slippage_bps"],
                g["arrival_slippage_bps_mean"],
                g["fill_slippage_bps_mean"],
                g["implementation_shortfall"],
                g["implementation_shortfall_bps"],
                g["fees"],
            )
            for name, g in report[key].items()
        ]
        out += [f"<h3>{title}</h3>", *_table(headers, rows)]
    return out


def _distributions(report: dict[str, Any]) -> list[str]:
    out = ["<h2>Latency and slippage distributions</h2>"]
    for key, title, unit in (("latency_ms", "Fill latency", "ms"), ("slippage_bps", "Fill slippage", "bps")):
        d = report["distributions"][key]
        stats, hist, fit = d["stats"], d["histogram"], d["fit"]
        out.append(f"<h3>{title} ({unit})</h3>")
        sampled = f" (quantiles, histogram and fits on a sample of {stats['sample_size']})" if stats["sampled"] else ""
        out.append(f'<p class="meta">{stats["count"]} fills{escape(sampled)}.</p>')
        if stats["count"]:
            numbers = [(k, stats.get(k)) for k in ("mean", "std", "min", "p50", "p95", "p99", "max")]
            out += _table([k for k, _ in numbers], [[v for _, v in numbers]], left_columns=0)
        if hist is not None:
            chart = histogram_chart(
                f"{title} histogram and fitted density", unit, hist, fit.get("density"), fit.get("winner")
            )
            out.append(f'<div class="charts">{chart}</div>')
            if hist["below"] or hist["above"]:
                out.append(
                    f'<p class="meta">Not drawn: {hist["below"]} below and {hist["above"]} above the range '
                    "(0.5-99.5% shown).</p>"
                )
        if fit.get("skipped"):
            out.append(f'<p class="meta">No fit: {escape(fit["skipped"])}</p>')
        if fit.get("point_mass"):
            pm = fit["point_mass"]
            out.append(
                f'<p class="warn">{pm["count"]} of {pm["of"]} values equal {fmt(pm["value"])}: a point mass '
                "no continuous family describes.</p>"
            )
        rows = [
            (
                r["rank"] if r["rank"] is not None else "-",
                r["family"],
                r["loglik"],
                r["aic"],
                r["bic"],
                r["ks_stat"],
                r["ks_pvalue"],
                r["skipped"] or _params(r["params"]),
            )
            for r in fit["ranked"]
        ]
        if rows:
            out += _table(
                ("#", "family", "loglik", "AIC", "BIC", "KS stat", "KS p", "params / why skipped"), rows, left_columns=2
            )
    return out


def _params(params: dict[str, Any]) -> str:
    inner = {k: v for k, v in params.items() if k not in ("type", "unit", "components", "model", "weight")}
    text = ", ".join(f"{k}={_plain(v)}" for k, v in inner.items())
    if "model" in params:
        text += f"; {_params(params['model'])}"
    if "components" in params:
        text += " + ".join(f"{_plain(c.get('weight'))}·{_params(c)}" for c in params["components"])
    return f"{params.get('type', '')}({text})"


def _outliers(report: dict[str, Any]) -> list[str]:
    o = report["outliers"]
    out = [
        "<h2>Outliers</h2>",
        f'<p class="meta">Rules: MAD {escape(o["rules"]["mad"])}; IQR {escape(o["rules"]["iqr"])}. '
        "The most extreme are listed (largest |z| first).</p>",
    ]
    rows = []
    stats_rows = []
    for metric, m in o["metrics"].items():
        s = m["stats"]
        stats_rows.append(
            (
                metric,
                s["n"],
                s["median"],
                s["mad"],
                s["z_basis"],
                s["q1"],
                s["q3"],
                s["low_fence"],
                s["high_fence"],
                m["counts"]["mad"],
                m["counts"]["iqr"],
                m["counts"]["either"],
            )
        )
        rows += [
            (metric, r["seq"], r["parent_id"], r["asset"], r["value"], r["robust_z"], " + ".join(r["rules"]))
            for r in m["listed"]
        ]
    out += _table(
        (
            "metric",
            "n",
            "median",
            "MAD",
            "z basis",
            "Q1",
            "Q3",
            "low fence",
            "high fence",
            "MAD out",
            "IQR out",
            "either",
        ),
        stats_rows,
    )
    out += _table(("metric", "seq", "parent", "asset", "value", "robust z", "rules"), rows, left_columns=1)
    return out


def _parents(ranked: list[dict[str, Any]], total: int) -> list[str]:
    note = f"the {len(ranked)} worst by shortfall of {total}" if total > len(ranked) else "all, worst shortfall first"
    headers = (
        "parent",
        "symbol",
        "side",
        "algo",
        "urgency",
        "status",
        "qty",
        "filled",
        "avg price",
        "arrival bps",
        "delay ₹",
        "trading ₹",
        "opportunity ₹",
        "fees ₹",
        "IS ₹",
        "IS bps",
        "VWAP bps",
        "markouts bps",
        "incomplete",
    )
    rows = [
        (
            p["parent_id"],
            p["symbol"],
            p["side"],
            p["algo"],
            p["urgency"],
            p["status"],
            p["qty"],
            p["filled"],
            p["avg_price"],
            p["arrival_slippage_bps"],
            p["delay_cost"],
            p["trading_cost"],
            p["opportunity_cost"],
            p["fees"],
            p["implementation_shortfall"],
            p["implementation_shortfall_bps"],
            p["interval_vwap_slippage_bps"],
            p["markouts_bps"] or None,
            p["incomplete"],
        )
        for p in ranked
    ]
    return [f"<h2>Parent orders ({escape(note)})</h2>", *_table(headers, rows, left_columns=6)]
