// The thread dialog: one conversation, oldest first, "load older", mark-as-read on open,
// reply to the latest message, delete per message (with a confirmation step). After a reply,
// focus moves to the new message, or to the error banner when the reply was refused.
// Live: `refresh` adds newly arrived messages in place (focus and scroll stay, unless the reader
// was at the bottom) and marks them read when the page is looked at; `markRead` shows ✓✓.
// Patient controls (API.md, "Patient controls"): "Archive" / "Move to inbox" for the conversation,
// and "Block" after a confirmation that says what it does; while the counterpart is blocked, a
// note says so (with "Unblock") and the reply form is hidden (the server would refuse it).
// A message an administrator erased shows as a muted note in its place (no subject, no text).
import { h, timeEl, readStatus, isErased, erasedNote } from '../dom.js';
import { mountBanner } from '../banner.js';
import { newIdempotencyKey } from '../api.js';

const byTime = (a, b) => (a.sent_at < b.sent_at ? -1 : a.sent_at > b.sent_at ? 1 : 0);

export function createThreadDialog(ctx, { onClose } = {}) {
  let st = fresh(null, null);
  let loadSeq = 0;
  let replyKey = null;

  function fresh(withUser, opener) {
    return {
      with: withUser, label: withUser, opener, messages: [], cursor: null, stale: false, markPending: false,
      archived: false, blocked: false,
    };
  }

  const title = h('h2', { id: 'thread-title', class: 'dialog-title', tabindex: '-1' });
  const closeButton = h('button', {
    type: 'button', class: 'btn btn-quiet', testid: 'thread-close', onclick: () => close(),
  }, 'Close');
  const bannerSlot = h('div', { class: 'banner-slot' });
  const olderButton = h('button', {
    type: 'button', class: 'btn btn-quiet btn-more', testid: 'load-older', hidden: true, onclick: loadOlder,
  }, 'Load older messages');
  const list = h('ol', { class: 'thread-list', testid: 'thread-list', 'aria-label': 'Messages, oldest first' });

  // Conversation tools: archive and block, a confirmation for blocking, the blocked note.
  const archiveButton = h('button', {
    type: 'button', class: 'btn btn-quiet btn-small', testid: 'thread-archive', onclick: toggleArchive,
  }, 'Archive');
  const blockButton = h('button', {
    type: 'button', class: 'btn btn-quiet btn-small', testid: 'thread-block', onclick: onBlockButton,
  }, 'Block');
  const toolsStatus = h('p', { class: 'form-status tools-status', role: 'status', testid: 'thread-tools-status' });
  const tools = h('div', { class: 'thread-tools', role: 'group', 'aria-label': 'Conversation actions' },
    archiveButton, blockButton, toolsStatus);
  const blockQuestion = h('p', { id: 'block-question', class: 'confirm-question', tabindex: '-1', testid: 'block-question' });
  const blockEffect = h('ul', { class: 'confirm-points', testid: 'block-effect' });
  const blockYes = h('button', { type: 'button', class: 'btn btn-danger btn-small', testid: 'confirm-block', onclick: doBlock }, 'Block');
  const blockNo = h('button', {
    type: 'button', class: 'btn btn-quiet btn-small', testid: 'cancel-block', onclick: () => hideBlockConfirm(true),
  }, 'Cancel');
  const blockConfirm = h('div', {
    class: 'confirm-panel block-confirm', role: 'group', 'aria-labelledby': 'block-question', hidden: true, testid: 'block-confirm',
  }, blockQuestion, blockEffect, h('div', { class: 'form-actions' }, blockYes, blockNo));
  const blockedText = h('p', {});
  const blockedNote = h('div', { class: 'blocked-note', tabindex: '-1', hidden: true, testid: 'thread-blocked-note' },
    h('span', { class: 'state-tag state-blocked' }, 'Blocked'), ' ', blockedText);
  const toolsArea = h('div', { class: 'thread-tools-area' }, tools, blockConfirm, blockedNote);
  const scroller = h('div', { class: 'thread-body' }, olderButton, list);

  const replyInput = h('textarea', {
    id: 'reply-content', name: 'content', rows: '3', maxlength: '10000', required: true,
    testid: 'reply-content', 'aria-describedby': 'reply-hint',
  });
  const replyLabel = h('label', { for: 'reply-content' }, 'Reply');
  const replyHint = h('p', { id: 'reply-hint', class: 'hint' }, 'Your reply goes to the latest message in this conversation.');
  const replyStatus = h('p', { class: 'form-status', role: 'status', testid: 'reply-status' });
  const replyButton = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'reply-send' }, 'Send reply');
  const replyForm = h('form', { class: 'reply-form', onsubmit: sendReply },
    h('div', { class: 'field' }, replyLabel, replyInput, replyHint),
    h('div', { class: 'form-actions' }, replyButton, replyStatus));
  replyInput.addEventListener('input', () => { replyKey = null; });

  const dialog = h('dialog', { class: 'thread-dialog', 'aria-labelledby': 'thread-title', testid: 'thread-dialog' },
    h('div', { class: 'dialog-head' }, title, closeButton),
    toolsArea,
    bannerSlot,
    h('div', { class: 'notice-slot' }), // the live notice, while the dialog is open (notices.js)
    scroller,
    replyForm);
  document.body.append(dialog);

  dialog.addEventListener('close', () => {
    loadSeq += 1;
    mountBanner();
    const { opener } = st;
    st = fresh(null, null);
    dialog.removeAttribute('data-with');
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    if (onClose) onClose(opener);
  });

  /**
   * Opens the conversation with `username`. `label` is a friendlier name for the title;
   * `archived` says the conversation was opened from the archived ones.
   */
  async function open(username, { opener, label, archived = false } = {}) {
    st = fresh(username, opener || document.activeElement);
    st.label = label || username;
    st.archived = Boolean(archived);
    renderTools();
    toolsStatus.textContent = '';
    hideBlockConfirm(false);
    replyKey = null;
    replyInput.value = '';
    replyStatus.textContent = '';
    title.textContent = `Conversation with ${st.label}`;
    replyLabel.textContent = `Reply to ${st.label}`;
    list.replaceChildren(h('li', { class: 'muted' }, 'Loading…'));
    olderButton.hidden = true;
    replyForm.hidden = true;
    dialog.dataset.with = username;
    dialog.dataset.state = 'loading';
    delete dialog.dataset.marked;
    ctx.clearError();
    mountBanner(bannerSlot);
    if (!dialog.open) dialog.showModal();
    title.focus();

    const seq = ++loadSeq;
    loadBlocked(seq);
    try {
      const page = await ctx.api.conversation(username);
      if (seq !== loadSeq) return;
      st.messages = [...page.messages].sort(byTime);
      st.cursor = page.next_cursor || null;
      render();
      scroller.scrollTop = scroller.scrollHeight;
      dialog.dataset.state = 'ready';
    } catch (error) {
      if (seq !== loadSeq) return;
      list.replaceChildren(h('li', { class: 'muted' }, 'This conversation could not be loaded.'));
      dialog.dataset.state = 'error';
      ctx.showError(error);
      return;
    }
    // Opening a thread marks everything the counterpart sent to me as read.
    try {
      await ctx.api.markConversationRead(username);
      if (seq !== loadSeq) return;
      dialog.dataset.marked = 'true';
      ctx.refreshUnread();
    } catch (error) {
      if (seq === loadSeq) ctx.showError(error);
    }
    // A live event came while this was loading: look again.
    if (seq === loadSeq && st.stale) refresh();
  }

  /** Live: fetches the newest page and adds the messages not shown yet, without a re-render. */
  async function refresh() {
    if (!dialog.open || !st.with) return;
    if (dialog.dataset.state === 'loading') { st.stale = true; return; }
    if (dialog.dataset.state !== 'ready') return;
    st.stale = false;
    const seq = loadSeq;
    let page;
    try {
      page = await ctx.api.conversation(st.with);
    } catch (error) {
      // Quiet, like the badge polling: the list stays as it is (a 401 has ended the session).
      if (error.status !== 401) console.warn('thread refresh failed:', error.message);
      return;
    }
    if (seq !== loadSeq) return;
    const shown = new Map(st.messages.map((m) => [m.message_id, m]));
    const added = page.messages.filter((m) => !shown.has(m.message_id));
    for (const m of page.messages) {
      if (shown.has(m.message_id) && m.is_read) markRead(m.message_id, m.read_at);
      if (shown.has(m.message_id) && isErased(m) && !isErased(shown.get(m.message_id))) showErased(m);
    }
    if (added.length === 0) return;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
    const wasEmpty = st.messages.length === 0;
    st.messages = [...st.messages, ...added].sort(byTime);
    if (wasEmpty) {
      render();
    } else {
      // Insert each new message before the next one shown; focus and the rest stay untouched.
      const items = new Map([...list.children].map((li) => [li.dataset.messageId, li]));
      let next = null;
      for (let i = st.messages.length - 1; i >= 0; i -= 1) {
        const li = items.get(st.messages[i].message_id) || list.insertBefore(renderMessage(st.messages[i]), next);
        next = li;
      }
    }
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    if (added.some((m) => m.sender !== ctx.user.username)) markSeen(seq);
  }

  /** Marks the conversation read, now if the page is looked at, else when it is shown again. */
  async function markSeen(seq) {
    if (document.hidden) { st.markPending = true; return; }
    st.markPending = false;
    try {
      await ctx.api.markConversationRead(st.with);
      if (seq === loadSeq) ctx.refreshUnread();
    } catch (error) {
      if (error.status !== 401) console.warn('mark read failed:', error.message);
    }
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && dialog.open && st.markPending) markSeen(loadSeq);
  });

  /** Live: a message I sent here was read; its status turns to ✓✓ in place. */
  function markRead(messageId, readAt) {
    if (!dialog.open) return;
    if (dialog.dataset.state === 'loading') { st.stale = true; return; }
    const m = st.messages.find((x) => x.message_id === messageId);
    if (!m || m.is_read || m.sender !== ctx.user.username) return;
    m.is_read = true;
    m.read_at = readAt || m.read_at || null;
    const li = [...list.children].find((x) => x.dataset.messageId === messageId);
    const status = li && li.querySelector('.read-status');
    if (status) status.replaceWith(readStatus(m, 'thread-status'));
  }

  /** A shown message was erased meanwhile: its text gives way to the note, in place. */
  function showErased(m) {
    st.messages = st.messages.map((x) => (x.message_id === m.message_id ? m : x));
    const li = [...list.children].find((x) => x.dataset.messageId === m.message_id);
    if (!li) return;
    const hadFocus = li.contains(document.activeElement);
    const fresh = renderMessage(m);
    li.replaceWith(fresh);
    if (hadFocus) fresh.focus();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  // ---- Archive and block ---------------------------------------------------------------------

  /** Whether I block this person: from my blocked list (quietly unknown when it fails). */
  async function loadBlocked(seq) {
    try {
      const { blocked } = await ctx.api.blocked();
      if (seq !== loadSeq) return;
      st.blocked = Array.isArray(blocked) && blocked.some((b) => b.username === st.with);
      renderTools();
      syncReply();
    } catch (error) {
      if (error.status !== 401) console.warn('blocked list unavailable:', error.message);
    }
  }

  function renderTools() {
    archiveButton.textContent = st.archived ? 'Move to inbox' : 'Archive';
    archiveButton.setAttribute('aria-label', st.archived
      ? `Move the conversation with ${st.label} back to your inbox` : `Archive the conversation with ${st.label}`);
    blockButton.textContent = st.blocked ? 'Unblock' : 'Block';
    blockButton.setAttribute('aria-label', `${st.blocked ? 'Unblock' : 'Block'} ${st.label}`);
    blockButton.dataset.blocked = st.blocked ? 'true' : 'false';
    blockedText.textContent = `You have blocked ${st.label}. Neither of you can send messages to the other until you unblock them.`;
    blockedNote.hidden = !st.blocked;
    dialog.dataset.blocked = st.blocked ? 'true' : 'false';
    dialog.dataset.archived = st.archived ? 'true' : 'false';
  }

  async function toggleArchive() {
    const seq = loadSeq;
    const archiving = !st.archived;
    archiveButton.disabled = true;
    toolsStatus.textContent = '';
    ctx.clearError();
    try {
      if (archiving) await ctx.api.archive(st.with);
      else await ctx.api.unarchive(st.with);
    } catch (error) {
      if (seq === loadSeq) ctx.showError(error, { action: 'archive', focus: true });
      return;
    } finally {
      archiveButton.disabled = false;
    }
    if (seq !== loadSeq) return;
    st.archived = archiving;
    renderTools();
    const done = archiving
      ? `Conversation archived. It comes back to your inbox when ${st.label} writes to you.`
      : 'Conversation moved back to your inbox.';
    toolsStatus.textContent = done;
    archiveButton.focus();
  }

  /** The reply form shows once the messages are shown, unless I block this person. */
  function syncReply() {
    if (dialog.dataset.state === 'ready') replyForm.hidden = st.messages.length === 0 || st.blocked;
  }

  function onBlockButton() {
    if (st.blocked) doUnblock();
    else showBlockConfirm();
  }

  function showBlockConfirm() {
    blockQuestion.textContent = `Block ${st.label}?`;
    blockEffect.replaceChildren(
      h('li', {}, `Neither of you will be able to send messages to the other, and messages scheduled between you will not be sent.`),
      h('li', {}, `${st.label} is not told that you blocked them. If they try to write to you, their message is not sent.`),
      h('li', {}, 'The messages you already have stay here.'),
      h('li', {}, 'You can unblock them at any time, here or in “Privacy”.'));
    blockYes.textContent = `Block ${st.label}`;
    blockYes.disabled = false;
    toolsStatus.textContent = '';
    tools.hidden = true;
    blockConfirm.hidden = false;
    blockQuestion.focus();
  }

  function hideBlockConfirm(returnFocus) {
    blockConfirm.hidden = true;
    tools.hidden = false;
    if (returnFocus) blockButton.focus();
  }

  async function doBlock() {
    const seq = loadSeq;
    blockYes.disabled = true;
    ctx.clearError();
    try {
      await ctx.api.block(st.with);
    } catch (error) {
      if (seq !== loadSeq) return;
      hideBlockConfirm(false);
      ctx.showError(error, { action: 'block', focus: true });
      return;
    }
    if (seq !== loadSeq) return;
    hideBlockConfirm(false);
    st.blocked = true;
    renderTools();
    syncReply();
    blockedNote.focus();
  }

  async function doUnblock() {
    const seq = loadSeq;
    blockButton.disabled = true;
    ctx.clearError();
    try {
      await ctx.api.unblock(st.with);
    } catch (error) {
      if (seq === loadSeq) ctx.showError(error, { action: 'unblock', focus: true });
      return;
    } finally {
      blockButton.disabled = false;
    }
    if (seq !== loadSeq) return;
    st.blocked = false;
    renderTools();
    syncReply();
    toolsStatus.textContent = `You unblocked ${st.label}.`;
    blockButton.focus();
  }

  function render() {
    if (st.messages.length === 0) {
      list.replaceChildren(h('li', { class: 'muted empty' }, 'There are no messages in this conversation.'));
    } else {
      list.replaceChildren(...st.messages.map(renderMessage));
    }
    olderButton.hidden = !st.cursor;
    replyForm.hidden = st.messages.length === 0 || st.blocked;
  }

  function renderMessage(m) {
    const mine = m.sender === ctx.user.username;
    const actions = h('div', { class: 'msg-actions' });
    const erased = isErased(m);
    const li = h('li', {
      class: `msg ${mine ? 'msg-mine' : 'msg-theirs'}${erased ? ' msg-erased' : ''}`, testid: 'thread-message',
      dataset: { messageId: m.message_id, sender: m.sender, ...(erased ? { erased: 'true' } : {}) }, tabindex: '-1',
    },
    h('div', { class: 'msg-meta' },
      h('span', { class: 'msg-author' }, mine ? 'You' : st.label || m.sender), ' · ', timeEl(m.sent_at)),
    !erased && m.subject ? h('p', { class: 'msg-subject' }, m.subject) : null,
    erased
      ? erasedNote('p', { testid: 'thread-message-content', className: 'msg-content' })
      : h('p', { class: 'msg-content', testid: 'thread-message-content' }, m.content),
    h('div', { class: 'msg-foot' }, mine ? readStatus(m, 'thread-status') : h('span'), actions));

    const deleteButton = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'delete-message',
      'aria-label': erased
        ? `Delete the erased message from ${mine ? 'you' : m.sender}`
        : `Delete message${m.subject ? ` “${m.subject}”` : ''} from ${mine ? 'you' : m.sender}`,
      onclick: askConfirm,
    }, 'Delete');
    actions.append(deleteButton);

    function askConfirm() {
      const yes = h('button', { type: 'button', class: 'btn btn-danger btn-small', testid: 'confirm-delete', onclick: doDelete }, 'Delete');
      const no = h('button', {
        type: 'button', class: 'btn btn-quiet btn-small', testid: 'cancel-delete',
        onclick: () => { actions.replaceChildren(deleteButton); deleteButton.focus(); },
      }, 'Keep');
      actions.replaceChildren(h('span', { class: 'confirm-text' }, 'Delete for you?'), yes, no);
      yes.focus();
    }

    async function doDelete(event) {
      event.currentTarget.disabled = true;
      try {
        await ctx.api.deleteMessage(m.message_id);
      } catch (error) {
        ctx.showError(error, { action: 'delete' });
        actions.replaceChildren(deleteButton);
        deleteButton.focus();
        return;
      }
      const next = li.nextElementSibling || li.previousElementSibling;
      st.messages = st.messages.filter((x) => x.message_id !== m.message_id);
      li.remove();
      if (st.messages.length === 0) render();
      ctx.announce('Message deleted.');
      (next && next.isConnected ? next : title).focus();
    }
    return li;
  }

  async function loadOlder() {
    if (!st.cursor) return;
    const seq = loadSeq;
    olderButton.disabled = true;
    try {
      const page = await ctx.api.conversation(st.with, st.cursor);
      if (seq !== loadSeq) return;
      const known = new Set(st.messages.map((m) => m.message_id));
      const older = page.messages.filter((m) => !known.has(m.message_id));
      const before = scroller.scrollHeight;
      st.messages = [...older, ...st.messages].sort(byTime);
      st.cursor = page.next_cursor || null;
      render();
      scroller.scrollTop += scroller.scrollHeight - before;
      (st.cursor ? olderButton : title).focus();
    } catch (error) {
      ctx.showError(error);
    } finally {
      olderButton.disabled = false;
    }
  }

  async function sendReply(event) {
    event.preventDefault();
    const latest = st.messages[st.messages.length - 1];
    if (!latest) return;
    if (!replyForm.reportValidity()) return;
    replyKey = replyKey || newIdempotencyKey();
    replyButton.disabled = true;
    replyStatus.textContent = 'Sending…';
    ctx.clearError();
    const seq = loadSeq;
    let sent;
    try {
      sent = await ctx.api.reply(latest.message_id, replyInput.value, replyKey);
    } catch (error) {
      replyStatus.textContent = '';
      replyButton.disabled = false;
      ctx.showError(error, { action: 'reply', focus: true });
      return;
    }
    replyKey = null;
    replyInput.value = '';
    replyStatus.textContent = 'Reply sent.';
    replyButton.disabled = false;
    if (seq !== loadSeq) return;
    // Re-read the newest page (with our consistency token) and merge it into what is shown.
    try {
      const page = await ctx.api.conversation(st.with);
      if (seq !== loadSeq) return;
      const merged = new Map(st.messages.map((m) => [m.message_id, m]));
      for (const m of page.messages) merged.set(m.message_id, m);
      st.messages = [...merged.values()].sort(byTime);
      render();
      scroller.scrollTop = scroller.scrollHeight;
    } catch (error) {
      if (seq === loadSeq) ctx.showError(error, { focus: true });
      return;
    }
    const mine = sent && [...list.children].find((li) => li.dataset.messageId === sent.message_id);
    (mine || replyInput).focus();
  }

  return { open, close, refresh, markRead, isOpen: () => dialog.open, withUser: () => (dialog.open ? st.with : null) };
}
