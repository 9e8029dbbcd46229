// Waygate console: a client of the management API (the same routes curl and the CLI
// use) and nothing else. The token stays in this tab's sessionStorage. Pages are built
// with DOM calls (text is never parsed as HTML), charts are plain SVG.
'use strict';

const TOKEN_KEY = 'waygate.token';
const REFRESH_MS = 3000;
const HISTORY = 40; // samples kept for the traffic charts (2 minutes at 3 s)

// ---------------------------------------------------------------- DOM helpers

/** h('a', {href: '#/'}, 'text', child…): an element; strings become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const main = () => document.getElementById('main');
const enc = encodeURIComponent;
const short = (hash) => (hash ? String(hash).slice(0, 12) : '—');

function notice(message, kind) {
  const n = document.getElementById('notice');
  n.textContent = message || '';
  n.className = kind || 'error';
  n.hidden = !message;
}

// ---------------------------------------------------------------- API client

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The operations of GET /v1/openapi.json as [method, RegExp of the path template]: every
 *  call the console makes must be one of them, so the console cannot drift from the API
 *  the server describes (a call that isn't fails loudly instead of half-working). */
let described = null;

async function loadDescription() {
  if (described) return described;
  const resp = await fetch('/v1/openapi.json');
  if (!resp.ok) throw new ApiError(resp.status, 'The API description could not be loaded');
  const doc = await resp.json();
  described = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    const re = new RegExp('^' + template.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$');
    for (const method of Object.keys(item)) described.push([method.toUpperCase(), re]);
  }
  return described;
}

async function checkDescribed(method, path) {
  const ops = await loadDescription();
  const bare = path.split('?')[0];
  if (!ops.some(([m, re]) => m === method && re.test(bare))) {
    throw new ApiError(0, 'Console error: ' + method + ' ' + bare + ' is not in the API description (/v1/openapi.json)');
  }
}

/** Calls the management API; resolves to the parsed JSON (or null on 204), rejects with
 *  an ApiError carrying the server's `message`. `raw`: a Blob body (code: application/wasm). */
async function api(method, path, body, raw) {
  await checkDescribed(method, path);
  const headers = { Authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || '') };
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers['Content-Type'] = 'application/wasm';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload });
  } catch (e) {
    throw new ApiError(0, 'The server could not be reached: ' + e.message);
  }
  const text = await resp.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch (_) { json = null; }
  }
  if (!resp.ok) {
    const msg = (json && json.message) || text || resp.statusText;
    throw new ApiError(resp.status, msg);
  }
  return json;
}

/** Every item of a paged listing (`limit`/`next`). */
async function all(path, field) {
  const items = [];
  let next = null;
  for (let i = 0; i < 100; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', path + (next ? sep + 'next=' + enc(next) : ''));
    items.push(...(page[field] || []));
    next = page.next;
    if (!next) break;
  }
  return items;
}

/** A readable line for a failed call: 403s say what is not allowed. */
function explain(e) {
  if (e.status === 403) return 'Not allowed with this key — ' + e.message;
  if (e.status === 401) return 'Signed out: the token was refused — ' + e.message;
  return e.message;
}

/** Runs `work`; a failure is shown in the notice bar instead of a blank page. */
async function guarded(work, done) {
  try {
    const r = await work();
    if (done) notice(done, 'ok');
    return r;
  } catch (e) {
    if (e.status === 401) return signOut(explain(e));
    notice(explain(e));
    return undefined;
  }
}

// ---------------------------------------------------------------- resolution

/** `orders:${stageVariables.alias}` with the stage's variables → `orders:STABLE`. */
function substitute(template, vars) {
  return template.replace(/\$\{stageVariables\.([A-Za-z0-9_]+)\}/g, (_, n) => (n in vars ? vars[n] : '${stageVariables.' + n + '}'));
}

function splitTarget(target) {
  const i = target.lastIndexOf(':');
  return i < 0 ? [target, '$LATEST'] : [target.slice(0, i), target.slice(i + 1)];
}

/** What a function target runs: [{version, weight}] (weights sum to 1), and the alias. */
async function resolveTarget(target, cache) {
  const [fn, qualifier] = splitTarget(target);
  if (qualifier === '$LATEST' || /^[0-9]+$/.test(qualifier)) {
    return { fn, alias: null, runs: [{ version: qualifier, weight: 1 }] };
  }
  const key = fn + ':' + qualifier;
  if (!cache.has(key)) {
    cache.set(key, api('GET', '/v1/functions/' + enc(fn) + '/aliases/' + enc(qualifier)));
  }
  const alias = await cache.get(key);
  return { fn, alias: qualifier, runs: aliasRuns(alias) };
}

function aliasRuns(alias) {
  const extra = Object.entries(alias.routing || {}).map(([version, weight]) => ({ version, weight }));
  const rest = 1 - extra.reduce((s, r) => s + r.weight, 0);
  return [{ version: alias.version, weight: rest }, ...extra];
}

const pct = (w) => (Math.round(w * 1000) / 10) + ' %';

function cacheText(c) {
  if (!c || !c.enabled) return 'off';
  return 'on · TTL ' + c.ttl_seconds + ' s · up to ' + c.max_bytes + ' bytes per response';
}

/** The settings that are set (a throttle's rate and burst, its per-route overrides). */
function setText(obj) {
  const set = Object.entries(obj || {}).filter(([, v]) => v !== null && !(typeof v === 'object' && !Object.keys(v).length));
  return set.length ? kv(Object.fromEntries(set)) : h('span', { class: 'muted' }, 'none');
}

function runsText(runs) {
  return runs.map((r) => (runs.length > 1 ? r.version + ' (' + pct(r.weight) + ')' : r.version)).join(' + ');
}

/** One row per route: what it integrates and what that runs on this side of the stage. */
async function resolveRoutes(deployment, vars, cache) {
  const rows = [];
  for (const route of deployment.routes || []) {
    const integ = route.integration || {};
    const row = { route: route.method + ' ' + route.path, integration: integ.type || '?', target: '', resolves: '', runs: '' };
    if (integ.type === 'function' && integ.target) {
      row.target = integ.target;
      const concrete = substitute(integ.target, vars);
      try {
        const r = await resolveTarget(concrete, cache);
        row.resolves = r.alias ? r.fn + ':' + r.alias : concrete;
        row.runs = runsText(r.runs);
      } catch (e) {
        row.resolves = concrete;
        row.runs = explain(e);
      }
    } else {
      row.target = integ.uri || integ.url || JSON.stringify(integ);
      row.resolves = substitute(row.target, vars);
      row.runs = '(HTTP backend)';
    }
    rows.push(row);
  }
  return rows;
}

function table(headers, rows, caption) {
  return h('div', { class: 'scroll' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))));
}

function kv(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('span', { class: 'muted' }, 'none');
  return h('span', {}, entries.map(([k, v], i) => [i ? ', ' : '', h('code', {}, k), '=' + (typeof v === 'object' ? JSON.stringify(v) : v)]));
}

// ---------------------------------------------------------------- pages

let timers = [];
function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

async function overview() {
  const m = main();
  m.replaceChildren(h('h1', {}, 'Overview'), h('p', { class: 'muted' }, 'Each API with its stages: what every route runs right now.'));
  const apis = await all('/v1/apis?limit=100', 'apis');
  if (!apis.length) m.append(h('p', {}, 'No APIs yet.'));
  const aliases = new Map();
  const deployments = new Map();
  const getDeployment = (apiId, id) => {
    const key = apiId + '/' + id;
    if (!deployments.has(key)) deployments.set(key, api('GET', '/v1/apis/' + enc(apiId) + '/deployments/' + enc(id)));
    return deployments.get(key);
  };
  for (const a of apis) {
    const section = h('section', { class: 'api', 'data-api': a.name }, h('h2', {}, a.name, ' ', h('small', { class: 'muted' }, a.id)));
    m.append(section);
    let stages;
    try {
      stages = await all('/v1/apis/' + enc(a.id) + '/stages', 'stages');
    } catch (e) {
      section.append(h('p', { class: 'denied' }, explain(e)));
      continue;
    }
    if (!stages.length) section.append(h('p', { class: 'muted' }, 'No stages.'));
    for (const s of stages) {
      const card = h('article', { class: 'stage', 'data-stage': s.name },
        h('h3', {}, h('a', { href: '#/stage/' + enc(a.id) + '/' + enc(s.name) }, 'Stage ' + s.name),
          ' ', h('span', { class: 'badge' }, s.priority_class || ''), ' ', h('span', { class: 'muted' }, 'environment ' + s.environment)),
        h('p', {}, 'Deployment ', h('code', {}, s.deployment_id), ' · variables ', kv(s.variables)),
        h('p', {}, 'Cache ', cacheText(s.cache), ' · throttle ', setText(s.throttle)),
        h('p', {}, 'Invoke URL ', h('code', {}, s.invoke_url)));
      section.append(card);
      try {
        const d = await getDeployment(a.id, s.deployment_id);
        const rows = await resolveRoutes(d, s.variables || {}, aliases);
        const share = s.canary ? 1 - s.canary.percent_traffic / 100 : 1;
        card.append(table(['Route', 'Integration', 'Resolves to', 'Runs'],
          rows.map((r) => [r.route, r.target, r.resolves, h('span', { class: 'runs' }, r.runs)]),
          s.canary ? 'Main deployment: ' + pct(share) + ' of requests' : null));
        if (s.canary) {
          const c = s.canary;
          const vars = Object.assign({}, s.variables || {}, c.stage_variable_overrides || {});
          const cd = await getDeployment(a.id, c.deployment_id);
          const crows = await resolveRoutes(cd, vars, aliases);
          card.append(h('div', { class: 'canary' },
            h('p', {}, h('strong', {}, 'Canary ' + c.percent_traffic + ' %'), ' on deployment ', h('code', {}, c.deployment_id),
              ' · overrides ', kv(c.stage_variable_overrides)),
            share_bar([{ label: 'main', weight: share }, { label: 'canary', weight: 1 - share }]),
            table(['Route', 'Integration', 'Resolves to', 'Runs'], crows.map((r) => [r.route, r.target, r.resolves, h('span', { class: 'runs' }, r.runs)]))));
        }
      } catch (e) {
        card.append(h('p', { class: 'denied' }, explain(e)));
      }
    }
  }
}

function share_bar(parts) {
  return h('div', { class: 'bar', role: 'img', 'aria-label': parts.map((p) => p.label + ' ' + pct(p.weight)).join(', ') },
    parts.filter((p) => p.weight > 0).map((p, i) => {
      const seg = h('span', { class: 'seg s' + (i % 4), 'data-weight': p.weight, title: p.label + ' ' + pct(p.weight) }, p.label + ' ' + pct(p.weight));
      // Through the CSSOM: the CSP allows no inline style attribute.
      seg.style.flexGrow = String(p.weight);
      return seg;
    }));
}

async function functionsPage() {
  const m = main();
  m.replaceChildren(h('h1', {}, 'Functions'));
  const fns = await all('/v1/functions?limit=200', 'functions');
  m.append(table(['Name', 'Kind', '$LATEST code', 'Memory', 'Timeout', 'Updated'],
    fns.map((f) => [h('a', { href: '#/function/' + enc(f.name) }, f.name), f.kind || '—', h('code', {}, short(f.code_hash)),
      f.config.memory_mb + ' MB', f.config.timeout_ms + ' ms', f.updated_at])));
}

async function functionPage(name) {
  const m = main();
  const base = '/v1/functions/' + enc(name);
  const [f, versions, aliases] = await Promise.all([
    api('GET', base), all(base + '/versions', 'versions'), all(base + '/aliases', 'aliases')]);
  const cfg = f.config || {};
  m.replaceChildren(h('h1', {}, 'Function ', h('span', { id: 'function-name' }, f.name)));

  // $LATEST, with upload and publish.
  const file = h('input', { type: 'file', id: 'code-file', accept: '.wasm,application/wasm' });
  const drop = h('div', { class: 'drop', tabindex: 0 }, 'Drop a .wasm file here, or choose one: ', h('label', { for: 'code-file' }, 'Code file'), file);
  const upload = async (blob) => {
    const r = await guarded(() => api('PUT', base + '/code', undefined, blob));
    if (r) { notice('Uploaded: $LATEST code is ' + short(r.code_hash), 'ok'); functionPage(name); }
  };
  file.addEventListener('change', () => file.files[0] && upload(file.files[0]));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]); });
  const desc = h('input', { id: 'publish-description', type: 'text', placeholder: 'what changed' });
  const publish = h('form', { class: 'inline', onsubmit: async (e) => {
    e.preventDefault();
    const v = await guarded(() => api('POST', base + '/versions', { description: desc.value }));
    if (v) { await functionPage(name); notice('Published version ' + v.version, 'ok'); }
  } }, h('label', { for: 'publish-description' }, 'Description'), desc, h('button', { type: 'submit', id: 'publish' }, 'Publish $LATEST as a version'));
  m.append(h('section', {}, h('h2', {}, '$LATEST (draft)'),
    h('p', {}, 'Code ', h('code', { id: 'latest-hash' }, f.code_hash || 'none'), ' · ', f.kind || 'no code', f.code_size ? ' · ' + f.code_size + ' bytes' : ''),
    h('p', {}, 'Memory ' + cfg.memory_mb + ' MB · timeout ' + cfg.timeout_ms + ' ms · environment ', kv(cfg.env)),
    drop, publish));

  // Versions (immutable).
  m.append(h('section', {}, h('h2', {}, 'Versions'),
    versions.length ? table(['Version', 'Code', 'Version hash', 'Description', 'Environment', 'Published'],
      versions.filter((v) => v.version !== '$LATEST').map((v) => [h('strong', {}, v.version), h('code', {}, short(v.code_hash)), h('code', {}, short(v.version_hash)), v.description, kv((v.config || {}).env), v.created_at]))
      : h('p', { class: 'muted' }, 'None published.'),
    h('p', { class: 'muted' }, 'Environment values shown as stored: secrets appear as their secret:NAME references.')));

  // Aliases, drawn as bars of their weights, each with a form to move it.
  const choices = ['$LATEST', ...versions.map((v) => v.version).filter((v) => v !== '$LATEST')];
  const sec = h('section', {}, h('h2', {}, 'Aliases'));
  for (const a of aliases) sec.append(aliasCard(name, a, choices));
  sec.append(aliasCard(name, null, choices));
  m.append(sec);
}

function aliasCard(fn, alias, choices) {
  const id = alias ? alias.name : 'new';
  const runs = alias ? aliasRuns(alias) : [];
  const name = h('input', { id: 'alias-name-' + id, type: 'text', value: alias ? alias.name : '', readonly: !!alias, required: true });
  const primary = h('select', { id: 'alias-version-' + id }, choices.map((v) => h('option', { value: v, selected: alias && alias.version === v }, v)));
  const extra = Object.entries(alias ? alias.routing || {} : {})[0];
  const second = h('select', { id: 'alias-second-' + id }, h('option', { value: '' }, 'no second version'),
    choices.filter((v) => v !== '$LATEST').map((v) => h('option', { value: v, selected: extra && extra[0] === v }, v)));
  const weight = h('input', { id: 'alias-weight-' + id, type: 'range', min: 0, max: 100, step: 1, value: extra ? Math.round(extra[1] * 100) : 0 });
  const shown = h('output', { for: weight.id }, weight.value + ' %');
  weight.addEventListener('input', () => { shown.textContent = weight.value + ' %'; });
  const form = h('form', { class: 'alias-form', onsubmit: async (e) => {
    e.preventDefault();
    const body = { version: primary.value, routing: {} };
    if (second.value) body.routing[second.value] = Number(weight.value) / 100;
    const r = await guarded(() => api('PUT', '/v1/functions/' + enc(fn) + '/aliases/' + enc(name.value), body));
    if (r) { await functionPage(fn); notice('Alias ' + r.name + ' → ' + runsText(aliasRuns(r)), 'ok'); }
  } },
  h('label', { for: name.id }, 'Alias'), name,
  h('label', { for: primary.id }, 'Version'), primary,
  h('label', { for: second.id }, 'Second version'), second,
  h('label', { for: weight.id }, 'Its weight'), weight, shown,
  h('button', { type: 'submit', id: 'alias-save-' + id }, alias ? 'Move alias' : 'Create alias'));
  return h('article', { class: 'alias', 'data-alias': id },
    alias ? h('h3', {}, alias.name, ' → ', h('span', { class: 'runs' }, runsText(runs))) : h('h3', {}, 'New alias'),
    alias ? share_bar(runs.map((r) => ({ label: 'version ' + r.version, weight: r.weight }))) : null,
    form);
}

async function stagePage(apiId, stageName) {
  const m = main();
  const base = '/v1/apis/' + enc(apiId) + '/stages/' + enc(stageName);
  const [a, s] = await Promise.all([api('GET', '/v1/apis/' + enc(apiId)), api('GET', base)]);
  m.replaceChildren(h('h1', {}, 'Stage ', stageName, ' of ', a.name));
  m.append(h('p', {}, 'Deployment ', h('code', { id: 'stage-deployment' }, s.deployment_id), ' · variables ', kv(s.variables), ' · ', h('code', {}, s.invoke_url)));
  if (s.warnings) m.append(h('ul', { class: 'warn' }, s.warnings.map((w) => h('li', {}, w))));
  const reload = async (msg) => { await stagePage(apiId, stageName); notice(msg, 'ok'); };
  const deployDesc = h('input', { id: 'deploy-description', type: 'text', placeholder: 'description' });
  const canaryAt = h('input', { id: 'deploy-canary-percent', type: 'number', min: 0, max: 100, step: 'any', placeholder: 'e.g. 10' });
  m.append(h('section', {}, h('h2', {}, 'Deploy'),
    h('form', { class: 'inline', onsubmit: async (e) => {
      e.preventDefault();
      const body = { stage: stageName, description: deployDesc.value };
      if (canaryAt.value !== '') body.canary = { percent_traffic: Number(canaryAt.value) };
      const d = await guarded(() => api('POST', '/v1/apis/' + enc(apiId) + '/deployments', body));
      if (d) await reload((body.canary ? 'Canary deployment ' : 'Deployed ') + d.id);
    } }, h('label', { for: deployDesc.id }, 'Description'), deployDesc,
    h('label', { for: canaryAt.id }, 'As a canary with percent (empty: the whole stage)'), canaryAt,
    h('button', { type: 'submit', id: 'deploy' }, 'Deploy the API\'s routes'))));

  const canary = h('section', {}, h('h2', {}, 'Canary'));
  if (s.canary) {
    const c = s.canary;
    const slider = h('input', { id: 'canary-percent', type: 'range', min: 0, max: 100, step: 1, value: c.percent_traffic });
    const out = h('output', { for: 'canary-percent', id: 'canary-percent-shown' }, c.percent_traffic + ' %');
    slider.addEventListener('input', () => { out.textContent = slider.value + ' %'; });
    canary.append(h('p', {}, 'Deployment ', h('code', {}, c.deployment_id), ' · overrides ', kv(c.stage_variable_overrides)),
      share_bar([{ label: 'main', weight: 1 - c.percent_traffic / 100 }, { label: 'canary', weight: c.percent_traffic / 100 }]),
      h('form', { class: 'inline', onsubmit: async (e) => {
        e.preventDefault();
        const r = await guarded(() => api('PATCH', base, { canary: { percent_traffic: Number(slider.value) } }));
        if (r) await reload('Canary at ' + r.canary.percent_traffic + ' %');
      } }, h('label', { for: 'canary-percent' }, 'Share of requests'), slider, out, h('button', { type: 'submit', id: 'canary-save' }, 'Set share')),
      h('button', { type: 'button', id: 'canary-promote', onclick: async () => {
        if (await guarded(() => api('POST', base + '/canary/promote'))) await reload('Canary promoted');
      } }, 'Promote canary'), ' ',
      h('button', { type: 'button', id: 'canary-remove', onclick: async () => {
        if ((await guarded(() => api('DELETE', base + '/canary'))) !== undefined) await reload('Canary removed');
      } }, 'Remove canary'));
  } else {
    canary.append(h('p', { class: 'muted' }, 'No canary: deploy with a percent above to start one.'));
  }
  m.append(canary);
  m.append(h('section', {}, h('h2', {}, 'Cache'), h('p', {}, cacheText(s.cache)),
    h('button', { type: 'button', id: 'cache-flush', onclick: async () => {
      if ((await guarded(() => api('DELETE', base + '/cache'))) !== undefined) notice('Cache flushed', 'ok');
    } }, 'Flush cache')));
  m.append(h('section', {}, h('h2', {}, 'Throttle and capacity'), h('p', {}, 'Throttle ', setText(s.throttle), ' · capacity ', setText(s.capacity), ' · class ', s.priority_class)));
}

// ---------------------------------------------------------------- traffic

/** Percentile of a histogram given as [[bucket, count]…] over bounds (ms). */
function percentile(hist, bounds, q) {
  const total = hist.reduce((s, [, c]) => s + c, 0);
  if (!total) return null;
  let seen = 0;
  for (const [i, c] of hist) {
    seen += c;
    if (seen >= q * total) return bounds[i] === null ? Infinity : bounds[i];
  }
  return null;
}

function diffHist(now, before) {
  const prev = new Map(before || []);
  return now.map(([i, c]) => [i, c - (prev.get(i) || 0)]).filter(([, c]) => c > 0);
}

const traffic = { samples: [] };

function rowKey(r) { return r.api_id + '/' + r.stage + (r.canary ? '/canary' : ''); }

/** Rates between two samples, per stage side and per version. */
function rates(a, b) {
  const dt = Math.max((b.at_ms - a.at_ms) / 1000, 0.001);
  const out = { at: b.at_ms, sides: new Map(), versions: new Map() };
  const before = new Map(a.stages.map((r) => [rowKey(r), r]));
  for (const r of b.stages) {
    const p = before.get(rowKey(r)) || { requests: 0, server_errors: 0, client_errors: 0, throttled: 0, invocations: { invocations: 0, errors: 0, cold_starts: 0, latency: [] } };
    const hist = diffHist(r.invocations.latency, p.invocations.latency);
    out.sides.set(rowKey(r), {
      api_id: r.api_id, stage: r.stage, canary: r.canary,
      rps: (r.requests - p.requests) / dt,
      errors: (r.server_errors - p.server_errors + r.invocations.errors - p.invocations.errors) / dt,
      cold: (r.invocations.cold_starts - p.invocations.cold_starts) / dt,
      p50: percentile(hist, b.latency_bounds_ms, 0.5), p99: percentile(hist, b.latency_bounds_ms, 0.99),
      requests: r.requests,
    });
  }
  const vb = new Map(a.versions.map((v) => [v.function + ':' + v.version, v]));
  for (const v of b.versions) {
    const p = vb.get(v.function + ':' + v.version) || { invocations: 0, errors: 0, cold_starts: 0, latency: [] };
    const hist = diffHist(v.latency, p.latency);
    out.versions.set(v.function + ':' + v.version, {
      function: v.function, version: v.version,
      ips: (v.invocations - p.invocations) / dt, errors: (v.errors - p.errors) / dt, cold: (v.cold_starts - p.cold_starts) / dt,
      p50: percentile(hist, b.latency_bounds_ms, 0.5), p99: percentile(hist, b.latency_bounds_ms, 0.99), total: v.invocations,
    });
  }
  return out;
}

function fmt(x, unit) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (x === Infinity) return '> 37 s';
  return (x >= 100 ? Math.round(x) : Math.round(x * 100) / 100) + (unit || '');
}

/** A line chart of `series` ([{label, points: [y…]}]) over the last HISTORY samples. */
function lineChart(title, series, unit) {
  const W = 360, H = 120, P = 28;
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points.filter((y) => y !== null && Number.isFinite(y))));
  const x = (i) => P + (i * (W - P - 4)) / Math.max(1, HISTORY - 1);
  const y = (v) => H - 18 - ((H - 30) * v) / max;
  const lines = series.map((s, k) => {
    const pts = s.points.map((v, i) => (v === null || !Number.isFinite(v) ? null : [x(HISTORY - s.points.length + i), y(v)])).filter(Boolean);
    // A line through the points, and a dot on each (the first poll has a single point).
    return svg('g', { class: 'l' + k },
      svg('polyline', { class: 'line', points: pts.map((p) => p.join(',')).join(' '), fill: 'none' }),
      pts.map((p) => svg('circle', { cx: p[0], cy: p[1], r: 2.5, class: 'dot' })));
  });
  return h('figure', { class: 'chart' },
    svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title },
      svg('line', { x1: P, y1: H - 18, x2: W - 4, y2: H - 18, class: 'axis' }),
      svg('text', { x: 2, y: 12, class: 'tick' }, fmt(max, unit)),
      svg('text', { x: 2, y: H - 20, class: 'tick' }, '0'),
      lines),
    h('figcaption', {}, title, ' ', series.map((s, k) => h('span', { class: 'key k' + k }, s.label))));
}

async function trafficPage() {
  const m = main();
  m.replaceChildren(h('h1', {}, 'Traffic'), h('p', { class: 'muted' }, 'Refreshed every ' + REFRESH_MS / 1000 + ' s from GET /v1/stats. Latency is the function\'s duration (instantiate + run).'));
  const body = h('div', { id: 'traffic' });
  m.append(body);
  const names = new Map();
  await guarded(async () => { for (const a of await all('/v1/apis?limit=100', 'apis')) names.set(a.id, a.name); });
  const tick = async () => {
    const s = await guarded(() => api('GET', '/v1/stats'));
    if (!s) return;
    traffic.samples.push(s);
    if (traffic.samples.length > HISTORY + 1) traffic.samples.shift();
    drawTraffic(body, names);
  };
  await tick();
  timers.push(setInterval(tick, REFRESH_MS));
}

function drawTraffic(body, names) {
  const S = traffic.samples;
  if (S.length < 2) {
    body.replaceChildren(h('p', { class: 'muted' }, 'Collecting a second sample…'));
    return;
  }
  const series = [];
  for (let i = 1; i < S.length; i++) series.push(rates(S[i - 1], S[i]));
  const last = series[series.length - 1];
  const stages = new Map();
  for (const [key, r] of last.sides) {
    const id = r.api_id + '/' + r.stage;
    if (!stages.has(id)) stages.set(id, { api_id: r.api_id, stage: r.stage, keys: [] });
    stages.get(id).keys.push(key);
  }
  const parts = [];
  for (const st of stages.values()) {
    const mainKey = st.api_id + '/' + st.stage, canKey = mainKey + '/canary';
    const pts = (key, f) => series.map((s) => (s.sides.get(key) ? f(s.sides.get(key)) : null));
    const sides = [{ label: 'main', key: mainKey }].concat(last.sides.has(canKey) ? [{ label: 'canary', key: canKey }] : []);
    // The canary's share of requests over the window shown.
    const first = S[0].stages, lastS = S[S.length - 1].stages;
    const total = (key, rows) => { const r = rows.find((x) => rowKey(x) === key); return r ? r.requests : 0; };
    const mainN = total(mainKey, lastS) - total(mainKey, first), canN = total(canKey, lastS) - total(canKey, first);
    const share = mainN + canN > 0 ? canN / (mainN + canN) : null;
    parts.push(h('section', { class: 'traffic-stage', 'data-stage': st.stage },
      h('h2', {}, (names.get(st.api_id) || st.api_id) + ' · ' + st.stage),
      sides.length > 1 ? h('p', {}, 'Canary share of requests: ', h('strong', { class: 'canary-share' }, share === null ? '—' : pct(share)),
        ' (' + canN + ' of ' + (mainN + canN) + ')') : null,
      sides.length > 1 && share !== null ? share_bar([{ label: 'main', weight: 1 - share }, { label: 'canary', weight: share }]) : null,
      h('div', { class: 'charts' },
        lineChart('Requests/s', sides.map((sd) => ({ label: sd.label, points: pts(sd.key, (r) => r.rps) })), '/s'),
        lineChart('Errors/s', sides.map((sd) => ({ label: sd.label, points: pts(sd.key, (r) => r.errors) })), '/s'),
        lineChart('p50 / p99 latency', sides.flatMap((sd) => [
          { label: sd.label + ' p50', points: pts(sd.key, (r) => r.p50) },
          { label: sd.label + ' p99', points: pts(sd.key, (r) => r.p99) }]), ' ms'),
        lineChart('Cold starts/s', sides.map((sd) => ({ label: sd.label, points: pts(sd.key, (r) => r.cold) })), '/s'))));
  }
  if (!parts.length) parts.push(h('p', { class: 'muted' }, 'No stage has served a request yet.'));
  const vrows = [...last.versions.values()].sort((a, b) => b.total - a.total);
  const top = vrows.slice(0, 4).map((v) => v.function + ':' + v.version);
  const vpts = (key, f) => series.map((s) => (s.versions.get(key) ? f(s.versions.get(key)) : null));
  parts.push(h('section', {}, h('h2', {}, 'Function versions'),
    top.length ? h('div', { class: 'charts' },
      lineChart('Invocations/s (busiest versions)', top.map((k) => ({ label: k, points: vpts(k, (v) => v.ips) })), '/s'),
      lineChart('p99 latency', top.map((k) => ({ label: k, points: vpts(k, (v) => v.p99) })), ' ms'),
      lineChart('Cold starts/s', top.map((k) => ({ label: k, points: vpts(k, (v) => v.cold) })), '/s')) : null,
    table(['Function', 'Version', 'Invocations/s', 'Errors/s', 'p50', 'p99', 'Cold starts/s', 'Total'],
      vrows.map((v) => [v.function, v.version, fmt(v.ips), fmt(v.errors), fmt(v.p50, ' ms'), fmt(v.p99, ' ms'), fmt(v.cold), v.total]))));
  body.replaceChildren(...parts);
}

// ---------------------------------------------------------------- logs

async function logsPage(name) {
  const m = main();
  m.replaceChildren(h('h1', {}, 'Logs'));
  const fns = await all('/v1/functions?limit=200', 'functions');
  const pick = h('select', { id: 'logs-function', onchange: () => { location.hash = '#/logs/' + enc(pick.value); } },
    h('option', { value: '' }, 'choose a function'), fns.map((f) => h('option', { value: f.name, selected: f.name === name }, f.name)));
  const filter = h('input', { id: 'logs-version', type: 'text', placeholder: 'all versions', size: 12 });
  const out = h('pre', { id: 'log-lines', class: 'logs', tabindex: 0, 'aria-label': 'log lines' });
  m.append(h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); restart(); } },
    h('label', { for: 'logs-function' }, 'Function'), pick,
    h('label', { for: 'logs-version' }, 'Version or alias'), filter, h('button', { type: 'submit' }, 'Filter')), out);
  if (!name) return;
  let after = 0;
  const poll = async () => {
    const q = '?limit=500' + (after ? '&after=' + after : '') + (filter.value ? '&qualifier=' + enc(filter.value) : '');
    const r = await guarded(() => api('GET', '/v1/functions/' + enc(name) + '/logs' + q));
    if (!r) return;
    for (const e of r.events) {
      const t = new Date(e.timestamp).toISOString().slice(11, 23);
      out.append(document.createTextNode(t + ' [' + e.version + '] ' + e.message + '\n'));
    }
    after = r.next_after;
    while (out.childNodes.length > 2000) out.firstChild.remove();
  };
  const restart = () => { stopTimers(); out.replaceChildren(); after = 0; poll(); timers.push(setInterval(poll, REFRESH_MS)); };
  restart();
}

// ---------------------------------------------------------------- configuration

async function configurationPage() {
  const m = main();
  m.replaceChildren(h('h1', {}, 'Configuration'), h('p', { class: 'muted' }, 'Applications, their environments and deployments (AppConfig).'));
  const apps = await all('/v1/applications', 'applications');
  if (!apps.length) m.append(h('p', {}, 'No configuration applications.'));
  for (const a of apps) {
    const sec = h('section', {}, h('h2', {}, a.name));
    m.append(sec);
    let envs;
    try { envs = await all('/v1/applications/' + enc(a.name) + '/environments', 'environments'); } catch (e) { sec.append(h('p', { class: 'denied' }, explain(e))); continue; }
    for (const env of envs) {
      const card = h('article', {}, h('h3', {}, 'Environment ' + env.name));
      sec.append(card);
      try {
        const deps = await all('/v1/applications/' + enc(a.name) + '/environments/' + enc(env.name) + '/deployments', 'deployments');
        for (const d of deps.slice(-5).reverse()) {
          const done = Math.max(0, Math.min(100, Number(d.percentage_complete) || 0));
          card.append(h('div', { class: 'deployment', 'data-deployment': d.number },
            h('p', {}, h('strong', {}, 'Deployment ' + d.number), ' · ' + d.profile + ' version ' + d.version + ' · strategy ' + ((d.strategy && d.strategy.name) || d.strategy) + ' · ', h('span', { class: 'state' }, d.state)),
            h('progress', { max: 100, value: done, 'aria-label': 'deployment ' + d.number + ' progress' }, done + ' %'), ' ' + Math.round(done) + ' %',
            h('ul', { class: 'events' }, (d.events || []).map((ev) => h('li', {}, ev.at + ' ' + ev.event_type + ': ' + ev.description)))));
        }
        if (!deps.length) card.append(h('p', { class: 'muted' }, 'No deployments.'));
      } catch (e) {
        card.append(h('p', { class: 'denied' }, explain(e)));
      }
    }
  }
}

// ---------------------------------------------------------------- sign-in and routing

function signInPage(message) {
  stopTimers();
  document.getElementById('nav').hidden = true;
  document.getElementById('signout').hidden = true;
  document.getElementById('who').textContent = '';
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  const m = main();
  m.replaceChildren(h('h1', {}, 'Sign in'),
    h('p', {}, 'With the admin token (DATA_DIR/admin.token) or an API key. It is kept for this tab only.'),
    h('form', { id: 'signin', onsubmit: async (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      try {
        await api('GET', '/v1/stats');
      } catch (err) {
        sessionStorage.removeItem(TOKEN_KEY);
        return notice(err.status === 401 ? 'The token was refused: ' + err.message : explain(err));
      }
      notice('');
      route();
    } }, h('label', { for: 'token' }, 'Token or key'), input, h('button', { type: 'submit' }, 'Sign in')));
  if (message) notice(message);
  input.focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  signInPage(message);
}

async function route() {
  stopTimers();
  if (!sessionStorage.getItem(TOKEN_KEY)) return signInPage();
  document.getElementById('nav').hidden = false;
  document.getElementById('signout').hidden = false;
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll('#nav a')) {
    a.toggleAttribute('aria-current', a.getAttribute('href') === '#/' + (parts[0] || ''));
  }
  notice('');
  const pages = {
    '': () => overview(),
    functions: () => functionsPage(),
    function: () => functionPage(parts[1]),
    stage: () => stagePage(parts[1], parts[2]),
    traffic: () => trafficPage(),
    logs: () => logsPage(parts[1]),
    configuration: () => configurationPage(),
  };
  const page = pages[parts[0]] || pages[''];
  main().replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    await page();
    main().setAttribute('data-ready', parts[0] || 'overview');
  } catch (e) {
    if (e.status === 401) return signOut(explain(e));
    main().replaceChildren(h('h1', {}, 'Cannot show this page'), h('p', { class: 'denied', id: 'page-error' }, explain(e)));
  }
}

window.addEventListener('hashchange', () => { main().removeAttribute('data-ready'); route(); });
document.getElementById('signout').addEventListener('click', () => signOut());
route();
