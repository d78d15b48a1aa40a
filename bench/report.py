#!/usr/bin/env python3
"""Regenerates docs/benchmarks.md and docs/benchmarks.svg from bench/results/latest.json.

Python 3 standard library only. Called at the end of bench/run; runnable alone:

    python3 bench/report.py [--results bench/results/latest.json] [--docs docs]

Text between `<!-- notes:start -->` and `<!-- notes:end -->` in an existing docs/benchmarks.md
is kept as it is (the hand-written "What binds" section).
"""
import argparse
import json
import math
import os
import re
import sys
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEMS = ["baton-sqlite", "baton-postgres", "express", "drf"]
SCENARIOS = [
    "protected", "refresh", "login", "mixed", "protected-flood", "refresh-flood",
    "dpop-protected", "dpop-refresh",
]
COLOURS = {
    "baton-sqlite": "#1f5fbf",
    "baton-postgres": "#6fa8ff",
    "express": "#e08a1e",
    "drf": "#2e9e5b",
}
SYSTEM_TITLES = {
    "baton-sqlite": "baton (SQLite)",
    "baton-postgres": "baton (PostgreSQL)",
    "express": "Express tutorial",
    "drf": "DRF + SimpleJWT",
}
NOTES_START = "<!-- notes:start -->"
NOTES_END = "<!-- notes:end -->"
NOTES_PLACEHOLDER = (
    "_Written by hand, kept when the report is regenerated: what limits each number here "
    "(CPU, Argon2id, the SQLite writer, the load client, the peers' designs)._"
)
# Other processes using more than this many cores during a run skew it (a build, say).
NOISE_CORES = 0.25


# --- reading the results -------------------------------------------------------------------------


class Results:
    def __init__(self, doc):
        self.doc = doc
        self.runs = doc.get("runs", [])
        self.settings = doc.get("settings", {})
        self.limits = doc.get("limits", {})
        self.concurrencies = sorted({r["concurrency"] for r in self.runs if r["scenario"] != "chain-age"})
        self.systems = [s for s in SYSTEMS if any(r["system"] == s for r in self.runs)]

    def run(self, system, scenario, c=None):
        """The run of that system and scenario at concurrency c (default: the highest measured,
        64 in a full run)."""
        cands = [r for r in self.runs if r["system"] == system and r["scenario"] == scenario]
        if c is not None:
            cands = [r for r in cands if r["concurrency"] == c]
        return max(cands, key=lambda r: r["concurrency"]) if cands else None

    @property
    def top_c(self):
        return max(self.concurrencies) if self.concurrencies else None


def rps(r):
    return r["measure"]["rps"] if r else None


def p(r, q, section="measure"):
    """Latency percentile q of a run, in milliseconds."""
    if not r:
        return None
    v = r[section]["latency_us"].get(q) if r.get(section) else None
    return v / 1000.0 if v is not None else None


def errors_of(r):
    """Every error of a run: setup, measured load (re-logins included) and login flood, but for
    the flood's logins that baton shed by design (503 past its room for password checks)."""
    total, kinds = 0, {}
    for section in ("setup", "measure", "flood"):
        s = r.get(section)
        if not s or not s.get("errors"):
            continue
        for k, n in s["errors"]["by_kind"].items():
            if section == "flood" and k == "status_503" and r["system"].startswith("baton"):
                continue
            total += n
            kinds[k] = kinds.get(k, 0) + n
    return total, kinds


def shed_of(r):
    """The flood's logins baton shed (503)."""
    s = r.get("flood") or {}
    return (s.get("errors") or {}).get("by_kind", {}).get("status_503", 0)


def mb(kib):
    return kib / 1024.0 if kib is not None else None


def peak_rss(r):
    res = r["resources"]
    vals = [v for v in (res.get("peak_rss_kib_setup"), res.get("peak_rss_kib_measure")) if v is not None]
    return mb(max(vals)) if vals else None


def steady_rss(r):
    return mb(r["resources"].get("peak_rss_kib_measure"))


# --- formatting ----------------------------------------------------------------------------------


def fnum(x, unit=""):
    if x is None:
        return "–"
    if x >= 10000:
        s = f"{x:,.0f}"
    elif x >= 100:
        s = f"{x:.0f}"
    elif x >= 10:
        s = f"{x:.1f}"
    elif x >= 1:
        s = f"{x:.2f}"
    else:
        s = f"{x:.3f}"
    return s + unit


def fratio(x):
    return "–" if x is None else f"{x:.2f}×"


def fpct(x):
    return "–" if x is None else f"{x * 100:.0f}%"


def div(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def short(x):
    """A compact label for chart bars."""
    if x is None:
        return ""
    if x >= 100000:
        return f"{x / 1000:.0f}k"
    if x >= 1000:
        return f"{x / 1000:.1f}k"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def decade(d):
    """A power of ten as an axis label: 0.01, 0.1, 1, 10, 100, 1k, 10k, 100k, 1M."""
    if d >= 1e6:
        return f"{d / 1e6:g}M"
    if d >= 1000:
        return f"{d / 1000:g}k"
    return f"{d:g}"


# --- markdown ------------------------------------------------------------------------------------


def table(header, rows, align=None):
    out = ["| " + " | ".join(header) + " |"]
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    out.append("| " + " | ".join(align) + " |")
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def machine_section(res):
    d = res.doc
    m = d.get("machine", {})
    s = res.settings
    mem = m.get("mem_total_kib")
    rows = [
        ("CPU", f"{m.get('cpu_model') or '?'}, {m.get('nproc', '?')} cores (`nproc`)"),
        ("memory", f"{mem / 1048576:.1f} GiB" if mem else "?"),
        ("kernel", m.get("kernel") or "?"),
        ("Rust", m.get("rustc") or "?"),
        ("Node.js (Express peer)", m.get("node") or "?"),
        ("Python (DRF peer)", m.get("python") or "?"),
        ("baton commit", f"`{d.get('commit', '?')}`"),
        ("generated", d.get("generated_at", "?")),
        ("measured load per run", f"{s.get('secs', '?')} s" + (" (`--quick` smoke test)" if s.get("quick") else "")),
        ("concurrencies", ", ".join(str(c) for c in s.get("concurrencies", []))),
        ("login flood", f"{s.get('flood_clients', '?')} extra clients looping logins"),
        ("load client", f"`baton-loadgen`, Rust/hyper, {s.get('client_threads', 2)} threads, one keep-alive connection per client, on the same machine"),
    ]
    text = [table(["", ""], rows, ["---", "---"])]
    text.append("")
    text.append(
        "Every run starts its server afresh (new SQLite file, PostgreSQL database or DRF "
        "database), registers one user and logs in every client at once (the setup phase), waits "
        f"{s.get('settle_ms', 1000)} ms, then measures. baton runs with its defaults (login limits "
        "included). The PostgreSQL cluster is a throwaway one with `fsync=off` and "
        "`synchronous_commit=off` (as in the tests) on the same machine; its memory is not counted "
        "in baton-postgres's figures (baton's process only) and its CPU is shown apart (+ PG). Memory is the summed VmRSS of "
        "the server's process tree (gunicorn: a master and 2 workers), sampled every 20 ms; CPU is "
        "utime+stime from `/proc` over the measure phase."
    )
    return "\n".join(text)


def limits_section(res):
    lim = res.limits
    out = []
    sig = lim.get("signing", {})
    if sig:
        order = ["EdDSA", "ES256", "RS256"]
        rows = [
            (
                alg + (" (baton's default)" if alg == "EdDSA" else ""),
                fnum(v.get("sign_per_sec")),
                fnum(v.get("verify_per_sec")),
                v.get("token_bytes", "–"),
            )
            for alg, v in sorted(sig.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9)
        ]
        out.append("Access tokens (baton's own `mint` / `verify`, one thread):\n")
        out.append(table(["algorithm", "signs/s", "verifies/s", "token bytes"], rows))
        out.append("")
    dp = lim.get("dpop_proof_check", {})
    if dp:
        rows = [
            (alg, fnum(v.get("check_per_sec")), fnum(v.get("check_us")), fnum(v.get("sign_per_sec")), v.get("proof_bytes", "–"))
            for alg, v in dp.items()
        ]
        out.append(
            "DPoP proofs (RFC 9449): a check with baton's own `check_proof` (every check of §4.3, the "
            "key's thumbprint and `ath`; not the replay record), and a client's signature, one thread:\n"
        )
        out.append(table(["proof alg", "checks/s", "µs per check", "signed/s (client)", "proof bytes"], rows))
        out.append("")
    a = lim.get("argon2id")
    if a:
        out.append(
            f"Argon2id at baton's parameters (m={a['m_cost_kib']} KiB, t={a['t_cost']}, "
            f"p={a['p_cost']}): **{fnum(a['one_thread_per_sec'])} hashes/s on one thread, "
            f"{fnum(a['all_cores_per_sec'])} hashes/s on {a['threads']} threads** (one per core). "
            "A login costs one hash, so this is the ceiling of logins per second."
        )
        if a["all_cores_per_sec"] < 1.3 * a["one_thread_per_sec"]:
            out.append(
                f"\nAll cores give only {a['all_cores_per_sec'] / a['one_thread_per_sec']:.2f}× one "
                "thread here: the cores share what Argon2 needs (memory bandwidth, or they are "
                "hyperthreads of one physical core)."
            )
        out.append("")
    sq = lim.get("sqlite_rotation")
    if sq:
        out.append(
            f"SQLite rotation ceiling: **{fnum(sq['rotations_per_sec'])} rotations/s** — baton's own "
            "statements (`ROTATION_STATE`, `SPEND_TOKEN`, `INSERT_TOKEN`, `TOUCH_SESSION`), one "
            f"`BEGIN IMMEDIATE … COMMIT` each, one thread, {sq['chains']} chains round-robin, "
            f"{sq['pragmas']}, no HTTP. (baton's writer may batch several rotations into one "
            "commit, so it can exceed this.)"
        )
    return "\n".join(out)


def results_table(res, c):
    out = []
    seen = set()
    for system in res.systems:
        for scenario in SCENARIOS:
            r = res.run(system, scenario, c)
            if not r:
                continue
            total, kinds = errors_of(r)
            err = str(total)
            if total:
                err = f"**{total}** (" + ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) + ")"
            res_ = r["resources"]
            out.append(
                (
                    "" if system in seen else f"**{SYSTEM_TITLES.get(system, system)}**",
                    scenario + (" ¹" if scenario.endswith("-flood") else ""),
                    fnum(rps(r)),
                    fnum(p(r, "p50")),
                    fnum(p(r, "p99")),
                    err,
                    fnum(peak_rss(r)),
                    fnum(steady_rss(r)),
                    fnum(res_.get("server_cpu_cores"))
                    + (f" (+{fnum(res_['db_cpu_cores'])} PG)" if res_.get("db_cpu_cores") is not None else ""),
                    fnum(res_.get("client_cpu_cores")),
                    fnum(res_.get("other_cpu_cores")),
                )
            )
            seen.add(system)
    header = [
        "system",
        "scenario",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "peak RSS MB",
        "steady RSS MB",
        "server CPU",
        "client CPU",
        "other CPU",
    ]
    text = [table(header, out, ["---", "---"] + ["---:"] * (len(header) - 2))]
    floods = []
    for system in res.systems:
        for scenario in ("protected-flood", "refresh-flood"):
            r = res.run(system, scenario, c)
            if r and r.get("flood"):
                f = r["flood"]
                shed = shed_of(r) if system.startswith("baton") else 0
                floods.append(
                    f"{SYSTEM_TITLES.get(system, system)} {scenario} {fnum(f['rps'])} logins/s "
                    f"(p99 {fnum(p(r, 'p99', 'flood'))} ms"
                    + (f", {shed} shed with 503" if shed else "")
                    + ")"
                )
    if floods:
        text.append("")
        text.append(
            f"¹ protected calls or refreshes measured while {res.settings.get('flood_clients', 64)} "
            "more clients loop logins (not in the measured figures): " + "; ".join(floods) + "."
        )
    return "\n".join(text)


def mixed_section(res, c):
    rows = []
    for system in res.systems:
        r = res.run(system, "mixed", c)
        if not r:
            continue
        ops = r["measure"].get("ops", {})
        cells = [SYSTEM_TITLES.get(system, system)]
        for op in ("protected", "refresh", "login"):
            o = ops.get(op)
            if o:
                lat = o["latency_us"]
                cells.append(
                    f"{fnum(o['rps'])} / {fnum(lat['p99'] / 1000 if lat['p99'] is not None else None)}"
                )
            else:
                cells.append("–")
        rl = ops.get("relogin")
        cells.append(str(rl["requests"] + rl["errors"]["total"]) if rl else "0")
        rows.append(cells)
    if not rows:
        return ""
    return table(
        ["system", "protected req/s / p99 ms", "refresh req/s / p99 ms", "login req/s / p99 ms", "re-logins"],
        rows,
    )


def chain_section(res):
    rows = []
    for system in ("baton-sqlite", "baton-postgres"):
        r = res.run(system, "chain-age")
        if not r or not r.get("chain_age"):
            continue
        ch = r["chain_age"]
        f, a = ch["fresh"]["latency_us"], ch["aged"]["latency_us"]
        ms = lambda v: fnum(v / 1000) if v is not None else "–"
        rows.append(
            (
                SYSTEM_TITLES[system],
                ms(f["p50"]),
                ms(f["p99"]),
                ms(a["p50"]),
                ms(a["p99"]),
                fratio(ch.get("ratio_p50")),
                fratio(ch.get("ratio_p99")),
                errors_of(r)[0],
            )
        )
    if not rows:
        return ""
    return table(
        ["system", "fresh p50 ms", "fresh p99 ms", "aged p50 ms", "aged p99 ms", "p50 aged/fresh", "p99 aged/fresh", "errors"],
        rows,
    ) + (
        "\n\nOne client, sequential refreshes on one chain: 2000 on a fresh chain, then 10,000 more "
        "rotations, then 2000 on the aged chain."
    )


def at(res):
    c = res.top_c
    if c is None:
        return "", None
    return (f"c{c}" + ("" if c == 64 else " (goals are stated at c64)")), c


def headline(res):
    label, c = at(res)
    lim = res.limits
    ceiling = lim.get("sqlite_rotation", {}).get("rotations_per_sec")
    argon = lim.get("argon2id", {}).get("all_cores_per_sec")
    bs = lambda s: res.run("baton-sqlite", s, c)
    rows = [
        ("baton-sqlite refresh ÷ Express refresh", fratio(div(rps(bs("refresh")), rps(res.run("express", "refresh", c))))),
        ("baton-sqlite refresh ÷ DRF refresh", fratio(div(rps(bs("refresh")), rps(res.run("drf", "refresh", c))))),
        ("baton-sqlite refresh ÷ SQLite rotation ceiling", fpct(div(rps(bs("refresh")), ceiling))),
        ("baton-postgres refresh ÷ Express refresh", fratio(div(rps(res.run("baton-postgres", "refresh", c)), rps(res.run("express", "refresh", c))))),
        ("baton-sqlite protected ÷ Express protected", fratio(div(rps(bs("protected")), rps(res.run("express", "protected", c))))),
        ("baton-postgres protected ÷ Express protected", fratio(div(rps(res.run("baton-postgres", "protected", c)), rps(res.run("express", "protected", c))))),
        ("baton-sqlite login ÷ Argon2id all-core ceiling", fpct(div(rps(bs("login")), argon))),
        ("baton-sqlite protected p99 under a login flood ÷ without", fratio(div(p(bs("protected-flood"), "p99"), p(bs("protected"), "p99")))),
        ("baton-sqlite refresh p99 under a login flood ÷ without", fratio(div(p(bs("refresh-flood"), "p99"), p(bs("refresh"), "p99")))),
    ]
    for system in ("baton-sqlite", "baton-postgres"):
        for plain in ("protected", "refresh"):
            d = res.run(system, "dpop-" + plain, c)
            if d:
                rows.append((f"{system} DPoP {plain} ÷ {plain} (bearer)", fratio(div(rps(d), rps(res.run(system, plain, c))))))
                rows.append((f"{system} DPoP {plain} ÷ Express {plain}", fratio(div(rps(d), rps(res.run("express", plain, c))))))
    for system in ("baton-sqlite", "baton-postgres"):
        r = res.run(system, "chain-age")
        if r and r.get("chain_age"):
            rows.append((f"{system} refresh after 10,000 rotations ÷ fresh, p50", fratio(r["chain_age"].get("ratio_p50"))))
            rows.append((f"{system} refresh after 10,000 rotations ÷ fresh, p99", fratio(r["chain_age"].get("ratio_p99"))))
    return f"At {label}, from this run:\n\n" + table(["ratio", "value"], rows)


def goal_row(name, value_text, ok, miss_text):
    if ok is None:
        return (name, value_text, "not measured", "")
    return (name, value_text, "met" if ok else "**missed**", "" if ok else miss_text)


def at_least(name, have, need, fmt):
    if have is None:
        return goal_row(name, "–", None, "")
    short_by = (need - have) / need if need else 0
    return goal_row(name, fmt(have), have >= need, f"short by {short_by * 100:.0f}% (needs {fmt(need)})")


def below(name, have, limit, fmt):
    if have is None:
        return goal_row(name, "–", None, "")
    over = (have - limit) / limit if limit else 0
    return goal_row(name, fmt(have), have < limit, f"over by {fmt(have - limit)} ({over * 100:.0f}%)")


def goals(res):
    label, c = at(res)
    lim = res.limits
    ceiling = lim.get("sqlite_rotation", {}).get("rotations_per_sec")
    argon = lim.get("argon2id", {}).get("all_cores_per_sec")
    bs = lambda s: res.run("baton-sqlite", s, c)
    ms = lambda v: f"{v:.1f} ms"
    x = lambda v: f"{v:.2f}×"
    pc = lambda v: f"{v * 100:.0f}%"
    mbf = lambda v: f"{v:.1f} MB"
    rows = [
        at_least("refresh c64 ≥ 2× Express", div(rps(bs("refresh")), rps(res.run("express", "refresh", c))), 2.0, x),
        at_least("refresh c64 ≥ 20× DRF", div(rps(bs("refresh")), rps(res.run("drf", "refresh", c))), 20.0, x),
        at_least("refresh c64 ≥ 70% of the SQLite ceiling", div(rps(bs("refresh")), ceiling), 0.70, pc),
        below("refresh c64 p99 < 25 ms", p(bs("refresh"), "p99"), 25.0, ms),
        at_least(
            "PostgreSQL refresh c64 ≥ 1× Express",
            div(rps(res.run("baton-postgres", "refresh", c)), rps(res.run("express", "refresh", c))),
            1.0,
            x,
        ),
        at_least("protected c64 ≥ 4× Express", div(rps(bs("protected")), rps(res.run("express", "protected", c))), 4.0, x),
        below("protected c64 p99 < 10 ms", p(bs("protected"), "p99"), 10.0, ms),
        at_least("login ≥ 90% of the Argon2id ceiling (all cores)", div(rps(bs("login")), argon), 0.90, pc),
        below(
            "protected p99 during a login flood within 3× of without",
            div(p(bs("protected-flood"), "p99"), p(bs("protected"), "p99")),
            3.0,
            x,
        ),
        below(
            "refresh p99 during a login flood within 3× of without",
            div(p(bs("refresh-flood"), "p99"), p(bs("refresh"), "p99")),
            3.0,
            x,
        ),
    ]
    baton_runs = [r for r in res.runs if r["system"].startswith("baton-")]
    peaks = [(peak_rss(r), r) for r in baton_runs if peak_rss(r) is not None]
    if peaks:
        v, r = max(peaks, key=lambda t: t[0])
        row = below("peak RSS < 100 MB in every scenario", v, 100.0, mbf)
        rows.append((row[0], f"{row[1]} (max: {r['system']} {r['scenario']} c{r['concurrency']})", row[2], row[3]))
    else:
        rows.append(goal_row("peak RSS < 100 MB in every scenario", "–", None, ""))
    steady = [
        (steady_rss(r), r)
        for r in baton_runs
        if r["scenario"] in ("protected", "refresh") and steady_rss(r) is not None
    ]
    if steady:
        v, r = max(steady, key=lambda t: t[0])
        row = below("RSS < 40 MB in steady protected and refresh load (measure phase)", v, 40.0, mbf)
        rows.append((row[0], f"{row[1]} (max: {r['system']} {r['scenario']} c{r['concurrency']})", row[2], row[3]))
    else:
        rows.append(goal_row("RSS < 40 MB in steady protected and refresh load", "–", None, ""))
    errs = [(errors_of(r)[0], r) for r in baton_runs]
    if errs:
        bad = [(n, r) for n, r in errs if n]
        total = sum(n for n, _ in errs)
        where = ", ".join(f"{r['system']} {r['scenario']} c{r['concurrency']}: {n}" for n, r in bad[:6])
        rows.append(
            goal_row(
                "zero errors everywhere (every baton run)",
                f"{total} ({len(bad)} of {len(errs)} runs had any)",
                total == 0,
                where,
            )
        )
    chain = []
    for system in ("baton-sqlite", "baton-postgres"):
        r = res.run(system, "chain-age")
        if r and r.get("chain_age"):
            ch = r["chain_age"]
            # The median is the latency a session sees; a p99 over 2000 sequential samples is the
            # 20th slowest and swings with any hiccup of the machine (it is shown, not judged).
            if ch.get("ratio_p50") is not None:
                chain.append((ch["ratio_p50"], system))
    if chain:
        v, which = max(chain)
        over = (v - 1.2) / 1.2
        row = goal_row(
            "median refresh latency after 10,000 rotations within 1.2× of fresh",
            f"{x(v)} (worst: {which})",
            v <= 1.2,
            f"over by {over * 100:.0f}%",
        )
        rows.append(row)
    else:
        rows.append(goal_row("refresh latency after 10,000 rotations within 1.2× of fresh", "–", None, ""))
    text = f"Measured at {label} on baton-sqlite unless the goal names PostgreSQL; memory and errors over every baton run (both backends).\n\n"
    return text + table(["goal", "measured", "", "by how much"], rows, ["---", "---:", "---", "---"])


def caveats(res):
    out = []
    noisy = [
        r for r in res.runs if (r["resources"].get("other_cpu_cores") or 0) > NOISE_CORES
    ]
    if noisy:
        worst = max(noisy, key=lambda r: r["resources"]["other_cpu_cores"])
        out.append(
            f"- **{len(noisy)} of {len(res.runs)} runs shared the machine with other work** (more "
            f"than {NOISE_CORES} cores busy outside the server and the load client; worst "
            f"{worst['resources']['other_cpu_cores']:.2f} cores during {worst['system']} "
            f"{worst['scenario']} c{worst['concurrency']}): their numbers are low; rerun on a quiet machine."
        )
    ratios = [
        (r["resources"]["client_cpu_cores"], r["resources"].get("server_cpu_cores") or 0, r)
        for r in res.runs
        if r["resources"].get("client_cpu_cores") is not None and r["scenario"] != "chain-age"
    ]
    if ratios:
        cmax, smax, rmax = max(ratios, key=lambda t: t[0])
        share = [(c / s, r) for c, s, r in ratios if s > 0]
        qmax, rq = max(share, key=lambda t: t[0]) if share else (0, rmax)
        out.append(
            f"- The load client used at most {cmax:.2f} cores ({rmax['system']} {rmax['scenario']} "
            f"c{rmax['concurrency']}, while that server used {smax:.2f}), and at most "
            f"{qmax * 100:.0f}% of what the server used ({rq['system']} {rq['scenario']} "
            f"c{rq['concurrency']}). It shares the {res.doc.get('machine', {}).get('nproc', '?')} "
            "cores with the server: when server + client reach the core count, the fastest "
            "servers' figures are bounded by what the client leaves them."
        )
    if res.settings.get("quick"):
        out.append(
            "- **This is a `--quick` smoke test** (short runs, concurrency 16 only): the numbers "
            "show the harness works, not how the systems compare. Run `./bench/run` for the real thing."
        )
    for f in res.doc.get("failures", []):
        out.append(f"- Failed: {f}")
    return "\n".join(out)


def profile_section(res):
    prof = res.doc.get("profile") or {}
    path = os.path.join(ROOT, prof.get("file") or "bench/results/profile-refresh.txt")
    if prof.get("file") and os.path.exists(path):
        with open(path) as f:
            text = f.read().rstrip()
        return (
            "CPU profile of baton during `refresh` at concurrency 64 on SQLite (`perf`, 499 Hz, "
            "self time, entries above 1.5%):\n\n```\n" + text + "\n```"
        )
    return f"No profile in this run: {prof.get('note') or 'not taken'}."


def notes_from(path):
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return NOTES_PLACEHOLDER
    m = re.search(re.escape(NOTES_START) + r"\n?(.*?)\n?" + re.escape(NOTES_END), old, re.S)
    return m.group(1) if m else NOTES_PLACEHOLDER


def markdown(res, notes):
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/report.py from bench/results/latest.json: edit only between the "
        "notes markers below; everything else is rewritten by ./bench/run. -->",
        "",
        "baton against two peers on one machine, in one run: the refresh-token server of the "
        "well-known Express + jsonwebtoken tutorial (in-memory refresh tokens, no rotation) and "
        "Django REST framework + SimpleJWT (rotation with a blacklist, SQLite, gunicorn with 2 sync "
        "workers). See `bench/peers/` for exactly what they run.",
        "",
        "![requests per second and p99 latency per scenario and system](benchmarks.svg)",
        "",
    ]
    cav = caveats(res)
    if cav:
        parts += ["## Read this first", "", cav, ""]
    parts += ["## Headline", "", headline(res), "", "## Goals", "", goals(res), ""]
    parts += ["## Machine and settings", "", machine_section(res), ""]
    parts += ["## This machine's ceilings", "", limits_section(res), ""]
    parts += [
        "## Results",
        "",
        "Scenarios: **protected** — every client loops `GET` on the protected resource with its "
        "access token; **refresh** — every client loops refreshes on its own chain (always "
        "presenting the newest refresh token where the system rotates; a refused refresh is an "
        "error and the client logs in again); **login** — every client loops logins; **mixed** — "
        "90% protected, 9% refresh, 1% login per client; **protected-flood**, **refresh-flood** — "
        "protected calls or refreshes while other clients flood logins; **dpop-protected**, "
        "**dpop-refresh** (baton only) — the same with DPoP (RFC 9449): each client holds an ES256 "
        "key, its tokens are bound to it, and every call and refresh carries a fresh proof it "
        "signs (the client's signing shows in its CPU). Latencies are the clients' (HDR histograms of the "
        "successful requests; a gunicorn reconnect per request counts in). Peak RSS covers setup "
        "and load, steady RSS the measured load only. CPU columns are cores used during the "
        "measured load: the server's process tree (for baton-postgres, + the PostgreSQL server's), "
        "the load client, and everything else on the machine.",
        "",
    ]
    for c in res.concurrencies:
        parts += [f"### Concurrency {c}", "", results_table(res, c), ""]
        mixed = mixed_section(res, c)
        if mixed:
            parts += [f"Mixed load by operation at concurrency {c}:", "", mixed, ""]
    chain = chain_section(res)
    if chain:
        parts += ["### Chain age", "", chain, ""]
    parts += ["## Profile", "", profile_section(res), ""]
    parts += ["## What binds", "", NOTES_START, notes, NOTES_END, ""]
    parts += [
        "## How to run",
        "",
        "```",
        "./bench/run                          # everything: 4 systems x 5 scenarios x c16/c64, 10 s each, plus chain age and ceilings",
        "./bench/run --quick                  # smoke test: 2 s runs at c16",
        "./bench/run --secs 20 --only baton-sqlite,express --scenarios refresh,protected",
        "python3 bench/report.py              # regenerate this page from bench/results/latest.json",
        "```",
        "",
        "It installs the peers (`bench/peers/install.sh`), builds `baton` and `baton-loadgen` in "
        "release mode, starts a throwaway PostgreSQL cluster, and needs nothing else running: the "
        "servers and the load client share the machine, so keep it otherwise idle (the *other CPU* "
        "column shows when it was not). Raw results: `bench/results/latest.json` (one JSON: "
        "machine, settings, ceilings, every run); per-run JSON with a 100 ms RSS timeline and the "
        "server logs stay in `bench/.work/run/`.",
        "",
    ]
    return "\n".join(parts)


# --- SVG -----------------------------------------------------------------------------------------


def svg_chart(res):
    c = res.top_c
    systems = res.systems
    scenarios = [s for s in SCENARIOS if any(res.run(sy, s, c) for sy in systems)]
    width = 980
    panel_h = 300
    top = 70
    left = 80
    right = 20
    gap = 90
    height = top + 2 * panel_h + gap + 60
    plot_w = width - left - right
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    title = f"baton and peers at concurrency {c}" if c else "baton and peers"
    if res.settings.get("quick"):
        title += " (quick smoke test)"
    out.append(f'<text x="{width / 2}" y="26" font-size="18" font-weight="bold" text-anchor="middle">{escape(title)}</text>')
    # legend
    lx = left
    for sy in systems:
        out.append(f'<rect x="{lx}" y="40" width="14" height="14" fill="{COLOURS.get(sy, "#888")}"/>')
        label = SYSTEM_TITLES.get(sy, sy)
        out.append(f'<text x="{lx + 20}" y="52" font-size="13">{escape(label)}</text>')
        lx += 30 + 7.5 * len(label)

    def panel(y0, label, value_of, unit):
        vals = [value_of(res.run(sy, s, c)) for s in scenarios for sy in systems]
        vals = [v for v in vals if v is not None and v > 0]
        if not vals:
            return
        # at least half a decade below the smallest bar, so that it stays visible
        lo = 10 ** math.floor(math.log10(min(vals)) - 0.3)
        hi = 10 ** math.ceil(math.log10(max(vals)) + 0.15)  # headroom for the labels
        if hi <= lo:
            hi = lo * 10
        h = panel_h - 40
        ybase = y0 + h

        def y(v):
            return ybase - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * h

        out.append(f'<text x="{left}" y="{y0 - 12}" font-size="14" font-weight="bold">{escape(label)}</text>')
        d = lo
        while d <= hi * 1.0001:
            yy = y(d)
            out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + plot_w}" y2="{yy:.1f}" stroke="#dddddd"/>')
            out.append(
                f'<text x="{left - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end">{escape(decade(d))}{escape(unit)}</text>'
            )
            d *= 10
        out.append(f'<line x1="{left}" y1="{ybase}" x2="{left + plot_w}" y2="{ybase}" stroke="#444"/>')
        out.append(f'<line x1="{left}" y1="{y0}" x2="{left}" y2="{ybase}" stroke="#444"/>')
        group_w = plot_w / max(1, len(scenarios))
        bar_w = min(40, (group_w - 24) / max(1, len(systems)))
        for i, s in enumerate(scenarios):
            gx = left + i * group_w + (group_w - bar_w * len(systems)) / 2
            for j, sy in enumerate(systems):
                v = value_of(res.run(sy, s, c))
                x0 = gx + j * bar_w
                if v is None or v <= 0:
                    out.append(
                        f'<text x="{x0 + bar_w / 2:.1f}" y="{ybase - 4}" font-size="10" text-anchor="middle" fill="#999">n/a</text>'
                    )
                    continue
                yy = y(max(v, lo))
                out.append(
                    f'<rect x="{x0 + 1:.1f}" y="{yy:.1f}" width="{bar_w - 2:.1f}" height="{ybase - yy:.1f}" '
                    f'fill="{COLOURS.get(sy, "#888")}"><title>{escape(sy)} {escape(s)}: {escape(short(v))}{escape(unit)}</title></rect>'
                )
                out.append(
                    f'<text x="{x0 + bar_w / 2:.1f}" y="{yy - 4:.1f}" font-size="10" text-anchor="middle">{escape(short(v))}</text>'
                )
            out.append(
                f'<text x="{left + i * group_w + group_w / 2:.1f}" y="{ybase + 18}" font-size="13" text-anchor="middle">{escape(s)}</text>'
            )

    panel(top + 30, "Requests per second (log scale; higher is better)", rps, "")
    panel(top + 30 + panel_h + gap - 30, "p99 latency in ms (log scale; lower is better)", lambda r: p(r, "p99"), "")
    foot = "Generated by bench/report.py from bench/results/latest.json"
    if res.doc.get("generated_at"):
        foot += f" ({res.doc['generated_at']}, commit {res.doc.get('commit', '?')})"
    out.append(f'<text x="{left}" y="{height - 14}" font-size="11" fill="#666">{escape(foot)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs"))
    args = ap.parse_args()
    with open(args.results) as f:
        res = Results(json.load(f))
    md_path = os.path.join(args.docs, "benchmarks.md")
    svg_path = os.path.join(args.docs, "benchmarks.svg")
    notes = notes_from(md_path)
    md = markdown(res, notes)
    svg = svg_chart(res)
    with open(md_path, "w") as f:
        f.write(md)
    with open(svg_path, "w") as f:
        f.write(svg)
    print(f"wrote {os.path.relpath(md_path)} and {os.path.relpath(svg_path)}")


if __name__ == "__main__":
    sys.exit(main())
