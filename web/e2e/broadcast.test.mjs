// Broadcast (POST /api/clinician/messages/broadcast) against a running gateway: a clinician with
// three approved patients writes one message in "Message all", is told "This will send to 3
// patients" (from GET /api/clinician/patients) and must confirm before anything is sent; going
// back keeps the text; the result says how many received it and each patient has it once. When
// the answer is lost, "Try again" repeats the same Idempotency-Key and nobody receives it twice;
// invalid input is told in the banner; a clinician without patients is told there is nobody to
// send to, one with over 500 that it cannot be sent; a patient has no such tab.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/broadcast.test.mjs
//
// Needs the demo admin (password `healing-demo`). The admin adds two clinicians and three
// patients (approved for the first), with names unique to the run, so reruns work.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, errorBanner, focused, pages, problems,
  uniqueWord, apiSession, delay, PASSWORD, TIMEOUT,
} from './support.mjs';

const WORD = uniqueWord('all');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENTS = ['a', 'b', 'c'].map((x, i) => ({
  username: `b${x}_${WORD}`, role: 'patient', display_name: `${['Ann', 'Bea', 'Cy'][i]} ${NAME}`,
}));
const CLINICIAN = { username: `db_${WORD}`, role: 'clinician', display_name: `Dr. Bo ${NAME}` };
const LONELY = { username: `dl_${WORD}`, role: 'clinician', display_name: `Dr. Lee ${NAME}` };
const BROADCAST = /\/api\/clinician\/messages\/broadcast$/;
const FIRST = { subject: `Clinic closed on Friday ${WORD}`, message: `The clinic is closed this Friday. (${WORD})` };
const SECOND = { subject: `Group session ${WORD}`, message: `The group session moves to 5 pm. (${WORD})` };

/** How many messages with `content` each patient has from the clinician (waiting for the read side). */
async function receivedCounts(content, expected) {
  const deadline = Date.now() + TIMEOUT;
  let counts;
  for (;;) {
    counts = [];
    for (const patient of PATIENTS) {
      const session = await apiSession(patient.username);
      const answer = await session.call('GET', `/api/messages/conversation/${CLINICIAN.username}`, undefined, 200);
      counts.push((await answer.json()).messages.filter((m) => m.content === content).length);
    }
    if (JSON.stringify(counts) === JSON.stringify(expected) || Date.now() > deadline) break;
    await delay(500);
  }
  return counts;
}

async function write(page, { subject, message }) {
  await byTestId(page, 'broadcast-subject').fill(subject);
  await byTestId(page, 'broadcast-message').fill(message);
}

describe('Broadcast to all patients', () => {
  useBrowser();

  step('an administrator adds a clinician with three approved patients, and one without', async () => {
    const admin = await apiSession('admin');
    for (const user of [...PATIENTS, CLINICIAN, LONELY]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    for (const patient of PATIENTS) {
      await admin.call('PUT', '/api/admin/patient-approvals',
        { clinician: CLINICIAN.username, patient: patient.username, status: 'approved' }, 200);
    }
  });

  step('the clinician writes in "Message all" and is asked: "This will send to 3 patients"', async () => {
    const page = await newUserPage('clinician');
    await login(page, CLINICIAN.username);
    await byTestId(page, 'tab-broadcast').click();
    assert.equal(new URL(page.url()).hash, '#/broadcast');
    for (const id of ['broadcast-subject', 'broadcast-message']) {
      const label = await page.locator(`label[for="${await byTestId(page, id).getAttribute('id')}"]`).innerText();
      assert.ok(label.trim(), `${id} has a label`);
    }
    const sends = [];
    page.on('request', (req) => { if (BROADCAST.test(req.url())) sends.push(req); });
    await write(page, FIRST);
    const counted = page.waitForRequest((req) => req.url().endsWith('/api/clinician/patients'));
    await byTestId(page, 'broadcast-review').click();
    await counted;
    const question = byTestId(page, 'broadcast-confirm-text');
    await question.waitFor();
    assert.equal(await question.innerText(), 'This will send to 3 patients.');
    assert.equal((await focused(page)).testid, 'broadcast-confirm-text', 'the question takes focus');
    assert.equal(await byTestId(page, 'broadcast-confirm').getAttribute('role'), 'group');
    assert.equal(await byTestId(page, 'broadcast-send').innerText(), 'Send to 3 patients');
    assert.equal(await byTestId(page, 'broadcast-message').isDisabled(), true, 'the text is fixed while confirming');
    assert.equal(sends.length, 0, 'nothing is sent before the confirmation');
    await screenshot(page, 'broadcast-confirm');

    await byTestId(page, 'broadcast-back').click();
    assert.equal(await byTestId(page, 'broadcast-confirm').isVisible(), false);
    assert.equal((await focused(page)).testid, 'broadcast-message');
    assert.equal(await byTestId(page, 'broadcast-message').inputValue(), FIRST.message, 'going back keeps the text');
    assert.equal(sends.length, 0);
  });

  step('she confirms: one request with a fresh Idempotency-Key; the result says 3 patients', async () => {
    const page = pages.clinician;
    await byTestId(page, 'broadcast-review').click();
    await byTestId(page, 'broadcast-send').waitFor();
    const sent = page.waitForRequest((req) => BROADCAST.test(req.url()));
    await byTestId(page, 'broadcast-send').click();
    const request = await sent;
    assert.ok(request.headers()['x-csrf-token'], 'the CSRF header is sent');
    assert.match(request.headers()['idempotency-key'] || '', /^[\x21-\x7e]{1,128}$/, 'an Idempotency-Key');
    assert.deepEqual(request.postDataJSON(), FIRST);
    const result = byTestId(page, 'broadcast-result');
    await result.waitFor();
    assert.equal(await result.innerText(), 'Your message was sent to 3 patients.');
    assert.equal(await result.getAttribute('data-recipients'), '3');
    assert.equal((await focused(page)).testid, 'broadcast-result');
    assert.equal(await byTestId(page, 'broadcast-message').inputValue(), '', 'the form is empty again');
    assert.deepEqual(await receivedCounts(FIRST.message, [1, 1, 1]), [1, 1, 1], 'each patient has it once');
    await screenshot(page, 'broadcast-sent');
  });

  step('when the answer is lost, "Try again" repeats the same key and nobody gets it twice', async () => {
    const page = pages.clinician;
    const keys = [];
    let lost = false;
    await page.route(BROADCAST, async (route) => {
      keys.push(route.request().headers()['idempotency-key']);
      if (lost) return route.continue();
      lost = true;
      await route.fetch(); // the server sends it; the answer never reaches the page
      return route.fulfill({ status: 503, json: { error: { code: 'unavailable', message: 'lost' } } });
    });
    try {
      await write(page, SECOND);
      await byTestId(page, 'broadcast-review').click();
      await byTestId(page, 'broadcast-send').click();
      const { code } = await errorBanner(page);
      assert.equal(code, 'unavailable');
      assert.equal((await focused(page)).testid, 'error-banner');
      assert.equal(await byTestId(page, 'broadcast-send').innerText(), 'Try again');
      await byTestId(page, 'broadcast-send').click();
      await byTestId(page, 'broadcast-result').filter({ hasText: 'Your message was sent to 3 patients.' }).waitFor();
    } finally {
      await page.unroute(BROADCAST);
    }
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], 'the retry carries the same Idempotency-Key');
    assert.deepEqual(await receivedCounts(SECOND.message, [1, 1, 1]), [1, 1, 1], 'sent once to each');

    // A new submission gets a new key.
    const next = page.waitForRequest((req) => BROADCAST.test(req.url()));
    await write(page, { subject: '', message: `One more note (${WORD})` });
    await byTestId(page, 'broadcast-review').click();
    await byTestId(page, 'broadcast-send').click();
    assert.notEqual((await next).headers()['idempotency-key'], keys[0], 'a new message, a new key');
    await byTestId(page, 'broadcast-result').filter({ hasText: 'sent to 3 patients' }).waitFor();
  });

  step('invalid input (a blank message) is told in the banner and takes focus', async () => {
    const page = pages.clinician;
    await write(page, { subject: '', message: '   ' });
    await byTestId(page, 'broadcast-review').click();
    await byTestId(page, 'broadcast-send').click();
    const { code, text, times } = await errorBanner(page);
    assert.equal(code, 'invalid_input');
    assert.match(text, /Nothing was sent\. Please check your message and try again\.$/);
    assert.equal(times, 1);
    assert.equal((await focused(page)).testid, 'error-banner');
  });

  step('a clinician without patients is told there is nobody to send to', async () => {
    const page = await newUserPage('lonely');
    await login(page, LONELY.username);
    await byTestId(page, 'tab-broadcast').click();
    await write(page, { subject: '', message: `Hello all (${WORD})` });
    await byTestId(page, 'broadcast-review').click();
    const question = byTestId(page, 'broadcast-confirm-text');
    await question.waitFor();
    assert.equal(await question.innerText(), 'You have no approved patients yet, so there is nobody to send this to.');
    assert.equal(await byTestId(page, 'broadcast-send').isVisible(), false, 'nothing to confirm');
    await byTestId(page, 'broadcast-back').click();
  });

  step('over 500 patients, the page says it cannot be sent (the API would refuse it)', async () => {
    const page = pages.lonely;
    const PATIENTS_API = /\/api\/clinician\/patients$/;
    const many = Array.from({ length: 501 }, (_, i) => ({
      username: `p${i}`, display_name: `P ${i}`, unread_count: 0, last_message_at: null,
    }));
    await page.route(PATIENTS_API, (route) => route.fulfill({ json: { patients: many } }));
    try {
      await byTestId(page, 'broadcast-review').click();
      await byTestId(page, 'broadcast-confirm-text').filter({ hasText: 'You have 501 patients: a message to all can go to at most 500, so this cannot be sent.' }).waitFor();
      assert.equal(await byTestId(page, 'broadcast-send').isVisible(), false);
      await byTestId(page, 'broadcast-back').click();
    } finally {
      await page.unroute(PATIENTS_API);
    }
  });

  step('a patient has no "Message all" tab', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENTS[0].username);
    await byTestId(page, 'tab-inbox').waitFor();
    assert.equal(await byTestId(page, 'tab-broadcast').count(), 0);
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
