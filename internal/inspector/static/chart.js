// Statecharts drawn as nested boxes from an XState v5 JSON definition.
// Layout: a compound state's children flow left to right and wrap; a
// parallel state's regions sit side by side in dashed boxes. Each box is a
// <rect class="state" data-path="a.b">; setActive marks the active ones.
'use strict';

window.Statechart = (function () {
  const NS = 'http://www.w3.org/2000/svg';
  const PAD = 8, GAP = 10, HEAD = 20, LEAF_H = 34, MAX_ROW = 640;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function textWidth(s, px) { return Math.ceil(String(s).length * (px || 12) * 0.6); }

  function kindOf(node) {
    if (node.type) return node.type;
    return node.states && Object.keys(node.states).length ? 'compound' : 'atomic';
  }

  // eventsOf lists a state's own transitions' event names (for the box).
  function eventsOf(node) {
    const out = [];
    if (node.on && typeof node.on === 'object') for (const k of Object.keys(node.on)) out.push(k);
    if (node.after && typeof node.after === 'object') for (const k of Object.keys(node.after)) out.push('after ' + k);
    if (node.always) out.push('always');
    return out;
  }

  // measure returns a layout tree {name, path, kind, w, h, children:[{x,y,node}]}.
  function measure(node, name, path) {
    const kind = kindOf(node);
    const evs = eventsOf(node);
    const lay = { name, path, kind, events: evs, children: [], initial: node.initial };
    if (kind === 'history') {
      lay.w = 30; lay.h = 30; lay.deep = node.history === 'deep';
      return lay;
    }
    const kids = node.states && typeof node.states === 'object' ? Object.keys(node.states) : [];
    if (kids.length === 0) {
      const evText = evs.join(' · ');
      lay.w = Math.max(70, textWidth(name, 12) + 20, Math.min(220, textWidth(evText, 10) + 14));
      lay.h = evs.length ? LEAF_H + 6 : LEAF_H - 4;
      return lay;
    }
    const measured = kids.map(k => measure(node.states[k], k, path ? path + '.' + k : k));
    let x = PAD, y = HEAD + 4, rowH = 0, maxW = 0;
    if (kind === 'parallel') {
      for (const m of measured) {
        m.region = true;
        lay.children.push({ x, y, lay: m });
        x += m.w + GAP; rowH = Math.max(rowH, m.h);
      }
      maxW = x - GAP;
      for (const c of lay.children) c.lay.h = rowH; // regions share a height
    } else {
      for (const m of measured) {
        if (x > PAD && x + m.w > MAX_ROW) { x = PAD; y += rowH + GAP; rowH = 0; }
        lay.children.push({ x, y, lay: m });
        x += m.w + GAP; rowH = Math.max(rowH, m.h);
        maxW = Math.max(maxW, x - GAP);
      }
    }
    const evW = evs.length ? textWidth(evs.join(' · '), 10) + 2 * PAD : 0;
    lay.w = Math.max(maxW + PAD, textWidth(name, 12) + 2 * PAD + 20, Math.min(evW, 400));
    lay.h = y + rowH + PAD + (evs.length ? 12 : 0);
    return lay;
  }

  function draw(lay, x, y, g, isRoot) {
    if (lay.kind === 'history') {
      el('circle', { class: 'history', cx: x + 15, cy: y + 15, r: 12, 'data-path': lay.path }, g);
      const t = el('text', { x: x + 15, y: y + 19, 'text-anchor': 'middle' }, g);
      t.textContent = lay.deep ? 'H*' : 'H';
      return;
    }
    const leaf = lay.children.length === 0;
    const cls = ['state', leaf ? 'leaf' : 'compound', lay.region ? 'region' : '', isRoot ? 'root' : '', 'k-' + lay.kind].join(' ').replace(/\s+/g, ' ');
    el('rect', { class: cls, x, y, width: lay.w, height: lay.h, rx: lay.region ? 2 : 8, 'data-path': lay.path }, g);
    if (lay.kind === 'final') {
      el('rect', { class: 'state final-inner', x: x + 3, y: y + 3, width: lay.w - 6, height: lay.h - 6, rx: 6 }, g);
    }
    const title = el('text', { x: leaf ? x + lay.w / 2 : x + PAD, y: y + (leaf ? 18 : 15), 'text-anchor': leaf ? 'middle' : 'start' }, g);
    title.textContent = lay.name + (lay.kind === 'parallel' ? '  ∥' : '');
    if (lay.events.length) {
      const ev = el('text', { class: 'ev', x: leaf ? x + lay.w / 2 : x + PAD, y: y + lay.h - 6, 'text-anchor': leaf ? 'middle' : 'start' }, g);
      ev.textContent = lay.events.join(' · ');
    }
    for (const c of lay.children) {
      draw(c.lay, x + c.x, y + c.y, g, false);
      if (!lay.region && lay.kind !== 'parallel' && lay.initial === c.lay.name) {
        // The initial state's marker: a dot left of its box.
        el('circle', { cx: x + c.x - 4, cy: y + c.y + 6, r: 3, fill: '#334155' }, g);
      }
    }
  }

  // activePaths turns an XState value ("a", {"a":"b"}, {"p":{"r1":"x"}})
  // into the set of active paths ("a", "a.b", "p", "p.r1", "p.r1.x").
  function activePaths(value, prefix, out) {
    out = out || new Set();
    if (typeof value === 'string') {
      out.add(prefix ? prefix + '.' + value : value);
    } else if (value && typeof value === 'object') {
      for (const k of Object.keys(value)) {
        const p = prefix ? prefix + '.' + k : k;
        out.add(p);
        activePaths(value[k], p, out);
      }
    }
    return out;
  }

  function render(def) {
    const lay = measure(def || {}, (def && def.id) || '(machine)', '');
    const svg = el('svg', { class: 'chart-svg', width: lay.w + 2, height: lay.h + 2, viewBox: `-1 -1 ${lay.w + 2} ${lay.h + 2}` });
    draw(lay, 0, 0, svg, true);
    return {
      svg,
      setActive(value) {
        const act = activePaths(value, '');
        for (const r of svg.querySelectorAll('rect.state[data-path]')) {
          const p = r.getAttribute('data-path');
          r.classList.toggle('active', p === '' || act.has(p));
        }
      },
    };
  }

  return { render, activePaths };
})();
