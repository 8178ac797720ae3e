// End-to-end flows of the messaging SPA against a running gateway.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/flows.test.mjs
//
// Needs the demo users (password `healing-demo`): admin, alice, bob, dr_carol (approved for alice).
// Subjects carry a unique word per run, so reruns against the same database work.
// Cross-user views are eventually consistent (a user's consistency token covers only their own
// commands), so those checks reload the view until the element appears, within a bound.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, eventually, closeThread, openConversation, errorBanner,
  focused, step, byTestId, dialogOf, pages, problems, uniqueWord, badgeCount, waitForBadge, TIMEOUT,
} from './support.mjs';

const WORD = uniqueWord('calm');
const SUBJECT = `Check-in ${WORD}`;
const ORIGINAL = `Hello Bob, the ${WORD} walk by the river helped today.`;
const REPLY = `Thank you Alice, I am glad the ${WORD} walk helped.`;
const CLINICIAN_SUBJECT = `Weekly check-in ${WORD}`;
const CLINICIAN_TEXT = `Hi Alice, how are you feeling this week? (${WORD})`;

let bobUnreadBefore = 0;

describe('Healing Space messaging SPA', () => {
  useBrowser();

  step('the login screen renders and rejects a wrong password', async () => {
    const alice = await newUserPage('alice');
    await alice.goto('/');
    await byTestId(alice, 'login-username').waitFor();
    await screenshot(alice, 'login');
    await byTestId(alice, 'login-username').fill('alice');
    await byTestId(alice, 'login-password').fill('not-the-password');
    await byTestId(alice, 'login-submit').click();
    const { code, text, times } = await errorBanner(alice);
    assert.equal(code, 'unauthenticated');
    assert.match(text, /^Wrong username or password\./);
    assert.equal(times, 1, 'the message is shown once');
    assert.equal((await focused(alice)).testid, 'login-password', 'focus stays on the password, the next step');
    await screenshot(alice, 'login-wrong-password');
  });

  step('the served page carries no test hook', async () => {
    assert.equal(await pages.alice.evaluate(() => typeof window.__healing), 'undefined');
  });

  step('alice and bob sign in; bob restores his session after a reload', async () => {
    await login(pages.alice, 'alice');
    assert.equal(await byTestId(pages.alice, 'error-banner').isVisible(), false, 'login clears the error');
    const bob = await newUserPage('bob');
    await login(bob, 'bob');
    await bob.reload();
    await byTestId(bob, 'logout').waitFor();
    bobUnreadBefore = await badgeCount(bob);
  });

  step('the new-message form shows the validation error once and moves focus to it', async () => {
    const alice = pages.alice;
    await byTestId(alice, 'tab-new').click();
    await byTestId(alice, 'compose-recipient').fill('bob');
    await byTestId(alice, 'compose-content').fill('   ');
    await byTestId(alice, 'compose-send').click();
    const { code, text, times } = await errorBanner(alice);
    assert.equal(code, 'invalid_input');
    assert.match(text, /^[A-Z`].+\. Please change your message and try again\.$/, 'what to fix, then the next step');
    assert.equal(times, 1, 'one place per error');
    assert.equal((await focused(alice)).testid, 'error-banner');
  });

  step('alice sends bob a message', async () => {
    const alice = pages.alice;
    await byTestId(alice, 'compose-recipient').fill('bob');
    await byTestId(alice, 'compose-subject').fill(SUBJECT);
    await byTestId(alice, 'compose-content').fill(ORIGINAL);
    await byTestId(alice, 'compose-send').click();
    await byTestId(alice, 'compose-status').filter({ hasText: 'Message sent to bob' }).waitFor();
    assert.equal(await byTestId(alice, 'error-banner').isVisible(), false);
  });

  step("bob's inbox badge shows the unread message without a reload", async () => {
    const bob = pages.bob;
    // Pushed by the notification stream (or polled every ~10 s without one).
    await waitForBadge(bob, 'gt', bobUnreadBefore, 25_000);
    assert.equal(await byTestId(bob, 'inbox-badge').isVisible(), true);
    const item = bob.locator('[data-testid="conversation-item"][data-with="alice"]').filter({ hasText: SUBJECT });
    await eventually(() => byTestId(bob, 'tab-inbox').click(), item, 'conversation with alice in bob\'s inbox');
    await item.getByTestId('conversation-unread').waitFor();
    await screenshot(bob, 'inbox');
  });

  step('bob opens the thread, which marks it read', async () => {
    const bob = pages.bob;
    const countBefore = await badgeCount(bob);
    await bob.locator('[data-testid="conversation-item"][data-with="alice"]').click();
    const dialog = dialogOf(bob);
    await dialog.getByTestId('thread-message').filter({ hasText: ORIGINAL }).waitFor();
    await bob.locator('dialog[data-testid="thread-dialog"][data-marked="true"]').waitFor();
    await waitForBadge(bob, 'lt', countBefore, TIMEOUT);
    await screenshot(bob, 'thread');
  });

  step('alice sees "✓✓ Read" in Sent', async () => {
    const alice = pages.alice;
    const item = byTestId(alice, 'sent-item').filter({ hasText: SUBJECT }).first();
    const read = item.getByTestId('sent-status').filter({ hasText: '✓✓ Read' });
    await eventually(() => byTestId(alice, 'tab-sent').click(), read, 'read status in alice\'s Sent');
    await item.getByTestId('read-at').waitFor();
    await screenshot(alice, 'sent');
  });

  step('bob replies in the thread', async () => {
    const bob = pages.bob;
    const dialog = dialogOf(bob);
    await dialog.getByTestId('reply-content').fill(REPLY);
    await dialog.getByTestId('reply-send').click();
    const reply = dialog.getByTestId('thread-message').filter({ hasText: REPLY });
    await reply.waitFor();
    await bob.waitForFunction(() => document.activeElement?.dataset.testid === 'thread-message');
    assert.equal((await focused(bob)).messageId, await reply.getAttribute('data-message-id'),
      'focus moves to the new message');
    await closeThread(bob);
  });

  step('alice searches a word of the subject and opens the result', async () => {
    const alice = pages.alice;
    await byTestId(alice, 'tab-search').click();
    await byTestId(alice, 'search-input').fill(WORD);
    await byTestId(alice, 'search-input').press('Enter');
    const result = byTestId(alice, 'search-result').filter({ hasText: SUBJECT }).first();
    await result.waitFor();
    await result.locator('mark').first().waitFor();
    await screenshot(alice, 'search');
    await result.click();
    await dialogOf(alice).getByTestId('thread-message').filter({ hasText: ORIGINAL }).waitFor();
  });

  step('a snippet turns only <mark> into markup', async () => {
    const html = await pages.alice.evaluate(async () => {
      const { renderSnippet } = await import('/js/dom.js');
      const box = document.createElement('div');
      box.append(renderSnippet('<img src=x onerror="window.__pwned=1">a &lt;b&gt; &amp; <mark>walk</mark>s <script>x</script>'));
      return { html: box.innerHTML, marks: box.querySelectorAll('mark').length, other: box.querySelectorAll('*:not(mark)').length };
    });
    assert.equal(html.marks, 1);
    assert.equal(html.other, 0, `only <mark> elements: ${html.html}`);
    assert.match(html.html, /&lt;img src=x onerror="window.__pwned=1"&gt;a &lt;b&gt; &amp; <mark>walk<\/mark>s &lt;script&gt;x&lt;\/script&gt;/);
  });

  step('alice deletes the message', async () => {
    const alice = pages.alice;
    const message = dialogOf(alice).getByTestId('thread-message').filter({ hasText: ORIGINAL });
    await message.getByTestId('delete-message').click();
    await message.getByTestId('confirm-delete').click();
    await message.waitFor({ state: 'detached' });
    assert.equal(await byTestId(alice, 'error-banner').isVisible(), false);
    await closeThread(alice);
  });

  step('bob deletes it too', async () => {
    const bob = pages.bob;
    await openConversation(bob, 'alice');
    const message = dialogOf(bob).getByTestId('thread-message').filter({ hasText: ORIGINAL });
    await message.waitFor();
    await message.getByTestId('delete-message').click();
    await message.getByTestId('confirm-delete').click();
    await message.waitFor({ state: 'detached' });
    await closeThread(bob);
  });

  step('admin finds it among deleted messages and restores it', async () => {
    const admin = await newUserPage('admin');
    await login(admin, 'admin');
    const item = byTestId(admin, 'admin-deleted-item').filter({ hasText: SUBJECT });
    await eventually(() => byTestId(admin, 'tab-deleted').click(), item, 'deleted message in the admin list');
    await screenshot(admin, 'admin-deleted');
    await item.getByTestId('restore-button').click();
    await item.waitFor({ state: 'detached' });
    assert.equal(await byTestId(admin, 'error-banner').isVisible(), false);
  });

  step('bob sees the restored message again', async () => {
    const bob = pages.bob;
    const message = dialogOf(bob).getByTestId('thread-message').filter({ hasText: ORIGINAL });
    await eventually(() => openConversation(bob, 'alice'), message, 'restored message in bob\'s thread');
    await closeThread(bob);
  });

  step('dr_carol writes to alice from the patient list', async () => {
    const carol = await newUserPage('dr_carol');
    await login(carol, 'dr_carol');
    await byTestId(carol, 'tab-patients').click();
    const patient = carol.locator('[data-testid="patient-item"][data-username="alice"]');
    await patient.waitFor();
    await screenshot(carol, 'clinician-patients');
    await patient.getByTestId('patient-write').click();
    await byTestId(carol, 'clinician-subject').fill(CLINICIAN_SUBJECT);
    await byTestId(carol, 'clinician-message').fill(CLINICIAN_TEXT);
    await byTestId(carol, 'clinician-send').click();
    await byTestId(carol, 'clinician-status').filter({ hasText: 'Message sent to alice' }).waitFor();

    const alice = pages.alice;
    const item = alice.locator('[data-testid="conversation-item"][data-with="dr_carol"]').filter({ hasText: CLINICIAN_SUBJECT });
    await eventually(() => byTestId(alice, 'tab-inbox').click(), item, 'dr_carol\'s message in alice\'s inbox');
  });

  step('the inbox is readable at 375 px', async () => {
    const alice = pages.alice;
    await alice.setViewportSize({ width: 375, height: 780 });
    await byTestId(alice, 'tab-inbox').click();
    await byTestId(alice, 'conversation-item').first().waitFor();
    const overflow = await alice.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 375 px (overflow ${overflow} px)`);
    await screenshot(alice, 'inbox-375');
    await alice.setViewportSize({ width: 1100, height: 820 });
  });

  step('a CSRF failure is shown in the error banner', async () => {
    const alice = pages.alice;
    // The browser sends the send request with a tampered token; the page's own token stays good.
    const send = '**/api/messages/send';
    await alice.route(send, (route) => route.continue({
      headers: { ...route.request().headers(), 'x-csrf-token': 'bad' },
    }));
    await byTestId(alice, 'tab-new').click();
    await byTestId(alice, 'compose-recipient').fill('bob');
    await byTestId(alice, 'compose-subject').fill(`CSRF probe ${WORD}`);
    await byTestId(alice, 'compose-content').fill('This must not be sent.');
    await byTestId(alice, 'compose-send').click();
    const { code, text } = await errorBanner(alice);
    await alice.unroute(send);
    assert.equal(code, 'csrf_failed');
    assert.match(text, /Please reload the page and try again\.$/);
    assert.equal(await byTestId(alice, 'compose-status').innerText(), '');
  });

  step('alice signs out and the session is gone after a reload', async () => {
    const alice = pages.alice;
    await byTestId(alice, 'logout').click();
    await byTestId(alice, 'login-username').waitFor();
    await alice.reload();
    await byTestId(alice, 'login-username').waitFor();
    assert.equal(await byTestId(alice, 'logout').isVisible(), false);
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
