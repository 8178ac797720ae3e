// Clinician templates (GET/POST /api/messages/templates, PUT/DELETE /api/messages/templates/{id}):
// ready-made messages to start from in "New message". One form creates a template or, after
// "Edit", changes one; delete asks first. At most 200 templates each (the server answers 409).
import { h, timeEl, viewHeading } from '../dom.js';
import { newIdempotencyKey } from '../api.js';

const MAX_TEMPLATES = 200;

export function templatesView(ctx) {
  const list = h('ul', { class: 'item-list', testid: 'templates-list', 'aria-labelledby': 'templates-list-title' });
  const empty = h('p', { class: 'empty', hidden: true, testid: 'templates-empty' },
    'You have no templates yet. Write your first one above.');
  const tally = h('p', { class: 'hint', testid: 'templates-count' });

  const title = h('input', {
    id: 'template-title', name: 'title', type: 'text', required: true, maxlength: '100', testid: 'template-title',
    'aria-describedby': 'template-title-hint',
  });
  const subject = h('input', { id: 'template-subject', name: 'subject', type: 'text', maxlength: '255', testid: 'template-subject' });
  const content = h('textarea', { id: 'template-content', name: 'content', rows: '6', required: true, maxlength: '10000', testid: 'template-content' });
  const formTitle = h('h2', { id: 'template-form-title', class: 'card-title', tabindex: '-1', testid: 'template-form-title' }, 'New template');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'template-save' }, 'Save template');
  const stopEditing = h('button', {
    type: 'button', class: 'btn btn-quiet', testid: 'template-edit-cancel', hidden: true, onclick: () => endEdit(true),
  }, 'Stop editing');
  const status = h('p', { class: 'form-status', role: 'status', testid: 'template-status' });
  const form = h('form', { class: 'card stack', onsubmit: onSubmit, 'aria-labelledby': 'template-form-title', testid: 'template-form' },
    formTitle,
    h('div', { class: 'field' },
      h('label', { for: 'template-title' }, 'Title'), title,
      h('p', { id: 'template-title-hint', class: 'hint' }, 'Only you see the title; it names the template in “New message”.')),
    h('div', { class: 'field' },
      h('label', { for: 'template-subject' }, 'Subject ', h('span', { class: 'muted' }, '(optional)')), subject),
    h('div', { class: 'field' }, h('label', { for: 'template-content' }, 'Message'), content),
    h('div', { class: 'form-actions' }, submit, stopEditing, status));

  const el = h('section', { class: 'view', 'aria-labelledby': 'templates-title' },
    viewHeading('Templates', 'templates-title'),
    h('p', { class: 'view-intro' }, 'Messages you write often. Choose one in “New message” to fill in the subject and message.'),
    form,
    h('h2', { id: 'templates-list-title', class: 'section-title' }, 'Your templates'),
    tally, list, empty);

  let editing = null; // the template being changed, or null while the form creates one
  let key = null; // the Idempotency-Key of a new template, kept for a retry of the same one
  form.addEventListener('input', () => { key = null; });
  let seq = 0;

  async function load() {
    const mine = ++seq;
    list.setAttribute('aria-busy', 'true');
    try {
      const { templates } = await ctx.api.templates();
      if (mine !== seq) return;
      list.replaceChildren(...templates.map(item));
      empty.hidden = templates.length > 0;
      tally.textContent = `${templates.length} of ${MAX_TEMPLATES} templates`;
      if (editing && !templates.some((t) => t.template_id === editing.template_id)) endEdit(false);
    } catch (error) {
      if (mine === seq) ctx.showError(error);
    } finally {
      if (mine === seq) list.removeAttribute('aria-busy');
    }
  }

  function item(t) {
    const label = `“${t.title}”`;
    const actions = h('div', { class: 'template-actions' });
    const edit = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'template-edit', 'aria-label': `Edit template ${label}`,
      onclick: () => startEdit(t),
    }, 'Edit');
    const del = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'template-delete', 'aria-label': `Delete template ${label}`,
      onclick: askConfirm,
    }, 'Delete');
    actions.append(edit, del);
    const li = h('li', { class: 'template-item', testid: 'template-item', dataset: { templateId: t.template_id } },
      h('div', { class: 'template-main' },
        h('span', { class: 'item-name', testid: 'template-item-title' }, t.title),
        h('span', { class: 'item-subject' }, t.subject || '(no subject)'),
        h('span', { class: 'item-preview' }, t.content),
        t.updated_at ? h('span', { class: 'item-time' }, 'Changed ', timeEl(t.updated_at)) : null),
      actions);

    function askConfirm() {
      const yes = h('button', { type: 'button', class: 'btn btn-danger btn-small', testid: 'template-confirm-delete', onclick: doDelete }, 'Delete');
      const no = h('button', {
        type: 'button', class: 'btn btn-quiet btn-small', testid: 'template-keep',
        onclick: () => { actions.replaceChildren(edit, del); del.focus(); },
      }, 'Keep');
      actions.replaceChildren(h('span', { class: 'confirm-text' }, `Delete ${label}?`), yes, no);
      yes.focus();
    }

    async function doDelete(event) {
      event.currentTarget.disabled = true;
      ctx.clearError();
      try {
        await ctx.api.deleteTemplate(t.template_id);
      } catch (error) {
        actions.replaceChildren(edit, del);
        ctx.showError(error, { action: 'template', focus: true });
        if (error.code === 'not_found') load();
        return;
      }
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      if (editing && editing.template_id === t.template_id) endEdit(false);
      empty.hidden = list.children.length > 0;
      tally.textContent = `${list.children.length} of ${MAX_TEMPLATES} templates`;
      ctx.announce(`Template ${label} deleted.`);
      const focusTarget = next && next.querySelector('[data-testid="template-edit"]');
      (focusTarget || el.querySelector('.view-title')).focus();
    }
    return li;
  }

  function startEdit(t) {
    editing = t;
    title.value = t.title;
    subject.value = t.subject || '';
    content.value = t.content;
    formTitle.textContent = `Edit template “${t.title}”`;
    submit.textContent = 'Save changes';
    stopEditing.hidden = false;
    status.textContent = '';
    ctx.clearError();
    title.focus();
  }

  /** Back to creating; `returnFocus` puts focus on the edited template's Edit button. */
  function endEdit(returnFocus) {
    const was = editing;
    editing = null;
    form.reset();
    formTitle.textContent = 'New template';
    submit.textContent = 'Save template';
    stopEditing.hidden = true;
    if (returnFocus) focusEdit(was);
  }

  function focusEdit(t) {
    const row = t && [...list.querySelectorAll('[data-testid="template-item"]')].find((li) => li.dataset.templateId === t.template_id);
    const button = row && row.querySelector('[data-testid="template-edit"]');
    (button || title).focus();
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const values = { title: title.value, subject: subject.value, content: content.value };
    const changing = editing;
    submit.disabled = true;
    status.textContent = 'Saving…';
    ctx.clearError();
    try {
      if (changing) await ctx.api.updateTemplate(changing.template_id, values);
      else await ctx.api.createTemplate(values, (key = key || newIdempotencyKey()));
    } catch (error) {
      status.textContent = '';
      submit.disabled = false;
      ctx.showError(error, { action: 'template', focus: true });
      if (error.code === 'not_found') load();
      return;
    }
    submit.disabled = false;
    key = null;
    const done = `Template “${values.title.trim()}” ${changing ? 'changed' : 'saved'}.`;
    endEdit(false);
    status.textContent = done;
    ctx.announce(done);
    await load();
    if (changing) focusEdit(changing);
    else title.focus();
  }

  load();
  return { el, refresh: load };
}
