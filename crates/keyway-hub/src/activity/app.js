// Draws the service graph of /activity from the snapshots of the server-sent event stream.
//
// Layout (`KeywayActivity.layout`, pure, so tests run it in node): nodes on a circle whose
// radius grows with their number, each named by its registered client name (the id on hover)
// with the name outside the circle; one arrow per edge, the two directions of a pair shifted
// apart sideways; each edge's label ("42 calls · p99 3 ms") beside its own line, on its own
// side, at the first place along it where it overlaps no other label, node or name and, on maps
// of up to 120 edges, crosses no other line (if no place is free, the circle grows and the
// layout starts again; the next frame starts from the radius found). Checks look only at
// nearby cells of a grid, so the largest map (512 edges) takes tens of milliseconds.
//
// Every text goes in through textContent or setAttribute, never as HTML: names are chosen by
// whoever registers a client.
'use strict';
globalThis.KeywayActivity = (function () {
  const UNVERIFIED = '(unverified)';
  const NODE_R = 16;
  /** Arc length per node on the circle. */
  const NODE_SPACING = 190;
  const MIN_RADIUS = 120;
  /** Sideways shift of each direction of a two-way pair. */
  const PAIR_SHIFT = 7;
  const EDGE_FONT = 11;
  const NODE_FONT = 13;
  const LINE_HEIGHT = 1.35;
  /** Room kept between a label and its line, and between any two boxes. */
  const GAP = 3;
  const MAX_NAME = 28;
  /** Radius of the loop of a service calling itself. */
  const LOOP_R = 11;
  const MAX_ATTEMPTS = 8;
  /** Up to this many edges, a label also avoids other edges' lines where it can. */
  const MAX_LINES_AVOIDED = 120;
  /** Grid cell size (px) of the overlap checks. */
  const CELL = 48;
  /** Where along its line a label may sit, best first. */
  const ALONG = [0.5, 0.38, 0.62, 0.28, 0.72, 0.45, 0.55, 0.2, 0.8, 0.33, 0.67];

  function name(snapshot, id) {
    return (snapshot.names && snapshot.names[id]) || id;
  }

  function shortName(snapshot, id) {
    const full = name(snapshot, id);
    return full.length > MAX_NAME ? full.slice(0, MAX_NAME - 1) + '…' : full;
  }

  function milliseconds(value) {
    if (value >= 10) return value.toFixed(0);
    if (value >= 1) return value.toFixed(1).replace(/\.0$/, '');
    return value.toPrecision(2);
  }

  /** "42 calls · p99 3 ms", and the share of errors when there are any. */
  function edgeLabel(edge) {
    let text = edge.calls + (edge.calls === 1 ? ' call' : ' calls') + ' · p99 ' +
      milliseconds(edge.p99_ms) + ' ms';
    if (edge.errors > 0) text += ' · ' + Math.max(1, Math.round(100 * edge.error_ratio)) + '% err';
    return text;
  }

  /** Everything about an edge, for its tooltip. */
  function edgeTitle(snapshot, edge) {
    const bytes = (n) => n >= 10240 ? (n / 1024).toFixed(0) + ' KiB' : n + ' B';
    return name(snapshot, edge.caller) + ' → ' + name(snapshot, edge.callee) + '\n' +
      edge.caller + ' → ' + edge.callee + '\n' +
      edge.calls + ' calls in ' + snapshot.window_s + ' s (' + edge.rate_per_s.toFixed(2) + '/s)\n' +
      'p50 ' + milliseconds(edge.p50_ms) + ' ms, p99 ' + milliseconds(edge.p99_ms) + ' ms\n' +
      edge.errors + ' errors (' + (100 * edge.error_ratio).toFixed(1) + ' %), ' +
      edge.refused + ' refused\n' + bytes(edge.bytes_in) + ' in, ' + bytes(edge.bytes_out) + ' out';
  }

  function box(cx, cy, w, h) {
    return { x: cx - w / 2, y: cy - h / 2, w, h };
  }

  function overlaps(a, b) {
    return a.x < b.x + b.w + GAP && b.x < a.x + a.w + GAP &&
      a.y < b.y + b.h + GAP && b.y < a.y + a.h + GAP;
  }

  function overlapArea(a, b) {
    const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x) + GAP;
    const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y) + GAP;
    return w > 0 && h > 0 ? w * h : 0;
  }

  /** Whether segment `l` passes through box `b` (Liang–Barsky clipping). */
  function crosses(l, b) {
    const dx = l.x2 - l.x1;
    const dy = l.y2 - l.y1;
    let t0 = 0;
    let t1 = 1;
    for (const [p, q] of [[-dx, l.x1 - b.x], [dx, b.x + b.w - l.x1],
      [-dy, l.y1 - b.y], [dy, b.y + b.h - l.y1]]) {
      if (p === 0) {
        if (q < 0) return false;
      } else {
        const r = q / p;
        if (p < 0) t0 = Math.max(t0, r);
        else t1 = Math.min(t1, r);
        if (t0 > t1) return false;
      }
    }
    return true;
  }

  /** Boxes and lines by the grid cells they touch, so that a check looks only nearby. */
  class Grid {
    constructor() {
      this.cells = new Map();
    }

    static key(cx, cy) {
      return cx * 65536 + cy;
    }

    put(cx, cy, item) {
      const key = Grid.key(cx, cy);
      const cell = this.cells.get(key);
      if (cell) cell.push(item);
      else this.cells.set(key, [item]);
    }

    addBox(b) {
      for (let cx = Math.floor((b.x - GAP) / CELL); cx <= Math.floor((b.x + b.w + GAP) / CELL); cx++) {
        for (let cy = Math.floor((b.y - GAP) / CELL); cy <= Math.floor((b.y + b.h + GAP) / CELL); cy++) {
          this.put(cx, cy, b);
        }
      }
    }

    addLine(l, item) {
      const steps = Math.ceil((2 * Math.hypot(l.x2 - l.x1, l.y2 - l.y1)) / CELL) + 1;
      let last = null;
      for (let i = 0; i <= steps; i++) {
        const cx = Math.floor((l.x1 + ((l.x2 - l.x1) * i) / steps) / CELL);
        const cy = Math.floor((l.y1 + ((l.y2 - l.y1) * i) / steps) / CELL);
        // The cells around each sample, so a segment's corner cuts are not missed.
        for (const [ax, ay] of [[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]]) {
          const key = Grid.key(cx + ax, cy + ay);
          if (key === last) continue;
          this.put(cx + ax, cy + ay, item);
        }
        last = Grid.key(cx, cy);
      }
    }

    /** The distinct items in the cells that box `b` touches. */
    near(b) {
      const found = new Set();
      for (let cx = Math.floor((b.x - GAP) / CELL); cx <= Math.floor((b.x + b.w + GAP) / CELL); cx++) {
        for (let cy = Math.floor((b.y - GAP) / CELL); cy <= Math.floor((b.y + b.h + GAP) / CELL); cy++) {
          for (const item of this.cells.get(Grid.key(cx, cy)) || []) found.add(item);
        }
      }
      return found;
    }
  }

  function placeNodes(snapshot, measure, radius) {
    const count = snapshot.nodes.length;
    const looped = new Set(snapshot.edges.filter((e) => e.caller === e.callee).map((e) => e.caller));
    // Two nodes side by side (their edges' labels stack above and below); more from the top.
    const start = count === 2 ? Math.PI : -Math.PI / 2;
    return snapshot.nodes.map((id, i) => {
      const angle = start + (2 * Math.PI * i) / Math.max(count, 1);
      // A single node: its name below it (beyond its loop, if it calls itself).
      const [cos, sin] = count === 1 ? [0, 1] : [Math.cos(angle), Math.sin(angle)];
      const x = radius * cos;
      const y = radius * sin;
      const label = shortName(snapshot, id);
      const w = measure(label, NODE_FONT);
      const h = NODE_FONT * LINE_HEIGHT;
      // The name sits outside the circle, where no edge runs: along the node's own radius, as
      // close as its box can be without touching the node.
      const clearX = cos === 0 ? Infinity : (NODE_R + GAP + w / 2) / Math.abs(cos);
      const clearY = sin === 0 ? Infinity : (NODE_R + GAP + h / 2) / Math.abs(sin);
      const reach = Math.min(clearX, clearY) + GAP + (looped.has(id) ? 2 * LOOP_R : 0);
      const lx = x + reach * cos;
      const ly = y + reach * sin;
      return {
        id, x, y, label, lx, ly, cos, sin,
        unverified: id === UNVERIFIED,
        circle: box(x, y, 2 * NODE_R, 2 * NODE_R),
        labelBox: box(lx, ly, w, h),
      };
    });
  }

  function layoutOnce(snapshot, measure, radius) {
    const nodes = placeNodes(snapshot, measure, radius);
    const at = new Map(nodes.map((n) => [n.id, n]));
    const boxes = new Grid();
    nodes.forEach((n) => { boxes.addBox(n.circle); boxes.addBox(n.labelBox); });
    const pairs = new Set(snapshot.edges.map((e) => e.caller + '\n' + e.callee));
    // Names that touch each other or another node need a wider circle.
    let crowded = nodes.some((n) => [...boxes.near(n.labelBox)].some((other) =>
      other !== n.labelBox && other !== n.circle && overlapArea(n.labelBox, other) > 0));
    // Every line first: a label is best where no other edge's line runs, so that it reads as
    // its own line's. A service calling itself gets a loop between its node and its name.
    const lines = snapshot.edges.map((edge) => {
      const from = at.get(edge.caller);
      const to = at.get(edge.callee);
      if (from === to) {
        // Outward, between the node and its name (which keeps its distance for it).
        const [ox, oy] = [from.cos, from.sin];
        const centre = NODE_R + LOOP_R - 4;
        const loop = { cx: from.x + ox * centre, cy: from.y + oy * centre, r: LOOP_R };
        boxes.addBox(box(loop.cx, loop.cy, 2 * LOOP_R, 2 * LOOP_R));
        // For the label search: a short line across the loop, its normal along the circle.
        return {
          edge, loop, vx: -oy, vy: ox, twoWay: false, shift: 0, reach: LOOP_R,
          line: { x1: loop.cx - ox, y1: loop.cy - oy, x2: loop.cx + ox, y2: loop.cy + oy },
        };
      }
      const dx = to.x - from.x;
      const dy = to.y - from.y;
      const length = Math.hypot(dx, dy) || 1;
      const [ux, uy] = [dx / length, dy / length];
      // The normal on this direction's side: the reverse edge's points the other way.
      const [vx, vy] = [-uy, ux];
      const twoWay = pairs.has(edge.callee + '\n' + edge.caller);
      const shift = twoWay ? PAIR_SHIFT : 0;
      return {
        edge, vx, vy, twoWay, shift, loop: null, reach: 0,
        line: {
          x1: from.x + ux * NODE_R + vx * shift,
          y1: from.y + uy * NODE_R + vy * shift,
          x2: to.x - ux * (NODE_R + 3) + vx * shift,
          y2: to.y - uy * (NODE_R + 3) + vy * shift,
        },
      };
    });
    // On a busy map (where the lines cover most places anyway) labels only avoid each other.
    const drawn = new Grid();
    if (lines.length <= MAX_LINES_AVOIDED) {
      lines.forEach((l, index) => { if (!l.loop) drawn.addLine(l.line, index); });
    }
    const edges = lines.map(({ edge, vx, vy, twoWay, shift, line, loop, reach }, index) => {
      const label = edgeLabel(edge);
      const w = measure(label, EDGE_FONT);
      const h = EDGE_FONT * LINE_HEIGHT;
      // Half the label's extent across the line: its box clears the line by GAP.
      const across = Math.abs(vx) * w / 2 + Math.abs(vy) * h / 2;
      // A two-way edge keeps its label on its own side; a one-way edge (or a loop) may use
      // either.
      const sides = twoWay ? [1] : [1, -1];
      let best = null;
      let bestOverlap = Infinity;
      let bestCrossings = Infinity;
      search: for (const t of ALONG) {
        for (const extra of [0, h, 2 * h]) {
          for (const side of sides) {
            const offset = shift + side * (reach + GAP + across + extra);
            const candidate = box(
              line.x1 + (line.x2 - line.x1) * t + vx * offset,
              line.y1 + (line.y2 - line.y1) * t + vy * offset, w, h);
            let overlap = 0;
            for (const other of boxes.near(candidate)) overlap += overlapArea(candidate, other);
            if (overlap > bestOverlap) continue;
            // Counted only as far as it matters: up to the best place's count, if it is as good.
            const cap = overlap < bestOverlap ? Infinity : bestCrossings;
            let crossings = 0;
            for (const i of drawn.near(candidate)) {
              if (crossings >= cap) break;
              if (i !== index && crosses(lines[i].line, candidate)) crossings += 1;
            }
            if (overlap < bestOverlap || crossings < bestCrossings) {
              best = candidate;
              bestOverlap = overlap;
              bestCrossings = crossings;
            }
            if (overlap === 0 && crossings === 0) break search;
          }
        }
      }
      if (bestOverlap > 0) crowded = true;
      boxes.addBox(best);
      return {
        edge, line, loop, label, title: edgeTitle(snapshot, edge),
        errors: edge.error_ratio > 0.05,
        lx: best.x + best.w / 2, ly: best.y + best.h / 2, labelBox: best,
      };
    });
    return { nodes, edges, crowded };
  }

  /**
   * Positions for a snapshot. `measure(text, fontSize)` gives a text's width in px;
   * `previous` is the last frame's result, if any. Returns
   * { width, height, radius, nodesKey, nodes: [{id, x, y, label, lx, ly, unverified, labelBox}],
   *   edges: [{edge, line: {x1, y1, x2, y2}, loop: null or {cx, cy, r} (a service calling
   *   itself; then `line` means nothing), label, title, errors, lx, ly, labelBox}] }
   * in a frame whose top left corner is (0, 0).
   */
  function layout(snapshot, measure, previous) {
    const count = snapshot.nodes.length;
    const nodesKey = snapshot.nodes.join('\n');
    let radius = count <= 1 ? 0 : Math.max(MIN_RADIUS, (count * NODE_SPACING) / (2 * Math.PI));
    // The same nodes as the last frame: start one step below the radius found then (so a map
    // that needs room does not search for it twice a second, and one that needs less shrinks).
    if (previous && previous.nodesKey === nodesKey) radius = Math.max(radius, previous.radius / 1.3);
    let placed = layoutOnce(snapshot, measure, radius);
    for (let attempt = 1; placed.crowded && attempt < MAX_ATTEMPTS && count > 1; attempt++) {
      radius *= 1.3;
      placed = layoutOnce(snapshot, measure, radius);
    }
    const boxes = placed.nodes.flatMap((n) => [n.circle, n.labelBox])
      .concat(placed.edges.flatMap((e) => e.loop
        ? [e.labelBox, box(e.loop.cx, e.loop.cy, 2 * e.loop.r, 2 * e.loop.r)] : [e.labelBox]));
    const margin = 12;
    const minX = Math.min(0, ...boxes.map((b) => b.x)) - margin;
    const minY = Math.min(0, ...boxes.map((b) => b.y)) - margin;
    const maxX = Math.max(0, ...boxes.map((b) => b.x + b.w)) + margin;
    const maxY = Math.max(0, ...boxes.map((b) => b.y + b.h)) + margin;
    const move = (b) => ({ x: b.x - minX, y: b.y - minY, w: b.w, h: b.h });
    return {
      width: maxX - minX,
      height: maxY - minY,
      radius,
      nodesKey,
      crowded: placed.crowded,
      nodes: placed.nodes.map((n) => ({
        id: n.id, label: n.label, unverified: n.unverified,
        x: n.x - minX, y: n.y - minY, lx: n.lx - minX, ly: n.ly - minY,
        labelBox: move(n.labelBox),
      })),
      edges: placed.edges.map((e) => ({
        edge: e.edge, label: e.label, title: e.title, errors: e.errors,
        line: { x1: e.line.x1 - minX, y1: e.line.y1 - minY, x2: e.line.x2 - minX, y2: e.line.y2 - minY },
        loop: e.loop && { cx: e.loop.cx - minX, cy: e.loop.cy - minY, r: e.loop.r },
        lx: e.lx - minX, ly: e.ly - minY, labelBox: move(e.labelBox),
      })),
    };
  }

  return { layout, edgeLabel, name, NODE_R, EDGE_FONT, NODE_FONT };
})();

if (typeof document !== 'undefined') {
  (function () {
    const A = globalThis.KeywayActivity;
    const svg = document.getElementById('graph');
    const failures = document.getElementById('failures');
    const status = document.getElementById('status');
    const NS = 'http://www.w3.org/2000/svg';
    /** Half the width of an edge's hover band. */
    const HIT = 6;

    function el(name, attrs, text) {
      const node = document.createElementNS(NS, name);
      for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
      if (text !== undefined) node.textContent = text;
      return node;
    }

    // Text widths as the browser renders them (an estimate if it cannot tell yet).
    const ruler = el('text', { x: -1000, y: -1000, 'aria-hidden': 'true' });
    const widths = new Map();
    function measure(text, size) {
      const key = size + '\n' + text;
      if (!widths.has(key)) {
        if (widths.size > 2000) widths.clear();
        ruler.setAttribute('font-size', size);
        ruler.textContent = text;
        if (!ruler.isConnected) svg.appendChild(ruler);
        const measured = ruler.getComputedTextLength ? ruler.getComputedTextLength() : 0;
        widths.set(key, measured > 0 ? measured : text.length * size * 0.6);
      }
      return widths.get(key);
    }

    let previous = null;
    function draw(snapshot) {
      const placed = A.layout(snapshot, measure, previous);
      previous = placed;
      svg.replaceChildren();
      svg.setAttribute('viewBox', '0 0 ' + placed.width.toFixed(0) + ' ' + placed.height.toFixed(0));
      svg.setAttribute('width', placed.width.toFixed(0));
      svg.setAttribute('height', placed.height.toFixed(0));
      const defs = el('defs');
      for (const [id, colour, size] of [['arrow', '#5a8f29', 7], ['arrow-errors', '#b00020', 7],
        ['loop-arrow', '#5a8f29', 4], ['loop-arrow-errors', '#b00020', 4]]) {
        const marker = el('marker', { id, viewBox: '0 0 10 10', refX: '9', refY: '5',
          markerWidth: size, markerHeight: size, orient: 'auto-start-reverse' });
        marker.appendChild(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: colour }));
        defs.appendChild(marker);
      }
      svg.appendChild(defs);
      // Lines first, then nodes, then every label on top.
      const labels = [];
      for (const e of placed.edges) {
        const group = el('g', { class: e.errors ? 'edge errors' : 'edge' });
        group.setAttribute('data-edge', e.edge.caller + '->' + e.edge.callee);
        group.appendChild(el('title', {}, e.title));
        const marker = e.errors ? 'url(#arrow-errors)' : 'url(#arrow)';
        if (e.loop) {
          // An arc around the loop's centre, from beside the node back to it.
          const { cx, cy, r } = e.loop;
          const node = placed.nodes.find((n) => n.id === e.edge.caller);
          const towards = Math.atan2(node.y - cy, node.x - cx);
          const [a0, a1] = [towards + 1.13, towards - 1.13];
          const d = 'M ' + (cx + r * Math.cos(a0)) + ' ' + (cy + r * Math.sin(a0)) + ' A ' + r + ' ' + r +
            ' 0 1 1 ' + (cx + r * Math.cos(a1)) + ' ' + (cy + r * Math.sin(a1));
          const loopMarker = e.errors ? 'url(#loop-arrow-errors)' : 'url(#loop-arrow)';
          group.appendChild(el('path', { d, class: 'loop', 'marker-end': loopMarker }));
          group.appendChild(el('circle', { cx, cy, r: r + HIT, class: 'hit' }));
        } else {
          group.appendChild(el('line', { ...e.line, 'marker-end': marker }));
          // A band along the line: a wider target for the tooltip (and a box even when the
          // line is level or upright).
          const { x1, y1, x2, y2 } = e.line;
          const length = Math.hypot(x2 - x1, y2 - y1) || 1;
          const [nx, ny] = [(-(y2 - y1) / length) * HIT, ((x2 - x1) / length) * HIT];
          const points = [[x1 + nx, y1 + ny], [x2 + nx, y2 + ny], [x2 - nx, y2 - ny], [x1 - nx, y1 - ny]];
          group.appendChild(el('polygon', { points: points.map((p) => p.join(',')).join(' '), class: 'hit' }));
        }
        svg.appendChild(group);
        const text = el('text', { x: e.lx, y: e.ly, class: 'edge-label', 'text-anchor': 'middle',
          'dominant-baseline': 'central', 'font-size': A.EDGE_FONT }, e.label);
        text.appendChild(el('title', {}, e.title));
        labels.push(text);
      }
      for (const n of placed.nodes) {
        const group = el('g', { class: n.unverified ? 'node unverified' : 'node' });
        group.setAttribute('data-node', n.id);
        // The registered name is shown; the client id appears on hover.
        const title = A.name(snapshot, n.id) === n.id ? n.id : A.name(snapshot, n.id) + '\n' + n.id;
        group.appendChild(el('title', {}, title));
        group.appendChild(el('circle', { cx: n.x, cy: n.y, r: A.NODE_R }));
        group.appendChild(el('text', { x: n.lx, y: n.ly, 'text-anchor': 'middle',
          'dominant-baseline': 'central', 'font-size': A.NODE_FONT }, n.label));
        svg.appendChild(group);
      }
      for (const text of labels) svg.appendChild(text);
      if (snapshot.nodes.length === 0) {
        svg.setAttribute('viewBox', '0 0 400 80');
        svg.setAttribute('width', '400');
        svg.setAttribute('height', '80');
        svg.appendChild(el('text', { x: 200, y: 40, 'text-anchor': 'middle' },
          'No calls reported in the window.'));
      }
      svg.appendChild(ruler);
    }

    function table(snapshot) {
      failures.replaceChildren();
      for (const f of snapshot.failures) {
        const row = document.createElement('tr');
        // Reporters choose ts_ms: a time out of Date's range is shown as the number.
        const date = new Date(f.ts_ms);
        const when = isNaN(date) ? String(f.ts_ms) : date.toISOString().replace('T', ' ').slice(0, 23);
        const cells = [[when], [f.caller ? A.name(snapshot, f.caller) : '?', f.caller],
          [A.name(snapshot, f.callee), f.callee], [f.method + ' ' + f.route], [String(f.status)], [f.code]];
        for (const [text, id] of cells) {
          const cell = document.createElement('td');
          cell.textContent = text;
          if (id) cell.title = id;
          row.appendChild(cell);
        }
        failures.appendChild(row);
      }
    }

    let updates = 0;
    const source = new EventSource(svg.dataset.stream);
    source.addEventListener('edges', (message) => {
      const snapshot = JSON.parse(message.data);
      draw(snapshot);
      table(snapshot);
      status.textContent = 'Live: ' + snapshot.edges.length + ' edges, ' + snapshot.events_total +
        ' events received.';
      updates += 1;
      document.body.dataset.updates = String(updates);
    });
    source.addEventListener('error', () => { status.textContent = 'Reconnecting…'; });
  })();
}
