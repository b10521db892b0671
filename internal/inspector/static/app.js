// The inspector page: one EventSource on api/events ("hello" and
// "snapshot" carry health, counters and machines; "trace" one bus action
// each), drawn into the machines table, the events list, the sequence
// diagram, the statecharts and the graphs. No framework; everything the
// page keeps is bounded.
'use strict';

// Uncaught errors are kept for the tests (and the curious) to read.
window.inspectorErrors = [];
window.addEventListener('error', e => window.inspectorErrors.push(String(e.message)));

(function () {
  const $ = s => document.querySelector(s);
  const MAX_TRACES = 1000, MAX_ROWS = 300, MAX_POINTS = 60, RATE_WINDOW = 5;

  const S = {
    snap: null, prev: null,
    series: { eps: [], conns: [], queued: [], fails: [] },
    stats: new Map(),   // machine id -> {inT, outT, fails, last, hist: [[time, in, out]]}
    traces: [],         // the last MAX_TRACES traces, oldest first
    paused: false, missed: 0,
    charts: new Map(),  // machine id -> {card, view, def, value, status, context, registeredAt, fetching}
  };

  // ---- helpers
  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function compact(v) { return v === null || v === undefined ? '' : (typeof v === 'string' ? v : JSON.stringify(v)); }
  function stateText(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'string') return v;
    return Object.keys(v).map(k => {
      const c = v[k];
      return typeof c === 'string' ? k + '.' + c : (c && typeof c === 'object' && Object.keys(c).length ? k + '.{' + stateText(c) + '}' : k);
    }).join(', ');
  }
  function human(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(Math.round(n * 10) / 10);
  }
  function humanBytes(n) {
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
    return n + ' B';
  }
  function match(pattern, s) {
    if (!pattern) return true;
    return pattern.split(',').map(p => p.trim()).filter(Boolean).some(p =>
      p.endsWith('*') ? s.startsWith(p.slice(0, -1)) : p === s);
  }
  function failed(t) { return t.Outcome !== 'delivered' && t.Outcome !== 'ok'; }
  function stat(id) {
    let s = S.stats.get(id);
    if (!s) { s = { inT: 0, outT: 0, fails: 0, last: '', hist: [], inRate: 0, outRate: 0 }; S.stats.set(id, s); }
    return s;
  }

  // ---- snapshots: header, graphs, counters, machines table, charts
  function onSnapshot(snap) {
    S.prev = S.snap; S.snap = snap;
    const hl = $('#health');
    hl.textContent = snap.Health.IsHealthy ? 'healthy' : 'unhealthy: ' + snap.Health.ErrorMessage;
    hl.className = 'badge ' + (snap.Health.IsHealthy ? 'ok' : 'bad');
    $('#version').textContent = snap.Version ? 'statebus ' + snap.Version : '';
    const up = Math.floor(snap.Counters.UptimeSeconds);
    $('#uptime').textContent = 'up ' + Math.floor(up / 3600) + 'h ' + Math.floor(up / 60) % 60 + 'm ' + up % 60 + 's';
    const c = snap.Counters;
    const total = x => x.EventsRouted + x.EventsPublished + x.Requests + x.Replies;
    const fails = x => Object.values(x.Failures || {}).reduce((a, b) => a + b, 0);
    if (S.prev) {
      const dt = Math.max(0.001, (Date.parse(snap.Time) - Date.parse(S.prev.Time)) / 1000);
      push('eps', Math.max(0, (total(c) - total(S.prev.Counters)) / dt));
      push('fails', Math.max(0, (fails(c) - fails(S.prev.Counters)) / dt));
    }
    push('conns', c.ConnectionCount);
    push('queued', c.QueuedBytes);
    drawGraph('#graph-eps', S.series.eps);
    drawGraph('#graph-conns', S.series.conns);
    drawGraph('#graph-queued', S.series.queued);
    drawGraph('#graph-failures', S.series.fails);
    drawCounters(c);
    updateRates();
    drawMachines(snap.Machines);
    syncCharts(snap.Machines);
  }
  function push(k, v) { const a = S.series[k]; a.push(v); if (a.length > MAX_POINTS) a.shift(); }

  function drawGraph(sel, pts) {
    const fig = $(sel), svg = fig.querySelector('svg');
    fig.querySelector('.value').textContent = pts.length ? human(pts[pts.length - 1]) : '–';
    const max = Math.max(1, ...pts);
    // Newest at the right edge, one second per step.
    const xy = pts.map((v, i) => [240 - (pts.length - 1 - i) * (240 / (MAX_POINTS - 1)), 48 - (v / max) * 44]);
    const line = xy.map(p => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' ');
    svg.innerHTML = '';
    if (!xy.length) return;
    const ns = 'http://www.w3.org/2000/svg';
    const poly = document.createElementNS(ns, 'polygon');
    poly.setAttribute('points', line + ` ${xy[xy.length - 1][0]},50 ${xy[0][0]},50`);
    const pl = document.createElementNS(ns, 'polyline');
    pl.setAttribute('points', line);
    svg.append(poly, pl);
  }

  function drawCounters(c) {
    const rows = [
      ['machines', c.RegisteredMachines], ['pending', c.PendingRequests], ['peak conns', c.PeakConnections],
      ['routed', c.EventsRouted], ['published', c.EventsPublished], ['requests', c.Requests], ['replies', c.Replies],
      ['lines in', c.LinesIn], ['bytes in', human(c.BytesIn)], ['bytes out', human(c.BytesOut)],
      ['dropped', c.DroppedLines], ['goroutines', c.Goroutines], ['rss', human(c.ResidentBytes)],
    ];
    for (const [k, v] of Object.entries(c.Failures || {})) rows.push(['✕ ' + k, v]);
    const dl = $('#counters');
    dl.replaceChildren();
    for (const [k, v] of rows) dl.append(h('dt', '', k), h('dd', '', String(v)));
  }

  // updateRates turns the per-machine totals into per-second rates over
  // the last RATE_WINDOW snapshots.
  function updateRates() {
    const now = Date.now();
    for (const s of S.stats.values()) {
      s.hist.push([now, s.inT, s.outT]);
      if (s.hist.length > RATE_WINDOW + 1) s.hist.shift();
      const a = s.hist[0], b = s.hist[s.hist.length - 1];
      const dt = (b[0] - a[0]) / 1000;
      s.inRate = dt > 0 ? (b[1] - a[1]) / dt : 0;
      s.outRate = dt > 0 ? (b[2] - a[2]) / dt : 0;
    }
  }

  function drawMachines(list) {
    $('#machine-count').textContent = '(' + list.length + ')';
    const tb = $('#machines tbody');
    const rows = [];
    for (const m of list) {
      const s = stat(m.MachineId);
      const tr = h('tr');
      tr.dataset.machine = m.MachineId;
      const st = m.State ? stateText(m.State.Value) + (m.State.Status && m.State.Status !== 'active' ? ' (' + m.State.Status + ')' : '') : '';
      const cells = [
        [m.MachineId], [m.Host || 'local'], [String(m.PeerPid > 0 ? m.PeerPid : m.ProcessId), 'num'], [m.ProcessName],
        [st, 'state'], [human(s.inRate), 'num'], [human(s.outRate), 'num'], [String(s.fails), 'num' + (s.fails ? ' fail' : '')],
        [m.Host ? '-' : humanBytes(m.QueuedBytes || 0), 'num queued'], [s.last],
      ];
      for (const [text, cls] of cells) tr.append(h('td', cls || '', text));
      tr.children[4].title = m.State ? compact(m.State.Value) : '';
      rows.push(tr);
    }
    tb.replaceChildren(...rows);
  }

  // ---- traces
  function onTrace(t) {
    S.traces.push(t);
    if (S.traces.length > MAX_TRACES) S.traces.splice(0, S.traces.length - MAX_TRACES);
    countTrace(t);
    Sequence.add(t);
    if (t.Type === 'state') onStateTrace(t);
    if (S.paused) { S.missed++; $('#paused-count').textContent = S.missed + ' new while paused'; return; }
    if (visible(t)) addRow(t, true);
  }

  function countTrace(t) {
    if (!['event', 'publish', 'request', 'reply'].includes(t.Type)) {
      if (t.Type === 'failure' && t.Source) stat(t.Source).fails++;
      return;
    }
    if (t.Source) {
      const s = stat(t.Source);
      s.outT++;
      s.last = (t.Event || t.Type) + (t.Target ? ' → ' + t.Target : ' → *');
      if (failed(t)) s.fails++;
    }
    if (t.Target && !failed(t)) {
      const s = stat(t.Target);
      s.inT++;
      if (!t.Source) s.last = (t.Event || t.Type) + ' ←';
    }
  }

  function visible(t) {
    const fm = $('#f-machine').value.trim(), fe = $('#f-event').value.trim(), fk = $('#f-kind').value;
    if (fk === '!ok' ? !failed(t) : fk && t.Type !== fk) return false;
    if (fm && !(match(fm, t.Source) || match(fm, t.Target))) return false;
    if (fe && !match(fe, t.Event)) return false;
    return true;
  }

  function addRow(t, live) {
    const list = $('#events');
    const li = h('li', 'trace-row');
    li.dataset.seq = t.Seq; li.dataset.kind = t.Type; li.dataset.event = t.Event;
    const row = h('div', 'row');
    row.append(h('span', 't', String(t.Time).slice(11, 23)), h('span', 'k k-' + t.Type, t.Type));
    if (t.Type === 'dropped') {
      row.append(h('span', 'out-bad', 'missed ' + t.Count + ' traces (the browser fell behind)'));
    } else {
      const route = (t.Source || (t.Conn ? 'conn#' + t.Conn : '')) + (t.Target ? ' → ' + t.Target : '');
      row.append(h('span', 'route', route), h('b', 'ev', t.Event));
      row.append(h('span', failed(t) ? 'out-bad' : 'dim', t.Outcome + (t.Error ? ': ' + t.Error : '')));
      if (t.Type === 'publish') row.append(h('span', 'dim', t.Recipients + ' recipients'));
      if (t.Size) row.append(h('span', 'dim', t.Size + ' B'));
    }
    li.append(row);
    if (t.Payload !== null && t.Payload !== undefined) {
      const d = h('details');
      d.append(h('summary', '', 'payload ' + t.PayloadBytes + ' B' + (t.Truncated ? ' (cut)' : '') + ': ' + compact(t.Payload).slice(0, 120)));
      d.addEventListener('toggle', () => {
        if (d.open && !d.querySelector('pre')) d.append(h('pre', '', JSON.stringify(t.Payload, null, 2)));
      }, { once: false });
      li.append(d);
    }
    if (live) {
      const atTop = list.scrollTop < 4;
      list.prepend(li);
      while (list.children.length > MAX_ROWS) list.lastChild.remove();
      if (!atTop) list.scrollTop += li.offsetHeight;
    } else {
      list.append(li);
    }
  }

  function redrawEvents() {
    const list = $('#events');
    list.replaceChildren();
    let n = 0;
    for (let i = S.traces.length - 1; i >= 0 && n < MAX_ROWS; i--) {
      if (visible(S.traces[i])) { addRow(S.traces[i], false); n++; }
    }
  }

  // ---- statecharts
  function syncCharts(machines) {
    const ids = new Set();
    for (const m of machines) {
      if (!m.State) continue;
      ids.add(m.MachineId);
      let c = S.charts.get(m.MachineId);
      if (!c || c.registeredAt !== m.RegisteredAt) {
        if (c) c.card.remove();
        c = newChart(m.MachineId, m.RegisteredAt);
      }
      if (!c.value && !c.stateSeen) setChartState(c, m.State.Value, m.State.Status, m.State.Context);
      if (!c.def && !c.fetching && !c.noDef) fetchChart(c);
    }
    for (const [id, c] of S.charts) if (!ids.has(id) && !c.pendingTrace) { c.card.remove(); S.charts.delete(id); }
    $('#charts-empty').hidden = S.charts.size > 0;
  }

  function newChart(id, registeredAt) {
    const card = h('div', 'chart');
    card.dataset.machine = id;
    const title = h('h3', '', id);
    const status = h('span', 'status', '');
    title.append(' ', status);
    const wrap = h('div', 'svgwrap');
    const ctx = h('pre', 'context', '');
    card.append(title, wrap, ctx);
    $('#charts').append(card);
    const c = { id, card, wrap, ctx, statusEl: status, registeredAt, def: null, view: null };
    S.charts.set(id, c);
    return c;
  }

  function fetchChart(c) {
    c.fetching = true;
    fetch('api/machines/' + encodeURIComponent(c.id), { credentials: 'same-origin' })
      .then(r => r.ok ? r.json() : null)
      .then(m => {
        c.fetching = false;
        if (!m) return;
        if (m.Definition) {
          c.def = m.Definition;
          c.view = Statechart.render(m.Definition);
          c.wrap.replaceChildren(c.view.svg);
        } else {
          c.noDef = true;
          c.wrap.replaceChildren(h('span', 'dim', 'no definition reported'));
        }
        if (m.State && !c.stateSeen) setChartState(c, m.State.Value, m.State.Status, m.State.Context);
        else if (c.view) c.view.setActive(c.value);
      })
      .catch(() => { c.fetching = false; });
  }

  function setChartState(c, value, status, context) {
    c.value = value; c.status = status; c.context = context;
    c.statusEl.textContent = stateText(value) + (status ? ' · ' + status : '');
    c.ctx.textContent = context === null || context === undefined ? '' : 'context ' + JSON.stringify(context, null, 2);
    if (c.view) c.view.setActive(value);
  }

  function onStateTrace(t) {
    const id = t.Source;
    let c = S.charts.get(id);
    if (!c) {
      c = newChart(id, null);
      c.pendingTrace = true; // kept until a snapshot lists the machine
      $('#charts-empty').hidden = true;
    }
    if (t.Payload && typeof t.Payload === 'object' && !t.Truncated) {
      c.stateSeen = true;
      setChartState(c, t.Payload.Value, t.Payload.Status, t.Payload.Context);
    } else if (!c.fetching) {
      c.stateSeen = false; fetchChart(c); // cut or left out: ask for it
    }
    if (!c.def && !c.fetching && !c.noDef) fetchChart(c);
  }

  // ---- wiring
  function connect() {
    const es = new EventSource('api/events?max=16384');
    const cs = $('#conn-status');
    es.addEventListener('open', () => { cs.textContent = 'live'; cs.className = 'badge ok'; });
    es.addEventListener('error', () => { cs.textContent = 'reconnecting'; cs.className = 'badge bad'; });
    es.addEventListener('hello', e => {
      S.prev = null;
      const snap = JSON.parse(e.data);
      for (const c of S.charts.values()) c.pendingTrace = false;
      onSnapshot(snap);
    });
    es.addEventListener('snapshot', e => onSnapshot(JSON.parse(e.data)));
    es.addEventListener('trace', e => onTrace(JSON.parse(e.data)));
  }


  document.addEventListener('DOMContentLoaded', () => {
    $('#seq-n').textContent = Sequence.MAX;
    for (const id of ['#f-machine', '#f-event']) $(id).addEventListener('input', redrawEvents);
    $('#f-kind').addEventListener('change', redrawEvents);
    $('#pause').addEventListener('click', () => {
      S.paused = !S.paused;
      $('#pause').textContent = S.paused ? 'Resume' : 'Pause';
      $('#pause').classList.toggle('on', S.paused);
      if (!S.paused) { S.missed = 0; $('#paused-count').textContent = ''; redrawEvents(); }
    });
    $('#clear').addEventListener('click', () => { S.traces = []; Sequence.clear(); redrawEvents(); });
    connect();
    // The diagram is redrawn at most five times a second, however fast traces come.
    setInterval(() => Sequence.render($('#seq-head'), $('#seq'), $('#seq-wrap')), 200);
  });
})();
