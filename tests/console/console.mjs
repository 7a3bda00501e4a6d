// The OMS console in a real browser (Debian's chromium through playwright-core): sign in, create
// a task in the form and see it complete with the counters the API reports, pause and resume a
// task group typing the keys, edit its bandwidth window, retry a failed task, sign in with a
// token, and check that no key ever reached a URL, the browser's storage or its profile folder.
// Driven by run.sh, which starts omsd and two S3 servers and passes everything in OMS_* variables.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env('OMS_URL');
const shots = env('OMS_SHOTS');
const work = env('OMS_WORK');
const profile = env('OMS_BROWSER_PROFILE');
const keys = { src_ak: env('OMS_SRC_AK'), src_sk: env('OMS_SRC_SK'), dst_ak: env('OMS_DST_AK'), dst_sk: env('OMS_DST_SK') };
const password = env('OMS_PASSWORD');
const token = env('OMS_TOKEN');
const secrets = [keys.src_sk, keys.dst_sk, password, token];
const LONG = 120_000;

let step = 0;
const log = (message) => console.log(`[console test] ${message}`);
async function shot(page, name) {
  step += 1;
  const file = path.join(shots, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${file}`);
}
function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

// The API as the test sees it (a token of its own, from the user's password).
let apiToken = null;
let projectId = null;
async function api(pathname) {
  if (!apiToken) {
    const response = await fetch(`${base}/v3/auth/tokens`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: env('OMS_USER'), password } } } } }) });
    check(response.status === 201, `the test's own login: ${response.status}`);
    apiToken = response.headers.get('x-subject-token');
    projectId = (await response.json()).token.project.id;
  }
  const response = await fetch(`${base}/v2/${projectId}/${pathname}`, { headers: { 'X-Auth-Token': apiToken } });
  return { status: response.status, body: await response.json() };
}

const profileDir = fs.mkdtempSync(path.join(profile, 'chromium-'));
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: process.env.OMS_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const requests = [];
const page = context.pages()[0] || await context.newPage();
page.on('request', (request) => requests.push(request.url()));
const pageErrors = [];
page.on('pageerror', (error) => pageErrors.push(error.message));
page.setDefaultTimeout(30_000);

const statusIs = (text, timeout = LONG) => page.locator('[data-test=status] .badge', { hasText: new RegExp(`^(?:${text})$`) })
  .waitFor({ timeout });
const counterOf = async (name) => (await page.locator(`[data-test=${name}]`).textContent()).trim();

async function fillSourceAndDestination(prefixChoice) {
  await page.selectOption('#src-cloud', 'AWS');
  await page.fill('#src-region', 'local-src');
  await page.fill('#src-ak', keys.src_ak);
  await page.fill('#src-sk', keys.src_sk);
  await page.click('text=List buckets >> nth=0');
  await page.click('#src-buckets button:has-text("media")');
  await page.fill('#prefixes', '');
  await page.click('button:has-text("Browse")');
  await page.click(`#prefix-choices button:has-text("${prefixChoice}")`);
  check((await page.inputValue('#prefixes')) === prefixChoice, 'the prefix picked in the browser');
  await page.fill('#dst-region', 'local-dst');
  await page.fill('#dst-ak', keys.dst_ak);
  await page.fill('#dst-sk', keys.dst_sk);
  await page.click('text=List buckets >> nth=1');
  await page.click('#dst-buckets button:has-text("backup")');
}

async function typeKeys() {
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  for (const [name, value] of Object.entries(keys)) await dialog.locator(`[data-key=${name}]`).fill(value);
  await dialog.locator('button:has-text("Send")').click();
  await dialog.waitFor({ state: 'detached' });
}

async function planAndCreate() {
  await page.click('#preview');
  await page.locator('[data-test=plan-count]').waitFor();
  const plan = await page.locator('#plan').textContent();
  for (const secret of secrets) check(!plan.includes(secret), 'the plan shows no key');
  await page.click('#create');
}

try {
  // 1. Sign in: a wrong password is refused with omsd's code, the right one opens the lists.
  await page.goto(`${base}/console`);
  await page.locator('#signin-password').waitFor();
  await shot(page, 'sign-in');
  await page.fill('#user', env('OMS_USER'));
  await page.fill('#password', 'not the password');
  await page.click('#signin-password button[type=submit]');
  await page.locator('#signin-error', { hasText: 'APIGW.0301' }).waitFor();
  await page.fill('#password', password);
  await page.click('#signin-password button[type=submit]');
  await page.locator('h1', { hasText: 'Tasks' }).waitFor();
  log('signed in');

  // 2. A task created in the form, with the bucket helpers and the plan, runs to completion.
  await page.click('a[data-nav=new]');
  await page.locator('#new-form').waitFor();
  await page.selectOption('#new-target', 'task');
  await page.selectOption('#new-type', 'prefix');
  await fillSourceAndDestination('photos/');
  check(await page.isDisabled('#create'), 'Create waits for the plan');
  await page.click('#preview');
  await page.locator('[data-test=plan-count]', { hasText: 'holds 12 objects' }).waitFor();
  await shot(page, 'plan');
  // First omsd's own plan: a dry run lists and compares, and writes nothing at the destination.
  await page.click('#dry-run');
  await page.waitForURL(/#\/task\/\d+$/);
  const dryId = page.url().split('/').pop();
  await statusIs('completed');
  await page.locator('[data-test=plan-copy]', { hasText: '2.3 MiB' }).waitFor();
  const dry = (await api(`tasks/${dryId}`)).body;
  check(dry.dry_run === true && dry.plan.copy.num === 12 && dry.successful_num === 0,
    `the dry run plans 12 copies and copies nothing: ${JSON.stringify(dry)}`);
  check((await page.locator('[data-test=plan-copy] td').nth(1).textContent()) === '12', 'the plan shows 12 objects to copy');
  check(!fs.existsSync(path.join(work, 'dst/backup/photos')), 'a dry run writes nothing at the destination');
  await shot(page, 'dry-run');
  log(`dry run ${dryId}: 12 objects to copy, nothing written`);
  // Then the task itself (the keys were emptied after the dry run: typed again).
  await page.click('a[data-nav=new]');
  await page.selectOption('#new-target', 'task');
  await page.selectOption('#new-type', 'prefix');
  await fillSourceAndDestination('photos/');
  await planAndCreate();
  await page.waitForURL(/#\/task\/\d+$/);
  const taskId = page.url().split('/').pop();
  await statusIs('completed');
  const task = (await api(`tasks/${taskId}`)).body;
  check(task.status === 5 && task.successful_num === 12, `task ${taskId} completed with 12 objects: ${JSON.stringify(task)}`);
  check(await counterOf('total') === String(task.total_num), 'objects shown = API total_num');
  check(await counterOf('copied') === String(task.successful_num), 'copied shown = API successful_num');
  check(await counterOf('failed') === String(task.failed_num), 'failed shown = API failed_num');
  check((await counterOf('bytes')).startsWith('2.3 MiB'), `bytes shown: ${await counterOf('bytes')}`);
  check(fs.readdirSync(path.join(work, 'dst/backup/photos')).length === 12, '12 objects at the destination');
  await page.locator('#manifest tbody tr').nth(11).waitFor();
  const proofs = await page.locator('#manifest tbody tr td:nth-child(3)').allTextContents();
  check(proofs.length === 12 && proofs.every((c) => c === 'md5'), `the manifest proves each object by MD5: ${proofs}`);
  await shot(page, 'task-completed');
  log(`task ${taskId} completed: 12 objects, counters as the API reports them`);

  // 3. A task group held to 1 MiB/s: stop it, resume it typing the keys, raise its window.
  await page.click('a[data-nav=new]');
  await page.selectOption('#new-target', 'group');
  await page.selectOption('#new-type', 'prefix');
  await fillSourceAndDestination('big/');
  // Two windows cover the whole day (one must end before it starts again).
  await page.click('button:has-text("Add window")');
  await page.click('button:has-text("Add window")');
  const rows = page.locator('.windows .window');
  for (const [i, [start, end]] of [['00:00', '12:00'], ['12:00', '00:00']].entries()) {
    await rows.nth(i).locator('input[aria-label="window start"]').fill(start);
    await rows.nth(i).locator('input[aria-label="window end"]').fill(end);
    await rows.nth(i).locator('input[aria-label="MiB/s"]').fill('1');
  }
  await planAndCreate();
  await page.waitForURL(/#\/group\/[0-9a-f-]+$/);
  const groupId = page.url().split('/').pop();
  await statusIs('running');
  await page.locator('#group-tasks').waitFor({ timeout: LONG });
  await page.click('button:has-text("Stop")');
  await statusIs('paused');
  const paused = (await api(`taskgroups/${groupId}`)).body;
  check(paused.status === 3 && paused.success_num < 24, `group paused part way: ${paused.success_num} of 24`);
  await shot(page, 'group-paused');
  log(`group ${groupId} paused after ${paused.success_num} of 24 objects`);
  await page.click('button:has-text("Resume")');
  await typeKeys();
  await statusIs('running|creating tasks|waiting');
  for (const rate of await page.locator('.windows input[aria-label="MiB/s"]').all()) await rate.fill('50');
  await page.click('button:has-text("Save windows")');
  await page.locator('#toast div', { hasText: 'Bandwidth windows saved' }).waitFor();
  const updated = (await api(`taskgroups/${groupId}`)).body;
  check(updated.bandwidth_policy.length === 2 && updated.bandwidth_policy.every((w) => w.max_bandwidth === 50 * 1048576),
    `windows saved: ${JSON.stringify(updated.bandwidth_policy)}`);
  await statusIs('completed');
  const group = (await api(`taskgroups/${groupId}`)).body;
  check(group.success_num === 24 && group.fail_num === 0, `group completed: ${JSON.stringify(group)}`);
  check(await counterOf('copied') === '24', 'the group page shows 24 copied');
  check(fs.readdirSync(path.join(work, 'dst/backup/big')).length === 24, '24 objects at the destination');
  await shot(page, 'group-completed');
  log(`group ${groupId} resumed with typed keys and completed`);

  // 4. A task with an object the destination refuses fails; once the cause is gone, retry.
  await page.click('a[data-nav=new]');
  await page.selectOption('#new-target', 'task');
  await fillSourceAndDestination('broken/');
  await planAndCreate();
  await page.waitForURL(/#\/task\/\d+$/);
  const brokenId = page.url().split('/').pop();
  await statusIs('failed');
  await page.locator('[data-test=failure-reason]', { hasText: 'TRF.0004' }).waitFor();
  await page.locator('#failed-objects', { hasText: 'broken/clash/obj.bin' }).waitFor();
  await shot(page, 'task-failed');
  fs.rmSync(path.join(work, 'dst/backup/broken/clash'));
  await page.click('button:has-text("Retry failed objects")');
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  for (const [name, value] of Object.entries(keys)) await dialog.locator(`[data-key=${name}]`).fill(value);
  await dialog.locator('button:has-text("Send")').click();
  await statusIs('completed');
  const retried = (await api(`tasks/${brokenId}`)).body;
  check(retried.status === 5 && retried.failed_num === 0, `retried task completed: ${JSON.stringify(retried)}`);
  await shot(page, 'task-retried');
  log(`task ${brokenId} failed, then completed on retry`);

  // 5. Delete the first task; sign out; sign in with a pasted token.
  await page.goto(`${base}/console/#/task/${taskId}`);
  await statusIs('completed').catch(async () => {
    // A reload signs out (the token lives in memory): sign in again.
    await page.fill('#user', env('OMS_USER'));
    await page.fill('#password', password);
    await page.click('#signin-password button[type=submit]');
    await statusIs('completed');
  });
  await page.click('button:has-text("Delete")');
  await page.locator('dialog[open] button:has-text("Delete")').click();
  await page.waitForURL(/#\/tasks$/);
  check((await api(`tasks/${taskId}`)).body.error_code === 'OMS.1009', 'the deleted task is gone');
  await page.click('#signout');
  await page.click('.tabs button:has-text("Token")');
  await page.fill('#token', token);
  await page.click('#signin-token button[type=submit]');
  await page.locator('#tasks').waitFor();
  await page.click('a[data-nav=groups]');
  await page.locator(`[data-test="group-${groupId}"]`, { hasText: 'completed' }).waitFor();
  await shot(page, 'groups-list');
  log('token sign-in shows the lists');

  // 6. Nothing left this origin, no key reached a URL or the browser's storage.
  const outside = requests.filter((url) => !url.startsWith(base));
  check(outside.length === 0, `requests outside omsd: ${outside.join(', ')}`);
  for (const url of requests) for (const secret of secrets) check(!url.includes(secret), `a secret in a URL: ${url}`);
  const stored = await page.evaluate(async () => ({
    local: localStorage.length, session: sessionStorage.length, cookies: document.cookie,
    databases: (await indexedDB.databases()).length,
    values: [...document.querySelectorAll('input, textarea')].map((i) => i.value).join('\n'),
  }));
  check(stored.local === 0 && stored.session === 0 && stored.cookies === '' && stored.databases === 0,
    `browser storage is empty: ${JSON.stringify({ ...stored, values: undefined })}`);
  for (const secret of [keys.src_sk, keys.dst_sk]) check(!stored.values.includes(secret), 'no key is left in a field');
  log(`${requests.length} requests, all to omsd, none carrying a key`);
  check(pageErrors.length === 0, `errors in the page: ${pageErrors.join('; ')}`);
} finally {
  await context.close();
}

// The profile folder, once the browser is closed: no key, password or token in any file.
const leaks = [];
(function scan(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) scan(file);
    else if (entry.isFile()) {
      const bytes = fs.readFileSync(file);
      for (const secret of [keys.src_sk, keys.dst_sk, password]) if (bytes.includes(secret)) leaks.push(file);
    }
  }
}(profileDir));
check(leaks.length === 0, `keys found in the browser profile: ${leaks.join(', ')}`);
log('the browser profile holds no key');
log('all checks passed');
