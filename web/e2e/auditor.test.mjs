// The auditor's view (GET /api/audit/log and GET /api/audit/access) against a running gateway:
// a clinician writes twice to a patient, the patient reads and answers; an auditor, whose browser
// runs in America/New_York, filters the audit log by actor, by action and by a time range entered
// in local time (sent as UTC), and sees actions in words, times to the second with their time
// zone, and shortened message ids whose whole id stays available; the access log beside it shows
// the patient's reads; the export downloads exactly the entries the filters select (JSON and
// CSV). A patient never reaches the view, and the API refuses them.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/auditor.test.mjs
//
// Needs the demo admin (password `healing-demo`), who adds a clinician, a patient approved for
// them and an auditor, with names unique to the run, so reruns against the same database work.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, pages, problems,
  uniqueWord, apiSession, delay, PASSWORD, TIMEOUT,
} from './support.mjs';

const WORD = uniqueWord('audit');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT = { username: `pa_${WORD}`, role: 'patient', display_name: `Pat ${NAME}` };
const CLINICIAN = { username: `da_${WORD}`, role: 'clinician', display_name: `Dr. Ann ${NAME}` };
const AUDITOR = { username: `au_${WORD}`, role: 'auditor', display_name: `Aud ${NAME}` };
const ZONE = 'America/New_York';
const EVENTUAL = 30_000;

/** Every entry of `path` with `filters`, all pages (through an API session). */
async function allEntries(session, path, filters) {
  const entries = [];
  let cursor;
  do {
    const query = new URLSearchParams({ ...filters, limit: '100', ...(cursor ? { cursor } : {}) });
    const answer = await session.call('GET', `${path}?${query}`, undefined, 200);
    const page = await answer.json();
    entries.push(...page.entries);
    cursor = page.next_cursor;
  } while (cursor);
  return entries;
}

/** Waits until `allEntries` answers `n` entries (the read side is eventually consistent). */
async function waitForEntries(session, path, filters, n) {
  const deadline = Date.now() + EVENTUAL;
  for (;;) {
    const entries = await allEntries(session, path, filters);
    if (entries.length >= n) return entries;
    if (Date.now() > deadline) assert.fail(`${path} ${JSON.stringify(filters)}: ${entries.length} entries, wanted ${n}`);
    await delay(300);
  }
}

/** A UTC instant as a `datetime-local` value in ZONE, to the second (seconds left out when 0). */
function localValue(date) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(date).map((p) => [p.type, p.value]));
  const base = `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
  return parts.second === '00' ? base : `${base}:${parts.second}`;
}

const floorSecond = (iso) => new Date(Math.floor(new Date(iso).getTime() / 1000) * 1000);

/** Fills one log's filter form (absent fields are emptied) and waits for the answer. */
async function applyFilters(page, kind, filters = {}) {
  const panel = byTestId(page, `${kind}-panel`);
  for (const name of kind === 'access' ? ['actor', 'counterpart', 'message_id'] : ['actor', 'message_id']) {
    await panel.getByTestId(`${kind}-filter-${name}`).fill(filters[name] || '');
  }
  await panel.getByTestId(`${kind}-filter-action`).selectOption(filters.action ? { label: filters.action } : { value: '' });
  for (const name of ['from', 'to']) await panel.getByTestId(`${kind}-filter-${name}`).fill(filters[name] || '');
  await panel.getByTestId(`${kind}-filter-apply`).click();
  await settled(page, kind);
}

async function settled(page, kind) {
  await page.waitForFunction((k) => {
    const status = document.querySelector(`[data-testid="${k}-count"]`);
    const list = document.querySelector(`[data-testid="${k}-list"]`);
    return status && list && status.textContent && status.textContent !== 'Loading…' && !list.hasAttribute('aria-busy');
  }, kind, { timeout: TIMEOUT });
}

/** The shown entries of a log: their data attributes. */
function shown(page, kind) {
  return page.locator(`[data-testid="${kind}-entry"]`).evaluateAll((rows) => rows.map((row) => ({ ...row.dataset })));
}

/** Applies `filters` until `kind`'s list shows `n` entries (the access log is written off the request path). */
async function filterUntil(page, kind, filters, n, what) {
  const deadline = Date.now() + EVENTUAL;
  for (;;) {
    await applyFilters(page, kind, filters);
    const rows = await shown(page, kind);
    if (rows.length >= n) return rows;
    if (Date.now() > deadline) assert.fail(`${what}: ${rows.length} entries shown, wanted ${n}`);
    await delay(500);
  }
}

describe('Auditor view', () => {
  useBrowser();
  const sent = {}; // the clinician's two message_sent entries
  let patientEntries = [];

  step('an administrator adds a clinician, an approved patient and an auditor', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT, CLINICIAN, AUDITOR]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    await admin.call('PUT', '/api/admin/patient-approvals',
      { clinician: CLINICIAN.username, patient: PATIENT.username, status: 'approved' }, 200);
  });

  step('the clinician writes twice (1.5 s apart); the patient reads both and answers', async () => {
    const clinician = await apiSession(CLINICIAN.username);
    const ids = [];
    for (const n of [1, 2]) {
      const res = await clinician.call('POST', '/api/clinician/message',
        { recipient_username: PATIENT.username, subject: `Note ${n} ${WORD}`, message: `Hello, note ${n} (${WORD})` }, 201);
      ids.push((await res.json()).message_id);
      if (n === 1) await delay(1500);
    }
    const patient = await apiSession(PATIENT.username);
    const deadline = Date.now() + EVENTUAL;
    for (;;) { // the patient's reads: the conversation (access log), then marking it read (audit log)
      const answer = await patient.call('GET', `/api/messages/conversation/${CLINICIAN.username}`, undefined, 200);
      if ((await answer.json()).messages.length === 2) break;
      if (Date.now() > deadline) assert.fail('the patient does not see both messages');
      await delay(250);
    }
    await patient.call('POST', `/api/messages/conversation/${CLINICIAN.username}/read`, undefined, 200);
    await patient.call('POST', `/api/messages/${ids[1]}/reply`, { content: `Thank you (${WORD})` }, 201);

    const auditor = await apiSession(AUDITOR.username);
    const byClinician = await waitForEntries(auditor, '/api/audit/log', { actor: CLINICIAN.username }, 2);
    assert.deepEqual(byClinician.map((e) => [e.action, e.message_id]), [['message_sent', ids[0]], ['message_sent', ids[1]]]);
    [sent.first, sent.second] = byClinician;
    assert.ok(new Date(sent.second.occurred_at) - new Date(sent.first.occurred_at) >= 1000, 'a second or more apart');
    patientEntries = await waitForEntries(auditor, '/api/audit/log', { actor: PATIENT.username }, 3);
    assert.deepEqual(patientEntries.map((e) => e.action), ['message_read', 'message_read', 'message_sent']);
  });

  step('the auditor lands on the audit trail; filtering by actor shows exactly the clinician’s entries', async () => {
    const page = await newUserPage('auditor', undefined, { contextOptions: { timezoneId: ZONE, locale: 'en-US' } });
    await login(page, AUDITOR.username);
    await byTestId(page, 'audit-view').waitFor();
    assert.equal(new URL(page.url()).hash, '#/audit');
    assert.equal(await byTestId(page, 'audit-tab').getAttribute('aria-selected'), 'true');
    assert.equal(await byTestId(page, 'access-tab').getAttribute('aria-selected'), 'false');
    assert.match(await page.locator('.audit-view .view-intro').innerText(), new RegExp(ZONE), 'the time zone is named');
    await settled(page, 'audit');

    await applyFilters(page, 'audit', { actor: CLINICIAN.username });
    const rows = await shown(page, 'audit');
    assert.deepEqual(rows.map((r) => r.position), [String(sent.first.position), String(sent.second.position)]);
    assert.ok(rows.every((r) => r.actor === CLINICIAN.username));
    assert.match(await byTestId(page, 'audit-count').innerText(), /^2 entries shown\.$/);
    assert.equal(await byTestId(page, 'audit-count').getAttribute('role'), 'status', 'the count is announced');
    assert.match(await byTestId(page, 'audit-summary').innerText(), new RegExp(`by ${CLINICIAN.username}`));
    await screenshot(page, 'auditor-by-actor');
  });

  step('actions are in words, times have seconds and the zone, ids are short with the whole id kept', async () => {
    const page = pages.auditor;
    const entry = page.locator('[data-testid="audit-entry"]').first();
    assert.equal(await entry.getByTestId('audit-action').innerText(), 'Message sent');
    assert.doesNotMatch(await byTestId(page, 'audit-list').innerText(), /message_sent/, 'no raw action code on show');
    const time = entry.getByTestId('audit-time');
    const seconds = String(new Date(sent.first.occurred_at).getUTCSeconds()).padStart(2, '0');
    const text = await time.innerText();
    assert.match(text, new RegExp(`\\d{1,2}:\\d{2}:${seconds}`), `seconds shown: ${text}`);
    assert.match(text, /\b(EST|EDT|GMT-[45])\b/, `the time zone is named: ${text}`);
    assert.equal(new Date(await time.getAttribute('datetime')).getTime(), new Date(sent.first.occurred_at).getTime());

    const id = entry.getByTestId('audit-message-id');
    assert.equal(await id.getAttribute('title'), sent.first.message_id, 'the whole id as a tooltip');
    assert.equal(await id.locator('[aria-hidden="true"]').innerText(), `${sent.first.message_id.slice(0, 8)}…`);
    assert.equal(await id.locator('.sr-only').textContent(), sent.first.message_id, 'the whole id for screen readers');
    assert.equal(await entry.getByTestId('audit-message-id-copy').count(), 1, 'a Copy button');
  });

  step('filtering by action narrows the patient’s entries to reads, then to sends', async () => {
    const page = pages.auditor;
    await applyFilters(page, 'audit', { actor: PATIENT.username });
    assert.deepEqual((await shown(page, 'audit')).map((r) => r.position), patientEntries.map((e) => String(e.position)));

    await applyFilters(page, 'audit', { actor: PATIENT.username, action: 'Message read' });
    let rows = await shown(page, 'audit');
    assert.deepEqual(rows.map((r) => r.position), patientEntries.slice(0, 2).map((e) => String(e.position)));
    assert.ok(rows.every((r) => r.action === 'message_read'));
    assert.match(await byTestId(page, 'audit-summary').innerText(), /action “Message read”/);

    await applyFilters(page, 'audit', { actor: PATIENT.username, action: 'Message sent' });
    rows = await shown(page, 'audit');
    assert.deepEqual(rows.map((r) => r.position), [String(patientEntries[2].position)]);

    // An action without a readable name: typed as its code (and shown as it is).
    const panel = byTestId(page, 'audit-panel');
    await panel.getByTestId('audit-filter-action').selectOption('__other__');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'audit-filter-action_code');
    await panel.getByTestId('audit-filter-action_code').fill('Message-Read');
    await panel.getByTestId('audit-filter-apply').click();
    assert.match(await panel.getByTestId('audit-filter-action_code').evaluate((el) => el.validationMessage), /action code/);
    await panel.getByTestId('audit-filter-action_code').fill('message_read');
    await panel.getByTestId('audit-filter-apply').click();
    await settled(page, 'audit');
    assert.deepEqual((await shown(page, 'audit')).map((r) => r.position), patientEntries.slice(0, 2).map((e) => String(e.position)));
    assert.deepEqual(await page.evaluate(async () => {
      const { actionLabel } = await import('/js/audit-words.js');
      return [actionLabel('audit', 'conversation_archived'), actionLabel('audit', 'something_new'), actionLabel('access', 'search')];
    }), ['Conversation archived', 'something_new', 'Messages searched'], 'unknown actions as they are');
  });

  step('a time range in local time (sent as UTC) selects one of the clinician’s two messages', async () => {
    const page = pages.auditor;
    const boundary = floorSecond(sent.second.occurred_at); // after the first message, at or before the second
    const after = new Date(boundary.getTime() + 1000);
    await applyFilters(page, 'audit', { actor: CLINICIAN.username, from: localValue(boundary), to: localValue(after) });
    assert.deepEqual((await shown(page, 'audit')).map((r) => r.position), [String(sent.second.position)], 'from (included) .. to');

    await applyFilters(page, 'audit', { actor: CLINICIAN.username, to: localValue(boundary) });
    assert.deepEqual((await shown(page, 'audit')).map((r) => r.position), [String(sent.first.position)], 'to is not included');

    await applyFilters(page, 'audit', { actor: CLINICIAN.username, from: localValue(after) });
    assert.deepEqual(await shown(page, 'audit'), []);
    assert.equal(await byTestId(page, 'audit-empty').isVisible(), true);
    assert.match(await byTestId(page, 'audit-count').innerText(), /No entries match/);
    await screenshot(page, 'auditor-time-range');
  });

  step('a wrong filter is explained at its field and not sent', async () => {
    const page = pages.auditor;
    const panel = byTestId(page, 'audit-panel');
    await panel.getByTestId('audit-filter-message_id').fill('1234abcd');
    await panel.getByTestId('audit-filter-apply').click();
    const message = await panel.getByTestId('audit-filter-message_id').evaluate((el) => el.validationMessage);
    assert.match(message, /whole message id/);
    await panel.getByTestId('audit-filter-message_id').fill('');
    await panel.getByTestId('audit-filter-from').fill(localValue(floorSecond(sent.second.occurred_at)));
    await panel.getByTestId('audit-filter-to').fill(localValue(floorSecond(sent.first.occurred_at)));
    await panel.getByTestId('audit-filter-apply').click();
    assert.match(await panel.getByTestId('audit-filter-to').evaluate((el) => el.validationMessage), /end after the start/);
    assert.equal(await byTestId(page, 'error-banner').innerText(), '', 'nothing reached the API');
  });

  step('the access log beside it shows the patient viewing the clinician’s conversation', async () => {
    const page = pages.auditor;
    await byTestId(page, 'access-tab').click();
    assert.equal(await byTestId(page, 'access-tab').getAttribute('aria-selected'), 'true');
    assert.equal(await byTestId(page, 'access-panel').isVisible(), true);
    assert.equal(await byTestId(page, 'audit-panel').isVisible(), false);
    const rows = await filterUntil(page, 'access',
      { actor: PATIENT.username, action: 'Conversation viewed' }, 1, 'the patient’s conversation views');
    assert.ok(rows.every((r) => r.action === 'conversation_viewed' && r.counterpart === CLINICIAN.username));
    const entry = page.locator('[data-testid="access-entry"]').last();
    assert.equal(await entry.getByTestId('access-action').innerText(), 'Conversation viewed');
    assert.match(await entry.innerText(), /by\s+pa_\S+ \(Patient\)/);
    assert.match(await entry.getByTestId('access-time').innerText(), /\d{1,2}:\d{2}:\d{2}.*\b(EST|EDT|GMT-[45])\b/);
    const auditor = await apiSession(AUDITOR.username);
    const expected = await allEntries(auditor, '/api/audit/access', { actor: PATIENT.username, action: 'conversation_viewed' });
    assert.deepEqual(rows.map((r) => r.id), expected.map((e) => String(e.id)));

    // The auditor's own reading of the audit log is in the access log too.
    await filterUntil(page, 'access', { actor: AUDITOR.username, action: 'Audit log viewed' }, 1, 'the auditor’s own reads');
    await screenshot(page, 'auditor-access-log');
  });

  step('a message’s Reads (access log) and History (audit log) are one click from its id', async () => {
    const page = pages.auditor;
    await byTestId(page, 'audit-tab').click();
    await applyFilters(page, 'audit', { actor: CLINICIAN.username });
    await page.locator('[data-testid="audit-entry"]').first().getByTestId('audit-message-id-access').click();
    await settled(page, 'access');
    assert.equal(await byTestId(page, 'access-tab').getAttribute('aria-selected'), 'true');
    assert.equal(await byTestId(page, 'access-filter-message_id').inputValue(), sent.first.message_id);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'access-summary', 'focus on what is shown');
    assert.match(await byTestId(page, 'access-summary').innerText(), new RegExp(`message ${sent.first.message_id}`));
    const view = page.locator(`[data-testid="access-entry"][data-action="conversation_viewed"][data-actor="${PATIENT.username}"]`).first();
    await view.waitFor();

    await view.locator('details summary').click();
    await view.locator('[data-testid="access-message-id"]').filter({ hasText: sent.first.message_id }).waitFor();
    const item = view.locator('li').filter({ has: page.locator(`[data-full="${sent.first.message_id}"]`) });
    await item.getByTestId('access-message-id-audit').click();
    await settled(page, 'audit');
    assert.equal(await byTestId(page, 'audit-tab').getAttribute('aria-selected'), 'true');
    const auditor = await apiSession(AUDITOR.username);
    const history = await allEntries(auditor, '/api/audit/log', { message_id: sent.first.message_id });
    assert.deepEqual(history.map((e) => e.action), ['message_sent', 'message_read']);
    assert.deepEqual((await shown(page, 'audit')).map((r) => r.position), history.map((e) => String(e.position)));
  });

  step('the tabs follow the arrow keys; Show more pages through a long access log', async () => {
    const page = pages.auditor;
    await byTestId(page, 'audit-tab').focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await byTestId(page, 'access-tab').getAttribute('aria-selected'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'access-tab');

    const auditor = await apiSession(AUDITOR.username);
    for (let i = 0; i < 60; i += 1) await auditor.call('GET', `/api/audit/log?actor=${CLINICIAN.username}`, undefined, 200);
    const filters = { actor: AUDITOR.username, action: 'audit_viewed' };
    await waitForEntries(auditor, '/api/audit/access', filters, 61);
    await applyFilters(page, 'access', { actor: AUDITOR.username, action: 'Audit log viewed' });
    assert.equal((await shown(page, 'access')).length, 50, 'a first page of 50');
    assert.match(await byTestId(page, 'access-count').innerText(), /^50 entries shown; more match/);
    const more = byTestId(page, 'access-more');
    while (await more.isVisible()) {
      await more.click();
      await settled(page, 'access');
    }
    const rows = await shown(page, 'access');
    const expected = await allEntries(auditor, '/api/audit/access', filters);
    assert.deepEqual(rows.map((r) => r.id), expected.map((e) => String(e.id)), 'every entry once, oldest first');
    assert.match(await byTestId(page, 'access-count').innerText(), new RegExp(`^${expected.length} entries shown\\.$`));
    const lastPageStart = rows[Math.floor((rows.length - 1) / 50) * 50].id;
    assert.deepEqual(await page.evaluate(() => ({ ...document.activeElement?.dataset })),
      { testid: 'access-entry', action: 'audit_viewed', actor: AUDITOR.username, id: lastPageStart, counterpart: CLINICIAN.username },
      'with Show more gone, focus is on the first entry it loaded');
  });

  step('Export downloads exactly the entries the filters select (JSON, then CSV)', async () => {
    const page = pages.auditor;
    await byTestId(page, 'audit-tab').click();
    await applyFilters(page, 'audit', { actor: PATIENT.username });
    const panel = byTestId(page, 'audit-panel');
    const auditor = await apiSession(AUDITOR.username);
    const expected = await allEntries(auditor, '/api/audit/log', { actor: PATIENT.username });
    assert.equal(expected.length, 3);

    await panel.getByTestId('audit-export-format').selectOption('json');
    const [json] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('audit-export').click()]);
    assert.match(json.suggestedFilename(), /^audit-log-.*\.json$/);
    const file = JSON.parse(await readFile(await json.path(), 'utf8'));
    assert.deepEqual(file.entries, expected);
    assert.equal(file.complete, true);
    assert.deepEqual(file.filters, { actor: PATIENT.username });
    await panel.locator('[data-testid="audit-export-status"][data-state="done"]').waitFor();
    assert.match(await panel.getByTestId('audit-export-status').innerText(), /Exported 3 entries/);

    await panel.getByTestId('audit-export-format').selectOption('csv');
    const [csv] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('audit-export').click()]);
    assert.match(csv.suggestedFilename(), /^audit-log-.*\.csv$/);
    const lines = (await readFile(await csv.path(), 'utf8')).trimEnd().split('\r\n');
    assert.equal(lines[0], 'position,occurred_at,actor,action,action_label,message_id,request_id,client_ip,details');
    assert.deepEqual(lines.slice(1).map((l) => l.split(',').slice(0, 4)),
      expected.map((e) => [String(e.position), e.occurred_at, e.actor, e.action]));

    // Filters changed but not applied: the export applies them first, and exports what they select.
    await panel.getByTestId('audit-filter-action').selectOption({ label: 'Message read' });
    const [reads] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('audit-export').click()]);
    const readLines = (await readFile(await reads.path(), 'utf8')).trimEnd().split('\r\n').slice(1);
    assert.deepEqual(readLines.map((l) => l.split(',')[0]), expected.slice(0, 2).map((e) => String(e.position)));
    await settled(page, 'audit');
    assert.equal((await shown(page, 'audit')).length, 2, 'the list shows what was exported');

    // The cap: an export stops there and says it is not complete.
    const capped = await page.evaluate(async (actor) => {
      const { collect } = await import('/js/audit-export.js');
      const steps = [];
      const result = await collect('audit', { actor }, { cap: 2, onProgress: (n) => steps.push(n) });
      return { count: result.entries.length, complete: result.complete, steps };
    }, PATIENT.username);
    assert.deepEqual(capped, { count: 2, complete: false, steps: [2] });

    // The access log's export, filtered by the patient and an action.
    await byTestId(page, 'access-tab').click();
    await applyFilters(page, 'access', { actor: PATIENT.username, action: 'Conversation viewed' });
    const access = byTestId(page, 'access-panel');
    await access.getByTestId('access-export-format').selectOption('json');
    const [accessJson] = await Promise.all([page.waitForEvent('download'), access.getByTestId('access-export').click()]);
    const accessFile = JSON.parse(await readFile(await accessJson.path(), 'utf8'));
    assert.deepEqual(accessFile.entries,
      await allEntries(auditor, '/api/audit/access', { actor: PATIENT.username, action: 'conversation_viewed' }));
    assert.equal(accessFile.log, 'access_log');
  });

  step('a patient never reaches the audit trail, and the API refuses them', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENT.username);
    await byTestId(page, 'tab-inbox').waitFor();
    assert.equal(await byTestId(page, 'tab-audit').count(), 0);
    await page.goto('/#/audit');
    await byTestId(page, 'tab-inbox').waitFor();
    assert.equal(await byTestId(page, 'audit-view').count(), 0, 'no audit view by its route either');
    const patient = await apiSession(PATIENT.username);
    await patient.call('GET', '/api/audit/log', undefined, 403);
    await patient.call('GET', `/api/audit/access?actor=${PATIENT.username}`, undefined, 403);
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
