// Clinician templates (GET/POST /api/messages/templates, PUT/DELETE /api/messages/templates/{id})
// against a running gateway: a clinician writes a template in "Templates", changes it, picks it in
// "New message" (it fills the subject and message) and sends; deletes it after a confirmation;
// invalid input and the 200-template limit are told in the error banner, which takes focus.
// A patient has neither the tab nor the picker.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/templates.test.mjs
//
// Needs the demo admin (password `healing-demo`). The admin adds a clinician and a patient approved
// for them, with names unique to the run (through POST /api/admin/users), so reruns work.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, errorBanner, focused, pages, problems,
  uniqueWord, apiSession, delay, PASSWORD, TIMEOUT,
} from './support.mjs';

const WORD = uniqueWord('tmpl');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT = { username: `tp_${WORD}`, role: 'patient', display_name: `Pia ${NAME}` };
const CLINICIAN = { username: `dm_${WORD}`, role: 'clinician', display_name: `Dr. Mira ${NAME}` };
const FIRST = { title: `Check-in ${WORD}`, subject: `Weekly check-in ${WORD}`, content: `How did this week go? (${WORD})` };
const CHANGED = { title: `After session ${WORD}`, subject: `After our session ${WORD}`, content: `Thank you for today.\nHow do you feel now? (${WORD})` };

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

const item = (page, title) => page.locator('[data-testid="template-item"]').filter({
  has: page.locator('[data-testid="template-item-title"]', { hasText: title }),
});
const titles = (page) => page.locator('[data-testid="template-item-title"]').allInnerTexts();

/** Waits until the templates list is loaded (not busy). */
async function listReady(page) {
  await page.locator('[data-testid="templates-list"]:not([aria-busy])').waitFor({ state: 'attached' });
}

async function fillTemplate(page, { title, subject, content }) {
  await byTestId(page, 'template-title').fill(title);
  await byTestId(page, 'template-subject').fill(subject);
  await byTestId(page, 'template-content').fill(content);
}

describe('Clinician templates', () => {
  useBrowser();
  let clinicianApi;

  step('an administrator adds a clinician with an approved patient', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT, CLINICIAN]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    await admin.call('PUT', '/api/admin/patient-approvals',
      { clinician: CLINICIAN.username, patient: PATIENT.username, status: 'approved' }, 200);
    clinicianApi = await apiSession(CLINICIAN.username);
  });

  step('the clinician opens Templates from the navigation: none yet', async () => {
    const page = await newUserPage('clinician');
    await login(page, CLINICIAN.username);
    await byTestId(page, 'tab-templates').click();
    assert.equal(new URL(page.url()).hash, '#/templates');
    assert.equal(await byTestId(page, 'tab-templates').getAttribute('aria-current'), 'page');
    await byTestId(page, 'templates-empty').waitFor();
    await listReady(page);
    assert.equal(await byTestId(page, 'templates-count').innerText(), '0 of 200 templates');
    assert.equal((await focused(page)).testid, 'h1', 'the heading has focus');
    for (const id of ['template-title', 'template-subject', 'template-content']) {
      const label = await page.locator(`label[for="${await byTestId(page, id).getAttribute('id')}"]`).innerText();
      assert.ok(label.trim(), `${id} has a label`);
    }
  });

  step('she saves a template, and it is listed', async () => {
    const page = pages.clinician;
    const created = page.waitForRequest((req) => req.method() === 'POST' && req.url().endsWith('/api/messages/templates'));
    await fillTemplate(page, FIRST);
    await byTestId(page, 'template-save').click();
    const request = await created;
    assert.ok(request.headers()['x-csrf-token'], 'the CSRF header is sent');
    assert.ok(request.headers()['idempotency-key'], 'an Idempotency-Key, so a retry saves it once');
    assert.deepEqual(request.postDataJSON(), FIRST);
    await byTestId(page, 'template-status').filter({ hasText: `Template “${FIRST.title}” saved.` }).waitFor();
    await item(page, FIRST.title).waitFor();
    assert.equal(await byTestId(page, 'templates-empty').isVisible(), false);
    assert.equal(await byTestId(page, 'templates-count').innerText(), '1 of 200 templates');
    assert.match(await item(page, FIRST.title).innerText(), new RegExp(FIRST.subject));
    assert.equal(await byTestId(page, 'template-title').inputValue(), '', 'the form is ready for the next one');
    assert.equal((await focused(page)).testid, 'template-title');
    await screenshot(page, 'templates-saved');
  });

  step('she changes it with Edit (PUT) and the list shows the new title', async () => {
    const page = pages.clinician;
    await item(page, FIRST.title).getByTestId('template-edit').click();
    assert.equal((await focused(page)).testid, 'template-title');
    assert.equal(await byTestId(page, 'template-title').inputValue(), FIRST.title);
    assert.equal(await byTestId(page, 'template-content').inputValue(), FIRST.content);
    assert.match(await byTestId(page, 'template-form-title').innerText(), /^Edit template/);
    const put = page.waitForRequest((req) => req.method() === 'PUT' && /\/api\/messages\/templates\/[^/]+$/.test(req.url()));
    await fillTemplate(page, CHANGED);
    await byTestId(page, 'template-save').click();
    await put;
    await byTestId(page, 'template-status').filter({ hasText: `Template “${CHANGED.title}” changed.` }).waitFor();
    await item(page, CHANGED.title).waitFor();
    assert.deepEqual(await titles(page), [CHANGED.title]);
    assert.equal(await byTestId(page, 'template-form-title').innerText(), 'New template');
    assert.equal((await focused(page)).testid, 'template-edit', 'focus returns to the changed template');
    await readUntil(clinicianApi, '/api/messages/templates',
      ({ templates }) => templates.length === 1 && templates[0].content === CHANGED.content, 'the server has the change');
  });

  step('in New message she picks the template: it fills subject and message, and she sends', async () => {
    const page = pages.clinician;
    await byTestId(page, 'tab-new').click();
    const picker = byTestId(page, 'compose-template');
    await page.locator('[data-testid="compose-template"]:not([aria-busy])').waitFor();
    const options = await picker.locator('option').allInnerTexts();
    assert.deepEqual(options, ['Choose a template', CHANGED.title]);
    const label = await page.locator('label[for="compose-template"]').innerText();
    assert.match(label, /template/i);
    await picker.selectOption({ label: CHANGED.title });
    await byTestId(page, 'compose-template-use').click();
    assert.equal(await byTestId(page, 'compose-subject').inputValue(), CHANGED.subject);
    assert.equal(await byTestId(page, 'compose-content').inputValue(), CHANGED.content);
    assert.equal((await focused(page)).testid, 'compose-content', 'focus moves to the message to edit it');
    await screenshot(page, 'templates-in-compose');
    await byTestId(page, 'compose-recipient').fill(PATIENT.username);
    await byTestId(page, 'compose-send').click();
    await byTestId(page, 'compose-status').filter({ hasText: `Message sent to ${PATIENT.username}` }).waitFor();
    await readUntil(clinicianApi, `/api/messages/conversation/${PATIENT.username}`,
      ({ messages }) => messages.some((m) => m.subject === CHANGED.subject && m.content === CHANGED.content), 'the template was sent');
  });

  step('invalid input (a blank title) is told in the banner, with the field named', async () => {
    const page = pages.clinician;
    await byTestId(page, 'compose-template-manage').click();
    await listReady(page);
    await fillTemplate(page, { title: '   ', subject: '', content: 'Something' });
    await byTestId(page, 'template-save').click();
    const { code, text, times } = await errorBanner(page);
    assert.equal(code, 'invalid_input');
    assert.match(text, /title/i, 'the server names the field');
    assert.match(text, /Please change the template and try again\.$/);
    assert.equal(times, 1);
    assert.equal((await focused(page)).testid, 'error-banner');
  });

  step('she deletes it after confirming; the list is empty again', async () => {
    const page = pages.clinician;
    const row = item(page, CHANGED.title);
    await row.getByTestId('template-delete').click();
    assert.equal((await focused(page)).testid, 'template-confirm-delete');
    await row.getByTestId('template-keep').click();
    assert.equal((await focused(page)).testid, 'template-delete', 'Keep goes back');
    await row.getByTestId('template-delete').click();
    const deleted = page.waitForResponse((res) => res.request().method() === 'DELETE' && res.url().includes('/api/messages/templates/'));
    await byTestId(page, 'template-confirm-delete').click();
    assert.equal((await deleted).status(), 204);
    await byTestId(page, 'templates-empty').waitFor();
    assert.equal(await byTestId(page, 'templates-count').innerText(), '0 of 200 templates');
    assert.equal((await focused(page)).testid, 'h1');
  });

  step('at 200 templates, one more is refused (409) and told in words', async () => {
    const page = pages.clinician;
    for (let i = 0; i < 200; i += 1) {
      let answer = await clinicianApi.fetch('POST', '/api/messages/templates', { title: `Bulk ${String(i).padStart(3, '0')} ${WORD}`, content: `Bulk ${i}` });
      while (answer.status() === 429) {
        await delay(1_000);
        answer = await clinicianApi.fetch('POST', '/api/messages/templates', { title: `Bulk ${String(i).padStart(3, '0')} ${WORD}`, content: `Bulk ${i}` });
      }
      assert.equal(answer.status(), 201, `template ${i}: ${await answer.text()}`);
    }
    await readUntil(clinicianApi, '/api/messages/templates', ({ templates }) => templates.length === 200, '200 templates listed');
    await byTestId(page, 'tab-templates').click();
    await byTestId(page, 'templates-count').filter({ hasText: '200 of 200 templates' }).waitFor({ timeout: TIMEOUT });
    await fillTemplate(page, { title: `One too many ${WORD}`, subject: '', content: 'Over the limit' });
    await byTestId(page, 'template-save').click();
    const { code, text, times } = await errorBanner(page);
    assert.equal(code, 'conflict');
    assert.equal(text, 'You have reached the limit of 200 templates. Please delete one you no longer need, then try again.');
    assert.equal(times, 1);
    assert.equal((await focused(page)).testid, 'error-banner');
    assert.equal(await byTestId(page, 'template-title').inputValue(), `One too many ${WORD}`, 'what she wrote is kept');
    await screenshot(page, 'templates-limit');
  });

  step('a patient has no Templates tab and no template picker', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENT.username);
    await byTestId(page, 'tab-inbox').waitFor();
    assert.equal(await byTestId(page, 'tab-templates').count(), 0);
    await byTestId(page, 'tab-new').click();
    await byTestId(page, 'compose-content').waitFor();
    assert.equal(await byTestId(page, 'compose-template').count(), 0);
    await page.goto('/#/templates');
    await byTestId(page, 'tab-inbox').waitFor();
    assert.equal(await byTestId(page, 'templates-list').count(), 0, 'no templates view by its route either');
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
