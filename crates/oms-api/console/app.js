// The console's shell: sign-in, the navigation, and the view of the address's #fragment,
// refreshed every REFRESH_MS without reloading the page.
import { project, signInWithPassword, signInWithToken, signOut, signedIn, whenSignedOut } from './api.js';
import { createView } from './create.js';
import { groupView, syncView, taskView } from './detail.js';
import { groupsView, syncListView, tasksView } from './lists.js';
import { h, secretInput, toast } from './ui.js';

const REFRESH_MS = 2000;
const main = document.getElementById('main');
let current = null;
let timer = null;

function signInView() {
  const error = h('p', { class: 'error-text', id: 'signin-error' });
  const user = h('input', { id: 'user', autocomplete: 'username' });
  const password = secretInput({ id: 'password' });
  const token = h('textarea', { id: 'token', autocomplete: 'off', spellcheck: 'false' });
  const projectId = h('input', { id: 'project', autocomplete: 'off', placeholder: 'optional' });
  const tokenProject = h('input', { id: 'token-project', autocomplete: 'off', placeholder: 'optional: read from the token' });
  async function go(signIn) {
    error.textContent = '';
    try {
      await signIn();
      password.value = '';
      token.value = '';
      window.location.hash = '#/tasks';
      route();
    } catch (e) {
      error.textContent = e.message;
    }
  }
  const byPassword = h('form', { class: 'grid', id: 'signin-password', onsubmit: (e) => { e.preventDefault(); go(() => signInWithPassword(user.value, password.value, projectId.value)); } },
    h('label', { for: 'user' }, 'User'), user, h('label', { for: 'password' }, 'Password'), password,
    h('label', { for: 'project' }, 'Project id'), projectId, h('span'), h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  const byToken = h('form', { class: 'grid', id: 'signin-token', hidden: true, onsubmit: (e) => { e.preventDefault(); go(() => signInWithToken(token.value.trim(), tokenProject.value)); } },
    h('label', { for: 'token' }, 'Token'), token, h('label', { for: 'token-project' }, 'Project id'), tokenProject,
    h('span'), h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  const tabs = [h('button', { type: 'button', class: 'active' }, 'User and password'), h('button', { type: 'button' }, 'Token')];
  tabs.forEach((tab, i) => tab.addEventListener('click', () => {
    tabs.forEach((t, j) => t.classList.toggle('active', i === j));
    byPassword.hidden = i !== 0;
    byToken.hidden = i !== 1;
  }));
  return {
    el: h('section', { class: 'signin card' }, h('h1', {}, 'Sign in to OMS'), h('div', { class: 'tabs' }, tabs), byPassword, byToken, error,
      h('p', { class: 'muted' }, 'The token is kept in this page\'s memory only: reloading the page signs you out. `omsd token` prints a token.')),
  };
}

function viewOf(hash) {
  const [, kind, id] = hash.replace(/^#\/?/, '#/').split('/');
  switch (kind) {
    case 'groups': return ['groups', groupsView()];
    case 'group': return ['groups', groupView(decodeURIComponent(id))];
    case 'task': return ['tasks', taskView(decodeURIComponent(id))];
    case 'sync': return ['sync', id ? syncView(decodeURIComponent(id)) : syncListView()];
    case 'new': return ['new', createView()];
    default: return ['tasks', tasksView()];
  }
}

async function refresh(view) {
  if (view !== current || view.busy || !view.refresh) return;
  view.busy = true;
  try {
    await view.refresh();
    view.failed = false;
  } catch (e) {
    if (!view.failed) toast(e.message, 'error');
    view.failed = true;
  } finally {
    view.busy = false;
  }
}

function route() {
  clearInterval(timer);
  if (current && current.dispose) current.dispose();
  const top = document.getElementById('top');
  if (!signedIn()) {
    top.hidden = true;
    current = signInView();
    main.replaceChildren(current.el);
    return;
  }
  top.hidden = false;
  document.getElementById('who').textContent = `project ${project()}`;
  const [nav, view] = viewOf(window.location.hash);
  for (const link of document.querySelectorAll('[data-nav]')) link.classList.toggle('active', link.dataset.nav === nav);
  current = view;
  main.replaceChildren(view.el);
  if (view.init) view.init().catch((e) => toast(e.message, 'error'));
  refresh(view);
  if (view.refresh) timer = setInterval(() => refresh(view), REFRESH_MS);
}

document.getElementById('signout').addEventListener('click', () => { signOut(); route(); });
whenSignedOut((e) => { toast(`Signed out: ${e.message}`, 'error'); route(); });
window.addEventListener('hashchange', route);
route();
