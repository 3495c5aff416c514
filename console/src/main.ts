/**
 * The console's screen (docs/console.md): the profile list that updates by itself, and the profile form
 * with its actions. Every change goes through the broker's API (docs/api.md); the page holds no secret:
 * the Client Secret field is write-only and emptied after each save.
 */
import { api, ApiError, type ConsoleConfig } from './api.js';
import {
  FIELDS,
  bodyFromValues,
  emptyValues,
  errorsByField,
  stateAdvice,
  statusText,
  timeToExpiry,
  valuesFromView,
  type FieldErrors,
  type FieldName,
  type FormValues,
  type ProfileView,
  POLL_INTERVAL_MS,
} from './model.js';

type Selection = { kind: 'new' } | { kind: 'profile'; id: string };

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the console's page`);
  return element as T;
};

const ui = {
  environment: $('environment'),
  newProfile: $<HTMLButtonElement>('new-profile'),
  listProblem: $('list-problem'),
  rows: $<HTMLTableSectionElement>('profile-rows'),
  listEmpty: $('list-empty'),
  listLoading: $('list-loading'),
  formHeading: $('form-heading'),
  formStatus: $('form-status'),
  form: $<HTMLFormElement>('profile-form'),
  advanced: $<HTMLDetailsElement>('advanced'),
  callbackUrl: $<HTMLInputElement>('f-callbackUrl'),
  callbackNote: $('f-callbackUrl-note'),
  copyCallback: $<HTMLButtonElement>('copy-callback'),
  secretHint: $('f-clientSecret-hint'),
  save: $<HTMLButtonElement>('save'),
  authorize: $<HTMLButtonElement>('authorize'),
  copyAuthorizationUrl: $<HTMLButtonElement>('copy-authorization-url'),
  refresh: $<HTMLButtonElement>('refresh'),
  remove: $<HTMLButtonElement>('delete'),
  actionMessage: $('action-message'),
  tokenMessage: $('token-message'),
  announcer: $('announcer'),
};

const input = (name: FieldName) => $<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(`f-${name}`);

let config: ConsoleConfig = { mode: 'local', apiUrl: location.origin, callbackUrl: null };
let profiles: ProfileView[] = [];
let loaded = false;
/** Whether the form shows what the address says yet (after the first list read, or its failure). */
let routed = false;
/** Counts this page's own changes: a list read that started before one of them is stale and dropped. */
let changes = 0;
let selection: Selection = { kind: 'new' };
/** The values the form was last filled with, to tell unsaved changes. */
let pristine: FormValues = emptyValues();

// ---------------------------------------------------------------------------------------------------
// Small DOM helpers
// ---------------------------------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<Record<string, string>> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) if (value !== undefined) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

/** Says `text` through the polite live region (cleared first, so that a repeated text is read again). */
function announce(text: string): void {
  ui.announcer.textContent = '';
  window.setTimeout(() => (ui.announcer.textContent = text), 50);
}

/** Where an action's outcome is said: beside the token actions, or beside Save and Delete. */
type Area = 'token' | 'form';

const areaOf = (area: Area) => (area === 'token' ? ui.tokenMessage : ui.actionMessage);

function showMessage(area: Area, kind: 'info' | 'success' | 'error', text: string, ...extra: Node[]): void {
  const element = areaOf(area);
  element.className = `action-message ${kind}`;
  element.replaceChildren(el('span', {}, text), ...extra);
}

function clearMessages(): void {
  for (const element of [ui.actionMessage, ui.tokenMessage]) {
    element.className = 'action-message';
    element.replaceChildren();
  }
}

function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** Runs an action with its button busy (no double submission); errors land next to the actions. */
async function busy(button: HTMLButtonElement, area: Area, action: () => Promise<void>): Promise<void> {
  if (button.getAttribute('aria-busy') === 'true') return;
  button.setAttribute('aria-busy', 'true');
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    showMessage(area, 'error', describeError(error));
  } finally {
    button.removeAttribute('aria-busy');
    updateActions();
  }
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

function timeOfDay(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// ---------------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------------

function expiryText(view: ProfileView): string {
  const text = timeToExpiry(view.status, Date.now());
  return text === '-' ? '—' : text;
}

function lastErrorText(view: ProfileView): string {
  const error = view.status.lastError;
  return error ? `${error.code}: ${error.message}` : '—';
}

function statusCell(view: ProfileView): HTMLElement {
  const ready = view.status.state === 'ready';
  return el('span', { class: `state ${ready ? 'ready' : `not-ready state-${view.status.state}`}`, title: view.status.state }, statusText(view.status.state));
}

function renderRows(): void {
  ui.listLoading.hidden = loaded;
  ui.listEmpty.hidden = !loaded || profiles.length > 0;
  const existing = new Map<string, HTMLTableRowElement>();
  for (const row of Array.from(ui.rows.rows)) existing.set(row.dataset.id ?? '', row);
  profiles.forEach((view, index) => {
    let row = existing.get(view.id);
    existing.delete(view.id);
    if (!row) {
      const link = el('a', { href: `#/profiles/${encodeURIComponent(view.id)}`, class: 'profile-link' }, view.id);
      row = el('tr', {}, el('td', { class: 'id' }, link), el('td', { class: 'status' }), el('td', { class: 'expiry' }), el('td', { class: 'last-error' }));
      row.dataset.id = view.id;
    }
    if (ui.rows.rows[index] !== row) ui.rows.insertBefore(row, ui.rows.rows[index] ?? null);
    const [, status, expiry, lastError] = Array.from(row.cells);
    const mark = statusCell(view);
    if (status && status.textContent !== mark.textContent) status.replaceChildren(mark);
    if (expiry && expiry.textContent !== expiryText(view)) expiry.textContent = expiryText(view);
    if (lastError && lastError.textContent !== lastErrorText(view)) {
      lastError.textContent = lastErrorText(view);
      lastError.title = view.status.lastError ? lastErrorText(view) : '';
    }
    const selected = selection.kind === 'profile' && selection.id === view.id;
    row.classList.toggle('selected', selected);
    const link = row.querySelector('a');
    if (selected) link?.setAttribute('aria-current', 'true');
    else link?.removeAttribute('aria-current');
  });
  for (const row of existing.values()) row.remove();
}

/** Re-reads the list; announces state changes; keeps the form's values (a person may be typing). */
async function poll(): Promise<void> {
  const startedAt = changes;
  let next: ProfileView[];
  try {
    next = await api.list();
  } catch (error) {
    ui.listProblem.textContent = `The list cannot be updated: ${describeError(error)} Retrying…`;
    ui.listProblem.hidden = false;
    ui.listLoading.hidden = true;
    // The form still works (e.g. an identity that may create profiles but not list them).
    if (!routed) route();
    return;
  }
  if (startedAt !== changes) return;
  ui.listProblem.hidden = true;
  const before = new Map(profiles.map((view) => [view.id, view.status.state]));
  profiles = next.sort((a, b) => a.id.localeCompare(b.id));
  if (loaded) {
    for (const view of profiles) {
      const was = before.get(view.id);
      if (was !== undefined && was !== view.status.state) {
        // What the token actions said ("sign in there…") is overtaken by the new state.
        if (selection.kind === 'profile' && selection.id === view.id) showMessage('token', view.status.state === 'ready' ? 'success' : 'info', `Now ${view.status.state === 'ready' ? '✓ ready' : view.status.state}.`);
        announce(view.status.state === 'ready' ? `Profile ${view.id} is ready ✓` : `Profile ${view.id} is now ${view.status.state}`);
      }
    }
  }
  loaded = true;
  renderRows();
  if (!routed) {
    route();
    return;
  }
  if (selection.kind === 'profile' && !current()) {
    const gone = selection.id;
    history.replaceState(null, '', '#/new');
    showNew();
    showMessage('form', 'error', `Profile “${gone}” no longer exists: it was deleted elsewhere.`);
    announce(`Profile ${gone} was deleted elsewhere`);
    return;
  }
  renderStatus();
}

function schedulePolling(): void {
  const tick = async () => {
    await poll();
    window.setTimeout(() => void tick(), POLL_INTERVAL_MS);
  };
  void tick();
  // A tab in the background is polled less often by the browser: catch up as soon as it is seen again.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void poll();
  });
}

// ---------------------------------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------------------------------

function current(): ProfileView | undefined {
  return selection.kind === 'profile' ? profiles.find((view) => view.id === (selection as { id: string }).id) : undefined;
}

function readValues(): FormValues {
  const values = emptyValues();
  for (const name of FIELDS) {
    const control = input(name);
    if (name === 'usePkce') values.usePkce = (control as HTMLInputElement).checked;
    else values[name] = control.value;
  }
  return values;
}

function writeValues(values: FormValues): void {
  for (const name of FIELDS) {
    const control = input(name);
    if (name === 'usePkce') (control as HTMLInputElement).checked = values.usePkce;
    else control.value = values[name];
  }
  pristine = readValues();
}

/** Said after Authorize and Copy Authorization URL when the form differs from what is stored. */
function unsavedNote(): string {
  return isDirty() ? ' It uses the saved profile: Save first to use your changes.' : '';
}

function isDirty(): boolean {
  const now = readValues();
  return FIELDS.some((name) => now[name] !== pristine[name]);
}

function clearFieldErrors(): void {
  for (const name of FIELDS) {
    const message = $(`f-${name}-error`);
    message.hidden = true;
    message.textContent = '';
    input(name).removeAttribute('aria-invalid');
  }
}

/** Shows each error under its field; answers the first field with one (to move the focus there). */
function showFieldErrors(errors: FieldErrors): HTMLElement | undefined {
  let first: HTMLElement | undefined;
  for (const name of FIELDS) {
    const text = errors[name];
    if (!text) continue;
    const message = $(`f-${name}-error`);
    message.textContent = text;
    message.hidden = false;
    const control = input(name);
    control.setAttribute('aria-invalid', 'true');
    if (ui.advanced.contains(control)) ui.advanced.open = true;
    first ??= control;
  }
  return first;
}

function knownCallbackUrl(): string {
  return current()?.callbackUrl ?? profiles[0]?.callbackUrl ?? config.callbackUrl ?? '';
}

function renderSecretHint(): void {
  const view = current();
  const method = input('clientAuthMethod').value;
  const secret = input('clientSecret') as HTMLInputElement;
  if (method === 'none' || method === 'private_key_jwt') {
    ui.secretHint.textContent = method === 'none' ? 'Not used: a public client has no secret.' : 'Not used: the broker signs client assertions with its own key.';
    secret.placeholder = '';
  } else if (view?.hasClientSecret) {
    ui.secretHint.textContent = '✓ A client secret is stored. Leave this empty to keep it; type a new one to replace it.';
    secret.placeholder = 'Stored (hidden)';
  } else {
    ui.secretHint.textContent = 'Write-only: the broker stores it and never shows it again.';
    secret.placeholder = '';
  }
}

function renderGrant(): void {
  const code = input('grantType').value !== 'client_credentials';
  for (const element of Array.from(ui.form.querySelectorAll<HTMLElement>('.field[data-grant="authorization_code"]'))) element.hidden = !code;
}

function renderStatus(): void {
  const view = current();
  if (!view) {
    ui.formStatus.replaceChildren(el('span', { class: 'muted' }, 'Save the profile first; then Authorize it here.'));
    return;
  }
  const ready = view.status.state === 'ready';
  const expiry = timeToExpiry(view.status, Date.now());
  const parts: (Node | string)[] = [statusCell(view), ' ', el('span', { class: 'advice' }, stateAdvice(view))];
  if (expiry !== '-') parts.push(' ', el('span', { class: 'muted' }, expiry === 'expired' ? 'Access token expired.' : `Access token expires in ${expiry}.`));
  if (!ready && view.status.lastError) parts.push(el('span', { class: 'last-error-line' }, `Last error: ${lastErrorText(view)}`));
  ui.formStatus.replaceChildren(...parts);
  if (ui.callbackUrl.value !== view.callbackUrl) ui.callbackUrl.value = view.callbackUrl;
  renderSecretHint();
  updateActions();
}

function updateActions(): void {
  const view = current();
  const saved = view !== undefined;
  const code = (view?.grantType ?? input('grantType').value) !== 'client_credentials';
  const idle = (button: HTMLButtonElement) => button.getAttribute('aria-busy') !== 'true';
  ui.save.disabled = !idle(ui.save);
  ui.authorize.disabled = !saved || !code || !idle(ui.authorize);
  ui.authorize.classList.toggle('attention', view?.status.state === 'authorization_required');
  ui.copyAuthorizationUrl.disabled = !saved || !code || !idle(ui.copyAuthorizationUrl);
  ui.refresh.disabled = !saved || !idle(ui.refresh);
  ui.remove.hidden = !saved;
  ui.remove.disabled = !saved || !idle(ui.remove);
}

function showNew(): void {
  selection = { kind: 'new' };
  ui.formHeading.textContent = 'New profile';
  const id = input('id') as HTMLInputElement;
  id.readOnly = false;
  id.disabled = false;
  writeValues(emptyValues());
  ui.advanced.open = false;
  discoveredPlaceholders(undefined);
  ui.callbackUrl.value = knownCallbackUrl();
  ui.callbackNote.textContent = '';
  renderStatus();
  clearFieldErrors();
  clearMessages();
  renderGrant();
  renderSecretHint();
  updateActions();
  renderRows();
}

const EXAMPLES: Partial<Record<FieldName, string>> = {
  authorizationUrl: 'https://login.example.com/oauth2/authorize',
  tokenUrl: 'https://login.example.com/oauth2/token',
  revocationUrl: 'https://login.example.com/oauth2/revoke',
};

/** An endpoint left empty beside an issuer is discovered: say so instead of showing an example. */
function discoveredPlaceholders(view: ProfileView | undefined): void {
  for (const [name, example] of Object.entries(EXAMPLES) as [FieldName, string][]) {
    (input(name) as HTMLInputElement).placeholder = view?.issuer ? 'Discovered from the issuer' : example;
  }
}

function showProfile(view: ProfileView, options: { keepAdvanced?: boolean } = {}): void {
  selection = { kind: 'profile', id: view.id };
  ui.formHeading.textContent = `Profile ${view.id}`;
  // A profile's id is its name for consumers: it cannot be changed, only deleted and created anew.
  (input('id') as HTMLInputElement).readOnly = true;
  (input('id') as HTMLInputElement).disabled = true;
  writeValues(valuesFromView(view));
  // Each profile starts with the Advanced part closed (a person opens it; errors in it open it); a
  // profile just saved keeps the form as it was.
  if (!options.keepAdvanced) ui.advanced.open = false;
  discoveredPlaceholders(view);
  ui.callbackUrl.value = view.callbackUrl;
  ui.callbackNote.textContent = '';
  clearFieldErrors();
  clearMessages();
  renderGrant();
  renderStatus();
  renderRows();
}

/** Shows what the address says: `#/new`, `#/profiles/<id>`, else the first profile (or a new one). */
function route(): void {
  routed = true;
  const hash = location.hash;
  const match = /^#\/profiles\/(.+)$/.exec(hash);
  if (match) {
    const id = decodeURIComponent(match[1] ?? '');
    const view = profiles.find((candidate) => candidate.id === id);
    if (view) {
      showProfile(view);
      return;
    }
    showNew();
    showMessage('form', 'error', `There is no profile "${id}" (any more).`);
    return;
  }
  if (hash === '#/new' || profiles.length === 0) showNew();
  else showProfile(profiles[0]!);
}

function go(hash: string): void {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// ---------------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------------

async function save(): Promise<void> {
  clearFieldErrors();
  clearMessages();
  const values = readValues();
  const isNew = selection.kind === 'new';
  const id = values.id.trim();
  if (id === '') {
    showFieldErrors({ id: 'Profile ID is required.' })?.focus();
    return;
  }
  const built = bodyFromValues(values, isNew ? undefined : current());
  if ('errors' in built) {
    showFieldErrors(built.errors)?.focus();
    return;
  }
  if (isNew) {
    // PUT replaces: a "new" profile must not silently overwrite a stored one.
    const exists = await api.get(id).then(
      () => true,
      (error: unknown) => {
        if (error instanceof ApiError && (error.status === 404 || error.code === 'invalid_request')) return false;
        throw error;
      },
    );
    if (exists) {
      showFieldErrors({ id: `A profile "${id}" already exists: select it in the list to change it.` })?.focus();
      return;
    }
  }
  let answer: { created: boolean; view: ProfileView };
  try {
    answer = await api.put(id, built.body);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'invalid_request') {
      const { fields, other } = errorsByField(error.message);
      const first = showFieldErrors(fields);
      if (other.length > 0 || !first) showMessage('form', 'error', other.length > 0 ? other.join(' ') : error.message);
      else showMessage('form', 'error', 'Nothing was saved: correct the marked fields, then Save again.');
      first?.focus();
      return;
    }
    throw error;
  }
  changes += 1;
  const { view } = answer;
  profiles = [...profiles.filter((candidate) => candidate.id !== view.id), view].sort((a, b) => a.id.localeCompare(b.id));
  const hash = `#/profiles/${encodeURIComponent(view.id)}`;
  if (location.hash !== hash) history.replaceState(null, '', hash);
  showProfile(view, { keepAdvanced: true });
  const text = `${answer.created ? 'Created' : 'Saved'} profile “${view.id}”.`;
  const next = view.grantType === 'client_credentials' ? ' Use Refresh now to fetch a token.' : view.status.state === 'ready' ? '' : ' Next: Authorize.';
  showMessage('form', 'success', text + next);
  announce(text);
}

async function authorize(): Promise<void> {
  const view = current();
  if (!view) return;
  clearMessages();
  // Opened now, while the click still counts as the person's gesture (else popup blockers step in), and
  // pointed at the authorization URL once the broker has made one.
  const opened = window.open('', '_blank');
  let start;
  try {
    start = await api.authorizeUrl(view.id);
  } catch (error) {
    opened?.close();
    throw error;
  }
  if (!opened) {
    const link = el('a', { href: start.authorizationUrl, target: '_blank', rel: 'noopener noreferrer' }, 'Open the authorization page');
    showMessage('token', 'info', 'The browser blocked the new window. ', link);
    return;
  }
  // The authorization server's page must not be able to navigate this one (reverse tabnabbing).
  opened.opener = null;
  opened.location.replace(start.authorizationUrl);
  showMessage('token', 'info', `Opened the authorization page in a new window: sign in and consent there. The status here turns ✓ by itself.${unsavedNote()}`);
}

async function copyAuthorizationUrl(): Promise<void> {
  const view = current();
  if (!view) return;
  clearMessages();
  const start = await api.authorizeUrl(view.id);
  const validity = `Single use, valid until ${timeOfDay(start.expiresAt)}.`;
  if (await copyText(start.authorizationUrl)) {
    showMessage('token', 'success', `Copied the authorization URL to the clipboard. ${validity} Open it in the browser where you sign in.${unsavedNote()}`);
    announce('Authorization URL copied');
    return;
  }
  const field = el('input', { type: 'text', readonly: '', class: 'copy-fallback', 'aria-label': 'The authorization URL to copy' });
  field.value = start.authorizationUrl;
  showMessage('token', 'info', `The browser did not allow copying: copy the URL from here. ${validity}`, field);
  field.focus();
  field.select();
}

async function refreshNow(): Promise<void> {
  const view = current();
  if (!view) return;
  clearMessages();
  const after = await api.refresh(view.id);
  changes += 1;
  profiles = profiles.map((candidate) => (candidate.id === after.id ? after : candidate));
  renderRows();
  renderStatus();
  const { state, lastError } = after.status;
  if (state === 'ready') showMessage('token', 'success', `✓ Refreshed: the access token expires in ${timeToExpiry(after.status, Date.now())}.`);
  else showMessage('token', 'error', `✗ Still ${state} after the refresh${lastError ? `: ${lastError.code}: ${lastError.message}` : '.'}`);
}

async function remove(): Promise<void> {
  const view = current();
  if (!view) return;
  clearMessages();
  const confirmed = window.confirm(
    `Delete profile "${view.id}"?\n\nIts client secret and tokens are deleted, and its grant is revoked at the authorization server where it offers revocation. Consumers of "${view.id}" stop getting tokens.`,
  );
  if (!confirmed) {
    showMessage('form', 'info', `Profile “${view.id}” was not deleted.`);
    return;
  }
  await api.remove(view.id);
  changes += 1;
  profiles = profiles.filter((candidate) => candidate.id !== view.id);
  renderRows();
  history.replaceState(null, '', profiles.length > 0 ? `#/profiles/${encodeURIComponent(profiles[0]!.id)}` : '#/new');
  route();
  showMessage('form', 'success', `Deleted profile “${view.id}”.`);
  announce(`Deleted profile ${view.id}`);
  ui.formHeading.focus();
}

// ---------------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------------

function wire(): void {
  ui.newProfile.addEventListener('click', () => {
    go('#/new');
    (input('id') as HTMLInputElement).focus();
  });
  ui.rows.addEventListener('click', (event) => {
    const row = (event.target as HTMLElement).closest('tr');
    const id = row?.dataset.id;
    if (!id) return;
    event.preventDefault();
    if (selection.kind === 'profile' && selection.id === id) return;
    go(`#/profiles/${encodeURIComponent(id)}`);
  });
  window.addEventListener('hashchange', () => {
    if (routed) route();
  });
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(ui.save, 'form', save);
  });
  ui.authorize.addEventListener('click', () => void busy(ui.authorize, 'token', authorize));
  ui.copyAuthorizationUrl.addEventListener('click', () => void busy(ui.copyAuthorizationUrl, 'token', copyAuthorizationUrl));
  ui.refresh.addEventListener('click', () => void busy(ui.refresh, 'token', refreshNow));
  ui.remove.addEventListener('click', () => void busy(ui.remove, 'form', remove));
  ui.copyCallback.addEventListener('click', () => {
    void copyText(ui.callbackUrl.value).then((copied) => {
      ui.callbackNote.textContent = copied ? 'Copied.' : 'The browser did not allow copying: select the URL and copy it.';
      if (!copied) ui.callbackUrl.select();
    });
  });
  input('grantType').addEventListener('change', () => {
    renderGrant();
    updateActions();
  });
  input('clientAuthMethod').addEventListener('change', renderSecretHint);
  // An error goes away once its field is changed.
  ui.form.addEventListener('input', (event) => {
    const target = event.target as HTMLElement;
    const name = target.id.replace(/^f-/, '') as FieldName;
    if (!FIELDS.includes(name)) return;
    target.removeAttribute('aria-invalid');
    const message = document.getElementById(`f-${name}-error`);
    if (message) message.hidden = true;
  });
}

async function start(): Promise<void> {
  wire();
  updateActions();
  try {
    config = await api.config();
  } catch {
    // The page still works without it; only the header's environment line and a new profile's callback URL miss it.
  }
  ui.environment.textContent = config.mode === 'local' ? `Local mode · ${config.apiUrl}` : `AWS · ${config.apiUrl} · signed with your AWS credentials`;
  ui.environment.hidden = false;
  schedulePolling();
}

void start();
