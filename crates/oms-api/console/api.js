// The API client of the console: same-origin fetches with X-Auth-Token.
// The session (token and project) lives in this module's memory only: never in
// localStorage, sessionStorage, cookies or a URL. Reloading the page signs out.

const session = { token: null, project: null };
let onSignedOut = () => {};

/** An OMS error answer: {"error_code", "error_msg"}. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** Called when omsd refuses the token (expired, revoked): back to the sign-in page. */
export function whenSignedOut(handler) { onSignedOut = handler; }
export function signedIn() { return session.token !== null; }
export function project() { return session.project; }
export function signOut() { session.token = null; session.project = null; }

async function errorOf(response) {
  let code = `HTTP.${response.status}`;
  let message = response.statusText;
  try {
    const body = await response.json();
    code = body.error_code || code;
    message = body.error_msg || message;
  } catch (_) { /* not an OMS body */ }
  const retry = response.headers.get('Retry-After');
  if (response.status === 429 && retry) message += ` (retry after ${retry} s)`;
  return new ApiError(response.status, code, message, retry);
}

/** The project_id claim of an omsd token (read to know the paths; omsd verifies the token). */
export function projectOfToken(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - part.length % 4) % 4))).project_id || null;
  } catch (_) {
    return null;
  }
}

/** POST /v3/auth/tokens with a user's password. */
export async function signInWithPassword(user, password, projectId) {
  const body = { auth: { identity: { methods: ['password'], password: { user: { name: user, password } } } } };
  if (projectId) body.auth.scope = { project: { id: projectId } };
  const response = await fetch('/v3/auth/tokens', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    credentials: 'omit', cache: 'no-store',
  });
  if (!response.ok) throw await errorOf(response);
  const answer = await response.json();
  session.token = response.headers.get('X-Subject-Token');
  session.project = answer.token.project.id;
}

/** A pasted token (from `omsd token`); checked with one call before it is kept. */
export async function signInWithToken(token, projectId) {
  const projectOf = projectId || projectOfToken(token);
  if (!projectOf) throw new ApiError(0, 'CONSOLE', 'the token names no project: give the project id');
  session.token = token;
  session.project = projectOf;
  try {
    await call('GET', 'tasks?limit=1');
  } catch (e) {
    signOut();
    throw e;
  }
}

/** One call of a project route (`path` relative to /v2/{project}/). */
export async function call(method, path, body) {
  if (!session.token) throw new ApiError(401, 'CONSOLE', 'not signed in');
  const headers = { 'X-Auth-Token': session.token };
  if (body !== undefined) headers['Content-Type'] = 'application/json;charset=UTF-8';
  const response = await fetch(`/v2/${encodeURIComponent(session.project)}/${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit', cache: 'no-store',
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) {
      signOut();
      onSignedOut(error);
    }
    throw error;
  }
  const text = await response.text();
  return text ? JSON.parse(text) : {};
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);
export const put = (path, body) => call('PUT', path, body);
export const del = (path) => call('DELETE', path);

/** A query string of the pairs with a value. */
export function query(pairs) {
  const parts = Object.entries(pairs)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
