/**
 * The operator's dashboard: one self-contained page (no fonts, scripts or styles from anywhere else) that polls
 * /status.json and draws its charts as inline SVG.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shoal node</title>
<style>
  :root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7385; --card: #ffffff; --bg: #f3f5f9; --accent: #2f6fed; --accent2: #14a37f; --bad: #d64545; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #98a1b3; --card: #1b2130; --bg: #11151f; } }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
  header { padding: 20px 28px; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
  header h1 { font-size: 20px; margin: 0; }
  header .id { color: var(--muted); font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
  .pill { padding: 2px 10px; border-radius: 99px; font-size: 12px; background: var(--accent2); color: #fff; }
  .pill.bad { background: var(--bad); }
  main { padding: 0 28px 28px; display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 16px; }
  .card { background: var(--card); border-radius: 12px; padding: 16px 18px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  .card.wide { grid-column: 1 / -1; }
  .card h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 10px; font-weight: 600; }
  .big { font-size: 26px; font-weight: 650; }
  .muted { color: var(--muted); font-size: 13px; overflow-wrap: anywhere; }
  .bar { height: 10px; border-radius: 5px; background: rgba(127,127,127,.2); overflow: hidden; margin: 10px 0 6px; }
  .bar > div { height: 100%; background: var(--accent); width: 0; transition: width .4s; }
  svg { width: 100%; height: 180px; display: block; }
  .chart { position: relative; }
  .chart .empty { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; color: var(--muted); font-size: 14px; }
  .legend span { display: inline-block; margin-right: 14px; font-size: 13px; }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
  table { width: 100%; border-collapse: collapse; font-size: 14px; }
  td { padding: 3px 0; } td:last-child { text-align: right; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<header><h1>Shoal node</h1><span id="state" class="pill">…</span><span class="id" id="peer"></span></header>
<main>
  <section class="card"><h2>Storage</h2><div class="big" id="stored">–</div><div class="bar"><div id="fill"></div></div><div class="muted" id="capacity"></div></section>
  <section class="card"><h2>Reputation</h2><table>
    <tr><td>Audit score</td><td id="audit">–</td></tr><tr><td>Uptime score</td><td id="uptime">–</td></tr>
    <tr><td>Audits passed / failed</td><td id="audits">–</td></tr><tr><td>Vetted</td><td id="vetted">–</td></tr></table>
    <div class="muted" id="repnote"></div></section>
  <section class="card"><h2>Earnings this month</h2><div class="big" id="earned">–</div><div class="muted" id="held"></div></section>
  <section class="card"><h2>Traffic since start</h2><table>
    <tr><td>Ingress (stored)</td><td id="in">–</td></tr><tr><td>Egress (served)</td><td id="out">–</td></tr>
    <tr><td>Requests</td><td id="reqs">–</td></tr><tr><td>Audits answered</td><td id="answered">–</td></tr></table></section>
  <section class="card wide"><h2>Ingress and egress</h2><div class="legend"><span><i style="background:var(--accent)"></i>ingress</span><span><i style="background:var(--accent2)"></i>egress</span><span class="muted" id="range"></span></div><div class="chart"><svg id="traffic" viewBox="0 0 600 180" preserveAspectRatio="none"></svg><div class="empty" id="trafficEmpty">collecting samples (one a minute)…</div></div></section>
  <section class="card wide"><h2>Stored over time</h2><div class="chart"><svg id="storedChart" viewBox="0 0 600 180" preserveAspectRatio="none"></svg><div class="empty" id="storedEmpty">collecting samples (one a minute)…</div></div></section>
  <section class="card wide"><h2>Node</h2><table><tr><td>Version</td><td id="version">–</td></tr><tr><td>Tracker</td><td id="tracker">–</td></tr>
    <tr><td>Heartbeats sent / failed</td><td id="hb">–</td></tr><tr><td>Up since</td><td id="since">–</td></tr></table></section>
</main>
<script>
const $ = (id) => document.getElementById(id)
function bytes(n) { const u = ['B','KiB','MiB','GiB','TiB']; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++ } return (i ? n.toFixed(1) : n) + ' ' + u[i] }
function pct(x) { return (100 * x).toFixed(1) + '%' }
function line(points, key, max, color, fill) {
  if (points.length < 2) return ''
  const step = 600 / (points.length - 1)
  const ys = points.map((p) => 175 - (max > 0 ? (p[key] / max) * 165 : 0))
  const d = ys.map((y, i) => (i ? 'L' : 'M') + (i * step).toFixed(1) + ' ' + y.toFixed(1)).join(' ')
  return (fill ? '<path d="' + d + ' L600 175 L0 175 Z" fill="' + color + '" opacity=".15"/>' : '') + '<path d="' + d + '" fill="none" stroke="' + color + '" stroke-width="2"/>'
}
function empty(on) { $('trafficEmpty').style.display = on ? 'flex' : 'none'; $('storedEmpty').style.display = on ? 'flex' : 'none' }
async function refresh() {
  let s
  try { s = await (await fetch('status.json', { cache: 'no-store' })).json() } catch { $('state').textContent = 'unreachable'; $('state').className = 'pill bad'; return }
  const dq = s.reputation && s.reputation.disqualified
  $('state').textContent = dq ? 'disqualified' : s.status; $('state').className = dq || s.status !== 'started' ? 'pill bad' : 'pill'
  $('peer').textContent = s.peerId
  $('stored').textContent = bytes(s.stored); $('fill').style.width = pct(s.capacity ? s.stored / s.capacity : 0)
  $('capacity').textContent = pct(s.capacity ? s.stored / s.capacity : 0) + ' of ' + bytes(s.capacity) + ' · ' + s.pieces + ' pieces'
  const r = s.reputation
  if (r && !r.error) {
    $('audit').textContent = pct(r.auditScore); $('uptime').textContent = pct(r.uptimeScore)
    $('audits').textContent = r.audits.passed + ' / ' + r.audits.failed; $('vetted').textContent = r.vetted ? 'yes' : 'not yet'
    $('repnote').textContent = dq ? 'Disqualified: ' + dq.reason : ''
  } else { $('repnote').textContent = r ? r.error : 'no tracker configured' }
  if (s.earnings) {
    const e = s.earnings
    $('earned').textContent = (e.thisMonth / 1e6).toFixed(2) + ' ' + e.currency
    $('held').textContent = [(e.heldBack / 1e6).toFixed(2) + ' held back']
      .concat(e.servedToRepairs > 0 ? [bytes(e.servedToRepairs) + ' served to repairs'] : [])
      .concat(Number(e.unpaidGiBMonths) > 0 ? [e.unpaidGiBMonths + ' GiB-months unpaid: pieces that failed audits'] : [])
      .join(' · ')
  }
  else { $('earned').textContent = 'not available'; $('held').textContent = 'Payout statements come from the tracker once settlement is enabled.' }
  $('in').textContent = bytes(s.bytesIn); $('out').textContent = bytes(s.bytesOut)
  $('reqs').textContent = Object.entries(s.requests).map(([k, v]) => k + ' ' + v).join(' · '); $('answered').textContent = s.audits.answered
  $('version').textContent = s.version; $('tracker').textContent = s.tracker || '–'
  $('hb').textContent = s.heartbeats.sent + ' / ' + s.heartbeats.failed; $('since').textContent = new Date(s.startedAt).toLocaleString()
  const h = s.history
  if (h.length < 2) { empty(true); $('traffic').innerHTML = ''; $('storedChart').innerHTML = ''; $('range').textContent = ''; return }
  empty(false)
  const max = Math.max(1, ...h.map((p) => Math.max(p.ingress, p.egress)))
  $('traffic').innerHTML = line(h, 'ingress', max, 'var(--accent)', true) + line(h, 'egress', max, 'var(--accent2)', true)
  $('range').textContent = new Date(h[0].at).toLocaleString() + ' – ' + new Date(h[h.length - 1].at).toLocaleTimeString() + ' · peak ' + bytes(max) + ' per sample'
  const cap = Math.max(1, ...h.map((p) => p.capacity))
  $('storedChart').innerHTML = line(h, 'stored', cap, 'var(--accent)', true)
}
refresh(); setInterval(refresh, 5000)
</script>
</body>
</html>
`
