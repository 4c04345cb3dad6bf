// Draws the service graph of /activity from the snapshots of the server-sent event stream:
// nodes on a circle, one line per edge labelled with its rate, p99 and error ratio, red when
// more than 5 % of its calls failed. Text goes in through textContent only, never as HTML.
'use strict';
(function () {
  const svg = document.getElementById('graph');
  const failures = document.getElementById('failures');
  const status = document.getElementById('status');
  const NS = 'http://www.w3.org/2000/svg';
  const UNVERIFIED = '(unverified)';

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function label(snapshot, id) {
    return (snapshot.names && snapshot.names[id]) || id;
  }

  function draw(snapshot) {
    const width = svg.clientWidth || 800;
    const height = svg.clientHeight || 460;
    const radius = Math.min(width, height) / 2 - 70;
    const place = {};
    snapshot.nodes.forEach((name, i) => {
      const angle = (2 * Math.PI * i) / Math.max(snapshot.nodes.length, 1) - Math.PI / 2;
      place[name] = [width / 2 + radius * Math.cos(angle), height / 2 + radius * Math.sin(angle)];
    });
    svg.replaceChildren();
    const defs = el('defs');
    const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '22', refY: '5',
      markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' });
    marker.appendChild(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#888' }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    for (const edge of snapshot.edges) {
      let [x1, y1] = place[edge.caller];
      let [x2, y2] = place[edge.callee];
      // Both directions of a pair get their own line, shifted apart sideways.
      const length = Math.hypot(x2 - x1, y2 - y1) || 1;
      const [dx, dy] = [(-(y2 - y1) / length) * 7, ((x2 - x1) / length) * 7];
      [x1, y1, x2, y2] = [x1 + dx, y1 + dy, x2 + dx, y2 + dy];
      const group = el('g', { class: edge.error_ratio > 0.05 ? 'edge errors' : 'edge' });
      group.setAttribute('data-edge', edge.caller + '->' + edge.callee);
      group.appendChild(el('line', { x1, y1, x2, y2, 'marker-end': 'url(#arrow)' }));
      const label = edge.rate_per_s.toFixed(1) + '/s · p99 ' + edge.p99_ms.toFixed(1) +
        ' ms · ' + (100 * edge.error_ratio).toFixed(0) + '% err';
      group.appendChild(el('text', { x: (x1 + x2) / 2 + 2 * dx, y: (y1 + y2) / 2 + 2 * dy, 'text-anchor': 'middle' }, label));
      svg.appendChild(group);
    }
    for (const id of snapshot.nodes) {
      const [x, y] = place[id];
      const group = el('g', { class: id === UNVERIFIED ? 'node unverified' : 'node' });
      group.setAttribute('data-node', id);
      // The registered name is shown; the client id appears on hover.
      group.appendChild(el('title', {}, id));
      group.appendChild(el('circle', { cx: x, cy: y, r: 16 }));
      group.appendChild(el('text', { x, y: y + 32, 'text-anchor': 'middle' }, label(snapshot, id)));
      svg.appendChild(group);
    }
    if (snapshot.nodes.length === 0) {
      svg.appendChild(el('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' },
        'No calls reported in the window.'));
    }
  }

  function table(snapshot) {
    failures.replaceChildren();
    for (const f of snapshot.failures) {
      const row = document.createElement('tr');
      const when = new Date(f.ts_ms).toISOString().replace('T', ' ').slice(0, 23);
      const cells = [[when], [f.caller ? label(snapshot, f.caller) : '?', f.caller],
        [label(snapshot, f.callee), f.callee], [f.method + ' ' + f.route], [String(f.status)], [f.code]];
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
