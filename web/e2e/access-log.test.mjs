// "Who accessed my messages" (API.md, "Records rights": GET /api/me/access-log) against a
// running gateway: after both sides deleted a patient's message, an administrator lists the
// hidden messages (GET /api/admin/messages/deleted), which reads it; the patient's Privacy view
// then shows that access, newest first: the exact time with seconds, who, their role in words and
// what they did, in words. Reads by the patient and by the person they wrote with are not listed.
// More accesses than one page are paged with "Show earlier accesses". A patient nobody else read
// is told so; an auditor's look at the trail is listed too; a clinician has no such list (the API
// answers 403).
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/access-log.test.mjs
//
// Needs the demo admin and auditor (password `healing-demo`); the admin adds the users of the run
// (unique names).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, pages, problems,
  uniqueWord, apiSession, delay, PASSWORD,
} from './support.mjs';

const WORD = uniqueWord('acc');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT = { username: `lp_${WORD}`, role: 'patient', display_name: `Lea ${NAME}` };
const OTHER = { username: `lo_${WORD}`, role: 'patient', display_name: `Ole ${NAME}` };
const FRESH = { username: `lf_${WORD}`, role: 'patient', display_name: `Fay ${NAME}` };
const CLINICIAN = { username: `ld_${WORD}`, role: 'clinician', display_name: `Dr. Lou ${NAME}` };
const EXTRA_READS = 24; // more than a page of entries (20 by default)

/** The shown access entries (newest first, as shown). */
function entries(page) {
  return page.locator('[data-testid="access-entry"]').evaluateAll((items) => items.map((li) => ({
    actor: li.dataset.actor,
    action: li.dataset.action,
    datetime: li.querySelector('time')?.getAttribute('datetime') || null,
    time: li.querySelector('[data-testid="access-time"]')?.textContent || '',
    role: li.querySelector('[data-testid="access-role"]')?.textContent || '',
    what: li.querySelector('[data-testid="access-what"]')?.textContent || '',
    count: li.querySelector('[data-testid="access-count"]')?.textContent || null,
    note: li.querySelector('.hint')?.textContent || '',
  })));
}

/** Shows Privacy again and again until at least `n` entries are shown (bounded). */
async function waitForEntries(page, n, what, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let shown = [];
  for (;;) {
    await byTestId(page, 'tab-privacy').click();
    await page.locator('[data-testid="access-list"]:not([aria-busy])').waitFor({ state: 'attached' });
    await page.locator('[data-testid="access-entry"], [data-testid="access-empty"]:visible').first().waitFor();
    shown = await entries(page);
    if (shown.length >= n) return shown;
    if (Date.now() > deadline) break;
    await delay(1000);
  }
  assert.fail(`${what}: ${shown.length} entries shown, expected at least ${n}`);
}

describe('Who accessed my messages', () => {
  useBrowser();
  const sessions = {};
  let hiddenId;

  step('an administrator adds the users; the patient writes, and both sides delete the message', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT, OTHER, FRESH, CLINICIAN]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    for (const user of [PATIENT, OTHER]) sessions[user.username] = await apiSession(user.username);
    const res = await sessions[PATIENT.username].call('POST', '/api/messages/send',
      { recipient: OTHER.username, subject: `Private ${WORD}`, content: `Something private (${WORD}).` }, 201);
    hiddenId = (await res.json()).message_id;
    // The counterpart reads it (not an access to list), then both delete it: it is hidden.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const page = await (await sessions[OTHER.username].call('GET', `/api/messages/conversation/${PATIENT.username}`, undefined, 200)).json();
      if (page.messages.some((m) => m.message_id === hiddenId) || Date.now() > deadline) break;
      await delay(250);
    }
    await sessions[PATIENT.username].call('DELETE', `/api/messages/${hiddenId}`, undefined, 204);
    await sessions[OTHER.username].call('DELETE', `/api/messages/${hiddenId}`, undefined, 204);
  });

  step('before anyone else read them, the patient is told nobody else has', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENT.username);
    await byTestId(page, 'tab-privacy').click();
    const empty = byTestId(page, 'access-empty');
    await empty.waitFor();
    assert.equal(await empty.innerText(), 'No one else has read your messages. Only you and the people you write with have seen them.');
    assert.equal(await byTestId(page, 'access-more').isVisible(), false);
  });

  step('an administrator lists the hidden messages, which reads the patient\'s message', async () => {
    const admin = await apiSession('admin');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { messages } = await (await admin.call('GET', '/api/admin/messages/deleted?limit=100', undefined, 200)).json();
      if (messages.some((m) => m.message_id === hiddenId)) break;
      assert.ok(Date.now() < deadline, 'the hidden message is listed');
      await delay(500);
    }
    sessions.admin = admin;
  });

  step('the patient sees that access: exact time with seconds, who, their role and what they did, in words', async () => {
    const page = pages.patient;
    const shown = await waitForEntries(page, 1, 'the administrator\'s access');
    const entry = shown[0];
    assert.equal(entry.actor, 'admin');
    assert.equal(entry.action, 'deleted_listed');
    assert.equal(entry.role, 'Administrator', 'the role in words');
    assert.match(entry.what, /^admin \(Administrator\) looked at the list of deleted messages \(1 of your messages\)\.$/);
    assert.equal(entry.count, '1 of your messages');
    assert.match(entry.note, /admin is an administrator of Healing Space/);
    assert.ok(Number.isFinite(Date.parse(entry.datetime)), `a machine-readable time (${entry.datetime})`);
    assert.match(entry.time, /\d{1,2}:\d{2}:\d{2}/, `the time has seconds (${entry.time})`);
    assert.ok(shown.every((e) => e.actor === 'admin'), 'the patient\'s and the counterpart\'s own reads are not listed');
    assert.equal(await byTestId(page, 'access-empty').isVisible(), false);
    await screenshot(page, 'access-log-entry');
  });

  step('more accesses than a page: newest first, "Show earlier accesses" shows the rest', async () => {
    for (let i = 0; i < EXTRA_READS; i += 1) {
      await sessions.admin.call('GET', '/api/admin/messages/deleted?limit=100', undefined, 200);
    }
    // The access log is written behind the answers (a buffer flushed in batches): wait until it
    // holds every read before the page lists it, or the newest could come after the first page.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answer = await sessions[PATIENT.username].call('GET', '/api/me/access-log?limit=100', undefined, 200);
      const { entries: recorded } = await answer.json();
      if (recorded.length >= 1 + EXTRA_READS) break;
      assert.ok(Date.now() < deadline, `the access log records every read (${recorded.length})`);
      await delay(200);
    }
    const page = pages.patient;
    const first = await waitForEntries(page, 20, 'a first page of accesses');
    const more = byTestId(page, 'access-more');
    await more.waitFor();
    assert.equal(await more.innerText(), 'Show earlier accesses');
    const times = first.map((e) => Date.parse(e.datetime));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
    for (;;) {
      const before = (await entries(page)).length;
      await more.click();
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="access-entry"]').length > n, before);
      await page.locator('[data-testid="access-list"]:not([aria-busy])').waitFor({ state: 'attached' });
      if (!(await more.isVisible())) break;
    }
    const all = await entries(page);
    assert.ok(all.length >= 1 + EXTRA_READS, `every access is listed (${all.length})`);
    const allTimes = all.map((e) => Date.parse(e.datetime));
    assert.deepEqual(allTimes, [...allTimes].sort((a, b) => b - a), 'still newest first after paging');
  });

  step('an auditor\'s look at the audit trail shows too, first, with the role in words', async () => {
    const auditor = await apiSession('auditor');
    await auditor.call('GET', `/api/audit/log?actor=${PATIENT.username}`, undefined, 200);
    const page = pages.patient;
    const deadline = Date.now() + 30_000;
    let newest;
    for (;;) {
      [newest] = await waitForEntries(page, 1, 'the auditor\'s access');
      if (newest.actor === 'auditor' || Date.now() > deadline) break;
      await delay(1000);
    }
    assert.equal(newest.actor, 'auditor', 'the newest access comes first');
    assert.equal(newest.action, 'audit_viewed');
    assert.equal(newest.role, 'Auditor');
    assert.match(newest.what, /^auditor \(Auditor\) looked at the audit trail( \(\d+ of your messages\))?\.$/);
    assert.match(newest.note, /auditor is an auditor, who checks that records are handled properly/);
    await screenshot(page, 'access-log-auditor');
  });

  step('a patient nobody else read sees the empty note; a clinician has no such list', async () => {
    const fresh = await newUserPage('fresh');
    await login(fresh, FRESH.username);
    await byTestId(fresh, 'tab-privacy').click();
    await byTestId(fresh, 'access-empty').waitFor();
    assert.equal(await fresh.locator('[data-testid="access-entry"]').count(), 0);

    const clinician = await newUserPage('clinician');
    await login(clinician, CLINICIAN.username);
    await byTestId(clinician, 'tab-privacy').click();
    await byTestId(clinician, 'blocked-list').waitFor({ state: 'attached' });
    assert.equal(await byTestId(clinician, 'access-list').count(), 0, 'no access list for a clinician');
    const api = await apiSession(CLINICIAN.username);
    await api.call('GET', '/api/me/access-log', undefined, 403);
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
