/// The status page: one self-contained HTML file (no build step, no CDN), shipped inside the
/// binary as a string so an installed or static binary needs no resource bundle next to it.
///
/// It subscribes to `/status/events` with `EventSource` (the relay's own SSE) and redraws
/// plain `<canvas>` charts from each snapshot; the browser reconnects by itself.
enum StatusPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>sse-relay status</title>
    <style>
    :root { --fg:#1d2433; --muted:#6b7385; --bg:#f5f6f8; --card:#fff; --ok:#1f8f4e; --bad:#c62f2f; --line:#2f6fdf; --line2:#e08a1e; }
    * { box-sizing: border-box; }
    body { margin:0; font:14px/1.4 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
    header { display:flex; align-items:baseline; gap:16px; padding:14px 20px; background:var(--card); border-bottom:1px solid #dde1e8; }
    header h1 { font-size:18px; margin:0; }
    .pill { padding:2px 10px; border-radius:10px; color:#fff; font-weight:600; }
    .ok { background:var(--ok); } .bad { background:var(--bad); } .idle { background:var(--muted); }
    main { display:grid; grid-template-columns:repeat(auto-fill, minmax(330px, 1fr)); gap:14px; padding:16px 20px; }
    section { background:var(--card); border:1px solid #dde1e8; border-radius:8px; padding:12px 14px; }
    h2 { font-size:13px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:0 0 8px; }
    .big { font-size:28px; font-weight:650; }
    .row { display:flex; gap:18px; flex-wrap:wrap; }
    .row div span { display:block; color:var(--muted); font-size:12px; }
    canvas { width:100%; height:120px; display:block; margin-top:6px; }
    table { width:100%; border-collapse:collapse; } td, th { text-align:left; padding:3px 6px 3px 0; border-bottom:1px solid #eef0f3; }
    .muted { color:var(--muted); }
    </style>
    </head>
    <body>
    <header><h1>sse-relay <span id="node">…</span></h1><span id="mode" class="muted"></span>
    <span id="ready" class="pill idle">connecting</span><span id="reasons" class="muted"></span>
    <span id="feed" class="muted" style="margin-left:auto"></span></header>
    <main>
    <section><h2>Connections</h2><div class="row">
      <div><span>open</span><b id="connections" class="big">0</b></div>
      <div><span>clients</span><b id="clients">0</b></div>
      <div><span>topics</span><b id="topics">0</b></div>
      <div><span>connects since start</span><b id="connects-total">0</b></div></div>
      <canvas id="chart-connections"></canvas></section>
    <section><h2>Events per second</h2><div class="row">
      <div><span>published</span><b id="published-rate" class="big">0</b></div>
      <div><span>delivered</span><b id="delivered-rate" class="big">0</b></div>
      <div><span>published since start</span><b id="published-total">0</b></div>
      <div><span>delivered since start</span><b id="delivered-total">0</b></div></div>
      <canvas id="chart-events"></canvas>
      <div class="muted"><span style="color:var(--line)">■</span> published <span style="color:var(--line2)">■</span> delivered, last 5 minutes</div></section>
    <section><h2>Backends</h2><table id="backends"><tr><td class="muted">standalone: none</td></tr></table>
      <h2 style="margin-top:12px">Nodes</h2><table id="nodes"></table></section>
    <section><h2>Disconnects (last 5 minutes / since start)</h2><table id="closes"></table></section>
    </main>
    <script>
    "use strict";
    const $ = (id) => document.getElementById(id);
    const fmt = (n) => n >= 100 ? Math.round(n).toLocaleString() : (Math.round(n * 10) / 10).toString();
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));

    // x: time over the last 5 minutes (the sampler's window), so a young node's few points
    // sit at the right instead of stretching across the chart.
    const WINDOW = 300;
    function draw(canvas, times, lines) {
      const ratio = window.devicePixelRatio || 1;
      const w = canvas.clientWidth, h = canvas.clientHeight;
      canvas.width = w * ratio; canvas.height = h * ratio;
      const g = canvas.getContext("2d");
      g.scale(ratio, ratio); g.clearRect(0, 0, w, h);
      const all = lines.flatMap((l) => l.values);
      const max = Math.max(1, ...all);
      g.strokeStyle = "#eef0f3"; g.fillStyle = "#6b7385"; g.font = "11px system-ui";
      for (const f of [0, 0.5, 1]) {
        const y = h - 14 - f * (h - 24);
        g.beginPath(); g.moveTo(32, y); g.lineTo(w, y); g.stroke();
        g.fillText(fmt(max * f), 0, y + 4);
      }
      for (const line of lines) {
        const n = line.values.length;
        if (n < 2) continue;
        const end = times[times.length - 1];
        g.strokeStyle = line.color; g.lineWidth = 1.6; g.beginPath();
        line.values.forEach((v, i) => {
          const x = 32 + Math.max(0, 1 - (end - times[i]) / WINDOW) * (w - 34), y = h - 14 - (v / max) * (h - 24);
          i ? g.lineTo(x, y) : g.moveTo(x, y);
        });
        g.stroke();
      }
    }

    function render(s) {
      $("node").textContent = s.node;
      $("mode").textContent = s.mode + " · v" + s.version + " · up " + s.uptimeSeconds + " s";
      const ready = $("ready");
      ready.textContent = s.ready ? "ready" : (s.draining ? "draining" : "not ready");
      ready.className = "pill " + (s.ready ? "ok" : "bad");
      $("reasons").textContent = s.notReady.join(", ");
      $("connections").textContent = s.connections;
      $("clients").textContent = s.clients;
      $("topics").textContent = s.topics;
      $("connects-total").textContent = s.totals.connects;
      $("published-total").textContent = s.totals.published;
      $("delivered-total").textContent = s.totals.delivered;
      const last = (a) => a.length ? a[a.length - 1] : 0;
      $("published-rate").textContent = fmt(last(s.series.publishedPerSecond));
      $("delivered-rate").textContent = fmt(last(s.series.deliveredPerSecond));
      const backends = Object.keys(s.backends).sort();
      $("backends").innerHTML = backends.length ? backends.map((b) =>
        `<tr><td>${esc(b)}</td><td><span class="pill ${s.backends[b] ? "ok" : "bad"}">${s.backends[b] ? "up" : "down"}</span></td></tr>`).join("")
        : `<tr><td class="muted">standalone: none</td></tr>`;
      $("nodes").innerHTML = "<tr><th>node</th><th>address</th><th>connections</th><th>version</th></tr>" +
        s.nodes.map((n) => `<tr><td>${esc(n.id)}</td><td>${esc(n.address)}</td><td>${n.connections}</td><td>${esc(n.version)}</td></tr>`).join("");
      $("closes").innerHTML = "<tr><th>reason</th><th>recent</th><th>total</th></tr>" +
        Object.keys(s.closes).sort().map((r) => `<tr><td>${esc(r)}</td><td>${s.recentCloses[r] || 0}</td><td>${s.closes[r]}</td></tr>`).join("");
      draw($("chart-connections"), s.series.time, [{ values: s.series.connections, color: "#2f6fdf" }]);
      draw($("chart-events"), s.series.time, [
        { values: s.series.publishedPerSecond, color: "#2f6fdf" },
        { values: s.series.deliveredPerSecond, color: "#e08a1e" },
      ]);
      $("feed").textContent = "updated " + new Date().toLocaleTimeString();
    }

    const source = new EventSource("status/events");
    source.addEventListener("status", (e) => render(JSON.parse(e.data)));
    source.onerror = () => { $("feed").textContent = "reconnecting…"; };
    </script>
    </body>
    </html>
    """#
}
