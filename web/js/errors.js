// What an error means to the person using the app: one calm sentence, with the next step, per
// API error code (docs/API.md, "Errors") and per action. The only place where error text is
// written; the server's own message is shown only for invalid input, where it names the field.

const wait = (seconds) => (seconds
  ? `Please wait ${seconds} second${seconds === 1 ? '' : 's'} and try again.`
  : 'Please wait a moment and try again.');

const detail = (error) => {
  const text = typeof error.message === 'string' ? error.message.trim().replace(/[.\s]+$/, '') : '';
  return text ? `${text[0].toUpperCase()}${text.slice(1)}.` : '';
};

// code → { action → sentence or (error) => sentence }; `default` answers every other action.
const SENTENCES = {
  network: {
    default: "We can't reach Healing Space right now. Please check your connection and try again.",
  },
  unauthenticated: {
    login: 'Wrong username or password. Please check both and try again.',
    default: 'Your session has ended. Please sign in again.',
  },
  csrf_failed: {
    default: 'This page is out of step with your sign-in. Please reload the page and try again.',
  },
  rate_limited: {
    login: (e) => `There have been too many sign-in attempts. ${wait(e.retryAfter)}`,
    default: (e) => `That was a lot at once. ${wait(e.retryAfter)}`,
  },
  invalid_input: {
    login: 'Wrong username or password. Please check both and try again.',
    send: (e) => `${detail(e)} Please change your message and try again.`.trim(),
    reply: (e) => `${detail(e)} Please change your reply and try again.`.trim(),
    schedule: (e) => `${detail(e)} Please change the time or the message and try again.`.trim(),
    'scheduled-edit': (e) => `${detail(e)} Please change the time or the message and try again.`.trim(),
    template: (e) => `${detail(e)} Please change the template and try again.`.trim(),
    broadcast: (e) => `${detail(e)} Nothing was sent. Please check your message and try again.`.trim(),
    block: "You can't block yourself.",
    erase: (e) => `${detail(e)} Please check the message id and the reason (one line, up to 500 characters) and try again.`.trim(),
    hold: (e) => `${detail(e)} Please check the message id and the reason (one line, up to 500 characters) and try again.`.trim(),
    default: (e) => `${detail(e)} Please check what you entered and try again.`.trim(),
  },
  payload_too_large: {
    default: 'That is too long to send. Please shorten it and try again.',
  },
  not_found: {
    send: "We can't find anyone with that username. Please check the spelling and try again.",
    schedule: "We can't find anyone with that username. Please check the spelling and try again.",
    template: 'This template is no longer available. It may already be deleted; the list now shows the latest.',
    'scheduled-edit': 'This scheduled message is no longer available. The list now shows the latest.',
    'scheduled-cancel': 'This scheduled message is no longer available. The list now shows the latest.',
    reply: 'This conversation is no longer available, so the reply was not sent.',
    delete: 'This message is no longer available. It may already be deleted.',
    restore: 'This message is no longer available. Reload the list to see the latest.',
    erase: 'There is no message with this id. Please check the id (copy it from the ticket or the audit trail) and try again.',
    hold: 'There is no message with this id. Please check the id (copy it from the ticket or the audit trail) and try again.',
    block: "We can't find this person. Their account may have been removed.",
    unblock: "We can't find this person. Their account may have been removed.",
    archive: "We can't find this conversation's other person. Their account may have been removed.",
    default: "We can't find what you asked for. It may have been removed.",
  },
  forbidden: {
    send: "You can't start a conversation with this person; you can reply when they write to you.",
    schedule: "You can't start a conversation with this person, so a message to them can't be scheduled.",
    broadcast: 'Only clinicians can write to all their patients at once.',
    reply: "You can't reply in this conversation. You can still read it.",
    delete: "You can't delete this message.",
    block: "You can't block a member of your care team: a patient and their clinician can't block each other. If you want this care relationship to end, please ask an administrator.",
    archive: "You can't archive this conversation.",
    'access-log': 'Only patients can see who accessed their messages.',
    erase: 'Only administrators can erase messages.',
    hold: 'Only administrators can place or release a legal hold.',
    default: "You don't have permission to do this.",
  },
  conflict: {
    restore: 'This message has already been restored. Reload the list to see the latest.',
    erase: 'This message was not erased: it is already erased or under a legal hold. A held message can be erased only after its hold is released.',
    template: 'You have reached the limit of 200 templates. Please delete one you no longer need, then try again.',
    'scheduled-edit': 'This message can no longer be changed: it has already been sent or cancelled. The list now shows the latest.',
    'scheduled-cancel': 'This message can no longer be cancelled: it has already been sent or cancelled. The list now shows the latest.',
    default: 'This has already changed. Please reload the page to see the latest.',
  },
  unavailable: {
    default: (e) => `Healing Space is busy for a moment. ${wait(e.retryAfter)}`,
  },
  internal: {
    default: 'Something went wrong on our side. Please try again in a moment.',
  },
};

const OTHER = 'Something went wrong. Please try again in a moment.';

/** The sentence to show for `error` (an ApiError, any Error or a string) during `action`. */
export function errorSentence(error, action = 'default') {
  if (typeof error === 'string') return error;
  const byAction = (error && SENTENCES[error.code]) || null;
  const sentence = byAction ? (byAction[action] ?? byAction.default) : OTHER;
  return typeof sentence === 'function' ? sentence(error) || OTHER : sentence;
}
