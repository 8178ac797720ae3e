// Erasure and legal holds (issue 17) against a running gateway: an administrator erases a message
// by its id with a reason, after a confirmation that says it cannot be undone; the recipient's
// thread, her inbox and the sender's sent list then say "This message was erased by an
// administrator" and show none of its text; erasing it again is refused in words; a held message
// is refused too, and can be erased once the hold is released (here from the list of deleted
// messages, whose rows show "Erased" and "Legal hold"); the auditor reads the erasure and the
// holds in words, with the reason.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/erasure.test.mjs
//
// Needs the demo users (password `healing-demo`): admin, auditor, alice, bob.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, eventually, step, byTestId, dialogOf, closeThread,
  openConversation, errorBanner, focused, pages, problems, uniqueWord, apiSession, TIMEOUT,
} from './support.mjs';

const WORD = uniqueWord('erase');
const ERASED_TEXT = 'This message was erased by an administrator';
const MESSAGES = {
  held: { subject: `Held ${WORD}`, content: `Please keep this one, ${WORD} held.` },
  listed: { subject: `Listed ${WORD}`, content: `Both of us delete this, ${WORD} listed.` },
  erased: { subject: `Private ${WORD}`, content: `My ${WORD} secret that I regret sending.` },
};
const ids = {};
const REASON = `Ticket ${WORD}: the sender asked for erasure`;
const CONFLICT = /already erased or under a legal hold/;

/** Opens the by-id panel of `action` ('erase', 'hold', 'release') for `id` and confirms it with `reason`. */
async function byId(page, action, id, reason = REASON) {
  const card = byTestId(page, 'admin-by-id');
  await card.getByTestId('admin-message-id').fill(id);
  await card.getByTestId(`by-id-${action}`).click();
  const panel = card.getByTestId('by-id-panel');
  await panel.waitFor();
  assert.equal((await focused(page)).testid, 'reason-input', 'focus moves to the reason');
  await panel.getByTestId('reason-input').fill(reason);
  await panel.getByTestId('reason-confirm').click();
}

/** The audit entries of message `id` (as the auditor's view shows them), once `ready(entries)`. */
async function auditOf(page, id, ready) {
  const panel = byTestId(page, 'audit-panel');
  const deadline = Date.now() + 30_000;
  for (;;) {
    await panel.getByTestId('audit-filter-message_id').fill(id);
    await panel.getByTestId('audit-filter-apply').click();
    await page.waitForFunction(() => {
      const status = document.querySelector('[data-testid="audit-count"]');
      const list = document.querySelector('[data-testid="audit-list"]');
      return status && list && status.textContent && status.textContent !== 'Loading…' && !list.hasAttribute('aria-busy');
    }, null, { timeout: TIMEOUT });
    const entries = await page.locator('[data-testid="audit-entry"]').evaluateAll((rows) => rows.map((row) => ({
      action: row.dataset.action,
      words: row.querySelector('[data-testid="audit-action"]').textContent,
      reason: row.querySelector('[data-testid="audit-reason"]')?.textContent || null,
      details: Object.fromEntries([...row.querySelectorAll('dd[data-key]')]
        .map((dd) => [dd.previousElementSibling.textContent, dd.textContent])),
    })));
    if (ready(entries) || Date.now() > deadline) return entries;
    await new Promise((resolve) => { setTimeout(resolve, 500); });
  }
}

describe('Erasure and legal holds', () => {
  useBrowser();
  const sessions = {};

  step('bob sends alice three messages; both delete one of them', async () => {
    sessions.bob = await apiSession('bob');
    sessions.alice = await apiSession('alice');
    // The erased one last: it is the conversation's newest message, the inbox preview.
    for (const key of ['held', 'listed', 'erased']) {
      const res = await sessions.bob.call('POST', '/api/messages/send', { recipient: 'alice', ...MESSAGES[key] }, 201);
      ids[key] = (await res.json()).message_id;
    }
    await sessions.bob.call('DELETE', `/api/messages/${ids.listed}`, undefined, 204);
    await sessions.alice.call('DELETE', `/api/messages/${ids.listed}`, undefined, 204);
  });

  step('alice reads the message in her conversation with bob', async () => {
    const alice = await newUserPage('alice');
    await login(alice, 'alice');
    const message = dialogOf(alice).locator(`[data-testid="thread-message"][data-message-id="${ids.erased}"]`);
    await eventually(() => openConversation(alice, 'bob'), message, 'the message in alice\'s thread');
    assert.match(await message.innerText(), new RegExp(MESSAGES.erased.content));
    await closeThread(alice);
  });

  step('admin erases it by its id, with a reason, after a confirmation that it cannot be undone', async () => {
    const admin = await newUserPage('admin');
    await login(admin, 'admin');
    await byTestId(admin, 'tab-deleted').click();
    const card = byTestId(admin, 'admin-by-id');
    assert.match(await card.innerText(), /copy the id from the support ticket or from the audit trail/);

    // A wrong id is refused by the form, before anything is asked.
    await card.getByTestId('admin-message-id').fill('1234abcd');
    await card.getByTestId('by-id-erase').click();
    assert.notEqual(await card.getByTestId('admin-message-id').evaluate((el) => el.validationMessage), '');
    assert.equal(await card.getByTestId('by-id-panel').count(), 0, 'no panel for a wrong id');

    await card.getByTestId('admin-message-id').fill(ids.erased);
    await card.getByTestId('by-id-erase').click();
    const panel = card.getByTestId('by-id-panel');
    await panel.waitFor();
    const words = await panel.innerText();
    assert.match(words, new RegExp(`Erase message ${ids.erased} for good\\?`));
    assert.match(words, /This cannot be undone/);
    assert.equal((await focused(admin)).testid, 'reason-input', 'focus moves to the reason');
    assert.equal(await panel.getByTestId('reason-confirm').innerText(), 'Erase for good');
    await screenshot(admin, 'erasure-confirm');

    // Cancel changes nothing and gives focus back to "Erase…".
    await panel.getByTestId('reason-cancel').click();
    assert.equal(await card.getByTestId('by-id-panel').count(), 0);
    assert.equal((await focused(admin)).testid, 'by-id-erase');

    // A reason is required.
    await card.getByTestId('by-id-erase').click();
    await panel.getByTestId('reason-confirm').click();
    assert.notEqual(await panel.getByTestId('reason-input').evaluate((el) => el.validationMessage), '', 'the reason is required');
    assert.equal(await panel.isVisible(), true, 'nothing was sent');

    await panel.getByTestId('reason-input').fill(REASON);
    await panel.getByTestId('reason-confirm').click();
    const result = card.getByTestId('by-id-result');
    await result.waitFor();
    assert.match(await result.innerText(), new RegExp(`Message ${ids.erased} was erased`));
    assert.doesNotMatch(await result.innerText(), /null|undefined|\[object/, 'no placeholder text');
    assert.equal((await focused(admin)).testid, 'by-id-result', 'focus moves to the result');
    assert.equal(await byTestId(admin, 'error-banner').isVisible(), false);
    await screenshot(admin, 'erasure-done');
  });

  step('alice\'s thread shows the erased notice, not the text; so do her inbox and bob\'s sent list', async () => {
    const alice = pages.alice;
    const message = dialogOf(alice).locator(`[data-testid="thread-message"][data-message-id="${ids.erased}"][data-erased="true"]`);
    await eventually(() => openConversation(alice, 'bob'), message, 'the erased notice in alice\'s thread');
    assert.equal((await message.getByTestId('thread-message-content').innerText()).trim(), ERASED_TEXT);
    const thread = await dialogOf(alice).innerText();
    assert.doesNotMatch(thread, new RegExp(MESSAGES.erased.content), 'the text is gone');
    assert.doesNotMatch(thread, new RegExp(MESSAGES.erased.subject), 'the subject is gone');
    assert.match(thread, new RegExp(MESSAGES.held.content), 'the other messages stay');
    await screenshot(alice, 'erasure-thread');
    await closeThread(alice);

    const row = alice.locator('[data-testid="conversation-item"][data-with="bob"]');
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(ERASED_TEXT));
    assert.doesNotMatch(await row.innerText(), new RegExp(WORD));

    const bob = await newUserPage('bob');
    await login(bob, 'bob');
    const sent = bob.locator(`[data-testid="sent-item"][data-message-id="${ids.erased}"]`);
    await eventually(() => byTestId(bob, 'tab-sent').click(), sent, 'the erased message in bob\'s sent list');
    assert.equal(await sent.getAttribute('data-erased'), 'true');
    assert.match(await sent.innerText(), new RegExp(ERASED_TEXT));
    assert.doesNotMatch(await sent.innerText(), new RegExp(WORD));
  });

  step('erasing it again is refused in words', async () => {
    const admin = pages.admin;
    await byId(admin, 'erase', ids.erased);
    const { code, text, times } = await errorBanner(admin);
    assert.equal(code, 'conflict');
    assert.match(text, CONFLICT);
    assert.equal(times, 1);
    assert.equal((await focused(admin)).testid, 'error-banner');
    assert.equal(await byTestId(admin, 'by-id-panel').count(), 0, 'the panel is closed');
  });

  step('a message under a legal hold is not erased; the hold can be released', async () => {
    const admin = pages.admin;
    await byId(admin, 'hold', ids.held, `Litigation ${WORD}`);
    const result = byTestId(admin, 'by-id-result');
    await result.filter({ hasText: 'is in place' }).waitFor();
    assert.equal(await byTestId(admin, 'error-banner').isVisible(), false);

    await byId(admin, 'erase', ids.held);
    const { code, text } = await errorBanner(admin);
    assert.equal(code, 'conflict');
    assert.match(text, CONFLICT);
    await screenshot(admin, 'erasure-held-refused');

    await byId(admin, 'release', ids.held, `Litigation ${WORD} closed`);
    await result.filter({ hasText: 'is released' }).waitFor();
    assert.equal(await byTestId(admin, 'error-banner').isVisible(), false);

    const alice = pages.alice;
    const kept = dialogOf(alice).locator(`[data-testid="thread-message"][data-message-id="${ids.held}"]`);
    await openConversation(alice, 'bob');
    await kept.waitFor();
    assert.match(await kept.innerText(), new RegExp(MESSAGES.held.content), 'the held message was not erased');
    await closeThread(alice);
  });

  step('in the list of deleted messages: hold, a refused erasure, release, then erase', async () => {
    const admin = pages.admin;
    const row = admin.locator(`[data-testid="admin-deleted-item"][data-message-id="${ids.listed}"]`);
    await eventually(() => byTestId(admin, 'tab-deleted').click(), row, 'the deleted message in the admin list');
    assert.equal(await row.getAttribute('data-held'), 'false');
    assert.equal(await row.getAttribute('data-erased'), 'false');

    await row.getByTestId('hold-button').click();
    const panel = row.getByTestId('item-reason-panel');
    await panel.waitFor();
    assert.match(await panel.innerText(), /Place a legal hold on/);
    await panel.getByTestId('reason-input').fill(`Hold ${WORD}`);
    await panel.getByTestId('reason-confirm').click();
    await row.getByTestId('held-tag').waitFor();
    assert.equal(await row.getAttribute('data-held'), 'true');
    assert.doesNotMatch(await row.innerText(), /null|undefined|\[object/, 'no placeholder text');
    assert.equal((await focused(admin)).testid, 'hold-button', 'focus back on the hold control');
    assert.equal(await row.getByTestId('hold-button').innerText(), 'Release hold…');

    await row.getByTestId('erase-button').click();
    assert.match(await panel.innerText(), /This cannot be undone/);
    await panel.getByTestId('reason-input').fill(REASON);
    await panel.getByTestId('reason-confirm').click();
    const { code, text } = await errorBanner(admin);
    assert.equal(code, 'conflict');
    assert.match(text, CONFLICT);
    assert.equal(await row.getAttribute('data-erased'), 'false');

    await row.getByTestId('hold-button').click();
    await panel.getByTestId('reason-input').fill(`Release ${WORD}`);
    await panel.getByTestId('reason-confirm').click();
    await row.getByTestId('held-tag').waitFor({ state: 'detached' });

    await row.getByTestId('erase-button').click();
    await panel.getByTestId('reason-input').fill(REASON);
    await panel.getByTestId('reason-confirm').click();
    await row.getByTestId('erased-tag').waitFor();
    assert.equal(await row.getAttribute('data-erased'), 'true');
    assert.match(await row.innerText(), new RegExp(ERASED_TEXT));
    assert.doesNotMatch(await row.innerText(), new RegExp(MESSAGES.listed.subject), 'the subject is gone');
    assert.equal(await row.getByTestId('erase-button').isVisible(), false, 'no second "Erase…"');
    assert.doesNotMatch(await row.innerText(), /null|undefined|\[object/, 'no placeholder text');
    assert.equal(await byTestId(admin, 'error-banner').isVisible(), false);
    await screenshot(admin, 'erasure-list');

    // After a reload, the list says the same.
    await admin.reload();
    await row.getByTestId('erased-tag').waitFor();
    assert.match(await row.innerText(), new RegExp(ERASED_TEXT));
  });

  step('the auditor reads the erasure and the holds in words, with the reasons', async () => {
    const auditor = await newUserPage('auditor');
    await login(auditor, 'auditor');
    await byTestId(auditor, 'tab-audit').click();
    const erased = await auditOf(auditor, ids.erased, (entries) => entries.some((e) => e.action === 'message_erased'));
    const erasure = erased.find((e) => e.action === 'message_erased');
    assert.ok(erasure, `an erasure entry: ${JSON.stringify(erased)}`);
    assert.equal(erasure.words, 'Message erased by an administrator');
    assert.equal(erasure.details['Erased by'], 'admin');
    assert.equal(erasure.details.Reason, REASON);
    assert.equal(erasure.reason, `“${REASON}”`, 'the reason shows in the entry');
    assert.equal(erased.filter((e) => e.action === 'message_erased').length, 1, 'the refused second erasure left no entry');
    await screenshot(auditor, 'erasure-audit');

    const held = await auditOf(auditor, ids.held,
      (entries) => entries.filter((e) => e.action === 'message_hold_set').length >= 2);
    const holds = held.filter((e) => e.action === 'message_hold_set');
    assert.deepEqual(holds.map((e) => e.words).sort(), ['Legal hold placed', 'Legal hold released']);
    const placed = holds.find((e) => e.words === 'Legal hold placed');
    assert.equal(placed.details['Hold set by'], 'admin');
    assert.equal(placed.details.Reason, `Litigation ${WORD}`);
    assert.match(placed.details['Legal hold'], /^Placed/);
    assert.equal(held.some((e) => e.action === 'message_erased'), false, 'the held message was not erased');
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
