// Detail pages: counters, a speed chart, the failure reason, failed objects, the verbs and
// the bandwidth windows of a task, a task group or a sync task.
import { del, get, post, put, query } from './api.js';
import { taskHeaders, taskRow } from './lists.js';
import {
  askKeys, attempt, badge, bar, bytes, confirmAction, counter, duration, groupStatus, h, rate, speedChart,
  table, taskStatus, time, windowsEditor,
} from './ui.js';

function reasonBox(subject) {
  const reason = subject.error_reason;
  if (!reason || !reason.error_code) return null;
  return h('div', { class: 'reason', 'data-test': 'failure-reason' }, h('b', {}, reason.error_code), ` ${reason.error_msg}`);
}

/** The bandwidth card: the windows as omsd has them, editable, saved with `save(policy)`. */
function bandwidthCard(windows, save) {
  const card = h('div', { class: 'card' });
  function render(current) {
    const editor = windowsEditor(current);
    card.replaceChildren(h('h2', {}, 'Bandwidth windows'),
      h('p', { class: 'muted' }, current.length ? 'Inside a window, each task is held to its rate.' : 'No limit.'),
      editor.el,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: async () => {
        const policy = editor.read();
        const done = await attempt(() => save(policy), 'Bandwidth windows saved');
        if (done !== undefined) render(policy);
      } }, 'Save windows')));
  }
  render(windows || []);
  return card;
}

function failedObjectsTable(page) {
  return h('div', {}, table(['Key', 'Size', 'Code', 'Reason', 'When'], page.failed_objects.map((o) => h('tr', {},
    h('td', {}, o.key), h('td', { class: 'num' }, bytes(o.size)), h('td', {}, o.error_code), h('td', {}, o.error_msg),
    h('td', {}, time(o.failed_time)))), { id: 'failed-objects' }),
  h('p', { class: 'muted' }, `${page.failed_objects.length} of ${page.count} failed objects`));
}

function leave(hash) { window.location.hash = hash; }

/** A dry run's plan (omsd's extension): what a run would copy, overwrite and skip. */
function planCard(subject) {
  const plan = subject.plan;
  const out = [h('h2', {}, 'Plan (dry run)'),
    h('p', { class: 'muted' }, 'Listed and compared exactly as a run would; nothing was written at the destination.')];
  if (!plan) return h('div', { class: 'card', id: 'dry-run-plan' }, out, h('p', {}, 'No plan yet.'));
  const row = (label, part) => h('tr', { 'data-test': `plan-${label}` }, h('td', {}, label),
    h('td', { class: 'num' }, String(part.num)), h('td', { class: 'num' }, bytes(part.size)),
    h('td', {}, (part.first_keys || []).join(', ')));
  out.push(table(['Would', 'Objects', 'Bytes', 'First keys'],
    [row('copy', plan.copy), row('overwrite', plan.overwrite), row('skip', plan.skip)]));
  out.push(h('p', { 'data-test': 'plan-estimate' }, plan.estimated_time !== undefined && plan.estimated_time !== null
    ? `A run would take about ${duration(plan.estimated_time)} at ${rate(plan.history_speed)} (the project's last completed runs).`
    : 'No completed run yet to predict the time from.'));
  return h('div', { class: 'card', id: 'dry-run-plan' }, out);
}

/** The first page of a task's verification manifest: what proved each copied object. */
function manifestTable(page) {
  return h('div', {}, table(['Key', 'Size', 'Checksum', 'Value', 'Destination ETag'], page.objects.map((o) => h('tr', {},
    h('td', {}, o.key), h('td', { class: 'num' }, bytes(o.size)), h('td', {}, o.checksum), h('td', {}, o.checksum_value),
    h('td', {}, o.dst_etag || ''))), { id: 'manifest' }),
  h('p', { class: 'muted' }, `${page.objects.length} of ${page.count} objects (all of them: GET .../tasks/{id}/manifest)`));
}

export function taskView(id) {
  const chart = speedChart();
  const title = h('h1', {}, `Task ${id}`);
  const status = h('span', { 'data-test': 'status' });
  const counters = h('div', { class: 'counters' });
  const progress = h('div');
  const reason = h('div');
  const actions = h('div', { class: 'actions' });
  const failed = h('div');
  const bandwidth = h('div');
  const plan = h('div');
  const manifest = h('div');
  let task = null;
  let failedSeen = -1;
  let copiedSeen = -1;
  let bandwidthShown = false;

  async function verb(action, message) {
    await attempt(action, message);
    await view.refresh();
  }
  const start = async (failedOnly) => {
    const body = await askKeys({ title: failedOnly ? `Retry the failed objects of task ${id}` : `Start task ${id} again`,
      cloud: task.src_node.cloud_type, cdnAuth: task.source_cdn && task.source_cdn.authentication_type });
    if (!body) return;
    if (failedOnly) body.migrate_failed_object = true;
    await verb(() => post(`tasks/${id}/start`, body), failedOnly ? 'Retrying the failed objects' : 'Task resumed');
  };
  const buttons = {
    stop: h('button', { type: 'button', onclick: () => verb(() => post(`tasks/${id}/stop`), 'Stopping') }, 'Stop'),
    resume: h('button', { type: 'button', class: 'primary', onclick: () => start(false) }, 'Resume'),
    retry: h('button', { type: 'button', class: 'primary', onclick: () => start(true) }, 'Retry failed objects'),
    delete: h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!(await confirmAction(`Delete task ${id}?`, 'Delete'))) return;
      if ((await attempt(() => del(`tasks/${id}`), `Task ${id} deleted`)) !== undefined) leave('#/tasks');
    } }, 'Delete'),
  };
  actions.append(...Object.values(buttons));

  const el = h('section', {}, title, status, actions, progress, counters, reason, plan,
    h('h2', {}, 'Speed'), chart.el, bandwidth, h('h2', {}, 'Failed objects'), failed,
    h('h2', {}, 'Verification manifest'), manifest);
  const view = {
    el,
    async refresh() {
      task = await get(`tasks/${id}`);
      const t = task;
      status.replaceChildren(badge(taskStatus(t.status)), ` ${t.task_type} task · ${t.src_node.cloud_type} `,
        `${t.src_node.region}/${t.src_node.bucket} → ${t.dst_node.region}/${t.dst_node.bucket}${t.dst_node.save_prefix || ''}`,
        t.group_id ? h('span', {}, ' · group ', h('a', { href: `#/group/${t.group_id}` }, t.group_id.slice(0, 8))) : '');
      buttons.stop.disabled = ![0, 1, 2, 6].includes(t.status);
      buttons.resume.disabled = ![3, 4].includes(t.status);
      buttons.resume.textContent = t.status === 4 ? 'Run again' : 'Resume';
      buttons.retry.disabled = !(t.status === 4 && t.failed_num > 0);
      buttons.delete.disabled = [2, 6, 7].includes(t.status);
      progress.replaceChildren(bar(t.complete_size, t.total_size));
      counters.replaceChildren(
        counter('objects', t.total_num, 'total'), counter('copied', t.successful_num, 'copied'),
        counter('skipped', t.skipped_num, 'skipped'), counter('failed', t.failed_num, 'failed'),
        counter('bytes copied', `${bytes(t.complete_size)} / ${bytes(t.total_size)}`, 'bytes'),
        counter('speed', t.status === 2 ? rate(t.migrate_speed) : '–', 'speed'),
        counter('time left', t.status === 2 ? duration(t.left_time) : '–', 'eta'),
        counter('elapsed', duration(t.total_time), 'elapsed'), counter('started', time(t.start_time), 'started'));
      reason.replaceChildren(reasonBox(t) || '');
      chart.add(t.status === 2 ? t.migrate_speed : 0);
      if (!bandwidthShown) {
        bandwidth.replaceChildren(bandwidthCard(t.bandwidth_policy,
          (policy) => put(`tasks/${id}/bandwidth-policy`, { bandwidth_policy: policy })));
        bandwidthShown = true;
      }
      plan.replaceChildren(t.dry_run ? planCard(t) : '');
      if (t.successful_num !== copiedSeen) {
        copiedSeen = t.successful_num;
        manifest.replaceChildren(t.successful_num > 0
          ? manifestTable(await get(`tasks/${id}/manifest${query({ limit: 100 })}`))
          : h('p', { class: 'muted' }, t.dry_run ? 'A dry run copies nothing.' : 'Nothing copied yet.'));
      }
      if (t.failed_num !== failedSeen) {
        failedSeen = t.failed_num;
        failed.replaceChildren(t.failed_num > 0
          ? failedObjectsTable(await get(`tasks/${id}/failed-objects${query({ limit: 100 })}`))
          : h('p', { class: 'muted' }, 'None.'));
      }
    },
  };
  return view;
}

export function groupView(id) {
  const chart = speedChart();
  const status = h('span', { 'data-test': 'status' });
  const counters = h('div', { class: 'counters' });
  const progress = h('div');
  const reason = h('div');
  const tasks = h('div');
  const bandwidth = h('div');
  const plan = h('div');
  let group = null;
  let bandwidthShown = false;

  async function verb(action, message) {
    await attempt(action, message);
    await view.refresh();
  }
  const buttons = {
    stop: h('button', { type: 'button', onclick: () => verb(() => put(`taskgroups/${id}/stop`), 'Pausing') }, 'Stop'),
    resume: h('button', { type: 'button', class: 'primary', onclick: async () => {
      const body = await askKeys({ title: 'Resume the task group', cloud: group.src_node.cloud_type,
        cdnAuth: group.source_cdn && group.source_cdn.authentication_type });
      if (body) await verb(() => put(`taskgroups/${id}/start`, body), 'Task group resumed');
    } }, 'Resume'),
    retry: h('button', { type: 'button', class: 'primary', onclick: async () => {
      const body = await askKeys({ title: 'Retry the task group', cloud: group.src_node.cloud_type,
        cdnAuth: group.source_cdn && group.source_cdn.authentication_type, failedChoice: true });
      if (body) await verb(() => put(`taskgroups/${id}/retry`, body), 'Task group restarted');
    } }, 'Retry'),
    delete: h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!(await confirmAction('Delete this task group and its tasks?', 'Delete'))) return;
      if ((await attempt(() => del(`taskgroups/${id}`), 'Task group deleted')) !== undefined) leave('#/groups');
    } }, 'Delete'),
  };
  const el = h('section', {}, h('h1', {}, `Task group ${id.slice(0, 8)}`), status,
    h('div', { class: 'actions' }, Object.values(buttons)), progress, counters, reason, plan,
    h('h2', {}, 'Speed'), chart.el, bandwidth, h('h2', {}, 'Tasks'), tasks);
  const view = {
    el,
    async refresh() {
      group = await get(`taskgroups/${id}`);
      const g = group;
      status.replaceChildren(badge(groupStatus(g.status)), ` ${g.task_type} · ${g.src_node.cloud_type} `,
        `${g.src_node.region}/${g.src_node.bucket} → ${g.dst_node.region}/${g.dst_node.bucket}${g.dst_node.save_prefix || ''}`,
        h('span', { class: 'muted' }, ` · ${id}`));
      buttons.stop.disabled = ![0, 1, 2].includes(g.status);
      buttons.resume.disabled = g.status !== 3;
      buttons.retry.disabled = ![4, 5].includes(g.status);
      buttons.delete.disabled = [1, 2, 7, 8, 9].includes(g.status);
      progress.replaceChildren(bar(g.complete_size, g.total_size));
      const eta = g.status === 2 && g.migrate_speed > 0 ? duration((1000 * (g.total_size - g.complete_size)) / g.migrate_speed) : '–';
      counters.replaceChildren(
        counter('objects', g.total_num, 'total'), counter('copied', g.success_num, 'copied'),
        counter('skipped', g.skip_num, 'skipped'), counter('failed', g.fail_num, 'failed'),
        counter('bytes copied', `${bytes(g.complete_size)} / ${bytes(g.total_size)}`, 'bytes'),
        counter('speed', g.status === 2 ? rate(g.migrate_speed) : '–', 'speed'), counter('time left', eta, 'eta'),
        counter('tasks done', `${g.complete_task_num} / ${g.total_task_num}`, 'tasks'),
        counter('elapsed', duration(g.total_time), 'elapsed'));
      reason.replaceChildren(reasonBox(g) || '');
      plan.replaceChildren(g.dry_run ? planCard(g) : '');
      chart.add(g.status === 2 ? g.migrate_speed : 0);
      if (!bandwidthShown) {
        bandwidth.replaceChildren(bandwidthCard(g.bandwidth_policy,
          (policy) => put(`taskgroups/${id}/update`, { bandwidth_policy: policy })));
        bandwidthShown = true;
      }
      const page = await get(`tasks${query({ group_id: id, limit: 100 })}`);
      tasks.replaceChildren(page.tasks.length ? table(taskHeaders, page.tasks.map(taskRow), { id: 'group-tasks' })
        : h('p', { class: 'muted' }, 'No tasks yet.'));
    },
  };
  return view;
}

export function syncView(id) {
  const status = h('span', { 'data-test': 'status' });
  const counters = h('div', { class: 'counters' });
  const reason = h('div');
  let task = null;
  const verb = async (action, message) => { await attempt(action, message); await view.refresh(); };
  const buttons = {
    stop: h('button', { type: 'button', onclick: () => verb(() => post(`sync-tasks/${id}/stop`), 'Sync task stopped') }, 'Stop'),
    start: h('button', { type: 'button', class: 'primary', onclick: async () => {
      const body = await askKeys({ title: 'Start the sync task', cloud: task.src_cloud_type,
        cdnAuth: task.source_cdn && task.source_cdn.authentication_type });
      if (body) await verb(() => post(`sync-tasks/${id}/start`, body), 'Sync task started');
    } }, 'Start'),
    delete: h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!(await confirmAction('Delete this sync task?', 'Delete'))) return;
      if ((await attempt(() => del(`sync-tasks/${id}`), 'Sync task deleted')) !== undefined) leave('#/sync');
    } }, 'Delete'),
  };
  const el = h('section', {}, h('h1', {}, `Sync task ${id.slice(0, 8)}`), status,
    h('div', { class: 'actions' }, Object.values(buttons)), h('h2', {}, 'This month'), counters, reason);
  const view = {
    el,
    async refresh() {
      task = await get(`sync-tasks/${id}${query({ query_time: Date.now() })}`);
      const t = task;
      status.replaceChildren(badge(t.status), ` ${t.src_cloud_type} ${t.src_region}/${t.src_bucket} → ${t.dst_region}/${t.dst_bucket}`,
        h('span', { class: 'muted' }, ` · created ${time(t.create_time)}`));
      buttons.stop.disabled = t.status !== 'SYNCHRONIZING';
      buttons.start.disabled = t.status !== 'STOPPED';
      buttons.delete.disabled = t.status !== 'STOPPED';
      counters.replaceChildren(counter('keys received', t.monthly_acceptance_request),
        counter('copied', t.monthly_success_object), counter('skipped', t.monthly_skip_object),
        counter('failed', t.monthly_failure_object), counter('bytes', bytes(t.monthly_size)));
      reason.replaceChildren(reasonBox(t) || '');
    },
  };
  return view;
}
