// The activity map's layout (KeywayActivity.layout in src/activity/app.js), run in node without
// a browser: labels say calls and p99, no two labels overlap each other or a node, the circle
// grows with the number of nodes, and the two directions of a pair label on their own sides.
// Run by `cargo test -p keyway-hub --test it activity_layout` (tests/it/activity_page.rs).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, '../../src/activity/app.js'), 'utf8');
const context = vm.createContext({});
vm.runInContext(source, context);
const A = context.KeywayActivity;
assert.ok(A, 'app.js defines KeywayActivity');

// Proportional text is narrower than this on average, so real labels fit where these do.
const measure = (text, size) => text.length * size * 0.62;

function edge(caller, callee, calls, p99, errors = 0) {
  return {
    caller, callee, calls, rate_per_s: calls / 60, errors, error_ratio: errors / calls,
    refused: 0, p50_ms: p99 / 2, p99_ms: p99, bytes_in: 10, bytes_out: 20, last_seen_ms: 0,
  };
}

function snapshot(edges, names = {}) {
  const nodes = [...new Set(edges.flatMap((e) => [e.caller, e.callee]))].sort();
  return { now_ms: 0, window_s: 60, nodes, names, edges, failures: [], events_total: 0 };
}

function intersects(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

function checkNoOverlap(placed, what) {
  const labels = placed.edges.map((e) => ({ box: e.labelBox, text: e.label }))
    .concat(placed.nodes.map((n) => ({ box: n.labelBox, text: n.label })));
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) {
      assert.ok(!intersects(labels[i].box, labels[j].box),
        `${what}: "${labels[i].text}" overlaps "${labels[j].text}"`);
    }
    for (const node of placed.nodes) {
      const circle = { x: node.x - A.NODE_R, y: node.y - A.NODE_R, w: 2 * A.NODE_R, h: 2 * A.NODE_R };
      assert.ok(!intersects(labels[i].box, circle), `${what}: "${labels[i].text}" covers node ${node.id}`);
    }
    const b = labels[i].box;
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= placed.width && b.y + b.h <= placed.height,
      `${what}: "${labels[i].text}" is outside the drawing`);
  }
}

// Labels: calls in the window and p99, not a rate.
assert.equal(A.edgeLabel(edge('a', 'b', 42, 3)), '42 calls · p99 3 ms');
assert.equal(A.edgeLabel(edge('a', 'b', 1, 1.5)), '1 call · p99 1.5 ms');
assert.equal(A.edgeLabel(edge('a', 'b', 7, 0.96)), '7 calls · p99 0.96 ms');
assert.equal(A.edgeLabel(edge('a', 'b', 20, 118.3, 2)), '20 calls · p99 118 ms · 10% err');

// Names, not ids; long names are shortened (the whole name is in the tooltip).
{
  const placed = A.layout(snapshot([edge('c-7f3a', 'c-9b1e', 5, 2)],
    { 'c-7f3a': 'orders', 'c-9b1e': 'a ledger service with a very long registered name' }), measure);
  const labels = placed.nodes.map((n) => n.label).sort();
  assert.deepEqual(labels, ['a ledger service with a ver…', 'orders']);
  assert.ok(placed.edges[0].title.includes('c-7f3a → c-9b1e'), placed.edges[0].title);
}

// A two-way pair: each direction on its own side, labels apart.
{
  const placed = A.layout(snapshot([edge('orders', 'ledger', 42, 3), edge('ledger', 'orders', 40, 2.9)]), measure);
  checkNoOverlap(placed, 'pair');
  const [ab, ba] = placed.edges;
  assert.notEqual(Math.sign(ab.line.y1 - ab.line.y2 || ab.line.x1 - ab.line.x2), 0);
  assert.ok(Math.abs(ab.ly - ba.ly) > 10 || Math.abs(ab.lx - ba.lx) > 50, 'the pair\'s labels are apart');
}

// The circle grows with the number of nodes.
const ring = (n) => Array.from({ length: n }, (_, i) => edge(`svc${i}`, `svc${(i + 1) % n}`, 10 + i, 2));
const radii = [3, 8, 16].map((n) => A.layout(snapshot(ring(n)), measure).radius);
assert.ok(radii[0] < radii[1] && radii[1] < radii[2], `radii ${radii}`);

// Busy maps: a hub and its services calling each other both ways, a full mesh of five, and
// a ring of sixteen with chords through the middle.
const scenarios = {
  star: ['gateway', 'orders', 'ledger', 'billing', 'search', 'mail', 'audit'].flatMap((s, i, all) =>
    i === 0 ? [] : [edge('gateway', s, 100 + i, 4), edge(s, 'gateway', 50 + i, 12)]).concat(
    [edge('orders', 'ledger', 42, 3), edge('ledger', 'orders', 41, 3), edge('(unverified)', 'ledger', 3, 0.5, 3)]),
  mesh: ['a', 'b', 'c', 'd', 'e'].flatMap((x) => ['a', 'b', 'c', 'd', 'e']
    .filter((y) => y !== x).map((y) => edge(x, y, 1000 + x.charCodeAt(0), 25.5))),
  // A service calling itself (a loop), alone and among others.
  alone: [edge('worker', 'worker', 12, 2)],
  loops: [edge('orders', 'orders', 12, 2), edge('orders', 'ledger', 5, 3), edge('ledger', 'ledger', 1, 1),
    edge('ledger', 'orders', 5, 3), edge('mail', 'orders', 2, 9)],
  ring: ring(16).concat(Array.from({ length: 8 }, (_, i) => edge(`svc${i}`, `svc${i + 8}`, 7, 1.2))),
};
// The largest map the hub keeps: 512 edges among 60 services.
{
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const seen = new Set();
  const busy = [];
  while (busy.length < 512) {
    const [a, b] = [Math.floor(random() * 60), Math.floor(random() * 60)];
    if (seen.has(a + ' ' + b)) continue;
    seen.add(a + ' ' + b);
    busy.push(edge(`svc${a}`, `svc${b}`, Math.floor(random() * 5000), random() * 80));
  }
  scenarios.busy = busy;
}
for (const [what, edges] of Object.entries(scenarios)) {
  const placed = A.layout(snapshot(edges), measure);
  assert.equal(placed.crowded, false, `${what}: some label found no free place`);
  checkNoOverlap(placed, what);
  for (const e of placed.edges.filter((e) => e.edge.caller === e.edge.callee)) {
    assert.ok(e.loop, `${what}: a self-call is drawn as a loop`);
  }
  console.log(`  - ${what}: ${placed.nodes.length} nodes, ${placed.edges.length} edges, no label overlaps ` +
    `(${placed.width.toFixed(0)}×${placed.height.toFixed(0)} px)`);
}
console.log('activity layout: ok');
