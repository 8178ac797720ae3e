// Scheduled messages (POST/GET /api/messages/scheduled, PATCH/DELETE /api/messages/scheduled/{id})
// against a running gateway: a clinician in another time zone than UTC chooses "Send later" in New
// message and the picked local time goes out as the right UTC instant; times too soon or too far
// ahead are refused beside the field before anything is sent; the "Scheduled" view lists the
// messages, the soonest first, pages with the cursor, changes one and cancels one after a
// confirmation; changing or cancelling one that is no longer pending (409) is told in words and
// the list shows its state; sent and failed ones say so in words, with the reason.
// Delivery itself (at least a minute ahead) is not waited for here.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/scheduled.test.mjs
//
// Needs the demo admin (password `healing-demo`). The admin adds a clinician and two patients
// (one approved for the clinician), with names unique to the run, so reruns work.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, errorBanner, focused, pages, problems,
  uniqueWord, apiSession, delay, PASSWORD, TIMEOUT,
} from './support.mjs';

const WORD = uniqueWord('later');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT = { username: `sp_${WORD}`, role: 'patient', display_name: `Sam ${NAME}` };
const OTHER_PATIENT = { username: `so_${WORD}`, role: 'patient', display_name: `Olly ${NAME}` };
const CLINICIAN = { username: `ds_${WORD}`, role: 'clinician', display_name: `Dr. Sol ${NAME}` };
const ZONE = 'Europe/Berlin';
const HOUR = 3_600_000;
const SCHEDULED_API = /\/api\/messages\/scheduled(\?|$)/;

/** GETs `path` until `check(body)` holds (the API session's reads are eventually consistent). */
async function readUntil(session, path, check, what) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const body = await (await session.call('GET', path, undefined, 200)).json();
    if (check(body)) return body;
    if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(body).slice(0, 500)}`);
    await delay(250);
  }
}

/** `date` as a datetime-local value in `ZONE` ("2026-12-03T10:30"). */
function localValue(date) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}
/** A time `ms` from now, to the minute. */
const ahead = (ms) => new Date(Math.floor((Date.now() + ms) / 60_000) * 60_000);

/** Waits until the read side lists the caller's scheduled message `id` with `status`. */
const listed = (session, id, status) => readUntil(session, '/api/messages/scheduled?limit=100',
  ({ scheduled }) => scheduled.some((s) => s.scheduled_id === id && s.status === status), `${id} ${status}`);

const rows = (page) => page.locator('[data-testid="scheduled-item"]');
const row = (page, content) => rows(page).filter({ has: page.locator('[data-testid="scheduled-content"]', { hasText: content }) });

async function listReady(page) {
  await page.locator('[data-testid="scheduled-list"]:not([aria-busy])').waitFor({ state: 'attached' });
}

async function openScheduled(page) {
  await byTestId(page, 'tab-scheduled').click();
  await byTestId(page, 'scheduled-list').waitFor({ state: 'attached' });
  await listReady(page);
}

/** Schedules through the API (retrying a rate limit), answering the 201 body. */
async function scheduleByApi(session, body) {
  for (;;) {
    const answer = await session.fetch('POST', '/api/messages/scheduled', body);
    if (answer.status() === 429) { await delay(1_000); continue; }
    assert.equal(answer.status(), 201, `schedule: ${await answer.text()}`);
    return answer.json();
  }
}

describe('Scheduled messages', () => {
  useBrowser();
  let clinicianApi;
  const first = { content: `See you next week (${WORD})`, subject: `Next week ${WORD}`, at: ahead(2 * HOUR) };
  const changed = { content: `See you on Thursday instead (${WORD})`, at: ahead(5 * HOUR) };

  step('an administrator adds a clinician with an approved patient, and another patient', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT, OTHER_PATIENT, CLINICIAN]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    await admin.call('PUT', '/api/admin/patient-approvals',
      { clinician: CLINICIAN.username, patient: PATIENT.username, status: 'approved' }, 200);
    clinicianApi = await apiSession(CLINICIAN.username);
  });

  step(`the clinician (in ${ZONE}) schedules a message: the local time goes out as UTC`, async () => {
    const page = await newUserPage('clinician', undefined, { contextOptions: { timezoneId: ZONE } });
    await login(page, CLINICIAN.username);
    await byTestId(page, 'tab-new').click();
    assert.equal(await byTestId(page, 'compose-send-at').isVisible(), false, 'no picker until "Send later"');
    await byTestId(page, 'compose-later').check();
    const picker = byTestId(page, 'compose-send-at');
    await picker.waitFor();
    assert.equal(await picker.getAttribute('type'), 'datetime-local');
    assert.equal(await page.locator('label[for="compose-send-at"]').innerText(), 'Send at');
    assert.match(await byTestId(page, 'compose-later').evaluate((el) => el.labels[0].innerText), /Send later/);
    const hint = await page.locator(`#${await picker.getAttribute('aria-describedby')}`).innerText();
    assert.match(hint, new RegExp(`${ZONE}.*at least 1 minute and at most 365 days`));
    assert.equal(await byTestId(page, 'compose-send').innerText(), 'Schedule message');
    assert.ok(await picker.inputValue(), 'a default time is offered');

    await byTestId(page, 'compose-recipient').fill(PATIENT.username);
    await byTestId(page, 'compose-subject').fill(first.subject);
    await byTestId(page, 'compose-content').fill(first.content);
    await picker.fill(localValue(first.at));
    const posted = page.waitForRequest((req) => req.method() === 'POST' && SCHEDULED_API.test(req.url()));
    await byTestId(page, 'compose-send').click();
    const request = await posted;
    assert.ok(request.headers()['x-csrf-token'], 'the CSRF header is sent');
    assert.ok(request.headers()['idempotency-key'], 'an Idempotency-Key, so a retry schedules it once');
    const body = request.postDataJSON();
    assert.equal(body.recipient, PATIENT.username);
    assert.equal(body.content, first.content);
    assert.match(body.send_at, /Z$/, 'RFC 3339 UTC');
    assert.equal(Date.parse(body.send_at), first.at.getTime(), 'the same instant as the local time picked');
    await byTestId(page, 'compose-status').filter({ hasText: `Message to ${PATIENT.username} scheduled for` }).waitFor();
    assert.equal(await byTestId(page, 'compose-later').isChecked(), false, 'the form is ready for the next message');
    assert.equal(await byTestId(page, 'compose-send').innerText(), 'Send message');
  });

  step('a time less than a minute ahead, or more than 365 days, is refused beside the field', async () => {
    const page = pages.clinician;
    const posts = [];
    const watch = (req) => { if (req.method() === 'POST' && SCHEDULED_API.test(req.url())) posts.push(req); };
    page.on('request', watch);
    await byTestId(page, 'compose-later').check();
    await byTestId(page, 'compose-recipient').fill(PATIENT.username);
    await byTestId(page, 'compose-content').fill(`Too soon (${WORD})`);
    const picker = byTestId(page, 'compose-send-at');
    await picker.fill(localValue(ahead(0)));
    await byTestId(page, 'compose-send').click();
    assert.equal(await picker.evaluate((el) => el.validationMessage), 'Please choose a time at least 1 minute from now.');
    await picker.fill(localValue(ahead(400 * 24 * HOUR)));
    await byTestId(page, 'compose-send').click();
    assert.equal(await picker.evaluate((el) => el.validationMessage), 'Please choose a time within the next 365 days.');
    await delay(300);
    page.off('request', watch);
    assert.equal(posts.length, 0, 'nothing was sent');
    await byTestId(page, 'compose-later').uncheck();
    assert.equal(await picker.isVisible(), false);
  });

  step('"Scheduled" lists it: recipient, time and "Waiting to send" in words', async () => {
    const page = pages.clinician;
    await openScheduled(page);
    assert.equal(new URL(page.url()).hash, '#/scheduled');
    const item = row(page, first.content);
    await item.waitFor();
    assert.equal(await item.getAttribute('data-status'), 'pending');
    assert.equal(await item.getByTestId('scheduled-status').innerText(), 'Waiting to send');
    assert.match(await item.innerText(), new RegExp(`To ${PATIENT.username}`));
    assert.match(await item.innerText(), new RegExp(first.subject));
    const when = item.getByTestId('scheduled-when').locator('time');
    assert.equal(Date.parse(await when.getAttribute('datetime')), first.at.getTime());
    await screenshot(page, 'scheduled-list');
  });

  step('she changes its time and message (PATCH); the row shows the change', async () => {
    const page = pages.clinician;
    const item = row(page, first.content);
    await item.getByTestId('scheduled-edit').click();
    const form = byTestId(page, 'scheduled-edit-form');
    await form.waitFor();
    assert.equal((await focused(page)).testid, 'scheduled-edit-send-at');
    const picker = form.getByTestId('scheduled-edit-send-at');
    assert.equal(await picker.inputValue(), localValue(first.at), 'the planned time, in local time');
    assert.equal(await form.getByTestId('scheduled-edit-content').inputValue(), first.content);
    await picker.fill(localValue(changed.at));
    await form.getByTestId('scheduled-edit-content').fill(changed.content);
    const patched = page.waitForRequest((req) => req.method() === 'PATCH' && /\/api\/messages\/scheduled\/[^/]+$/.test(req.url()));
    await form.getByTestId('scheduled-edit-save').click();
    const body = (await patched).postDataJSON();
    assert.deepEqual(Object.keys(body).sort(), ['content', 'send_at'], 'only what changed');
    assert.equal(Date.parse(body.send_at), changed.at.getTime());
    const updated = row(page, changed.content);
    await updated.waitFor();
    assert.equal(await updated.getByTestId('scheduled-status').innerText(), 'Waiting to send');
    assert.equal(Date.parse(await updated.getByTestId('scheduled-when').locator('time').getAttribute('datetime')), changed.at.getTime());
    assert.equal((await focused(page)).testid, 'scheduled-edit', 'focus returns to the row');
    const { scheduled } = await readUntil(clinicianApi, '/api/messages/scheduled',
      (body) => body.scheduled.some((s) => s.content === changed.content), 'the server has the change');
    assert.equal(scheduled.find((s) => s.content === changed.content).subject, first.subject, 'the subject is kept');
  });

  step('she cancels it after confirming: "Cancelled", with no more actions', async () => {
    const page = pages.clinician;
    const item = row(page, changed.content);
    await item.getByTestId('scheduled-cancel').click();
    assert.equal((await focused(page)).testid, 'scheduled-confirm-cancel');
    assert.match(await item.innerText(), /Cancel this message\? It will not be sent\./);
    await item.getByTestId('scheduled-keep').click();
    assert.equal((await focused(page)).testid, 'scheduled-cancel', '"Keep it" goes back');
    await item.getByTestId('scheduled-cancel').click();
    const deleted = page.waitForResponse((res) => res.request().method() === 'DELETE' && res.url().includes('/api/messages/scheduled/'));
    await item.getByTestId('scheduled-confirm-cancel').click();
    assert.equal((await deleted).status(), 204);
    await item.getByTestId('scheduled-status').filter({ hasText: 'Cancelled' }).waitFor();
    assert.equal(await item.getAttribute('data-status'), 'cancelled');
    assert.equal(await item.getByTestId('scheduled-edit').count(), 0);
    assert.equal(await item.getByTestId('scheduled-cancel').count(), 0);
    assert.equal((await focused(page)).testid, 'scheduled-status');
    await screenshot(page, 'scheduled-cancelled');
  });

  step('cancelling one that is no longer pending (409) is told in words; the list shows it cancelled', async () => {
    const page = pages.clinician;
    const content = `Cancelled elsewhere (${WORD})`;
    const { scheduled_id: id } = await scheduleByApi(clinicianApi, { recipient: PATIENT.username, content, send_at: ahead(3 * HOUR).toISOString() });
    await listed(clinicianApi, id, 'pending');
    await openScheduled(page);
    const item = row(page, content);
    await item.getByTestId('scheduled-cancel').waitFor();
    await clinicianApi.call('DELETE', `/api/messages/scheduled/${id}`, undefined, 204); // e.g. in another tab
    await listed(clinicianApi, id, 'cancelled');
    await item.getByTestId('scheduled-cancel').click();
    const answer = page.waitForResponse((res) => res.request().method() === 'DELETE' && res.url().includes(id));
    await item.getByTestId('scheduled-confirm-cancel').click();
    assert.equal((await answer).status(), 409);
    const { code, text, times } = await errorBanner(page);
    assert.equal(code, 'conflict');
    assert.equal(text, 'This message can no longer be cancelled: it has already been sent or cancelled. The list now shows the latest.');
    assert.equal(times, 1);
    assert.equal((await focused(page)).testid, 'error-banner');
    await row(page, content).getByTestId('scheduled-status').filter({ hasText: 'Cancelled' }).waitFor();
  });

  step('changing one that is no longer pending (409) is told in words too', async () => {
    const page = pages.clinician;
    const content = `Changed too late (${WORD})`;
    const { scheduled_id: id } = await scheduleByApi(clinicianApi, { recipient: PATIENT.username, content, send_at: ahead(4 * HOUR).toISOString() });
    await listed(clinicianApi, id, 'pending');
    await openScheduled(page);
    await row(page, content).getByTestId('scheduled-edit').click();
    await clinicianApi.call('DELETE', `/api/messages/scheduled/${id}`, undefined, 204);
    await listed(clinicianApi, id, 'cancelled');
    const form = byTestId(page, 'scheduled-edit-form');
    await form.getByTestId('scheduled-edit-content').fill(`${content} – edited`);
    await form.getByTestId('scheduled-edit-save').click();
    const { code, text } = await errorBanner(page);
    assert.equal(code, 'conflict');
    assert.equal(text, 'This message can no longer be changed: it has already been sent or cancelled. The list now shows the latest.');
    assert.equal((await focused(page)).testid, 'error-banner');
    await row(page, content).getByTestId('scheduled-status').filter({ hasText: 'Cancelled' }).waitFor();
    assert.equal(await byTestId(page, 'scheduled-edit-form').count(), 0, 'the list was reloaded');
  });

  step('a long list pages with the cursor, the soonest first', async () => {
    const page = pages.clinician;
    let last;
    for (let i = 0; i < 22; i += 1) {
      last = await scheduleByApi(clinicianApi, {
        recipient: PATIENT.username, content: `Paged ${String(i).padStart(2, '0')} (${WORD})`,
        send_at: ahead(24 * HOUR + i * 60_000).toISOString(),
      });
    }
    await listed(clinicianApi, last.scheduled_id, 'pending');
    await openScheduled(page);
    const more = byTestId(page, 'load-more');
    await more.waitFor();
    const firstPage = await rows(page).count();
    assert.ok(firstPage < 25, `one page first (${firstPage} rows)`);
    const next = page.waitForRequest((req) => SCHEDULED_API.test(req.url()) && new URL(req.url()).searchParams.has('cursor'));
    await more.click();
    await next;
    await more.waitFor({ state: 'hidden' });
    await listReady(page);
    const times = await rows(page).evaluateAll((els) => els.map((el) => Date.parse(el.dataset.sendAt)));
    assert.equal(times.length, 25, 'every scheduled message of the run');
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'send_at ascending');
  });

  step('sent and failed ones say so in words, the failure with its reason', async () => {
    const page = pages.clinician;
    const base = { recipient: PATIENT.username, subject: null, message_id: null, failure: null };
    await page.route(SCHEDULED_API, (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      return route.fulfill({
        json: {
          scheduled: [
            { ...base, scheduled_id: '00000000-0000-4000-8000-000000000001', content: `Delivered (${WORD})`, send_at: new Date(Date.now() - HOUR).toISOString(), status: 'sent', message_id: '00000000-0000-4000-8000-0000000000aa' },
            { ...base, scheduled_id: '00000000-0000-4000-8000-000000000002', content: `Refused (${WORD})`, send_at: new Date(Date.now() - HOUR / 2).toISOString(), status: 'failed', failure: 'you may not send a message to this user' },
          ],
          next_cursor: null,
        },
      });
    });
    try {
      await openScheduled(page);
      const sent = row(page, 'Delivered');
      await sent.waitFor();
      assert.equal(await sent.getByTestId('scheduled-status').innerText(), 'Sent');
      assert.equal(await sent.getByTestId('scheduled-open-thread').count(), 1, 'the conversation can be opened');
      assert.equal(await sent.getByTestId('scheduled-edit').count(), 0);
      const failed = row(page, 'Refused');
      assert.equal(await failed.getByTestId('scheduled-status').innerText(), 'Not sent');
      assert.equal(await failed.getByTestId('scheduled-failure').innerText(),
        'Why: When it was due, you were no longer allowed to message this person (for example, the approval had ended).',
        'the reason in words, not the policy sentence');
      assert.equal(await failed.getByTestId('scheduled-cancel').count(), 0);
      await screenshot(page, 'scheduled-sent-failed');
    } finally {
      await page.unroute(SCHEDULED_API);
    }
  });

  step('a patient may schedule too, and has the Scheduled view', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENT.username);
    await byTestId(page, 'tab-new').click();
    await byTestId(page, 'compose-later').check();
    await byTestId(page, 'compose-recipient').fill(OTHER_PATIENT.username);
    await byTestId(page, 'compose-content').fill(`Coffee tomorrow? (${WORD})`);
    // This browser is in the machine's time zone: the time is written as that zone's local time.
    const local = await page.evaluate(() => {
      const d = new Date(Date.now() + 20 * 3_600_000);
      const pad = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    });
    await byTestId(page, 'compose-send-at').fill(local);
    await byTestId(page, 'compose-send').click();
    await byTestId(page, 'compose-status').filter({ hasText: `Message to ${OTHER_PATIENT.username} scheduled for` }).waitFor();
    await openScheduled(page);
    await row(page, 'Coffee tomorrow').waitFor();
    assert.equal(await rows(page).count(), 1, 'only their own');
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
