// "Download my messages" (API.md, "Records rights": GET /api/me/export) against a running
// gateway: Privacy offers a link that downloads a JSON file (Content-Disposition: attachment)
// with the user, the time it was made, every message they sent or received (a message they
// deleted on their side too), the people they blocked, and their scheduled messages. A user with
// no messages gets a file with none, and never anyone else's.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=test-output/screenshots node --test web/e2e/export.test.mjs
//
// Needs the demo admin (password `healing-demo`), who adds the users of the run (unique names).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  useBrowser, newUserPage, login, screenshot, step, byTestId, pages, problems,
  uniqueWord, apiSession, delay, PASSWORD,
} from './support.mjs';

const WORD = uniqueWord('expo');
const NAME = `${WORD[0].toUpperCase()}${WORD.slice(1)}`;
const PATIENT = { username: `ep_${WORD}`, role: 'patient', display_name: `Eva ${NAME}` };
const OTHER = { username: `eo_${WORD}`, role: 'patient', display_name: `Oleg ${NAME}` };
const BLOCKED = { username: `eb_${WORD}`, role: 'patient', display_name: `Bert ${NAME}` };
const EMPTY = { username: `ee_${WORD}`, role: 'patient', display_name: `Emil ${NAME}` };
const RECEIVED = `Received words ${WORD}`;
const SENT = `Sent words ${WORD}`;
const DELETED = `Deleted on my side ${WORD}`;

/** Downloads the export from the Privacy view of `page`: the file's name and its parsed JSON. */
async function download(page) {
  await byTestId(page, 'tab-privacy').click();
  const link = byTestId(page, 'export-link');
  const [file] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const failure = await file.failure();
  assert.equal(failure, null, 'the download completes');
  const text = await readFile(await file.path(), 'utf8');
  return { name: file.suggestedFilename(), data: JSON.parse(text) };
}

const contents = (data) => (Array.isArray(data.messages) ? data.messages.map((m) => m.content) : []);

describe('Download my messages', () => {
  useBrowser();
  const sessions = {};

  step('an administrator adds the users; messages go both ways, one is deleted, one person is blocked', async () => {
    const admin = await apiSession('admin');
    for (const user of [PATIENT, OTHER, BLOCKED, EMPTY]) {
      await admin.call('POST', '/api/admin/users', { ...user, password: PASSWORD }, 201);
    }
    for (const user of [PATIENT, OTHER]) sessions[user.username] = await apiSession(user.username);
    await sessions[OTHER.username].call('POST', '/api/messages/send',
      { recipient: PATIENT.username, subject: `Hello ${WORD}`, content: RECEIVED }, 201);
    await sessions[PATIENT.username].call('POST', '/api/messages/send',
      { recipient: OTHER.username, subject: `Answer ${WORD}`, content: SENT }, 201);
    const res = await sessions[PATIENT.username].call('POST', '/api/messages/send',
      { recipient: OTHER.username, content: DELETED }, 201);
    const { message_id: deletedId } = await res.json();
    await sessions[PATIENT.username].call('DELETE', `/api/messages/${deletedId}`, undefined, 204);
    await sessions[PATIENT.username].call('POST', `/api/messages/block/${BLOCKED.username}`, undefined, 204);
  });

  step('Privacy offers "Download my messages" as a link that says what the file holds', async () => {
    const page = await newUserPage('patient');
    await login(page, PATIENT.username);
    await byTestId(page, 'tab-privacy').click();
    const link = byTestId(page, 'export-link');
    await link.waitFor();
    assert.equal(await link.evaluate((el) => el.tagName), 'A', 'a link: the browser downloads it with the session');
    assert.equal(await link.getAttribute('href'), '/api/me/export');
    assert.equal((await link.innerText()).trim(), 'Download my messages');
    assert.match(await page.locator('#export-hint').innerText(), /shared device/);
    await screenshot(page, 'export-privacy');
  });

  step('the downloaded file is JSON with the user, every message they sent or received, and who they blocked', async () => {
    const page = pages.patient;
    let name;
    let data;
    // The export reads the read side: wait (bounded) until it shows the messages written above.
    const deadline = Date.now() + 30_000;
    for (;;) {
      ({ name, data } = await download(page));
      const have = contents(data);
      if ([RECEIVED, SENT, DELETED].every((c) => have.includes(c)) || Date.now() > deadline) break;
      await delay(1000);
    }
    assert.match(name, /\.json$/, `a .json file (${name})`);
    const user = typeof data.user === 'string' ? data.user : data.user && data.user.username;
    assert.equal(user, PATIENT.username);
    assert.ok(Number.isFinite(Date.parse(data.generated_at)), 'generated_at is a time');
    const have = contents(data);
    for (const c of [RECEIVED, SENT]) assert.ok(have.includes(c), `the file has “${c}”`);
    assert.ok(have.includes(DELETED), 'a message deleted on their side is in their copy too');
    assert.equal(data.messages.find((m) => m.content === DELETED).deleted, true, 'with their deletion');
    assert.equal(data.messages.find((m) => m.content === SENT).deleted, false);
    const received = data.messages.find((m) => m.content === RECEIVED);
    assert.equal(received.sender, OTHER.username);
    assert.equal(received.recipient, PATIENT.username);
    assert.ok(Array.isArray(data.blocked), 'blocked is a list');
    assert.ok(JSON.stringify(data.blocked).includes(BLOCKED.username), 'the blocked person is in the file');
    assert.ok(Array.isArray(data.scheduled), 'scheduled is a list');
    assert.ok('templates' in data, 'templates are named');
  });

  step('a user with no messages gets a file with none, and nothing of anyone else', async () => {
    const page = await newUserPage('empty');
    await login(page, EMPTY.username);
    const { data } = await download(page);
    const user = typeof data.user === 'string' ? data.user : data.user && data.user.username;
    assert.equal(user, EMPTY.username);
    assert.deepEqual(data.messages, []);
    const text = JSON.stringify(data);
    for (const c of [RECEIVED, SENT, DELETED, PATIENT.username]) assert.ok(!text.includes(c), `nothing of anyone else (${c})`);
  });

  step('no page error and no Content-Security-Policy violation happened', async () => {
    assert.deepEqual(problems, []);
  });
});
