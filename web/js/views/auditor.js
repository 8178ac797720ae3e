// Auditors (and administrators) read the audit trail: the audit log (GET /api/audit/log, one
// entry per recorded event) and the access log (GET /api/audit/access, one entry per answered
// read), in two tabs of one view. Each log has the API's filters, shows actions in words and
// times to the second with the time zone, shortens ids (the whole id stays in the title, for
// screen readers and behind a Copy button), pages with "Show more" and exports what its
// applied filters select as CSV or JSON (audit-export.js).
import { h, uid, srOnly, viewHeading, moreButton, roleLabel } from '../dom.js';
import {
  AUDIT_ACTIONS, ACCESS_ACTIONS, actionLabel, isKnownAction, exactTime, zoneName,
  localInputToRfc3339, shortId, isUuid, detailLabel, holdWords, usernameProblem, messageIdProblem, actionProblem,
} from '../audit-words.js';
import {
  EXPORT_CAP, fetchPage, collect, toCsv, toJson, fileName, download,
} from '../audit-export.js';

const PAGE_SIZE = 50;
// Actions whose reason shows in the entry itself (not only among "All details").
const WHY_SHOWN = new Set(['message_erased', 'message_hold_set']);
const OTHER = '__other__';
const count = (n, one, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

// The two logs: their filters (API parameter, label) and their words.
const LOGS = {
  audit: {
    tab: 'Audit log',
    intro: 'Every recorded change of a message, template, scheduled message or block: who did it, when and from where. Oldest first.',
    empty: 'No audit entries match these filters.',
    actions: AUDIT_ACTIONS,
    users: [['actor', 'Who acted (username)']],
  },
  access: {
    tab: 'Access log',
    intro: 'Every answered read: who looked at which messages or lists, and whose conversation. Searches record only their length. Oldest first.',
    empty: 'No access entries match these filters.',
    actions: ACCESS_ACTIONS,
    users: [['actor', 'Who read (username)'], ['counterpart', 'Whose conversation or trail (username)']],
  },
};

export function auditorView(ctx) {
  const zone = zoneName();
  const tablist = h('div', { class: 'audit-tabs', role: 'tablist', 'aria-label': 'Audit trail' });
  // "History" and "Reads" of a message id: the other (or this) log, filtered by that message.
  const trace = (kind, messageId) => {
    panels[kind].trace(messageId);
    select(kind);
    panels[kind].focusSummary();
  };
  const panels = { audit: logPanel(ctx, 'audit', zone, trace), access: logPanel(ctx, 'access', zone, trace) };
  const tabs = {};
  let current = null;

  for (const kind of ['audit', 'access']) {
    const panel = panels[kind];
    tabs[kind] = h('button', {
      type: 'button', role: 'tab', class: 'audit-tab', id: `${kind}-tab`, testid: `${kind}-tab`,
      'aria-controls': panel.el.id, 'aria-selected': 'false', tabindex: '-1',
      onclick: () => select(kind),
      onkeydown: (event) => {
        const order = ['audit', 'access'];
        const i = order.indexOf(kind);
        const next = { ArrowRight: order[(i + 1) % 2], ArrowLeft: order[(i + 1) % 2], Home: 'audit', End: 'access' }[event.key];
        if (!next) return;
        event.preventDefault();
        select(next);
        tabs[next].focus();
      },
    }, LOGS[kind].tab);
    panel.el.setAttribute('aria-labelledby', `${kind}-tab`);
    tablist.append(tabs[kind]);
  }

  function select(kind) {
    if (current === kind) return;
    current = kind;
    for (const [name, tab] of Object.entries(tabs)) {
      const on = name === kind;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      panels[name].el.hidden = !on;
    }
    panels[kind].show();
  }

  const el = h('section', { class: 'view audit-view', 'aria-labelledby': 'audit-title', testid: 'audit-view' },
    viewHeading('Audit trail', 'audit-title'),
    h('p', { class: 'view-intro' },
      `Times are shown to the second in your time zone${zone ? ` (${zone})` : ''}; hover over a time for it in UTC.`),
    tablist, panels.audit.el, panels.access.el);
  select('audit');
  return { el, refresh: () => panels[current].reload() };
}

/** One log's tab panel: filters, the count, the list, "Show more" and the export. */
function logPanel(ctx, kind, zone, trace) {
  const words = LOGS[kind];
  const ids = (name) => `${kind}-filter-${name}`;
  const controls = {};
  const problems = [];

  const field = (name, label, input, hint) => {
    const hintId = hint ? `${ids(name)}-hint` : undefined;
    if (hintId) input.setAttribute('aria-describedby', hintId);
    return h('div', { class: `field audit-field audit-field-${name}` },
      h('label', { for: input.id }, label), input,
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
  };
  const textInput = (name, check, extra = {}) => {
    const input = h('input', {
      id: ids(name), name, type: 'text', testid: ids(name), autocomplete: 'off',
      autocapitalize: 'none', spellcheck: 'false', ...extra,
    });
    input.addEventListener('input', () => input.setCustomValidity(''));
    controls[name] = input;
    problems.push(() => input.setCustomValidity(check(normalized(name))));
    return input;
  };

  const userFields = words.users.map(([name, label]) =>
    field(name, label, textInput(name, usernameProblem, { maxlength: '64' })));
  const messageField = field('message_id', 'Message id', textInput('message_id', messageIdProblem, { maxlength: '45' }),
    'The whole id: use an entry’s Copy button.');

  const action = h('select', { id: ids('action'), name: 'action', testid: ids('action') },
    h('option', { value: '' }, 'Any action'),
    words.actions.map(([group, actions]) => h('optgroup', { label: group },
      actions.map(([code, label]) => h('option', { value: code }, label)))),
    h('option', { value: OTHER }, 'Another action (type its code)…'));
  const otherAction = textInput('action_code', actionProblem, { maxlength: '64', placeholder: 'such as message_sent' });
  const otherField = field('action_code', 'Action code', otherAction);
  otherField.hidden = true;
  action.addEventListener('change', () => {
    otherField.hidden = action.value !== OTHER;
    if (!otherField.hidden) otherAction.focus();
  });
  controls.action = action;

  const timeInput = (name) => {
    const input = h('input', { id: ids(name), name, type: 'datetime-local', step: '1', testid: ids(name) });
    input.addEventListener('input', () => { controls.from.setCustomValidity(''); controls.to.setCustomValidity(''); });
    controls[name] = input;
    return input;
  };
  const zoneWords = `your time zone${zone ? ` (${zone})` : ''}`;
  const fromField = field('from', 'From', timeInput('from'), `Included; in ${zoneWords}.`);
  const toField = field('to', 'Until', timeInput('to'), `Not included; in ${zoneWords}.`);

  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: `${kind}-filter-apply` }, 'Show entries');
  const clear = h('button', { type: 'button', class: 'btn btn-quiet', testid: `${kind}-filter-clear`, onclick: onClear }, 'Clear filters');
  const form = h('form', { class: 'audit-filters', testid: `${kind}-filters`, novalidate: true, onsubmit: onApply },
    h('fieldset', { class: 'plain-fieldset' },
      h('legend', { class: 'audit-legend' }, `Filter the ${words.tab.toLowerCase()}`),
      h('div', { class: 'audit-filter-grid' },
        userFields, messageField,
        field('action', 'Action', action), otherField,
        fromField, toField),
      h('div', { class: 'form-actions' }, submit, clear)));

  const summary = h('p', { class: 'audit-summary', testid: `${kind}-summary`, tabindex: '-1' });
  const status = h('p', { class: 'audit-count', role: 'status', 'aria-live': 'polite', testid: `${kind}-count` });
  const listId = uid(`${kind}-list`);
  const list = h('ul', { class: 'item-list audit-list', id: listId, testid: `${kind}-list`, 'aria-label': `${words.tab} entries` });
  const empty = h('p', { class: 'empty', hidden: true, testid: `${kind}-empty` }, words.empty);
  const more = moreButton('Show more', () => load(true));
  more.dataset.testid = `${kind}-more`;

  // Export: the format, the button, progress (a live region) and a way to stop.
  const formatId = uid(`${kind}-export-format`);
  const format = h('select', { id: formatId, testid: `${kind}-export-format` },
    h('option', { value: 'csv' }, 'CSV (spreadsheet)'), h('option', { value: 'json' }, 'JSON'));
  const exportButton = h('button', { type: 'button', class: 'btn btn-quiet', testid: `${kind}-export`, onclick: onExport },
    'Export these entries');
  const cancelButton = h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: `${kind}-export-cancel`, hidden: true },
    'Stop export');
  const exportStatus = h('p', { class: 'audit-export-status', role: 'status', 'aria-live': 'polite', testid: `${kind}-export-status` });
  const exportBox = h('div', { class: 'audit-export', role: 'group', 'aria-label': `Export the ${words.tab.toLowerCase()}` },
    h('div', { class: 'audit-export-row' },
      h('label', { for: formatId }, 'File format'), format, exportButton, cancelButton),
    h('p', { class: 'hint' }, `Exports every entry the filters above select (at most ${EXPORT_CAP.toLocaleString()}), not only the ones loaded below.`),
    exportStatus);

  const el = h('div', { class: 'audit-panel', role: 'tabpanel', id: `${kind}-panel`, testid: `${kind}-panel`, hidden: true },
    h('p', { class: 'hint audit-intro' }, words.intro),
    form, exportBox, summary, status, list, empty, more);

  let applied = {};
  let cursor = null;
  let seq = 0;
  let loaded = false;
  let exporting = null;

  function normalized(name) {
    const input = controls[name];
    const value = input.value.trim();
    return name === 'actor' || name === 'counterpart' ? value.toLowerCase() : value;
  }

  /** The form's filters as API parameters, or null (with the reason shown) when one is wrong. */
  function readForm() {
    for (const check of problems) check();
    otherAction.setCustomValidity(action.value === OTHER ? actionProblem(normalized('action_code')) || (normalized('action_code') ? '' : 'Please enter an action code.') : '');
    const from = localInputToRfc3339(controls.from.value);
    const to = localInputToRfc3339(controls.to.value);
    controls.from.setCustomValidity(from === null || controls.from.validity.badInput ? 'Please enter a whole date and time.' : '');
    controls.to.setCustomValidity(to === null || controls.to.validity.badInput ? 'Please enter a whole date and time.'
      : from && to && from >= to ? 'Please choose an end after the start.' : '');
    if (!form.reportValidity()) return null;
    const filters = {};
    for (const [name] of words.users) if (normalized(name)) filters[name] = normalized(name);
    if (normalized('message_id')) filters.message_id = normalized('message_id');
    const code = action.value === OTHER ? normalized('action_code') : action.value;
    if (code) filters.action = code;
    if (from) filters.from = from;
    if (to) filters.to = to;
    return filters;
  }

  function describe(filters) {
    const parts = [];
    if (filters.actor) parts.push(`${kind === 'access' ? 'read by' : 'by'} ${filters.actor}`);
    if (filters.counterpart) parts.push(`about ${filters.counterpart}`);
    if (filters.message_id) parts.push(`message ${filters.message_id}`);
    if (filters.action) parts.push(`action “${actionLabel(kind, filters.action)}”`);
    if (filters.from) parts.push(`from ${exactTime(filters.from)}`);
    if (filters.to) parts.push(`until ${exactTime(filters.to)}`);
    return parts.length ? `Showing entries ${parts.join(', ')}. Oldest first.` : 'Showing all entries, oldest first.';
  }

  function onApply(event) {
    event.preventDefault();
    const filters = readForm();
    if (!filters) return;
    ctx.clearError();
    applied = filters;
    load(false);
  }

  function resetForm() {
    form.reset();
    otherField.hidden = true;
    for (const input of Object.values(controls)) input.setCustomValidity?.('');
    ctx.clearError();
  }

  function onClear() {
    resetForm();
    applied = {};
    load(false);
  }

  /** Shows every entry of one message (the other filters cleared); focus goes to the summary. */
  function traceMessage(messageId) {
    resetForm();
    controls.message_id.value = messageId;
    applied = { message_id: messageId };
    load(false);
  }

  async function load(append = false) {
    const mine = ++seq;
    loaded = true;
    list.setAttribute('aria-busy', 'true');
    more.disabled = true;
    if (!append) {
      summary.textContent = describe(applied);
      status.textContent = 'Loading…';
    }
    try {
      const page = await fetchPage(kind, applied, append ? cursor : undefined, PAGE_SIZE);
      if (mine !== seq) return;
      const items = page.entries.map((entry) => (kind === 'access' ? accessItem(entry) : auditItem(entry)));
      if (append) list.append(...items); else list.replaceChildren(...items);
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      empty.hidden = list.children.length > 0;
      const shown = list.children.length;
      status.textContent = shown
        ? `${count(shown, 'entry', 'entries')} shown${cursor ? '; more match: use “Show more” to load them' : ''}.`
        : 'No entries match.';
      // "Show more" is gone after the last page: keyboard focus goes to the first new entry.
      if (append && !cursor && items.length && (document.activeElement === more || document.activeElement === document.body)) {
        items[0].focus();
      }
    } catch (error) {
      if (mine !== seq) return;
      status.textContent = 'The entries could not be loaded.';
      ctx.showError(error);
    } finally {
      if (mine === seq) {
        list.removeAttribute('aria-busy');
        more.disabled = false;
      }
    }
  }

  // ---- Entries -------------------------------------------------------------------------------

  function actionEl(code, details = null) {
    const known = isKnownAction(kind, code);
    return h('span', { class: 'item-name audit-action', testid: `${kind}-action`, title: `Action code: ${code}` },
      actionLabel(kind, code, details), known ? null : srOnly(' (action code)'));
  }

  function timeOf(iso) {
    return h('time', { class: 'item-time audit-time', datetime: iso, title: `${iso} (UTC)`, testid: `${kind}-time` }, exactTime(iso));
  }

  /** "History" (its audit log) and "Reads" (its access log) buttons of a message id. */
  function traceButtons(messageId, testid) {
    const short = shortId(messageId);
    const button = (target, label, words) => h('button', {
      type: 'button', class: 'btn-copy', testid: `${testid}-${target}`, title: words, 'aria-label': `${words}: ${short}`,
      onclick: () => trace(target, messageId),
    }, label);
    return [
      kind === 'audit' ? null : button('audit', 'History', 'Show the audit log of this message'),
      kind === 'access' ? null : button('access', 'Reads', 'Show who read this message (access log)'),
    ];
  }

  /** A shortened id: the short form is seen, the whole one is in the title, for screen readers, and copied. */
  function idEl(what, id, testid, extra = null) {
    const short = shortId(id);
    const shortened = short !== String(id);
    const copy = h('button', {
      type: 'button', class: 'btn-copy', testid: `${testid}-copy`, 'aria-label': `Copy the whole ${what}`,
      title: `Copy the whole ${what}`,
      onclick: () => copyText(String(id), what),
    }, 'Copy');
    return h('span', { class: 'audit-id' },
      h('span', { class: 'audit-id-text', title: String(id), testid, dataset: { full: String(id) } },
        shortened ? [h('span', { 'aria-hidden': 'true' }, short), srOnly(String(id))] : short),
      ' ', copy, extra ? [' ', extra] : null);
  }

  async function copyText(text, what) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = h('textarea', { class: 'sr-only', 'aria-hidden': 'true' });
      area.value = text;
      document.body.append(area);
      area.select();
      const ok = document.execCommand && document.execCommand('copy');
      area.remove();
      if (!ok) { ctx.announce(`The ${what} could not be copied: ${text}`); return; }
    }
    ctx.announce(`The ${what} was copied.`);
  }

  const part = (label, ...value) => h('span', { class: 'audit-part' }, h('span', { class: 'audit-label' }, `${label} `), ...value);

  function auditItem(e) {
    const d = e.details && typeof e.details === 'object' ? e.details : {};
    const between = d.sender && d.recipient ? `${d.sender} → ${d.recipient}` : null;
    const detailRows = Object.entries(d).filter(([, v]) => v !== null && v !== undefined && v !== '');
    return h('li', {
      class: 'audit-item audit-entry', testid: 'audit-entry', tabindex: '-1',
      dataset: { action: e.action, actor: e.actor || '', position: String(e.position), messageId: e.message_id || '' },
    },
    h('span', { class: 'item-top' }, actionEl(e.action, d), timeOf(e.occurred_at)),
    h('span', { class: 'audit-parts' },
      part('by', h('strong', { testid: 'audit-actor' }, e.actor || 'the system')),
      e.message_id ? part('message', idEl('message id', e.message_id, 'audit-message-id', traceButtons(e.message_id, 'audit-message-id'))) : null,
      between ? part('between', between) : null,
      // Why an administrator erased a message or set a hold is what the reader looks for.
      WHY_SHOWN.has(e.action) && typeof d.reason === 'string' && d.reason
        ? part('because', h('span', { testid: 'audit-reason' }, `“${d.reason}”`)) : null),
    h('span', { class: 'audit-parts audit-meta' },
      part('position', String(e.position)),
      e.request_id ? part('request', idEl('request id', e.request_id, 'audit-request-id')) : null,
      e.client_ip ? part('from address', e.client_ip) : null),
    detailRows.length ? h('details', { class: 'audit-details' },
      h('summary', {}, 'All details'),
      h('dl', {}, detailRows.map(([k, v]) => [h('dt', { title: k }, detailLabel(k)), h('dd', { dataset: { key: k } }, detailValue(k, v))]))) : null);
  }

  function detailValue(key, value) {
    if (typeof value === 'string' && isUuid(value)) return idEl(detailLabel(key).toLowerCase(), value, 'audit-detail-id');
    if (typeof value === 'string' && /_role$/.test(key)) return roleLabel(value);
    if (key === 'held' && typeof value === 'boolean') return holdWords(value);
    if (key === 'send_at' && typeof value === 'string' && !Number.isNaN(Date.parse(value))) {
      return h('time', { datetime: value, title: `${value} (UTC)` }, exactTime(value));
    }
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }

  function accessItem(e) {
    const messageIds = Array.isArray(e.message_ids) ? e.message_ids : [];
    return h('li', {
      class: 'audit-item access-entry', testid: 'access-entry', tabindex: '-1',
      dataset: { action: e.action, actor: e.actor || '', id: String(e.id), counterpart: e.counterpart || '' },
    },
    h('span', { class: 'item-top' }, actionEl(e.action), timeOf(e.occurred_at)),
    h('span', { class: 'audit-parts' },
      part('by', h('strong', { testid: 'access-actor' }, e.actor), e.role ? ` (${roleLabel(e.role)})` : ''),
      e.counterpart ? part('about', h('strong', { testid: 'access-counterpart' }, e.counterpart)) : null,
      part('showed', h('span', { testid: 'access-result-count' }, count(e.result_count ?? 0, 'item'))),
      e.query_length !== null && e.query_length !== undefined
        ? part('search', `${count(e.query_length, 'character')} long (its text is not recorded)`) : null),
    h('span', { class: 'audit-parts audit-meta' },
      part('entry', String(e.id)),
      e.request_id ? part('request', idEl('request id', e.request_id, 'access-request-id')) : null,
      e.client_ip ? part('from address', e.client_ip) : null),
    messageIds.length ? h('details', { class: 'audit-details' },
      h('summary', {}, `${count(messageIds.length, 'message')} shown`),
      h('ul', { class: 'audit-ids' }, messageIds.map((id) => h('li', {}, idEl('message id', id, 'access-message-id', traceButtons(id, 'access-message-id')))))) : null);
  }

  // ---- Export --------------------------------------------------------------------------------

  async function onExport() {
    if (exporting) return;
    // What the form says is what is exported: filters changed but not yet applied are applied first.
    const filters = readForm();
    if (!filters) return;
    if (JSON.stringify(filters) !== JSON.stringify(applied)) {
      applied = filters;
      load(false);
    }
    const chosen = format.value === 'json' ? 'json' : 'csv';
    const controller = new AbortController();
    exporting = controller;
    exportButton.disabled = true;
    cancelButton.hidden = false;
    cancelButton.onclick = () => controller.abort();
    exportStatus.dataset.state = 'running';
    exportStatus.textContent = 'Exporting… 0 entries so far.';
    ctx.clearError();
    const startedAt = new Date();
    try {
      const { entries, complete } = await collect(kind, filters, {
        signal: controller.signal,
        onProgress: (n) => { exportStatus.textContent = `Exporting… ${count(n, 'entry', 'entries')} so far.`; },
      });
      const name = fileName(kind, chosen, startedAt);
      const text = chosen === 'json'
        ? toJson(kind, entries, { filters, complete, exportedAt: startedAt.toISOString() })
        : toCsv(kind, entries);
      download(text, name, chosen === 'json' ? 'application/json' : 'text/csv;charset=utf-8');
      exportStatus.dataset.state = complete ? 'done' : 'capped';
      exportStatus.textContent = complete
        ? `Exported ${count(entries.length, 'entry', 'entries')} to ${name}.`
        : `The export stopped at ${EXPORT_CAP.toLocaleString()} entries: ${name} holds the oldest ${count(entries.length, 'entry', 'entries')}. Narrow the filters (a shorter time range) to export the rest.`;
    } catch (error) {
      if (error.name === 'AbortError') {
        exportStatus.dataset.state = 'stopped';
        exportStatus.textContent = 'The export was stopped; no file was made.';
      } else {
        exportStatus.dataset.state = 'failed';
        exportStatus.textContent = 'The export failed; no file was made.';
        ctx.showError(error);
      }
    } finally {
      exporting = null;
      exportButton.disabled = false;
      cancelButton.hidden = true;
      if (document.activeElement === cancelButton || document.activeElement === document.body) exportButton.focus();
    }
  }

  return {
    el,
    show: () => { if (!loaded) load(false); },
    reload: () => load(false),
    trace: traceMessage,
    focusSummary: () => summary.focus(),
  };
}
