/**
 * The dashboard page: one HTML document with inline CSS and JS, no build step, no dependencies. It
 * subscribes to `/events` (server-sent events; every event is a full snapshot) and re-renders; the
 * acknowledge buttons POST to `/api/alerts/<id>/ack`, which goes through the device workflow's
 * `acknowledgeAlert` update, and the change arrives back through the event stream.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iot-pipelines dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 2rem; color: #222; background: #fafafa; }
  h1 { font-size: 1.4rem; margin: 0 0 .3rem; } h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; }
  table { border-collapse: collapse; background: #fff; margin-bottom: .5rem; }
  th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
  th { background: #f0f0f0; } .muted { color: #777; } .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 2rem; }
  .ok { color: #17692e; } .silent, .alerting, .offline, .error { color: #b3261e; font-weight: 600; } .warning { color: #a15c00; }
  .acknowledged { color: #555; font-style: italic; } #conn { float: right; } button { cursor: pointer; }
</style>
</head>
<body>
<span id="conn" class="muted">connecting…</span>
<h1>iot-pipelines</h1>
<div class="muted">Live: updates arrive by server-sent events. <span id="updated"></span></div>
<div class="grid">
  <section><h2>Weather forecast</h2><div id="forecast" data-testid="forecast">no forecast yet</div></section>
  <section><h2>Occupancy predictions (latest per room)</h2><div id="predictions" data-testid="predictions">none</div></section>
</div>
<section><h2>Open alerts</h2><div id="alerts" data-testid="alerts">none</div></section>
<section><h2>Devices</h2><div id="devices" data-testid="devices">none</div></section>
<section><h2>Ingest streams</h2><div id="streams" data-testid="streams">none</div></section>
<section><h2>Ingest rates <span class="muted">(this process's Prometheus counters)</span></h2><div id="ingest" data-testid="ingest">none</div></section>
<script>
"use strict";
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const t = (iso) => iso ? esc(iso.replace('T', ' ').replace(/\\.\\d+Z$/, 'Z')) : '<span class="muted">–</span>';
const num = (x, d = 1) => x === null || x === undefined ? '<span class="muted">null</span>' : esc(Number(x).toFixed(d));
function table(head, rows) {
  return '<table><thead><tr>' + head.map((h) => '<th>' + h + '</th>').join('') + '</tr></thead><tbody>' + rows.join('') + '</tbody></table>';
}
function renderForecast(f) {
  if (!f) return 'no forecast yet';
  const vars = f.variables.slice(0, 8);
  const head = ['time (UTC)'].concat(vars.map((v) => esc(v) + ' <span class="muted">[' + esc(f.units[v].unit) + ']</span>'));
  const rows = f.hours.map((h) => '<tr data-testid="forecast-hour"><td>' + t(h.time) + '</td>' + vars.map((v) => '<td>' + num(h.values[v], 2) + '</td>').join('') + '</tr>');
  return '<div class="muted">' + esc(f.location) + ' (' + esc(f.latitude) + ', ' + esc(f.longitude) + '), fetched ' + t(f.fetchedAt) + '</div>' + table(head, rows);
}
function renderAlerts(alerts) {
  if (!alerts.length) return 'none';
  return table(['id', 'device', 'rule', 'severity', 'window', 'message', 'status', 'last seen', ''], alerts.map((a) =>
    '<tr data-testid="alert" data-alert-id="' + a.id + '"><td>' + a.id + '</td><td>' + esc(a.source) + '/' + esc(a.deviceId) + '</td><td>' + esc(a.rule) +
    '</td><td class="' + esc(a.severity) + '">' + esc(a.severity) + '</td><td>' + t(a.windowStart) + ' → ' + t(a.windowEnd) + '</td><td>' + esc(a.message) +
    '</td><td class="' + esc(a.status) + '" data-testid="alert-status">' + esc(a.status) + (a.acknowledgedBy ? ' by ' + esc(a.acknowledgedBy) : '') +
    '</td><td>' + t(a.lastSeen) + '</td><td>' + (a.status === 'open' ? '<button data-testid="ack" data-ack="' + a.id + '">acknowledge</button>' : '') + '</td></tr>'));
}
function renderDevices(devices) {
  if (!devices.length) return 'none';
  return table(['device', 'kind', 'status', 'last seen', 'last event', 'latest', 'open alerts'], devices.map((d) =>
    '<tr data-testid="device" data-device="' + esc(d.deviceId) + '"><td>' + esc(d.source) + '/' + esc(d.deviceId) + '</td><td>' + esc(d.kind) + '</td><td class="' + esc(d.status) + '">' + esc(d.status) +
    '</td><td>' + t(d.lastSeen) + '</td><td>' + t(d.lastEventTime) + '</td><td>' + esc(d.latest ? JSON.stringify(d.latest) : '') + '</td><td>' + d.openAlerts + '</td></tr>'));
}
function renderPredictions(ps) {
  if (!ps.length) return 'none';
  return table(['room', 'window (UTC)', 'occupied', 'P(occupied)', 'model'], ps.map((p) =>
    '<tr data-testid="prediction"><td>' + esc(p.source) + '/' + esc(p.deviceId) + '</td><td>' + t(p.windowStart) + '</td><td>' + (p.occupied ? 'yes' : 'no') + '</td><td>' + num(p.probability, 3) + '</td><td>' + esc(p.modelVersion) + '</td></tr>'));
}
function renderStreams(ss) {
  if (!ss.length) return 'none running';
  return table(['workflow', 'state', 'committed', 'inserted', 'dead letters', 'batches', 'last error'], ss.map((s) => s.status
    ? '<tr data-testid="stream"><td>' + esc(s.workflowId) + '</td><td>' + esc(s.status.state) + '</td><td>' + s.status.committed + '</td><td>' + s.status.inserted + '</td><td>' + s.status.deadLettered + '</td><td>' + s.status.batches + '</td><td>' + esc(s.status.lastError) + '</td></tr>'
    : '<tr data-testid="stream"><td>' + esc(s.workflowId) + '</td><td colspan="6" class="error">' + esc(s.error) + '</td></tr>'));
}
function renderIngest(rs) {
  if (!rs || !rs.length) return 'no consumer in this process';
  return table(['source', 'transport', 'state', 'rows/s', 'dead letters/min', 'Kafka lag', 'rows', 'dead letters'], rs.map((r) =>
    '<tr data-testid="ingest-rate"><td>' + esc(r.source) + '</td><td>' + esc(r.transport) + '</td><td class="' + esc(r.state === 'running' ? 'ok' : r.state === 'waiting' ? 'warning' : '') + '">' + esc(r.state || '') +
    '</td><td>' + r.rowsPerSecond.toFixed(1) + '</td><td class="' + (r.deadLettersPerMinute > 0 ? 'warning' : '') + '">' + r.deadLettersPerMinute.toFixed(1) + '</td><td>' + (r.lag === undefined ? '–' : r.lag) +
    '</td><td>' + r.rows + '</td><td>' + r.deadLetters + '</td></tr>'));
}
function render(s) {
  document.getElementById('forecast').innerHTML = renderForecast(s.forecast);
  document.getElementById('alerts').innerHTML = renderAlerts(s.alerts);
  document.getElementById('devices').innerHTML = renderDevices(s.devices);
  document.getElementById('predictions').innerHTML = renderPredictions(s.predictions);
  document.getElementById('streams').innerHTML = renderStreams(s.streams);
  document.getElementById('ingest').innerHTML = renderIngest(s.ingest);
  document.getElementById('updated').textContent = 'Last update ' + new Date().toISOString();
  window.__snapshots = (window.__snapshots || 0) + 1;
}
document.addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-ack]');
  if (!b) return;
  b.disabled = true; b.textContent = 'acknowledging…';
  const r = await fetch('/api/alerts/' + b.dataset.ack + '/ack', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'dashboard' }) });
  if (!r.ok) { b.disabled = false; b.textContent = 'acknowledge'; alert('Acknowledge failed: ' + (await r.text())); }
});
const es = new EventSource('/events');
es.addEventListener('snapshot', (e) => render(JSON.parse(e.data)));
es.onopen = () => { document.getElementById('conn').textContent = '● live'; };
es.onerror = () => { document.getElementById('conn').textContent = 'reconnecting…'; };
</script>
</body>
</html>
`;
