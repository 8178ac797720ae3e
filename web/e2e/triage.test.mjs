// The clinician's triage view (GET /api/clinician/triage) against a running gateway: a clinician
// with two approved patients signs in and lands on Triage; the patient who has waited longest is
// first, marked waiting and with an unread badge; the clinician answers from the row's
// conversation and, back on Triage, that patient no longer waits and the other one is first; a new
// message of the patient reloads the shown view live. A patient never sees the Triage tab.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/triage.test.mjs
//
// Needs the demo admin (password `healing-demo`). The admin adds a clinician and two patients
// approved for them, with names unique to the run (through POST /api/admin/users), so reruns
// against the same database work. Patients cannot start a message to a clinician: the clinician
// writes to each first (POST /api/clinician/message) and the patients reply.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, dialogOf, closeThread, pages, problems,
  uniqueWord, apiSession, delay, PASSWORD, TIMEOUT,
} from './support.mjs';

const WORD = uniqueWord('triage');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT_A = { username: `ta_${WORD}`, role: 'patient', display_name: `Ada ${NAME}` };
const PATIENT_B = { username: `tb_${WORD}`, role: 'patient', display_name: `Ben ${NAME}` };
const CLINICIAN = { username: `dt_${WORD}`, role: 'clinician', display_name: `Dr. Tess ${NAME}` };
const ANSWER = `Thanks Ada, let us talk on Monday (${WORD}).`;

/** Replies to `messageId`, retrying while the message is not yet visible to the replier. */
async function replyTo(session, messageId, content) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const answer = await session.fetch('POST', `/api/messages/${messageId}/reply`, { content });
    if (answer.status() === 201) return answer.json();
    if (answer.status() !== 404 || Date.now() > deadline) {
      assert.fail(`reply to ${messageId}: ${answer.status()} ${await answer.text()}`);
    }
    await delay(250);
  }
}

/** The triage rows as shown: username, waiting flag, unread badge text. */
function triageRows(page) {
  return page.locator('[data-testid="triage-row"]').evaluateAll((rows) => rows.map((row) => ({
    username: row.dataset.username,
    waiting: Boolean(row.querySelector('[data-testid="triage-waiting"]')),
    unread: row.querySelector('[data-testid="triage-unread"]')?.textContent.replace(/\D/g, '') || null,
  })));
}

/** Waits until the rows match `expected` (reloading with `refresh`, if given, between looks). */
async function waitForRows(page, expected, what, { refresh, timeout = 30_000 } = {}) {
  const deadline = Date.now() + timeout;
  let rows;
  for (;;) {
    if (refresh) await refresh();
    await page.locator('[data-testid="triage-list"]:not([aria-busy])').waitFor();
    rows = await triageRows(page);
    if (JSON.stringify(rows) === JSON.stringify(expected)) return;
    if (Date.now() > deadline) break;
    await delay(refresh ? 1000 : 250);
  }
  assert.deepEqual(rows, expected, what);
}

describe('Clinician triage', () => {
  useBrowser();
  const ids = {};

  step('an administrator adds a clinician with two approved patients', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT_A, PATIENT_B, CLINICIAN]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    for (const patient of [PATIENT_A, PATIENT_B]) {
      await admin.call('PUT', '/api/admin/patient-approvals',
        { clinician: CLINICIAN.username, patient: patient.username, status: 'approved' }, 200);
    }
  });

  step('the clinician writes to both; patient A answers, then patient B', async () => {
    const clinician = await apiSession(CLINICIAN.username);
    for (const patient of [PATIENT_A, PATIENT_B]) {
      const res = await clinician.call('POST', '/api/clinician/message',
        { recipient_username: patient.username, subject: `Check-in ${WORD}`, message: `How are you this week? (${WORD})` }, 201);
      ids[patient.username] = (await res.json()).message_id;
    }
    await replyTo(await apiSession(PATIENT_A.username), ids[PATIENT_A.username], `I had a hard week (${WORD}).`);
    await delay(1100); // B's wait begins visibly later than A's
    await replyTo(await apiSession(PATIENT_B.username), ids[PATIENT_B.username], `All fine here (${WORD}).`);
  });

  step('the clinician signs in and lands on Triage: A (waiting longest, unread) first, then B', async () => {
    const page = await newUserPage('clinician');
    await login(page, CLINICIAN.username);
    await byTestId(page, 'triage-list').waitFor();
    assert.equal(await byTestId(page, 'tab-triage').getAttribute('aria-current'), 'page');
    assert.equal(new URL(page.url()).hash, '#/triage');
    assert.equal(await page.locator('.view-title').innerText(), 'Triage');
    await waitForRows(page, [
      { username: PATIENT_A.username, waiting: true, unread: '1' },
      { username: PATIENT_B.username, waiting: true, unread: '1' },
    ], 'both wait, A longest', { refresh: () => byTestId(page, 'tab-triage').click() });

    const rowA = page.locator(`[data-testid="triage-row"][data-username="${PATIENT_A.username}"]`);
    assert.equal(await rowA.evaluate((el) => el.tagName), 'BUTTON', 'a row is a button (keyboard reachable)');
    assert.equal(await rowA.evaluate((el) => el.closest('ul')?.dataset.testid), 'triage-list', 'rows are list items');
    assert.match(await rowA.innerText(), new RegExp(PATIENT_A.display_name));
    assert.match(await rowA.innerText(), new RegExp(`@${PATIENT_A.username}`));
    assert.match(await rowA.getByTestId('triage-waiting').innerText(), /Waiting for your answer\s+waiting .+ \(since .+\)/,
      'the wait is said in words, not by color alone');
    assert.match(await rowA.getByTestId('triage-unread').innerText(), /1\s*unread/);
    assert.match(await rowA.getByTestId('triage-median').innerText(), /^median reply —/, 'no answer yet');
    await screenshot(page, 'triage-waiting');
  });

  step('the clinician opens A\'s conversation from the row (keyboard) and answers', async () => {
    const page = pages.clinician;
    const rowA = page.locator(`[data-testid="triage-row"][data-username="${PATIENT_A.username}"]`);
    await rowA.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator(`dialog[data-testid="thread-dialog"][data-with="${PATIENT_A.username}"]`);
    await dialog.waitFor();
    await dialog.getByTestId('thread-message').filter({ hasText: 'I had a hard week' }).waitFor();
    await dialog.getByTestId('reply-content').fill(ANSWER);
    await dialog.getByTestId('reply-send').click();
    await dialog.getByTestId('thread-message').filter({ hasText: ANSWER }).waitFor();
    await closeThread(page);
    assert.equal(await dialogOf(page).isVisible(), false);
  });

  step('back on Triage, A no longer waits and B is first', async () => {
    const page = pages.clinician;
    await waitForRows(page, [
      { username: PATIENT_B.username, waiting: true, unread: '1' },
      { username: PATIENT_A.username, waiting: false, unread: null },
    ], 'B waits, A was answered', { refresh: () => byTestId(page, 'tab-triage').click() });
    const rowA = page.locator(`[data-testid="triage-row"][data-username="${PATIENT_A.username}"]`);
    assert.equal(await rowA.getAttribute('data-waiting'), 'false');
    assert.match(await rowA.getByTestId('triage-median').innerText(), /^median reply (under 1 min|\d+ min)$/, 'one answer');
    await screenshot(page, 'triage-answered');
  });

  step('a new message of A reloads the shown Triage live', async () => {
    const page = pages.clinician;
    const thread = await (await apiSession(CLINICIAN.username)).call('GET',
      `/api/messages/conversation/${PATIENT_A.username}`, undefined, 200);
    const { messages } = await thread.json();
    const latest = messages.find((m) => m.content === ANSWER);
    assert.ok(latest, 'the answer is in the conversation');
    await replyTo(await apiSession(PATIENT_A.username), latest.message_id, `Monday works (${WORD}).`);
    // No click: the live `message` event reloads the view.
    await waitForRows(page, [
      { username: PATIENT_B.username, waiting: true, unread: '1' },
      { username: PATIENT_A.username, waiting: true, unread: '1' },
    ], 'A waits again, after B', { timeout: TIMEOUT });
  });

  step('a patient never sees the Triage tab, and the endpoint refuses them', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENT_A.username);
    await byTestId(page, 'tab-inbox').waitFor();
    assert.equal(await byTestId(page, 'tab-triage').count(), 0);
    assert.equal(await byTestId(page, 'tab-inbox').getAttribute('aria-current'), 'page', 'the patient starts in the inbox');
    await page.goto('/#/triage');
    await byTestId(page, 'tab-inbox').waitFor();
    assert.equal(await byTestId(page, 'triage-list').count(), 0, 'no triage view by its route either');
    const patient = await apiSession(PATIENT_A.username);
    await patient.call('GET', '/api/clinician/triage', undefined, 403);
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
