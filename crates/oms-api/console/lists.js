// The lists: tasks, task groups and sync tasks, refreshed in place.
import { get, query } from './api.js';
import { badge, bar, bytes, duration, groupStatus, h, rate, table, taskStatus, time } from './ui.js';

const place = (node) => `${node.cloud_type ? `${node.cloud_type} ` : ''}${node.region || ''}/${node.bucket || ''}`;

function statusFilter(options, onChange) {
  const select = h('select', { 'aria-label': 'status', onchange: () => onChange(select.value), style: 'width:auto' },
    h('option', { value: '' }, 'every status'),
    options.map(([value, label]) => h('option', { value }, label)));
  return select;
}

export function taskRow(t) {
  const done = t.successful_num + t.skipped_num;
  return h('tr', { 'data-test': `task-${t.id}` },
    h('td', {}, h('a', { href: `#/task/${t.id}` }, String(t.id))),
    h('td', {}, badge(taskStatus(t.status))),
    h('td', {}, t.task_type),
    h('td', {}, place(t.src_node)),
    h('td', {}, place(t.dst_node)),
    h('td', { class: 'num' }, `${done}/${t.total_num}`, t.failed_num ? ` (${t.failed_num} failed)` : ''),
    h('td', {}, bar(t.complete_size, t.total_size), h('span', { class: 'muted' }, `${bytes(t.complete_size)} of ${bytes(t.total_size)}`)),
    h('td', { class: 'num' }, t.status === 2 ? rate(t.migrate_speed) : ''),
    h('td', { class: 'num' }, t.status === 2 && t.left_time > 0 ? duration(t.left_time) : ''));
}

export const taskHeaders = ['Task', 'Status', 'Type', 'Source', 'Destination', 'Objects', 'Bytes', 'Speed', 'ETA'];

export function tasksView() {
  let status = '';
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', {}, h('h1', {}, 'Tasks ',
    statusFilter([[1, 'waiting'], [2, 'running'], [3, 'paused'], [4, 'failed'], [5, 'completed'], [7, 'pausing']],
      (v) => { status = v; view.refresh(); })), body);
  const view = {
    el,
    async refresh() {
      const page = await get(`tasks${query({ limit: 100, status })}`);
      body.replaceChildren(
        page.tasks.length ? table(taskHeaders, page.tasks.map(taskRow), { id: 'tasks' })
          : h('p', { class: 'muted' }, 'No tasks. Create one under New migration.'),
        h('p', { class: 'muted' }, `${page.tasks.length} of ${page.count} tasks`));
    },
  };
  return view;
}

function groupRow(g) {
  const done = g.success_num + g.skip_num;
  const eta = g.migrate_speed > 0 && g.status === 2 ? duration((1000 * (g.total_size - g.complete_size)) / g.migrate_speed) : '';
  return h('tr', { 'data-test': `group-${g.group_id}` },
    h('td', {}, h('a', { href: `#/group/${g.group_id}` }, g.group_id.slice(0, 8))),
    h('td', {}, badge(groupStatus(g.status))),
    h('td', {}, g.task_type),
    h('td', {}, place(g.src_node)),
    h('td', {}, place(g.dst_node)),
    h('td', { class: 'num' }, `${g.complete_task_num}/${g.total_task_num}`),
    h('td', { class: 'num' }, `${done}/${g.total_num}`, g.fail_num ? ` (${g.fail_num} failed)` : ''),
    h('td', {}, bar(g.complete_size, g.total_size), h('span', { class: 'muted' }, `${bytes(g.complete_size)} of ${bytes(g.total_size)}`)),
    h('td', { class: 'num' }, g.status === 2 ? rate(g.migrate_speed) : ''),
    h('td', { class: 'num' }, eta));
}

export function groupsView() {
  let status = '';
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', {}, h('h1', {}, 'Task groups ',
    statusFilter([[0, 'waiting'], [1, 'creating tasks'], [2, 'running'], [3, 'paused'], [4, 'creation failed'],
      [5, 'failed'], [6, 'completed'], [7, 'pausing']], (v) => { status = v; view.refresh(); })), body);
  const view = {
    el,
    async refresh() {
      const page = await get(`taskgroups${query({ limit: 100, status })}`);
      body.replaceChildren(
        page.taskgroups.length ? table(['Group', 'Status', 'Type', 'Source', 'Destination', 'Tasks', 'Objects', 'Bytes',
          'Speed', 'ETA'], page.taskgroups.map(groupRow), { id: 'groups' })
          : h('p', { class: 'muted' }, 'No task groups.'),
        h('p', { class: 'muted' }, `${page.taskgroups.length} of ${page.count} task groups`));
    },
  };
  return view;
}

export function syncListView() {
  let status = '';
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', {}, h('h1', {}, 'Sync tasks ',
    statusFilter([['SYNCHRONIZING', 'synchronizing'], ['STOPPED', 'stopped']], (v) => { status = v; view.refresh(); })),
  body);
  const view = {
    el,
    async refresh() {
      const page = await get(`sync-tasks${query({ limit: 100, status })}`);
      body.replaceChildren(
        page.tasks.length ? table(['Sync task', 'Status', 'Source', 'Destination', 'Created'], page.tasks.map((t) => h('tr', {},
          h('td', {}, h('a', { href: `#/sync/${t.sync_task_id}` }, t.sync_task_id.slice(0, 8))),
          h('td', {}, badge(t.status)),
          h('td', {}, `${t.src_cloud_type} ${t.src_region}/${t.src_bucket}`),
          h('td', {}, `${t.dst_region}/${t.dst_bucket}`),
          h('td', {}, time(t.create_time)))), { id: 'sync-tasks' })
          : h('p', { class: 'muted' }, 'No sync tasks.'),
        h('p', { class: 'muted' }, `${page.tasks.length} of ${page.count} sync tasks`));
    },
  };
  return view;
}
