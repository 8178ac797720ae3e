// Recipient suggestions in the new-message form (GET /api/messages/search-recipients) against a
// running gateway: a clinician finds a colleague by part of their display name, picks them with
// the keyboard and sends; the list is an accessible combobox; stale or failed lookups change
// nothing; a patient is offered their approved clinician but never a patient they have not talked
// to, and is offered that patient once the two have a conversation.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/compose.test.mjs
//
// Needs the demo users (password `healing-demo`): admin, dr_carol, dr_dave (clinicians). The
// admin adds a patient, another patient and a clinician approved for the first, with names unique
// to the run (through POST /api/admin/users), so reruns against the same database work.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, eventually, step, byTestId, focused, pages, problems,
  uniqueWord, apiSession, delay, PASSWORD,
} from './support.mjs';

const WORD = uniqueWord('kind'); // letters only: one word, unique to the run
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT = { username: `pa_${WORD}`, role: 'patient', display_name: `Paula ${NAME}` };
const STRANGER = { username: `pq_${WORD}`, role: 'patient', display_name: `Quinn ${NAME}` };
const CLINICIAN = { username: `dr_${WORD}`, role: 'clinician', display_name: `Dr. Rowan ${NAME}` };
const SUGGESTIONS = /\/api\/messages\/search-recipients\?/;

const recipientField = (page) => byTestId(page, 'compose-recipient');
const option = (page, username) => page.locator(`[data-testid="recipient-option"][data-username="${username}"]`);
const shownUsernames = (page) => page.locator('[data-testid="recipient-option"]')
  .evaluateAll((els) => els.map((el) => el.dataset.username));

/** Counts the page's suggestion requests (their `q`) from now on. */
function watchLookups(page) {
  const seen = [];
  const onRequest = (req) => {
    const url = new URL(req.url());
    if (url.pathname === '/api/messages/search-recipients') seen.push(url.searchParams.get('q'));
  };
  page.on('request', onRequest);
  return { seen, stop: () => page.off('request', onRequest) };
}

/** Types `text` into an emptied recipient field, key by key, as a person would. */
async function typeRecipient(page, text) {
  const field = recipientField(page);
  await field.fill('');
  await field.pressSequentially(text);
}

describe('Recipient suggestions in the new-message form', () => {
  useBrowser();

  step('an administrator adds two patients and a clinician approved for the first', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT, STRANGER, CLINICIAN]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    await admin.call('PUT', '/api/admin/patient-approvals',
      { clinician: CLINICIAN.username, patient: PATIENT.username, status: 'approved' }, 200);
  });

  step("dr_carol types part of a colleague's display name and sees them suggested", async () => {
    const carol = await newUserPage('dr_carol');
    await login(carol, 'dr_carol');
    await byTestId(carol, 'tab-new').click();
    const field = recipientField(carol);
    assert.equal(await field.getAttribute('role'), 'combobox');
    assert.equal(await field.getAttribute('aria-expanded'), 'false');
    assert.equal(await field.getAttribute('aria-activedescendant'), null);

    const lookups = watchLookups(carol);
    await typeRecipient(carol, 'Dave');
    const dave = option(carol, 'dr_dave');
    await dave.waitFor();
    lookups.stop();
    assert.ok(lookups.seen.length >= 1 && lookups.seen.length < 4, `debounced: 4 keys, lookups ${JSON.stringify(lookups.seen)}`);
    assert.equal(lookups.seen.at(-1), 'Dave');

    const list = byTestId(carol, 'recipient-suggestions');
    assert.equal(await list.getAttribute('role'), 'listbox');
    assert.equal(await field.getAttribute('aria-controls'), await list.getAttribute('id'));
    assert.equal(await field.getAttribute('aria-expanded'), 'true');
    assert.equal(await dave.getAttribute('role'), 'option');
    assert.match(await dave.innerText(), /Dave/, 'the display name');
    assert.equal(await dave.getByTestId('recipient-option-username').innerText(), '@dr_dave');
    assert.equal(await dave.getByTestId('recipient-option-role').innerText(), 'Clinician');
    assert.equal((await focused(carol)).testid, 'compose-recipient', 'focus stays in the field');
    await screenshot(carol, 'compose-suggestions');
  });

  step('she picks the colleague with the keyboard and sends the message', async () => {
    const carol = pages.dr_carol;
    const field = recipientField(carol);
    const usernames = await shownUsernames(carol);
    const index = usernames.indexOf('dr_dave');
    assert.ok(index >= 0, `dr_dave among ${usernames}`);
    for (let i = 0; i <= index; i += 1) await field.press('ArrowDown');
    const dave = option(carol, 'dr_dave');
    assert.equal(await field.getAttribute('aria-activedescendant'), await dave.getAttribute('id'));
    assert.equal(await dave.getAttribute('aria-selected'), 'true');
    await screenshot(carol, 'compose-suggestion-active');
    await field.press('Enter');
    assert.equal(await field.inputValue(), 'dr_dave');
    assert.equal(await field.getAttribute('aria-expanded'), 'false');
    assert.equal(await field.getAttribute('aria-activedescendant'), null);
    assert.equal(await byTestId(carol, 'recipient-suggestions').isVisible(), false);
    assert.equal(await byTestId(carol, 'compose-status').innerText(), '', 'Enter picked, it did not send');

    await byTestId(carol, 'compose-subject').fill(`Case conference ${WORD}`);
    await byTestId(carol, 'compose-content').fill(`Dave, could we talk about the ${WORD} plan on Friday?`);
    await byTestId(carol, 'compose-send').click();
    await byTestId(carol, 'compose-status').filter({ hasText: 'Message sent to dr_dave' }).waitFor();
    assert.equal(await byTestId(carol, 'error-banner').isVisible(), false);
  });

  step('Escape closes the list, ArrowDown opens it again and a click picks', async () => {
    const carol = pages.dr_carol;
    const field = recipientField(carol);
    await typeRecipient(carol, 'dave');
    const dave = option(carol, 'dr_dave');
    await dave.waitFor();
    await field.press('Escape');
    await byTestId(carol, 'recipient-suggestions').waitFor({ state: 'hidden' });
    assert.equal(await field.getAttribute('aria-expanded'), 'false');
    assert.equal(await field.inputValue(), 'dave', 'Escape keeps what was typed');
    await field.press('ArrowDown');
    await dave.waitFor();
    assert.equal(await field.getAttribute('aria-activedescendant'), await option(carol, (await shownUsernames(carol))[0]).getAttribute('id'));
    await dave.click();
    assert.equal(await field.inputValue(), 'dr_dave');
    await byTestId(carol, 'recipient-suggestions').waitFor({ state: 'hidden' });
    assert.equal((await focused(carol)).testid, 'compose-recipient', 'focus stays in the field');
  });

  step('the list fits a 375 px screen', async () => {
    const carol = pages.dr_carol;
    await carol.setViewportSize({ width: 375, height: 780 });
    try {
      await typeRecipient(carol, 'Dave');
      await option(carol, 'dr_dave').waitFor();
      const overflow = await carol.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling at 375 px (overflow ${overflow} px)`);
      await screenshot(carol, 'compose-suggestions-375');
      await recipientField(carol).press('Escape');
    } finally {
      await carol.setViewportSize({ width: 1100, height: 820 });
    }
  });

  step('nothing is asked for a blank text or one over 64 characters', async () => {
    const carol = pages.dr_carol;
    const lookups = watchLookups(carol);
    await recipientField(carol).fill('   ');
    await recipientField(carol).evaluate((el) => {
      el.value = 'a'.repeat(65);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await delay(600);
    lookups.stop();
    assert.deepEqual(lookups.seen, []);
    assert.equal(await byTestId(carol, 'recipient-suggestions').isVisible(), false);
  });

  step('a late answer to an older text never replaces the newer one', async () => {
    const carol = pages.dr_carol;
    let staleServed;
    const stale = new Promise((resolve) => { staleServed = resolve; });
    await carol.route(SUGGESTIONS, async (route) => {
      if (new URL(route.request().url()).searchParams.get('q') !== 'Da') return route.continue();
      await delay(1_500);
      await route.fulfill({ json: { users: [{ username: 'stale_answer', display_name: 'Stale Answer', role: 'clinician' }] } });
      return staleServed();
    });
    try {
      const asked = carol.waitForRequest((req) => new URL(req.url()).searchParams.get('q') === 'Da');
      await recipientField(carol).fill('Da');
      await asked;
      await recipientField(carol).fill('Dave');
      await option(carol, 'dr_dave').waitFor();
      await stale;
      await delay(300);
      assert.equal(await option(carol, 'stale_answer').count(), 0, 'the older answer was dropped');
      await option(carol, 'dr_dave').waitFor();
    } finally {
      await carol.unroute(SUGGESTIONS);
    }
  });

  step('when the lookup fails, the field works silently and a typed username sends', async () => {
    const carol = pages.dr_carol;
    await carol.route(SUGGESTIONS, (route) => route.fulfill({
      status: 503, json: { error: { code: 'unavailable', message: 'busy' } },
    }));
    try {
      const failed = carol.waitForResponse((res) => res.url().includes('/api/messages/search-recipients'));
      await typeRecipient(carol, 'dr_dave');
      await failed;
      await delay(300);
      assert.equal(await byTestId(carol, 'error-banner').isVisible(), false, 'no error banner for a suggestion');
      assert.equal(await byTestId(carol, 'recipient-suggestions').isVisible(), false);
      await byTestId(carol, 'compose-content').fill(`Typed by hand (${WORD}).`);
      await byTestId(carol, 'compose-send').click();
      await byTestId(carol, 'compose-status').filter({ hasText: 'Message sent to dr_dave' }).waitFor();
    } finally {
      await carol.unroute(SUGGESTIONS);
    }
  });

  step('a patient is offered their approved clinician, never a patient they have not talked to', async () => {
    const patient = await newUserPage('patient');
    await login(patient, PATIENT.username);
    await byTestId(patient, 'tab-new').click();
    // The run's word is in the clinician's and in the other patient's display name.
    await typeRecipient(patient, WORD);
    const clinician = option(patient, CLINICIAN.username);
    await clinician.waitFor();
    assert.equal(await clinician.getByTestId('recipient-option-role').innerText(), 'Clinician');
    assert.deepEqual(await shownUsernames(patient), [CLINICIAN.username], 'neither the other patient nor oneself');
    await screenshot(patient, 'compose-suggestions-patient');

    // The other patient by first name and by username: no suggestion at all.
    for (const text of ['Quinn', STRANGER.username]) {
      const answer = patient.waitForResponse((res) => new URL(res.url()).searchParams.get('q') === text);
      await typeRecipient(patient, text);
      const { users } = await (await answer).json();
      assert.deepEqual(users, [], `nobody for "${text}"`);
      await delay(200);
      assert.equal(await byTestId(patient, 'recipient-suggestions').isVisible(), false);
      assert.equal(await recipientField(patient).getAttribute('aria-expanded'), 'false');
    }
  });

  step('once the other patient has written to them, that patient is offered, and a click picks them', async () => {
    const stranger = await apiSession(STRANGER.username);
    await stranger.call('POST', '/api/messages/send',
      { recipient: PATIENT.username, subject: `Hello ${WORD}`, content: `Hi Paula, we met at the ${WORD} group.` }, 201);
    const patient = pages.patient;
    const other = option(patient, STRANGER.username);
    // The conversation reaches the patient's read side eventually (their own token does not cover it).
    await eventually(() => typeRecipient(patient, 'Quinn'), other, 'the other patient among the suggestions');
    assert.equal(await other.getByTestId('recipient-option-role').innerText(), 'Patient');
    await other.click();
    assert.equal(await recipientField(patient).inputValue(), STRANGER.username);
    await byTestId(patient, 'compose-content').fill(`Hi Quinn, nice to hear from you (${WORD}).`);
    await byTestId(patient, 'compose-send').click();
    await byTestId(patient, 'compose-status').filter({ hasText: `Message sent to ${STRANGER.username}` }).waitFor();
    assert.equal(await byTestId(patient, 'error-banner').isVisible(), false);
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
