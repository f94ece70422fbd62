#!/usr/bin/env python3
"""Turns the suite's outputs (bench-results/*.json from sse-relay-bench, kernel-*.txt from
kernel-floor) into one Markdown table, written to results.md and printed, and one latency plot per
scenario (latency-*.png).

    report.py DIR [--connections N] [--duration S] [--elapsed S] [--quick]
"""
import argparse
import datetime
import json
import os
import re

SERVERS = [("relay", "sse-relay"), ("nchan", "nginx+nchan"), ("pushpin", "Pushpin")]
PEERS = ["nchan", "pushpin"]


def load(directory, name):
    path = os.path.join(directory, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def kernel(directory, mode):
    path = os.path.join(directory, f"kernel-{mode}.txt")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            if line.startswith("RESULT "):
                return {k: float(v) if re.fullmatch(r"[0-9.]+", v) else v
                        for k, v in (part.split("=", 1) for part in line.split()[1:])}
    return None


def scenario(figures, name):
    if not figures:
        return None
    for s in figures.get("scenarios", []):
        if s["name"] == name:
            return s
    return None


def fmt(value, decimals=None):
    if value is None:
        return "n/a"
    if decimals is None:
        decimals = 0 if abs(value) >= 100 else 2 if abs(value) < 10 else 1
    return f"{value:,.{decimals}f}"


class Row:
    def __init__(self, label, values, lower_is_better, floor=None, target=None, decimals=None):
        self.label = label
        self.values = values  # server key -> number or None
        self.lower = lower_is_better
        self.floor = floor
        self.target = target
        self.decimals = decimals

    def ratio(self):
        relay = self.values.get("relay")
        peers = [self.values[p] for p in PEERS if self.values.get(p) is not None]
        if relay is None or not peers:
            return None, None
        best = min(peers) if self.lower else max(peers)
        if best == 0:
            return None, best
        return relay / best, best

    def markdown(self):
        ratio, _ = self.ratio()
        cells = [self.label + (" ↓" if self.lower else " ↑")]
        cells += [fmt(self.values.get(key), self.decimals) for key, _ in SERVERS]
        cells.append(fmt(self.floor, self.decimals) if self.floor is not None else "")
        if ratio is None:
            cells.append("n/a")
        else:
            better = ratio <= 1 if self.lower else ratio >= 1
            cells.append(f"{ratio:.2f}× {'(better)' if better else '(worse)'}")
        cells.append(self.target(self) if callable(self.target) else (self.target or ""))
        return "| " + " | ".join(cells) + " |"


def check(condition, text):
    if condition is None:
        return f"{text}: n/a"
    return f"{text}: {'**met**' if condition else '**missed**'}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--elapsed", type=int)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    d = args.directory

    runs = {key: load(d, key) for key, _ in SERVERS}
    cluster = {"relay": load(d, "relay-cluster"), "nchan": load(d, "nchan-cluster"), "pushpin": None}
    floor_targeted = kernel(d, "targeted")
    floor_broadcast = kernel(d, "broadcast")

    def each(getter, source=runs):
        values = {}
        for key, _ in SERVERS:
            try:
                values[key] = getter(source[key]) if source.get(key) else None
            except (KeyError, TypeError, ZeroDivisionError):
                values[key] = None
        return values

    def connect(f, field):
        c = f.get("connect")
        return c[field] if c else None

    def sc(name, getter):
        return lambda f: getter(scenario(f, name)) if scenario(f, name) else None

    def latency(name, field, source_pick=None):
        # A run without a single timed delivery has no latency, not a latency of 0.
        def get(s):
            return s["latency"][field] if s["latency"]["samples"] else None
        return sc(name, get)

    def cpu_per_event(s):
        # Server CPU time per delivered event: the figure least disturbed by other load on the
        # machine, since a starved server is slow but not more expensive.
        if s.get("serverCPUPercent") is None or not s["received"]:
            return None
        return s["serverCPUPercent"] / 100 * s["deliverySeconds"] / s["received"] * 1e6

    nchan_single = (scenario(runs["nchan"], "targeted-max") or {}).get("deliveredPerSecond")

    def target_ratio(minimum, against=None):
        def text(row):
            relay = row.values.get("relay")
            base = against if against is not None else row.values.get("nchan")
            if relay is None or not base:
                return f"≥ {minimum}× nchan: n/a"
            return check(relay >= minimum * base, f"≥ {minimum}× nchan ({relay / base:.2f}×)")
        return text

    def target_lower(fraction, label):
        def text(row):
            relay, nchan = row.values.get("relay"), row.values.get("nchan")
            if relay is None or not nchan:
                return f"{label}: n/a"
            return check(relay <= fraction * nchan, f"{label} ({relay / nchan:.2f}×)")
        return text

    def target_absolute(limit, label):
        def text(row):
            relay = row.values.get("relay")
            return check(None if relay is None else relay < limit, label)
        return text

    n = args.connections
    rows = [
        ("Idle connections", [
            Row(f"time to establish {n:,} (s)", each(lambda f: connect(f, "seconds")), True, decimals=2),
            Row("server memory per connection (KiB, Pss)", each(lambda f: connect(f, "serverRSSPerConnectionKiB")),
                True, target=target_lower(1 / 3, "≤ ⅓ of nchan"), decimals=2),
            Row("server CPU per connect (µs)", each(lambda f: connect(f, "serverCPUPercent") / 100
                                                     * connect(f, "seconds") / connect(f, "established") * 1e6), True),
            Row("connect failures", each(lambda f: connect(f, "failures")), True, decimals=0),
        ]),
        ("Targeted, 5,000 events/s, one per request", [
            Row("latency p50 (ms)", each(latency("targeted-rate", "p50Ms")), True),
            Row("latency p99 (ms)", each(latency("targeted-rate", "p99Ms")), True,
                target=target_lower(1, "≤ nchan")),
            Row("lost events", each(sc("targeted-rate", lambda s: s["lost"])), True, decimals=0),
        ]),
        ("Targeted, as fast as possible, one event per request", [
            Row("delivered events/s", each(sc("targeted-max", lambda s: s["deliveredPerSecond"])), False,
                floor=floor_targeted and floor_targeted["received_per_s"], target=target_ratio(1.5)),
            Row("latency p99 (ms)", each(latency("targeted-max", "p99Ms")), True),
            Row("server CPU (% of a core)", each(sc("targeted-max", lambda s: s["serverCPUPercent"])), True),
            Row("server CPU per event (µs)", each(sc("targeted-max", cpu_per_event)), True),
            Row("load generator CPU (%)", each(sc("targeted-max", lambda s: s["benchCPUPercent"])), True),
        ]),
        ("Targeted, bulk (relay NDJSON 500/request; Pushpin `items`; nchan has none)", [
            Row("delivered events/s", each(sc("bulk", lambda s: s["deliveredPerSecond"])), False,
                floor=floor_targeted and floor_targeted["received_per_s"],
                target=target_ratio(4, nchan_single)),
            Row("latency p99 (ms)", each(latency("bulk", "p99Ms")), True),
            Row("server CPU per event (µs)", each(sc("bulk", cpu_per_event)), True),
            Row("lost events", each(sc("bulk", lambda s: s["lost"])), True, decimals=0),
        ]),
        (f"Broadcast to one topic, {n:,} subscribers", [
            Row("deliveries/s", each(sc("broadcast", lambda s: s["deliveredPerSecond"])), False,
                floor=floor_broadcast and floor_broadcast["received_per_s"], target=target_ratio(1)),
            Row("latency p50 (ms)", each(latency("broadcast", "p50Ms")), True),
            Row("latency p99 (ms)", each(latency("broadcast", "p99Ms")), True),
            Row("server CPU per delivery (µs)", each(sc("broadcast", cpu_per_event)), True),
            Row("lost deliveries", each(sc("broadcast", lambda s: s["lost"])), True, decimals=0),
            Row("load generator CPU (%)", each(sc("broadcast", lambda s: s["benchCPUPercent"])), True),
        ]),
        ("Cross-node, 3 nodes, 2,000 events/s (relay: Redis + RabbitMQ; nchan: shared Redis; Pushpin n/a)", [
            Row("latency p50 (ms)", each(latency("targeted-rate", "p50Ms"), cluster), True),
            Row("latency p99 (ms)", each(latency("targeted-rate", "p99Ms"), cluster), True,
                target=target_absolute(10, "< 10 ms")),
            Row("lost events", each(sc("targeted-rate", lambda s: s["lost"]), cluster), True, decimals=0),
        ]),
        ("Connection churn (close + reopen, 100 at a time)", [
            Row("cycles/s", each(lambda f: f["churn"]["cyclesPerSecond"]), False),
            Row("connect p99 (ms)", each(lambda f: f["churn"]["connectLatency"]["p99Ms"]
                                         if f["churn"]["cycles"] else None), True),
            Row("server CPU per cycle (µs)", each(lambda f: f["churn"]["serverCPUPercent"] / 100
                                                  * f["churn"]["seconds"] / f["churn"]["cycles"] * 1e6), True),
            Row("failed connects", each(lambda f: f["churn"]["failures"]), True, decimals=0),
        ]),
    ]

    lines = []
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"# sse-relay side-by-side benchmark ({stamp}{', quick mode' if args.quick else ''})")
    lines.append("")
    lines.append(f"{n:,} SSE connections, {args.duration:g} s per scenario, {os.cpu_count()} cores, loopback; "
                 "one sse-relay-bench process per server. ↓ lower is better, ↑ higher is better. "
                 "\"relay / best peer\" divides sse-relay's figure by the best of nchan and Pushpin "
                 "(below 1 is better for ↓ rows, above 1 for ↑ rows). The kernel floor is "
                 "Tests/bench/kernel-floor.c: one write per delivery to loopback sockets, no server.")
    lines.append("")
    header = "| Figure | " + " | ".join(label for _, label in SERVERS) + " | kernel floor | relay / best peer | target |"
    lines.append(header)
    lines.append("|" + "---|" * (header.count("|") - 1))
    for title, section in rows:
        lines.append(f"| **{title}** |" + " |" * (header.count("|") - 2))
        for row in section:
            lines.append(row.markdown())
    lines.append("")
    notes = []
    for key, label in SERVERS:
        for source, tag in ((runs, ""), (cluster, " cross-node")):
            f = source.get(key)
            if not f:
                continue
            for s in f.get("scenarios", []):
                if s.get("droppedConnections"):
                    notes.append(f"{label}{tag} {s['name']}: {s['droppedConnections']} connections dropped")
                if s.get("errors"):
                    notes.append(f"{label}{tag} {s['name']}: publisher errors {s['errors'][:2]}")
                if s.get("benchCPUPercent", 0) >= 90:
                    notes.append(f"{label}{tag} {s['name']}: load generator at {s['benchCPUPercent']:.0f}% CPU "
                                 "(it may be the limit)")
    if floor_targeted:
        notes.append(f"kernel floor: {int(floor_targeted['sockets']):,} sockets (both ends in one process), "
                     f"targeted {floor_targeted['cpu_percent']:.0f}% CPU, "
                     f"broadcast {floor_broadcast['cpu_percent']:.0f}% CPU" if floor_broadcast else "")
    notes.append("The kernel floor writes one frame per call; a server that is behind writes several "
                 "queued events per call, so under a backlog (broadcast here) it can pass the 'floor'.")
    notes.append("CPU per event is the server's CPU time (all its processes) from the first publish to "
                 "the last delivery, divided by the deliveries: on a busy machine the throughput and "
                 "latency rows measure how much CPU each server was given; this row measures its cost.")
    if runs.get("pushpin"):
        notes.append("Pushpin connects 50 at a time (the others 500): at 500 it answered about a quarter "
                     "of them 502/500 on this machine. Its publish API closes the connection after every "
                     "call, so its publisher opens one connection per request (as many in flight as the "
                     "others' pipelines).")
    if args.elapsed:
        notes.append(f"suite run time: {args.elapsed // 60} min {args.elapsed % 60} s")
    if notes:
        lines.append("Notes:")
        lines += [f"- {note}" for note in notes if note]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write(text)
    print(text)
    plot(d, runs, cluster)


def plot(d, runs, cluster):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plots")
        return
    charts = [
        ("targeted-rate", "Targeted, 5,000 events/s", runs, lambda f: scenario(f, "targeted-rate")),
        ("targeted-max", "Targeted, as fast as possible", runs, lambda f: scenario(f, "targeted-max")),
        ("bulk", "Targeted, bulk", runs, lambda f: scenario(f, "bulk")),
        ("broadcast", "Broadcast", runs, lambda f: scenario(f, "broadcast")),
        ("cross-node", "Cross-node, 2,000 events/s", cluster, lambda f: scenario(f, "targeted-rate")),
        ("churn", "Churn: connect to first bytes", runs, lambda f: f.get("churn") and {"latency": f["churn"]["connectLatency"]}),
    ]
    for name, title, source, pick in charts:
        fig, ax = plt.subplots(figsize=(7, 4))
        drawn = False
        for key, label in SERVERS:
            f = source.get(key)
            s = pick(f) if f else None
            points = s and s["latency"].get("quantilesMs")
            if not points:
                continue
            ax.plot([p[1] for p in points], [p[0] * 100 for p in points], label=label)
            drawn = True
        if not drawn:
            plt.close(fig)
            continue
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("percentile")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(d, f"latency-{name}.png"), dpi=100)
        plt.close(fig)


if __name__ == "__main__":
    main()
