// The sequence diagram: one lifeline per machine, one arrow per event,
// publish, request and reply, newest at the bottom, bounded to the last
// Sequence.MAX messages. Redrawn whole (it is small); each arrow is a
// <g class="msg KIND [failed]" data-seq data-event>.
'use strict';

window.Sequence = (function () {
  const NS = 'http://www.w3.org/2000/svg';
  const MAX = 60, COL = 130, ROW = 26, TOP = 8, LEFT = 150, HEAD_H = 28;
  const msgs = [];
  const order = new Map(); // lifeline name -> first-seen rank
  let dirty = false;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function who(id, conn) { return id || (conn ? 'conn#' + conn : '?'); }
  function rank(name) {
    if (!order.has(name)) order.set(name, order.size);
    return order.get(name);
  }

  function add(t) {
    if (!['event', 'publish', 'request', 'reply'].includes(t.Type)) return;
    const failed = t.Outcome !== 'delivered' && t.Outcome !== 'ok';
    const m = {
      seq: t.Seq, kind: t.Type, ev: t.Event, failed, code: failed ? t.Outcome : '',
      from: who(t.Source, t.Conn), to: t.Type === 'publish' ? '' : who(t.Target, t.TargetConn),
      time: t.Time, recipients: t.Recipients,
    };
    rank(m.from);
    if (m.to) rank(m.to);
    msgs.push(m);
    if (msgs.length > MAX) msgs.splice(0, msgs.length - MAX);
    dirty = true;
  }

  function clear() { msgs.length = 0; dirty = true; }

  // render draws the heads into headSvg (kept in view while the body
  // scrolls) and the lifelines and arrows into svg.
  function render(headSvg, svg, wrap) {
    if (!dirty) return;
    dirty = false;
    for (const s of [headSvg, svg]) while (s.firstChild) s.removeChild(s.firstChild);
    const names = [];
    for (const m of msgs) { for (const n of [m.from, m.to]) if (n && !names.includes(n)) names.push(n); }
    names.sort((a, b) => rank(a) - rank(b));
    const hasPub = msgs.some(m => m.kind === 'publish');
    const x = new Map(names.map((n, i) => [n, LEFT + i * COL]));
    const allX = LEFT + names.length * COL; // where publishes point
    const width = allX + (hasPub ? 60 : 0);
    const height = TOP + msgs.length * ROW + 20;
    for (const s of [headSvg, svg]) s.setAttribute('width', Math.max(width, 200));
    headSvg.setAttribute('height', HEAD_H);
    svg.setAttribute('height', height);
    for (const n of names) {
      const cx = x.get(n);
      el('line', { class: 'lifeline', x1: cx, y1: 0, x2: cx, y2: height }, svg);
      const h = el('g', { class: 'head', 'data-machine': n }, headSvg);
      const w = Math.min(COL - 10, Math.max(50, n.length * 7 + 12));
      el('rect', { x: cx - w / 2, y: 4, width: w, height: 20, rx: 4 }, h);
      const t = el('text', { x: cx, y: 18, 'text-anchor': 'middle' }, h);
      t.textContent = n.length > 17 ? n.slice(0, 16) + '…' : n;
    }
    if (hasPub) {
      const t = el('text', { x: allX, y: 18, 'text-anchor': 'middle', class: 'dim' }, headSvg);
      t.textContent = '(all)';
    }
    msgs.forEach((m, i) => {
      const y = TOP + i * ROW + 16;
      const g = el('g', { class: 'msg ' + m.kind + (m.failed ? ' failed' : '') + (i === msgs.length - 1 ? ' new' : ''), 'data-seq': m.seq, 'data-event': m.ev }, svg);
      const tm = el('text', { class: 'tm', x: 4, y: y + 4 }, g);
      tm.textContent = String(m.time).slice(11, 23);
      const x1 = x.get(m.from), x2 = m.to ? x.get(m.to) : allX;
      let label = m.ev || m.kind;
      if (m.kind === 'request') label = '?' + label;
      if (m.kind === 'reply') label = '↩ ' + label;
      if (m.kind === 'publish') label += ' (' + m.recipients + ')';
      if (m.failed) label += '  ✕ ' + m.code;
      if (x1 === x2) {
        el('path', { d: `M${x1} ${y - 6} h26 v10 h-26` }, g);
        const t = el('text', { x: x1 + 30, y: y + 2 }, g);
        t.textContent = label;
        return;
      }
      el('line', { x1, y1: y, x2, y2: y }, g);
      const dir = x2 > x1 ? -1 : 1;
      const head = el('path', { d: `M${x2} ${y} l${dir * 7} -4 v8 z` }, g);
      head.setAttribute('class', 'arrowhead');
      if (m.failed) {
        const c = el('text', { x: x2 + dir * -2, y: y + 4, 'text-anchor': 'middle' }, g);
        c.textContent = '✕';
      }
      const t = el('text', { x: (x1 + x2) / 2, y: y - 4, 'text-anchor': 'middle' }, g);
      t.textContent = label;
    });
    wrap.scrollTop = wrap.scrollHeight;
  }

  return { add, clear, render, MAX };
})();
