// The form that creates a task or a task group: bucket helpers to pick buckets and prefixes,
// the plan (what would be sent, keys hidden, and what the source holds) before it starts.
// The keys typed here go into the create request only and the inputs are emptied after it.
import { get, post } from './api.js';
import { attempt, bytes, h, secretInput, toast, windowsEditor } from './ui.js';

const PLAN_PAGES = 10;
const OVERWRITE = ['SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE', 'NO_OVERWRITE', 'CRC64_COMPARISON_OVERWRITE', 'FULL_OVERWRITE'];
const SECRET_FIELDS = new Set(['ak', 'sk', 'connection_string', 'json_auth_file', 'authentication_key']);

const lines = (text) => text.split('\n').map((l) => l.trim());
const field = (label, ...controls) => h('div', { class: 'field' }, h('label', {}, label), h('div', {}, controls));

function redact(value) {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.has(k) ? '***' : redact(v)]));
  }
  return value;
}

export function createView() {
  const input = (attrs) => h('input', { autocomplete: 'off', ...attrs });
  const f = {
    target: h('select', { id: 'new-target' }, h('option', { value: 'task' }, 'Task'), h('option', { value: 'group' }, 'Task group')),
    type: h('select', { id: 'new-type' }, ['prefix', 'object', 'list', 'url_list'].map((t) => h('option', { value: t }, t))),
    srcCloud: h('select', { id: 'src-cloud' }, h('option', { value: 'AWS' }, 'AWS')),
    srcRegion: input({ id: 'src-region', list: 'src-regions' }),
    srcAk: secretInput({ id: 'src-ak' }),
    srcSk: secretInput({ id: 'src-sk' }),
    srcConn: secretInput({ id: 'src-connection-string' }),
    srcJson: h('textarea', { id: 'src-json', autocomplete: 'off', spellcheck: 'false' }),
    srcBucket: input({ id: 'src-bucket' }),
    prefixes: h('textarea', { id: 'prefixes', placeholder: 'one prefix per line; empty: the whole bucket' }),
    keys: h('textarea', { id: 'object-keys', placeholder: 'one key per line' }),
    listFile: input({ id: 'list-file' }),
    listBucket: input({ id: 'list-bucket', placeholder: 'default: the destination bucket' }),
    dstRegion: input({ id: 'dst-region', list: 'dst-regions' }),
    dstAk: secretInput({ id: 'dst-ak' }),
    dstSk: secretInput({ id: 'dst-sk' }),
    dstBucket: input({ id: 'dst-bucket' }),
    savePrefix: input({ id: 'save-prefix' }),
    overwrite: h('select', { id: 'overwrite' }, OVERWRITE.map((m) => h('option', { value: m }, m))),
    description: input({ id: 'description' }),
  };
  const windows = windowsEditor([]);
  const srcRegions = h('datalist', { id: 'src-regions' });
  const dstRegions = h('datalist', { id: 'dst-regions' });
  const srcChips = h('div', { class: 'chips', id: 'src-buckets' });
  const dstChips = h('div', { class: 'chips', id: 'dst-buckets' });
  const prefixChips = h('div', { class: 'chips', id: 'prefix-choices' });
  const planBox = h('div', { id: 'plan' });
  let regions = [];

  const cloudKind = () => (f.type.value === 'url_list' ? 'urlsource' : f.srcCloud.value.toLowerCase());
  function sourceAccess() {
    const kind = cloudKind();
    const access = { cloud_type: f.srcCloud.value };
    if (kind === 'azure') access.connection_string = f.srcConn.value;
    else if (kind === 'google') access.json_auth_file = f.srcJson.value;
    else { access.ak = f.srcAk.value; access.sk = f.srcSk.value; }
    return access;
  }
  const destinationAccess = () => ({ cloud_type: 'HEC', ak: f.dstAk.value, sk: f.dstSk.value });

  function body() {
    const type = f.type.value;
    const group = f.target.value === 'group';
    const src = type === 'url_list' ? { cloud_type: 'URLSource' }
      : { ...sourceAccess(), region: f.srcRegion.value, bucket: f.srcBucket.value };
    if (type === 'prefix') {
      const prefixes = lines(f.prefixes.value).filter((p, i, all) => p !== '' || all.length === 1);
      src.object_key = prefixes.length ? prefixes : [''];
    }
    if (type === 'object') src.object_key = lines(f.keys.value).filter((k) => k);
    if (type === 'list' || type === 'url_list') {
      src.list_file = { list_file_key: f.listFile.value, obs_bucket: f.listBucket.value || f.dstBucket.value };
    }
    const dst = { ak: f.dstAk.value, sk: f.dstSk.value, region: f.dstRegion.value, bucket: f.dstBucket.value };
    if (f.savePrefix.value) dst.save_prefix = f.savePrefix.value;
    const request = { task_type: group ? type.toUpperCase() : type, src_node: src, dst_node: dst,
      object_overwrite_mode: f.overwrite.value };
    const policy = windows.read();
    if (policy.length) request.bandwidth_policy = policy;
    if (f.description.value) request.description = f.description.value;
    return request;
  }

  function clearSecrets() {
    for (const secret of [f.srcAk, f.srcSk, f.srcConn, f.srcJson, f.dstAk, f.dstSk]) secret.value = '';
  }

  function chipsOf(target, names, pick) {
    target.replaceChildren(...names.map((name) => h('button', { type: 'button', onclick: () => pick(name) }, name || '(whole bucket)')));
  }

  async function listBuckets(access, target, into) {
    const names = await attempt(() => post('objectstorage/buckets', access));
    if (names) chipsOf(target, names, (name) => { into.value = name; into.dispatchEvent(new Event('input', { bubbles: true })); });
  }

  /** The objects under the folder holding `prefix`, page by page (at most PLAN_PAGES). */
  async function objectsUnder(prefix, pages) {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '/';
    const found = [];
    let marker = '';
    for (let i = 0; i < pages; i += 1) {
      const page = await post('objectstorage/buckets/objects', { ...sourceAccess(), bucket_name: f.srcBucket.value,
        data_center: f.srcRegion.value, file_path: folder, page_size: 100, behind_filename: marker });
      found.push(...page.records.filter((r) => r.name.startsWith(prefix)));
      if (!page.next_page) return { found, complete: true };
      marker = page.next_marker;
    }
    return { found, complete: false };
  }

  async function browse() {
    const prefix = lines(f.prefixes.value)[0] || '';
    const result = await attempt(() => objectsUnder(prefix, 1));
    if (!result) return;
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const next = new Set();
    for (const r of result.found) {
      const rest = r.name.slice(folder.length);
      next.add(folder + (rest.includes('/') ? rest.slice(0, rest.indexOf('/') + 1) : rest));
    }
    chipsOf(prefixChips, [...next].slice(0, 60), (name) => { f.prefixes.value = name; f.prefixes.dispatchEvent(new Event('input', { bubbles: true })); });
  }

  const createButton = h('button', { type: 'button', class: 'primary', id: 'create', disabled: true, onclick: () => create(false) }, 'Create');
  const dryRunButton = h('button', { type: 'button', id: 'dry-run', disabled: true, onclick: () => create(true) }, 'Dry run');

  async function plan() {
    const request = body();
    const type = f.type.value;
    const out = [h('h2', {}, 'Plan'), h('p', { class: 'muted' }, 'The request (keys hidden):'),
      h('pre', {}, JSON.stringify(redact(request), null, 2))];
    if (type === 'prefix') {
      let objects = 0;
      let size = 0;
      let complete = true;
      const first = [];
      for (const prefix of request.src_node.object_key) {
        const result = await attempt(() => objectsUnder(prefix, PLAN_PAGES));
        if (!result) return;
        complete = complete && result.complete;
        objects += result.found.length;
        size += result.found.reduce((sum, r) => sum + (Number(r.size) || 0), 0);
        first.push(...result.found.slice(0, 5 - first.length).map((r) => r.name));
      }
      out.push(h('p', { 'data-test': 'plan-count' }, `The source holds ${complete ? '' : 'at least '}${objects} objects, ${bytes(size)}`,
        first.length ? ` (first: ${first.join(', ')})` : '', '. Objects already at the destination are compared by the overwrite mode when it runs.'));
    } else if (type === 'object') {
      out.push(h('p', { 'data-test': 'plan-count' }, `${request.src_node.object_key.length} keys named.`));
    } else if (type === 'url_list') {
      const ok = await attempt(() => post('objectstorage/buckets/url-source-list-file', { obs_bucket: request.src_node.list_file.obs_bucket,
        list_file_key: request.src_node.list_file.list_file_key, ak: f.dstAk.value, sk: f.dstSk.value, region: f.dstRegion.value }));
      if (ok === undefined) return;
      out.push(h('p', { 'data-test': 'plan-count' }, 'The URL list file is well formed; its lines are read when the task runs.'));
    } else {
      out.push(h('p', { 'data-test': 'plan-count' }, 'The keys are read from the list file when the task runs.'));
    }
    out.push(h('p', { class: 'muted' }, 'Nothing was created. Press Create to start it, or Dry run to have omsd '
      + 'list and compare exactly as a run would (nothing is written at the destination) and show what it would copy, '
      + 'overwrite and skip.'));
    planBox.replaceChildren(h('div', { class: 'card' }, out));
    createButton.disabled = dryRunButton.disabled = false;
  }

  async function create(dryRun) {
    const request = body();
    if (dryRun) request.dry_run = true;
    const group = f.target.value === 'group';
    const created = await attempt(() => post(group ? 'taskgroups' : 'tasks', request));
    if (!created) return;
    clearSecrets();
    const what = group ? 'Task group' : `Task ${created.id}`;
    toast(dryRun ? `${what} created as a dry run` : `${what} created`);
    window.location.hash = group ? `#/group/${created.group_id}` : `#/task/${created.id}`;
  }

  const rows = {
    prefixes: field('Prefixes', f.prefixes, h('button', { type: 'button', onclick: browse }, 'Browse'), prefixChips),
    keys: field('Object keys', f.keys),
    listFile: field('List file key', f.listFile),
    listBucket: field('List file bucket', f.listBucket),
    srcRegion: field('Source region', f.srcRegion),
    srcBucket: field('Source bucket', h('div', { class: 'row' }, f.srcBucket,
      h('button', { type: 'button', onclick: () => listBuckets(sourceAccess(), srcChips, f.srcBucket) }, 'List buckets')), srcChips),
    srcCloud: field('Source cloud', f.srcCloud),
    srcAk: field('Source access key', f.srcAk),
    srcSk: field('Source secret key', f.srcSk),
    srcConn: field('Source connection string', f.srcConn),
    srcJson: field('Source service-account JSON', f.srcJson),
  };
  function shape() {
    const type = f.type.value;
    const kind = cloudKind();
    const url = type === 'url_list';
    if (f.target.value === 'group' && type === 'object') f.type.value = 'prefix';
    f.type.querySelector('option[value=object]').disabled = f.target.value === 'group';
    rows.prefixes.hidden = f.type.value !== 'prefix';
    rows.keys.hidden = type !== 'object';
    rows.listFile.hidden = rows.listBucket.hidden = !(type === 'list' || url);
    for (const r of [rows.srcRegion, rows.srcBucket, rows.srcCloud]) r.hidden = url;
    rows.srcAk.hidden = rows.srcSk.hidden = url || kind === 'azure' || kind === 'google';
    rows.srcConn.hidden = kind !== 'azure' || url;
    rows.srcJson.hidden = kind !== 'google' || url;
    const cloud = f.srcCloud.value;
    srcRegions.replaceChildren(...regions.filter((s) => s.service_name === cloud).flatMap((s) => s.region_list)
      .map((r) => h('option', { value: r.value }, r.description)));
  }

  const form = h('form', { class: 'grid', id: 'new-form', onsubmit: (e) => e.preventDefault(), oninput: () => { createButton.disabled = dryRunButton.disabled = true; },
    onchange: () => { createButton.disabled = dryRunButton.disabled = true; shape(); } },
  field('Create a', f.target), field('Type', f.type),
  h('h2', { class: 'field-title' }, 'Source'), h('span'),
  rows.srcCloud, rows.srcRegion, rows.srcAk, rows.srcSk, rows.srcConn, rows.srcJson, rows.srcBucket,
  rows.prefixes, rows.keys, rows.listFile, rows.listBucket,
  h('h2', {}, 'Destination'), h('span'),
  field('Destination region', f.dstRegion), field('Destination access key', f.dstAk), field('Destination secret key', f.dstSk),
  field('Destination bucket', h('div', { class: 'row' }, f.dstBucket,
    h('button', { type: 'button', onclick: () => listBuckets(destinationAccess(), dstChips, f.dstBucket) }, 'List buckets')), dstChips),
  field('Save under prefix', f.savePrefix),
  h('h2', {}, 'Options'), h('span'),
  field('Objects already there', f.overwrite), field('Bandwidth windows', windows.el), field('Description', f.description));

  const el = h('section', {}, h('h1', {}, 'New migration'), h('div', { class: 'card' }, form, srcRegions, dstRegions),
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'preview', onclick: plan }, 'Preview plan'), createButton, dryRunButton,
      h('span', { class: 'muted' }, 'Preview the plan first; any change asks for a new preview.')), planBox);

  const view = {
    el,
    async init() {
      const [clouds, centers] = await Promise.all([get('objectstorage/cloud-type?type=src'), get('objectstorage/data-center')]);
      f.srcCloud.replaceChildren(...clouds.filter((c) => c !== 'URLSource').map((c) => h('option', { value: c }, c)));
      f.srcCloud.value = clouds.includes('AWS') ? 'AWS' : clouds[0];
      regions = centers;
      dstRegions.replaceChildren(...centers.filter((s) => s.service_name === 'HEC').flatMap((s) => s.region_list)
        .map((r) => h('option', { value: r.value }, r.description)));
      shape();
    },
    dispose: clearSecrets,
  };
  shape();
  return view;
}
