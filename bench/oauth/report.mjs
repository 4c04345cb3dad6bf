// Turns the files bench/oauth/run.sh left in its work dir into the printed table and the JSON
// result.  Usage: node report.mjs WORK_DIR OUT_JSON
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [work, outPath] = process.argv.slice(2);
if (!work || !outPath) {
  console.error('usage: node report.mjs WORK_DIR OUT_JSON');
  process.exit(2);
}

const meta = Object.fromEntries(
  readFileSync(join(work, 'meta.env'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);
const num = (k) => (meta[k] === undefined ? null : Number(meta[k]));

const TARGETS = {
  issuance_rps_min: 10000,
  issuance_vs_oidc_provider_min: 3,
  introspection_rps_min: 20000,
  p99_ms_max: 10,
  idle_rss_mib_max: 50,
  dpop_vs_plain_issuance_min: 0.4,
};

const servers = ['keyway', 'oidc-provider'];
const scenarios = ['issuance', 'introspection', 'dpop-issuance'];

function load(server, scenario) {
  const file = join(work, `${server}-${scenario}.json`);
  if (!existsSync(file)) return null;
  const w = JSON.parse(readFileSync(file, 'utf8'));
  const seconds = w.duration_us / 1e6;
  const e = w.errors;
  return {
    requests: w.requests,
    seconds,
    rps: w.requests / seconds,
    p50_ms: w.latency_us.p50 / 1000,
    p90_ms: w.latency_us.p90 / 1000,
    p99_ms: w.latency_us.p99 / 1000,
    p999_ms: w.latency_us.p999 / 1000,
    max_ms: w.latency_us.max / 1000,
    mean_ms: w.latency_us.mean / 1000,
    non_2xx: e.status,
    socket_errors: { connect: e.connect, read: e.read, write: e.write, timeout: e.timeout },
    server_cpu_pct: (100 * w.server_cpu_s) / seconds,
    wrk_cpu_pct: (100 * w.wrk_cpu_s) / seconds,
    other_cpu_pct: w.other_cpu_s == null ? null : (100 * w.other_cpu_s) / seconds,
  };
}

const results = {};
for (const scenario of scenarios) {
  results[scenario] = {};
  for (const server of servers) results[scenario][server] = load(server, scenario);
}

const ratio = (a, b) => (a != null && b != null && b !== 0 ? a / b : null);
const ratios = {};
for (const scenario of scenarios) {
  const k = results[scenario].keyway;
  const o = results[scenario]['oidc-provider'];
  ratios[scenario] = {
    rps: ratio(k?.rps, o?.rps),
    p50: ratio(k?.p50_ms, o?.p50_ms),
    p99: ratio(k?.p99_ms, o?.p99_ms),
  };
}

const mib = (kib) => (kib == null ? null : kib / 1024);
const rss = {};
for (const [server, key] of [['keyway', 'keyway'], ['oidc-provider', 'oidc_provider']]) {
  if (num(`${key}_rss_idle_kib`) == null) continue;
  rss[server] = {
    idle_mib: mib(num(`${key}_rss_idle_kib`)),
    after_load_mib: mib(num(`${key}_rss_after_kib`)),
    peak_mib: mib(num(`${key}_rss_peak_kib`)),
  };
}

const kIss = results.issuance.keyway;
const kInt = results.introspection.keyway;
const kDpop = results['dpop-issuance'].keyway;
const dpopOverPlain = ratio(kDpop?.rps, kIss?.rps);
const check = (ok) => (ok == null ? 'n/a' : ok ? 'PASS' : 'FAIL');
const targets = {
  issuance_rps: check(kIss && kIss.rps >= TARGETS.issuance_rps_min),
  issuance_vs_oidc_provider: check(ratios.issuance.rps == null ? null : ratios.issuance.rps >= TARGETS.issuance_vs_oidc_provider_min),
  introspection_rps: check(kInt && kInt.rps >= TARGETS.introspection_rps_min),
  p99: check(kIss && kInt && Math.max(kIss.p99_ms, kInt.p99_ms) <= TARGETS.p99_ms_max),
  idle_rss: check(rss.keyway && rss.keyway.idle_mib <= TARGETS.idle_rss_mib_max),
  dpop_vs_plain_issuance: check(dpopOverPlain == null ? null : dpopOverPlain >= TARGETS.dpop_vs_plain_issuance_min),
};

const notes = [];
if (results.introspection['oidc-provider']) {
  notes.push(
    'oidc-provider cannot introspect JWT access tokens (it answers '
      + `'${meta.oidc_provider_jwt_introspection ?? ''}'), so its introspection run uses `
      + 'an opaque token from its in-memory store (resource urn:keyway-bench:opaque); keyway introspects its JWT.',
  );
  notes.push('oidc-provider: EdDSA (Ed25519) at+jwt access tokens, in-memory adapter, one node process, NODE_ENV=production.');
}
notes.push('wrk and the server share the same cores; CPU columns are CPU time over the run, 100% = one core '
  + `(${meta.nproc} cores = ${meta.nproc}00%); "other" is every other process on the machine: if it is high, the run was disturbed.`);
notes.push('dpop-issuance: the issuance request with a DPoP header, each proof (Ed25519, made in advance by '
  + 'dpop_proofs.mjs) sent once; wrk builds each request in Lua, so its own CPU is higher than for plain issuance.');
notes.push('non-2xx is wrk\'s count of responses outside 2xx/3xx (neither server answers 3xx here); socket errors are listed apart.');

// ---------------------------------------------------------------- print
const f = (v, d = 0) => (v == null ? '-' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const sockErr = (r) => Object.values(r.socket_errors).reduce((a, b) => a + b, 0);

const lines = [];
lines.push(`OAuth benchmark: wrk ${meta.threads} threads, ${meta.connections} connections, ${meta.duration_s} s `
  + `after ${meta.warmup_s} s warm-up; 127.0.0.1; ${meta.nproc} cores; load avg before ${meta.loadavg_before}`);
lines.push('');
lines.push(`${pad('scenario', 15)}${pad('server', 15)}${lpad('req/s', 10)}${lpad('p50 ms', 9)}${lpad('p99 ms', 9)}`
  + `${lpad('non-2xx', 9)}${lpad('sock err', 10)}${lpad('srv CPU', 9)}${lpad('wrk CPU', 9)}${lpad('other CPU', 11)}`);
for (const scenario of scenarios) {
  for (const server of servers) {
    const r = results[scenario][server];
    if (!r) continue;
    lines.push(`${pad(scenario, 15)}${pad(server, 15)}${lpad(f(r.rps), 10)}${lpad(f(r.p50_ms, 2), 9)}`
      + `${lpad(f(r.p99_ms, 2), 9)}${lpad(f(r.non_2xx), 9)}${lpad(f(sockErr(r)), 10)}`
      + `${lpad(`${f(r.server_cpu_pct)}%`, 9)}${lpad(`${f(r.wrk_cpu_pct)}%`, 9)}${lpad(`${f(r.other_cpu_pct)}%`, 11)}`);
  }
}
lines.push('');
lines.push(`${pad('keyway/oidc-provider', 22)}${lpad('req/s', 8)}${lpad('p50', 8)}${lpad('p99', 8)}`);
for (const scenario of scenarios) {
  const r = ratios[scenario];
  if (r.rps == null) continue;
  const x = (v) => (v == null ? '-' : `${f(v, 2)}x`);
  lines.push(`${pad(scenario, 22)}${lpad(x(r.rps), 8)}${lpad(x(r.p50), 8)}${lpad(x(r.p99), 8)}`);
}
lines.push('');
for (const [server, r] of Object.entries(rss)) {
  lines.push(`${pad(`${server} RSS`, 20)} idle ${f(r.idle_mib, 1)} MiB, after load ${f(r.after_load_mib, 1)} MiB, `
    + `peak ${f(r.peak_mib, 1)} MiB`);
}
lines.push('');
lines.push('targets (keyway):');
const t = (label, verdict, value) => lines.push(`  ${pad(label, 46)}${pad(verdict, 6)}${value}`);
t(`issuance >= ${f(TARGETS.issuance_rps_min)} tokens/s`, targets.issuance_rps, f(kIss?.rps));
t(`issuance >= ${TARGETS.issuance_vs_oidc_provider_min}x oidc-provider`, targets.issuance_vs_oidc_provider,
  ratios.issuance.rps == null ? '-' : `${f(ratios.issuance.rps, 2)}x`);
t(`introspection >= ${f(TARGETS.introspection_rps_min)}/s`, targets.introspection_rps, f(kInt?.rps));
t(`p99 <= ${TARGETS.p99_ms_max} ms (issuance / introspection)`, targets.p99, `${f(kIss?.p99_ms, 2)} / ${f(kInt?.p99_ms, 2)} ms`);
t(`idle RSS <= ${TARGETS.idle_rss_mib_max} MiB`, targets.idle_rss, `${f(rss.keyway?.idle_mib, 1)} MiB`);
t(`DPoP-bound issuance >= ${TARGETS.dpop_vs_plain_issuance_min * 100}% of plain`, targets.dpop_vs_plain_issuance,
  dpopOverPlain == null ? '-' : `${f(dpopOverPlain * 100)}% (${f(kDpop.rps)} / ${f(kIss.rps)})`);
lines.push('');
for (const n of notes) lines.push(`note: ${n}`);
console.log(lines.join('\n'));

writeFileSync(outPath, `${JSON.stringify({
  date: new Date().toISOString(),
  tool: { name: 'wrk', version: meta.wrk_version, threads: num('threads'), connections: num('connections'), duration_s: num('duration_s'), warmup_s: num('warmup_s') },
  machine: { cores: num('nproc'), kernel: meta.kernel, loadavg_before: meta.loadavg_before, loadavg_after: meta.loadavg_after },
  versions: { keyway: meta.keyway_version, keyway_git: meta.keyway_git, keyway_binary_built: meta.keyway_binary_built, oidc_provider: meta.oidc_provider_version, node: meta.node_version },
  keyway_worker_threads_at_idle: num('keyway_threads'),
  results,
  ratios_keyway_over_oidc_provider: ratios,
  dpop_over_plain_issuance: dpopOverPlain,
  rss_mib: rss,
  targets: { ...TARGETS, verdict: targets },
  notes,
}, null, 2)}\n`);
