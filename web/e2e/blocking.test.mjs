// Blocking (API.md, "Patient controls") against a running gateway: a patient blocks another
// patient from their conversation, after a confirmation that says what it does (Cancel first puts
// focus back on "Block"); the conversation then says so, offers "Unblock" and no reply form, and
// the server refuses messages both ways. Privacy lists the blocked person; "Unblock" there lets
// them write again. Blocking one's own clinician is refused (403) and said in words.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/blocking.test.mjs
//
// Needs the demo admin (password `healing-demo`), who adds the users of the run (unique names).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, dialogOf, closeThread, pages, problems,
  uniqueWord, apiSession, eventually, errorBanner, focused, PASSWORD,
} from './support.mjs';

const WORD = uniqueWord('block');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT = { username: `bp_${WORD}`, role: 'patient', display_name: `Pia ${NAME}` };
const OTHER = { username: `bo_${WORD}`, role: 'patient', display_name: `Olaf ${NAME}` };
const CLINICIAN = { username: `bd_${WORD}`, role: 'clinician', display_name: `Dr. Bea ${NAME}` };

const row = (page, username) => page.locator(`[data-testid="conversation-item"][data-with="${username}"]`);

/** Opens the conversation with `username` from the inbox (waiting for the read side to show it). */
async function openFromInbox(page, username) {
  await closeThread(page);
  await eventually(() => byTestId(page, 'tab-inbox').click(), row(page, username), `conversation with ${username}`);
  await row(page, username).click();
  const dialog = page.locator(`dialog[data-testid="thread-dialog"][data-with="${username}"]`);
  await dialog.locator('[data-testid="thread-message"]').first().waitFor();
  return dialog;
}

describe('Blocking', () => {
  useBrowser();
  const sessions = {};

  step('an administrator adds two patients and a clinician approved for the first', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT, OTHER, CLINICIAN]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    await admin.call('PUT', '/api/admin/patient-approvals',
      { clinician: CLINICIAN.username, patient: PATIENT.username, status: 'approved' }, 200);
    for (const user of [PATIENT, OTHER, CLINICIAN]) sessions[user.username] = await apiSession(user.username);
    await sessions[OTHER.username].call('POST', '/api/messages/send',
      { recipient: PATIENT.username, subject: `Hello ${WORD}`, content: `Hi, it is Olaf (${WORD}).` }, 201);
    await sessions[CLINICIAN.username].call('POST', '/api/clinician/message',
      { recipient_username: PATIENT.username, subject: `Check-in ${WORD}`, message: `How are you? (${WORD})` }, 201);
  });

  step('the patient opens the conversation and chooses Block: a confirmation says what it does; Cancel keeps things', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENT.username);
    const dialog = await openFromInbox(page, OTHER.username);
    const block = dialog.getByTestId('thread-block');
    assert.equal(await block.innerText(), 'Block');
    assert.equal(await block.getAttribute('aria-label'), `Block ${OTHER.display_name}`);
    assert.equal(await dialog.getByTestId('thread-blocked-note').isVisible(), false);
    await block.click();

    const confirm = dialog.getByTestId('block-confirm');
    await confirm.waitFor();
    assert.equal(await confirm.getAttribute('role'), 'group');
    assert.equal(await dialog.getByTestId('block-question').innerText(), `Block ${OTHER.display_name}?`);
    const effect = await dialog.getByTestId('block-effect').innerText();
    assert.match(effect, /Neither of you will be able to send messages to the other/);
    assert.match(effect, /not told that you blocked them/);
    assert.match(effect, /unblock them at any time/);
    assert.equal((await focused(page)).testid, 'block-question', 'focus moves to the question');
    await screenshot(page, 'blocking-confirm');

    await dialog.getByTestId('cancel-block').click();
    await confirm.waitFor({ state: 'hidden' });
    assert.equal((await focused(page)).testid, 'thread-block', 'Cancel puts focus back on Block');
    assert.equal(await dialog.getAttribute('data-blocked'), 'false');
  });

  step('confirming blocks: the conversation says so, offers Unblock and no reply form', async () => {
    const page = pages.patient;
    const dialog = dialogOf(page);
    await dialog.getByTestId('thread-block').click();
    await dialog.getByTestId('confirm-block').click();
    const note = dialog.getByTestId('thread-blocked-note');
    await note.waitFor();
    assert.match(await note.innerText(), new RegExp(`Blocked\\s+You have blocked ${OTHER.display_name}\\. Neither of you can send messages to the other`));
    assert.equal((await focused(page)).testid, 'thread-blocked-note', 'focus moves to what happened');
    assert.equal(await dialog.getByTestId('thread-block').innerText(), 'Unblock');
    assert.equal(await dialog.getByTestId('reply-content').isVisible(), false, 'no reply form while blocked');
    assert.equal(await dialog.getAttribute('data-blocked'), 'true');
    await screenshot(page, 'blocking-blocked');
  });

  step('the server refuses messages both ways while the block stands', async () => {
    const fromOther = await sessions[OTHER.username].fetch('POST', '/api/messages/send',
      { recipient: PATIENT.username, content: `Are you there? (${WORD})` });
    assert.equal(fromOther.status(), 403);
    const toOther = await sessions[PATIENT.username].fetch('POST', '/api/messages/send',
      { recipient: OTHER.username, content: `Blocked message (${WORD})` });
    assert.equal(toOther.status(), 403);
  });

  step('opened again, the conversation still shows the block', async () => {
    const page = pages.patient;
    const dialog = await openFromInbox(page, OTHER.username);
    await dialog.getByTestId('thread-blocked-note').waitFor();
    assert.equal(await dialog.getByTestId('thread-block').innerText(), 'Unblock');
    await closeThread(page);
  });

  step('Privacy lists the blocked person; Unblock there lets them write again', async () => {
    const page = pages.patient;
    await byTestId(page, 'tab-privacy').click();
    assert.equal(new URL(page.url()).hash, '#/privacy');
    const item = page.locator(`[data-testid="blocked-item"][data-username="${OTHER.username}"]`);
    await item.waitFor();
    assert.match(await item.innerText(), new RegExp(`${OTHER.display_name}\\s+@${OTHER.username}\\s+Blocked `));
    assert.equal(await byTestId(page, 'blocked-empty').isVisible(), false);
    const unblock = item.getByTestId('unblock');
    assert.equal(await unblock.getAttribute('aria-label'), `Unblock ${OTHER.display_name}`);
    await screenshot(page, 'blocking-privacy');
    await unblock.click();
    await item.waitFor({ state: 'detached' });
    await byTestId(page, 'blocked-empty').waitFor();
    assert.equal(await byTestId(page, 'blocked-empty').innerText(), 'You have not blocked anyone.');
    assert.equal((await focused(page)).testid, 'h2', 'focus goes to the section heading when the list is empty');
    await sessions[OTHER.username].call('POST', '/api/messages/send',
      { recipient: PATIENT.username, content: `Hello again (${WORD})` }, 201);
  });

  step('blocking one\'s own clinician is refused, in words, and nothing changes', async () => {
    const page = pages.patient;
    const dialog = await openFromInbox(page, CLINICIAN.username);
    await dialog.getByTestId('thread-block').click();
    await dialog.getByTestId('confirm-block').click();
    const { code, text, times } = await errorBanner(page);
    assert.equal(code, 'forbidden');
    assert.match(text, /^You can't block a member of your care team/);
    assert.equal(times, 1, 'said once');
    assert.equal((await focused(page)).testid, 'error-banner', 'focus moves to the explanation');
    assert.equal((await focused(page)).inDialog, true, 'the banner is inside the open dialog');
    assert.equal(await dialog.getByTestId('block-confirm').isVisible(), false);
    assert.equal(await dialog.getByTestId('thread-block').innerText(), 'Block');
    assert.equal(await dialog.getByTestId('thread-blocked-note').isVisible(), false);
    assert.equal(await dialog.getByTestId('reply-content').isVisible(), true, 'the reply form stays');
    await screenshot(page, 'blocking-care-team');
    const blocked = await (await sessions[PATIENT.username].call('GET', '/api/messages/blocked', undefined, 200)).json();
    assert.deepEqual(blocked.blocked, []);
    await closeThread(page);
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
