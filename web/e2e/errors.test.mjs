// How the SPA tells people about errors, against a running gateway: one calm sentence with a next
// step, in one place (the error banner), never the server's policy text, and keyboard focus on
// the error after a failed send or reply.
//
//   BASE_URL=http://127.0.0.1:8080 node --test web/e2e/errors.test.mjs
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  useBrowser, newUserPage, login, screenshot, closeThread, errorBanner, focused, step, byTestId,
  dialogOf, pages, problems, uniqueWord,
} from './support.mjs';

const WORD = uniqueWord('steady');
const REFUSED = "You can't start a conversation with this person; you can reply when they write to you.";
const SESSION_ENDED = 'Your session has ended. Please sign in again.';

async function compose(page, recipient, content) {
  await byTestId(page, 'tab-new').click();
  await byTestId(page, 'compose-recipient').fill(recipient);
  await byTestId(page, 'compose-content').fill(content);
  await byTestId(page, 'compose-send').click();
}

describe('Errors in the messaging SPA', () => {
  useBrowser();

  step('a refused send is told once, in words with a next step, and takes focus', async () => {
    const alice = await newUserPage('alice');
    await login(alice, 'alice');
    await compose(alice, 'dr_carol', `May I ask something? (${WORD})`);
    const { code, text, times } = await errorBanner(alice);
    assert.equal(code, 'forbidden');
    assert.equal(text, REFUSED);
    assert.equal(times, 1, 'one place per error');
    const page = await alice.evaluate(() => document.body.innerText);
    assert.doesNotMatch(page, /clinician's message|may not send|not assigned/, 'no raw policy sentence');
    assert.equal((await focused(alice)).testid, 'error-banner');
    await screenshot(alice, 'error-refused-send');
  });

  step('a rate-limited send says how long to wait', async () => {
    const alice = pages.alice;
    const send = '**/api/messages/send';
    await alice.route(send, (route) => route.fulfill({
      status: 429,
      headers: { 'Retry-After': '7' },
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'rate_limited', message: 'too many requests, retry after 7 s' } }),
    }));
    await compose(alice, 'bob', `Hello again (${WORD})`);
    const { code, text } = await errorBanner(alice);
    await alice.unroute(send);
    assert.equal(code, 'rate_limited');
    assert.match(text, /Please wait 7 seconds and try again\.$/);
    assert.equal((await focused(alice)).testid, 'error-banner');
  });

  step('a successful send clears the error and a refused reply moves focus to it in the dialog', async () => {
    const alice = pages.alice;
    await compose(alice, 'bob', `Thinking of you, Bob (${WORD})`);
    await byTestId(alice, 'compose-status').filter({ hasText: 'Message sent to bob' }).waitFor();
    assert.equal(await byTestId(alice, 'error-banner').isVisible(), false);
    await byTestId(alice, 'tab-sent').click();
    await byTestId(alice, 'sent-item').filter({ hasText: WORD }).first().click();
    const dialog = dialogOf(alice);
    await dialog.getByTestId('thread-message').filter({ hasText: WORD }).first().waitFor();
    await dialog.getByTestId('reply-content').fill('   ');
    await dialog.getByTestId('reply-send').click();
    await dialog.getByTestId('error-banner').waitFor({ state: 'visible' });
    const { code, text, times } = await errorBanner(alice);
    assert.equal(code, 'invalid_input');
    assert.match(text, /Please change your reply and try again\.$/);
    assert.equal(times, 1, 'one place per error');
    const focus = await focused(alice);
    assert.deepEqual([focus.testid, focus.inDialog], ['error-banner', true]);
    await screenshot(alice, 'error-refused-reply');
    await closeThread(alice);
  });

  step('"Your session has ended" stays the one message when a send finds the session gone', async () => {
    const alice = pages.alice;
    await closeThread(alice);
    await byTestId(alice, 'tab-new').click();
    await alice.context().clearCookies();
    await compose(alice, 'bob', `Are you there? (${WORD})`);
    await byTestId(alice, 'login-username').waitFor();
    // Let every pending answer (the send's own failure handler, a badge poll) run first.
    await alice.evaluate(() => new Promise((resolve) => { setTimeout(resolve, 300); }));
    const { code, text, times } = await errorBanner(alice);
    assert.equal(code, 'unauthenticated');
    assert.equal(text, SESSION_ENDED);
    assert.equal(times, 1);
    assert.equal((await focused(alice)).testid, 'login-username');
    await screenshot(alice, 'error-session-ended');
  });

  step('every error code of the API reads as a calm sentence, never the server text', async () => {
    const rows = await pages.alice.evaluate(async () => {
      const { errorSentence } = await import('/js/errors.js');
      const codes = ['network', 'unauthenticated', 'csrf_failed', 'rate_limited', 'invalid_input',
        'payload_too_large', 'not_found', 'forbidden', 'conflict', 'unavailable', 'internal', 'http_418'];
      const actions = [undefined, 'login', 'send', 'reply', 'delete', 'restore'];
      return codes.flatMap((code) => actions.map((action) => ({
        code,
        action,
        sentence: errorSentence({ code, message: 'SERVER-TEXT', retryAfter: null }, action),
      })));
    });
    for (const { code, action, sentence } of rows) {
      const where = `${code} during ${action || 'any action'}: ${sentence}`;
      assert.match(sentence, /^[A-Z].{20,}[.]$/, where);
      if (code !== 'invalid_input') assert.doesNotMatch(sentence, /SERVER-TEXT/, where);
    }
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
