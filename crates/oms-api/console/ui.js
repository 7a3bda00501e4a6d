// Small DOM and formatting helpers. Data is only ever put into the page as text
// (textContent, attribute values), never as HTML.

/** An element: h('a', {href: '#'}, 'text', child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    // Through the CSSOM: the page's policy refuses style attributes.
    else if (k === 'style') el.style.cssText = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

export function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Math.max(0, Number(n) || 0);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}
export const rate = (n) => `${bytes(n)}/s`;
export function duration(ms) {
  const secs = Math.floor(Math.max(0, Number(ms) || 0) / 1000);
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`;
  return `${Math.floor(secs / 3600)}h${String(Math.floor((secs % 3600) / 60)).padStart(2, '0')}m`;
}
export const time = (ms) => (ms > 0 ? new Date(ms).toLocaleString() : '–');

const TASK_STATUS = ['initializing', 'waiting', 'running', 'paused', 'failed', 'completed', 'retrying', 'pausing'];
const GROUP_STATUS = ['waiting', 'creating tasks', 'running', 'paused', 'creation failed', 'failed', 'completed',
  'pausing', 'deleting', 'deleted'];
export const taskStatus = (code) => TASK_STATUS[code] || `status ${code}`;
export const groupStatus = (code) => GROUP_STATUS[code] || `status ${code}`;
export const badge = (name) => h('span', { class: `badge ${name.toLowerCase().replace(/ /g, '-')}` }, name);

export function bar(done, total) {
  const pct = total > 0 ? Math.min(100, (100 * done) / total) : 0;
  const inner = h('span');
  inner.style.width = `${pct.toFixed(1)}%`;
  return h('div', { class: `bar${total > 0 && done >= total ? ' done' : ''}`, title: `${pct.toFixed(1)} %` }, inner);
}

export function table(headers, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows));
}

export function counter(label, value, testId) {
  return h('div', { class: 'counter' }, h('b', { 'data-test': testId }, value), h('span', {}, label));
}

export function toast(message, kind = '') {
  const line = h('div', { class: kind }, message);
  document.getElementById('toast').append(line);
  setTimeout(() => line.remove(), kind === 'error' ? 9000 : 4000);
}

/** Runs an action, reporting its error (OMS code and message) as a toast. */
export async function attempt(action, success) {
  try {
    const result = await action();
    if (success) toast(success);
    return result;
  } catch (e) {
    toast(e.message, 'error');
    return undefined;
  }
}

/** Asks a yes/no question in a modal dialog. */
export function confirmAction(question, yes = 'Yes') {
  return new Promise((resolve) => {
    const dialog = h('dialog', {},
      h('p', {}, question),
      h('div', { class: 'actions' },
        h('button', { class: 'danger', type: 'button', onclick: () => { dialog.close(); resolve(true); } }, yes),
        h('button', { type: 'button', onclick: () => { dialog.close(); resolve(false); } }, 'Cancel')));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(false); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A secret input: not remembered by the browser, not offered for autofill. */
export const secretInput = (attrs) => h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', ...attrs });

/**
 * Asks for the keys a start, resume or retry needs (by the source cloud and its CDN), in a
 * modal form. The typed keys go into the returned body only: the inputs are emptied and the
 * dialog removed before this resolves, nothing is stored or logged. null when cancelled.
 */
export function askKeys({ title, cloud, cdnAuth, failedChoice }) {
  const kind = (cloud || '').toLowerCase();
  const fields = [];
  const add = (name, label, multiline) => {
    const input = multiline ? h('textarea', { autocomplete: 'off', spellcheck: 'false', name: undefined })
      : secretInput({});
    input.dataset.key = name;
    fields.push(h('label', {}, label), input);
  };
  if (kind === 'azure') add('connection_string', 'Source connection string');
  else if (kind === 'google') add('json_auth_file', 'Source service-account JSON', true);
  else if (kind !== 'urlsource') { add('src_ak', 'Source access key'); add('src_sk', 'Source secret key'); }
  if (cdnAuth && !['NONE', 'QINIU_PRIVATE_AUTHENTICATION', 'KSYUN_PRIVATE_AUTHENTICATION'].includes(cdnAuth)) {
    add('source_cdn_authentication_key', 'CDN key');
  }
  add('dst_ak', 'Destination access key');
  add('dst_sk', 'Destination secret key');
  let failedOnly = null;
  if (failedChoice) {
    failedOnly = h('input', { type: 'checkbox', checked: true, style: 'width:auto' });
    fields.push(h('label', {}, 'Failed objects only'), failedOnly);
  }
  return new Promise((resolve) => {
    let result = null;
    const form = h('form', { class: 'grid', method: 'dialog' }, fields);
    const dialog = h('dialog', { 'aria-label': title }, h('h2', {}, title),
      h('p', { class: 'muted' }, 'The keys are sent to omsd with this request only; the console keeps none of them.'),
      form,
      h('div', { class: 'actions' },
        h('button', { class: 'primary', type: 'button', onclick: () => {
          result = {};
          for (const input of form.querySelectorAll('[data-key]')) {
            if (input.value) result[input.dataset.key] = input.value;
          }
          if (failedOnly) result.migrate_failed_object = failedOnly.checked;
          dialog.close();
        } }, 'Send'),
        h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel')));
    dialog.addEventListener('close', () => {
      for (const input of form.querySelectorAll('[data-key]')) input.value = '';
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A line chart of speeds over time (bytes/s), drawn from the samples it is given. */
export function speedChart() {
  const samples = [];
  const svg = s('svg', { class: 'chart', viewBox: '0 0 600 140', role: 'img', 'aria-label': 'speed over time' });
  function draw() {
    // Drawn in the chart's own pixels, so that its text is never stretched.
    const width = Math.max(300, svg.clientWidth || 600);
    svg.setAttribute('viewBox', `0 0 ${width} 140`);
    svg.replaceChildren();
    const max = Math.max(1, ...samples.map((x) => x.v));
    const t0 = samples.length ? samples[0].t : 0;
    const span = Math.max(1, (samples.length ? samples[samples.length - 1].t : 0) - t0);
    const points = samples.map((x) => `${(70 + ((width - 80) * (x.t - t0)) / span).toFixed(1)},${(120 - (100 * x.v) / max).toFixed(1)}`);
    svg.append(s('text', { x: 4, y: 20 }, rate(max)), s('text', { x: 4, y: 124 }, '0 B/s'),
      s('line', { x1: 70, y1: 120, x2: width - 10, y2: 120, stroke: '#d9dee8' }),
      s('text', { x: width - 110, y: 136 }, samples.length ? `last ${duration(span)}` : 'no samples yet'));
    if (points.length > 1) svg.append(s('polyline', { points: points.join(' ') }));
  }
  draw();
  return {
    el: svg,
    add(speed) {
      samples.push({ t: Date.now(), v: Number(speed) || 0 });
      if (samples.length > 300) samples.shift();
      draw();
    },
  };
}

/** Bandwidth windows editor: rows of start, end and MiB/s; `read()` gives the API's policy. */
export function windowsEditor(windows) {
  const list = h('div', { class: 'windows' });
  function addRow(w = { start: '00:00', end: '23:59', max_bandwidth: 10 * 1048576 }) {
    const row = h('div', { class: 'window' },
      h('input', { value: w.start, 'aria-label': 'window start', pattern: '[0-2][0-9]:[0-5][0-9]', placeholder: 'hh:mm' }),
      h('input', { value: w.end, 'aria-label': 'window end', pattern: '[0-2][0-9]:[0-5][0-9]', placeholder: 'hh:mm' }),
      h('input', { type: 'number', min: 1, max: 200, step: 'any', value: (w.max_bandwidth / 1048576).toString(),
        'aria-label': 'MiB/s' }),
      h('button', { type: 'button', onclick: () => row.remove() }, 'Remove'));
    list.append(row);
  }
  for (const w of windows || []) addRow(w);
  return {
    el: h('div', {}, list, h('button', { type: 'button', onclick: () => addRow() }, 'Add window'),
      h('span', { class: 'muted' }, '  start – end (hh:mm, UTC as omsd reads them), MiB/s')),
    read() {
      return [...list.querySelectorAll('.window')].map((row) => {
        const [start, end, mib] = row.querySelectorAll('input');
        return { start: start.value, end: end.value, max_bandwidth: Math.round(Number(mib.value) * 1048576) };
      });
    },
  };
}
