/* The rights holders' console: sign in, preserve, capture, list and search, an item's
 * page, bundles, grants, the signing key (docs/console.md).
 *
 * Everything shown comes from the server's answers and is rendered with textContent,
 * never innerHTML (titles, file names and custody entries are other people's input).
 * What the console lets a user try follows the role /v1/me reports; what happens is the
 * server's answer, so a denied action is shown as denied here and refused there.
 */
import * as api from './api.js';
import * as keys from './keys.js';
import { STRINGS } from './i18n.js';

const $ = (id) => document.getElementById(id);
const KINDS = ['screenshot', 'image', 'email', 'chat', 'document', 'web', 'video', 'audio', 'other'];
const VIEWERS = ['submitter', 'court', 'foreign'];
// a grant's legal_basis values (evidence/ledger/access/legal_basis.py BASES; the schema's enum)
const BASES = ['court-order', 'treaty-request', 'own-production', 'dsl-art36-approval',
  'pi-standard-contract', 'pi-certification', 'pi-security-assessment', 'other'];
// refusals whose server detail names what to fix (a field, what is missing): shown in full
const DETAILED = new Set(['legal-basis-required', 'invalid-input']);
const TOKEN_SLOT = 'evidence-console-token';

const state = {
  lang: 'en',
  me: null,           // GET /v1/me
  view: null,
  files: [],          // chosen for submission: File
  upload: null,       // {form fields, files, hashes, sizeBefore, since, pending} of the last try
  list: { items: [], cursor: null, query: null, error: null },
  item: null,         // {id, meta, receipt, custody, anchors, listed, errors}
  grants: null,
  key: null,          // the signing key (keys.js)
  offline: null,      // the action to retry once the server answers again
  busy: 0,
};

// --- language --------------------------------------------------------------------------

function t(key, params) {
  let s = (STRINGS[state.lang] && STRINGS[state.lang][key]) || STRINGS.en[key] || key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

function setLang(lang) {
  state.lang = lang === 'zh' ? 'zh' : 'en';
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const sel of document.querySelectorAll('select.kinds')) {
    for (const o of sel.options) if (o.value) o.textContent = t(`kind_${o.value}`);
  }
  for (const o of $('g-basis').options) if (o.value) o.textContent = basisOption(o.value);
  basisDesc();
  $('lang-zh').setAttribute('aria-pressed', String(state.lang === 'zh'));
  $('lang-en').setAttribute('aria-pressed', String(state.lang === 'en'));
  const said = $('signin-msg');
  if (said.dataset.key && STRINGS.en[said.dataset.key]) said.textContent = t(said.dataset.key);
  document.title = t('title') + (state.lang === 'zh' ? ' · Evidence console' : ' · 证据控制台');
  try { localStorage.setItem('evidence-console-lang', state.lang); } catch (e) { /* private mode */ }
  renderWho(); renderDenied(); renderList(); renderItem(); renderGrants(); renderGrantMsg(); renderKey(); renderChosen();
  if (state.statusMsg) status(state.statusMsg.key, state.statusMsg.params, state.statusMsg.cls);
  for (const [id, draw] of Object.entries(drawn)) if (draw) fill($(id), draw());
  if (!$('up-wrap').hidden && state.upProgress) progress(state.upProgress.sent, state.upProgress.total);
}

// --- small DOM helpers -----------------------------------------------------------------

function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') n.textContent = v;
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined && kid !== false) n.append(kid);
  return n;
}

const fill = (node, ...kids) => { node.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false)); };

function humanSize(n) {
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${u[i]}`;
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const loc = state.lang === 'zh' ? 'zh-CN' : 'en-GB';
  const opts = { dateStyle: 'medium', timeStyle: 'medium' };
  const utc = d.toLocaleString(loc, { ...opts, timeZone: 'UTC' });
  const bj = d.toLocaleString(loc, { ...opts, timeZone: 'Asia/Shanghai' });
  return state.lang === 'zh' ? `${bj}（北京时间） / ${utc} UTC` : `${utc} UTC / ${bj} Beijing`;
}

function status(key, params, cls) {
  const s = $('status');
  state.statusMsg = key ? { key, params, cls } : null;  // drawn again on a language switch
  s.className = `status ${cls || ''}`;
  s.dataset.key = key || '';
  s.textContent = key ? t(key, params) : '';
}

/** What the submit and capture boxes show, kept as a function that draws it in the
 * current language: a language switch draws it again instead of leaving the old words. */
const drawn = {};

function say(id, draw) {
  drawn[id] = draw || null;
  fill($(id), draw ? draw() : null);
}

/** An error whose words are ours: kept as a key and its values, so that it can be said
 * again in the other language. */
class Said extends Error {
  /** ``named``: values that are themselves keys (a field's label), said in the language too. */
  constructor(key, params, named) {
    super('');
    this.key = key; this.params = params || {}; this.named = named || {};
    this.message = this.text();
  }

  text() {
    const named = Object.fromEntries(Object.entries(this.named).map(([k, v]) => [k, t(v)]));
    return t(this.key, { ...this.params, ...named });
  }
}

const errText = (err) => (err instanceof Said ? err.text() : String(err && err.message || err));

/** A message for an error of any call: the server's refusal (its code, its words), or
 * the server being unreachable. */
function problemText(err) {
  if (err instanceof api.Unreachable) return t('unreachable');
  if (err instanceof api.ApiError) {
    const known = STRINGS[state.lang][`code_${err.code}`];
    if (known && DETAILED.has(err.code) && err.doc && err.doc.detail) return `${known} (${err.code}): ${err.doc.detail}`;
    return known ? `${known} (${err.code})` : `${t('refused')}: ${err.message} (${err.code})`;
  }
  return String(err && err.message || err);
}

function problemBox(err) {
  return el('p', { class: 'msg bad', 'data-code': err && err.code || 'error', role: 'alert' }, problemText(err));
}

// --- the server being down ---------------------------------------------------------------

function showUnreachable(retry) {
  state.offline = retry;
  $('alert').hidden = false;
  $('alert-text').textContent = t('server_down');
  $('retry').hidden = false;
}

function clearUnreachable() {
  state.offline = null;
  $('alert').hidden = true;
  $('retry').hidden = true;
}

/** Run ``fn``; if the server does not answer, say so, resolve undefined, and offer
 * ``again`` (the whole action the user asked for) behind the retry button. */
async function guarded(fn, again) {
  try {
    const out = await fn();
    clearUnreachable();
    return out;
  } catch (err) {
    if (err instanceof api.Unreachable) {
      showUnreachable(again);
      return undefined;
    }
    throw err;
  }
}

// --- sign in, sign out -------------------------------------------------------------------

api.onSignedOut((err) => signOut(err.code === 'token-expired' ? 'signed_out_expired'
                                 : err.code === 'token-revoked' ? 'signed_out_revoked' : 'signed_out_invalid'));

function signOut(reason) {
  api.setToken(null);
  try { sessionStorage.removeItem(TOKEN_SLOT); } catch (e) { /* nothing kept */ }
  state.me = null; state.item = null; state.grants = null; state.grantMsg = null;
  state.list = { items: [], cursor: null, query: null, error: null };
  $('token').value = '';
  fill($('list-results')); fill($('item-body')); fill($('grants-list')); say('submit-result', null); say('capture-result', null); fill($('grant-msg'));
  renderWho();
  const msg = $('signin-msg');
  msg.dataset.key = reason || '';
  msg.textContent = reason ? t(reason) : '';
  msg.className = reason && reason !== 'signed_out' ? 'msg bad' : 'msg';
  if (location.hash !== '#/signin') location.hash = '#/signin'; else route();
}

async function signIn(token) {
  api.setToken(token);
  let me;
  try {
    me = await api.call('GET', '/v1/me');
  } catch (err) {
    api.setToken(null);
    if (err instanceof api.Unreachable) {
      showUnreachable(() => signIn(token));
      return;
    }
    const msg = $('signin-msg');
    msg.className = 'msg bad';
    msg.dataset.key = err.code;
    msg.textContent = problemText(err);
    return;
  }
  clearUnreachable();
  try { sessionStorage.setItem(TOKEN_SLOT, token); } catch (e) { /* tab only */ }
  state.me = me;
  $('signin-msg').textContent = '';
  fillCases();
  renderWho(); renderDenied();
  const home = can('list') ? '#/list' : '#/grants';
  if (!location.hash || location.hash === '#/' || location.hash === '#/signin') location.hash = home;
  else route();  // a reload keeps its page
}

function renderWho() {
  const me = state.me;
  $('nav').hidden = !me;
  $('signout').hidden = !me;
  $('whoami').hidden = !me;
  if (me) {
    $('whoami').textContent = t('whoami', { name: me.display_name || me.id, id: me.id,
                                           role: t(`role_${me.role}`) });
  }
}

// --- what a role may do ------------------------------------------------------------------

/** Whether the console offers ``action`` to the signed-in principal: the rules of the
 * API's permission matrix (docs/api.md), so that what is offered is what is allowed. */
function can(action) {
  const me = state.me;
  if (!me) return false;
  const member = me.cases.length > 0;
  switch (action) {
    case 'list': case 'view': case 'download': case 'export': return VIEWERS.includes(me.role);
    case 'submit': case 'capture': case 'key': return me.role === 'submitter' && member;
    case 'grants': return true;
    case 'grant_create': return (me.role === 'submitter' || me.role === 'court') && member;
    case 'receipt': case 'custody': return VIEWERS.includes(me.role) || me.role === 'auditor';
    default: return false;
  }
}

function canRevoke(g) {
  const me = state.me;
  if (!me || g.status === 'revoked') return false;
  return me.role === 'admin' || g.granted_by === me.id ||
    ((me.role === 'submitter' || me.role === 'court') && me.cases.includes(g.case_id));
}

function renderDenied() {
  for (const a of document.querySelectorAll('#nav [data-action]')) {
    const ok = can(a.dataset.action);
    a.dataset.allowed = String(ok);
    if (ok) a.removeAttribute('aria-disabled'); else a.setAttribute('aria-disabled', 'true');
    a.title = ok ? '' : t(`deny_${a.dataset.action}`, { role: state.me ? t(`role_${state.me.role}`) : '' });
  }
  for (const p of document.querySelectorAll('[data-denied]')) {
    const action = p.dataset.denied;
    const ok = can(action);
    p.hidden = ok || !state.me;
    p.textContent = ok ? '' : t(`deny_${action}`, { role: state.me ? t(`role_${state.me.role}`) : '' });
    const form = p.parentElement.querySelector('form');
    if (form) for (const c of form.elements) c.disabled = !ok;
  }
  if (state.me) {
    for (const c of $('keygen-form').elements) c.disabled = !can('key');
    for (const id of ['k-file', 'key-export', 'key-delete']) $(id).disabled = !can('key');
  }
}

// --- routing -------------------------------------------------------------------------------

function route() {
  const h = location.hash || '#/';
  let view = 'signin', arg = null;
  if (state.me) {
    const m = /^#\/(list|submit|capture|grants|key|item)(?:\/(.+))?$/.exec(h);
    view = m ? m[1] : (can('list') ? 'list' : 'grants');
    arg = m && m[2] ? decodeURIComponent(m[2]) : null;
  }
  state.view = view;
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${view}`;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === `#/${view}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  status('');
  if (view === 'list' && can('list') && state.list.query === null) search();
  if (view === 'item' && arg) openItem(arg);
  if (view === 'grants') loadGrants();
  if (view === 'key') loadKey();
  if (view === 'signin') $('token').focus();
}

// --- cases and kinds in the forms ----------------------------------------------------------

function fillCases() {
  const cases = state.me ? state.me.cases : [];
  for (const id of ['f-case', 'c-case']) {
    fill($(id), cases.map((c) => el('option', { value: c, text: c })));
  }
  const s = $('s-case');
  fill(s, el('option', { value: '', 'data-i18n': 'any', text: t('any') }), cases.map((c) => el('option', { value: c, text: c })));
}

function fillKinds() {
  for (const sel of document.querySelectorAll('select.kinds')) {
    const any = sel.id === 's-kind';
    fill(sel, any ? el('option', { value: '', 'data-i18n': 'any', text: t('any') }) : null,
         // a web capture is made by the server (Capture), never uploaded: searchable only
         (any ? [...KINDS, 'webcapture'] : KINDS).map((k) => el('option', { value: k, text: t(`kind_${k}`) })));
  }
  $('f-kind').value = 'document';
  kindFields();
}

function kindFields() {
  const kind = $('f-kind').value;
  for (const d of document.querySelectorAll('#submit-form [data-kinds]')) {
    d.hidden = !d.dataset.kinds.split(' ').includes(kind);
  }
}

// --- list and search -----------------------------------------------------------------------

function dayStart(value) { return value ? new Date(`${value}T00:00:00`).toISOString() : null; }

async function search(more) {
  if (!can('list')) return;
  const q = more ? state.list.query : {
    q: $('s-q').value.trim() || null, case: $('s-case').value || null, kind: $('s-kind').value || null,
    status: $('s-status').value || null, since: dayStart($('s-since').value), until: dayStart($('s-until').value),
  };
  state.list.query = q;
  if (!more) { state.list.items = []; state.list.cursor = null; }
  state.list.error = null;
  status('loading');
  try {
    const page = await guarded(() => api.call('GET', '/v1/evidence', {
      query: { ...q, limit: 50, cursor: more ? state.list.cursor : null } }), () => search(more));
    if (page === undefined) { status(''); return; }
    state.list.items.push(...page.items);
    state.list.cursor = page.next_cursor;
    status('list_count', { n: state.list.items.length });
  } catch (err) {
    state.list.error = err;
    status('');
  }
  renderList();
}

function statusBadge(s) {
  return el('span', { class: `badge st-${s}`, 'data-status': s }, t(`st_${s}`));
}

function renderList() {
  const box = $('list-results');
  const { items, error, cursor, query } = state.list;
  $('more-btn').hidden = !cursor || !state.me;
  if (!state.me) return fill(box);
  if (error) return fill(box, problemBox(error));
  if (query === null) return fill(box);
  if (!items.length) return fill(box, el('p', { class: 'empty' }, t('list_empty')));
  fill(box, el('div', { class: 'scroll' }, el('table', { class: 'items' },
    el('caption', { class: 'sr' }, t('list_h')),
    el('thead', {}, el('tr', {}, ['col_title', 'col_kind', 'col_case', 'col_time', 'col_status', 'col_files']
      .map((k) => el('th', { scope: 'col' }, t(k))))),
    el('tbody', {}, items.map((it) => el('tr', { 'data-id': it.evidence_id },
      el('td', {}, el('a', { href: `#/item/${encodeURIComponent(it.evidence_id)}` },
        it.purged ? t('purged_title') : (it.title || it.evidence_id)),
        el('div', { class: 'sub hash' }, it.evidence_id)),
      el('td', {}, t(`kind_${it.kind}`)),
      el('td', {}, it.case),
      el('td', {}, when(it.time)),
      el('td', {}, statusBadge(it.status)),
      el('td', {}, it.files.map((f) => el('div', {}, `${f.name} (${humanSize(f.size)})`)))))))));
}

// --- an item's page ------------------------------------------------------------------------

async function openItem(id) {
  state.item = { id, meta: null, receipt: null, custody: null, listed: null, anchors: null,
                 errors: {}, previews: {}, notice: null };
  renderItem();
  status('loading');
  const it = state.item;
  const step = async (name, allowed, fn) => {
    if (!allowed) { it.errors[name] = 'denied'; return; }
    try { it[name] = await fn(); } catch (err) {
      if (err instanceof api.Unreachable) throw err;
      it.errors[name] = err;
    }
  };
  const enc = encodeURIComponent(id);
  const done = await guarded(async () => {
    // the listing and the receipt first: neither is recorded, and both name the state the
    // page shows; the metadata view is recorded in the item's custody (docs/api.md)
    await step('listed', can('list'), async () => {
      const page = await api.call('GET', '/v1/evidence', { query: { q: id, limit: 50 } });
      return page.items.find((x) => x.evidence_id === id) || null;
    });
    await step('receipt', can('receipt'), () => api.call('GET', `/v1/evidence/${enc}/receipt`));
    if (it.receipt) {
      await step('anchors', true, () => api.call('GET', '/v1/log/anchors', { query: { seq: it.receipt.seq }, auth: false }));
    }
    await step('meta', can('view'), () => api.call('GET', `/v1/evidence/${enc}`));
    await step('custody', can('custody'), () => api.call('GET', `/v1/evidence/${enc}/custody`));
    return true;
  }, () => openItem(id));
  if (state.item !== it) return;
  status(done ? 'item_loaded' : '');
  renderItem();
  $('item-h').focus();
}

function decodeEntry(b64) {
  try {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) { return null; }
}

function custodyLine(e) {
  const entry = decodeEntry(e.entry_b64);
  const body = entry && entry.body || {};
  const who = body.principal || body.granted_by || body.revoked_by || '';
  const extra = [];
  if (body.action) extra.push(t(`act_${body.action}`));
  if (body.grantee) extra.push(t('to_grantee', { who: body.grantee }));
  if (body.recipient_organisation || body.recipient_jurisdiction) {
    extra.push([body.recipient_organisation, body.recipient_jurisdiction && `(${body.recipient_jurisdiction})`].filter(Boolean).join(' '));
  }
  if (body.legal_basis) {
    extra.push(t('legal_basis', { basis: basisWords(body.legal_basis) }) + (body.legal_basis_ref ? ` ${body.legal_basis_ref}` : ''));
  }
  if (body.purpose) extra.push(t('purpose_is', { what: body.purpose }));
  if (body.sha256) extra.push(body.sha256.slice(0, 12) + '…');
  if (body.fixity) extra.push(t('fixity_bad', { what: body.fixity }));
  return el('li', { 'data-type': e.type, 'data-seq': e.seq },
    el('span', { class: 'when' }, when(e.time)), ' ',
    el('strong', {}, t(`ev_${e.type}`) === `ev_${e.type}` ? e.type : t(`ev_${e.type}`)),
    who ? ` · ${who}` : '', extra.length ? ` · ${extra.join(' · ')}` : '', ` · #${e.seq}`);
}

function section(title, ...kids) {
  return el('section', { class: 'panel' }, el('h3', {}, title), ...kids);
}

function deniedOr(err, key) {
  if (err === 'denied') return el('p', { class: 'denied', 'data-denied-item': key }, t(`deny_${key}`, { role: t(`role_${state.me.role}`) }));
  return problemBox(err);
}

function renderItem() {
  const it = state.item;
  if (!it || !state.me) return;
  const body = $('item-body');
  const meta = it.meta;
  $('item-h').textContent = meta && meta.metadata && meta.metadata.title ? meta.metadata.title
    : (it.listed && it.listed.title) || it.id;
  const parts = [];
  if (it.notice) parts.push(it.notice);
  // anchoring status
  const st = it.listed ? it.listed.status : null;
  const anch = [];
  if (st) anch.push(el('p', {}, statusBadge(st), ' ', t(`st_${st}_long`)));
  const a = it.anchors;
  if (a) {
    if (a.timestamped) {
      for (const ts of a.timestamped.timestamps) {
        anch.push(el('p', { class: 'tsa', 'data-tsa': ts.source },
          t('anchored_by_tsa', { tsa: ts.source, time: when(ts.gen_time), size: a.timestamped.size })));
      }
    }
    if (a.witnessed) {
      for (const w of a.witnessed.cosignatures) {
        anch.push(el('p', { class: 'witness', 'data-witness': w.source },
          t('cosigned_by', { witness: w.source, size: a.witnessed.size,
                             time: w.cosigned_at ? when(new Date(w.cosigned_at * 1000).toISOString()) : '' })));
      }
    }
    if (!a.timestamped && !a.witnessed) anch.push(el('p', {}, t('not_anchored_yet')));
  } else if (it.errors.anchors && it.errors.anchors !== 'denied') anch.push(problemBox(it.errors.anchors));
  if (!st && !a && it.errors.listed && it.errors.listed !== 'denied') anch.push(problemBox(it.errors.listed));
  if (anch.length) parts.push(section(t('anchoring_h'), el('div', { id: 'item-anchoring' }, anch)));

  // files, previews, export
  if (meta) {
    const files = el('ul', { class: 'files' }, meta.files.map((f) => {
      const pv = it.previews[f.sha256];
      const isImage = /^image\/(png|jpeg|gif|webp|bmp)$/.test(f.media_type || '');
      return el('li', { 'data-sha256': f.sha256 },
        el('div', {}, el('strong', {}, f.name), ` · ${f.media_type} · ${humanSize(f.size)}`),
        el('div', { class: 'hash' }, `SHA-256 ${f.sha256}`),
        el('div', { class: 'actions' },
          el('button', { type: 'button', class: 'download', disabled: !f.stored || meta.status === 'purged',
                         onclick: () => downloadFile(it, f) }, t('download_btn')),
          isImage ? el('button', { type: 'button', class: 'preview', disabled: !f.stored || meta.status === 'purged',
                                   onclick: () => preview(it, f) }, t('preview_btn')) : null),
        pv && pv.url ? el('figure', { class: 'preview' }, el('img', { src: pv.url, alt: t('preview_alt', { name: f.name }) }),
          el('figcaption', {}, t('preview_checked'))) : null,
        pv && pv.error ? problemBox(pv.error) : null);
    }));
    parts.push(section(t('files_h'), el('p', { class: 'hint' }, t('files_recorded')), files));
    parts.push(section(t('export_h'),
      el('p', {}, t('export_help')),
      reportOptions(),
      el('div', { class: 'actions' },
        el('button', { type: 'button', id: 'export-btn', class: 'primary', onclick: () => exportBundle(it, false) }, t('export_btn')),
        el('button', { type: 'button', id: 'export-prov-btn', hidden: !it.provisionalOffer, onclick: () => exportBundle(it, true) }, t('export_prov_btn'))),
      el('div', { id: 'export-msg', 'aria-live': 'polite' }, exportMsg(it.exportMsg))));
    if (can('grant_create') && state.me.cases.includes(meta.case)) {
      parts.push(el('p', {}, el('button', { type: 'button', id: 'share-btn', onclick: () => shareItem(meta.evidence_id) }, t('share_btn'))));
    }
    // metadata
    const md = meta.metadata || {};
    // what the submitter stated (docs/formats.md: metadata.stated), shown as stated
    const stated = md.stated || {};
    const facts = stated.meta && typeof stated.meta === 'object' ? Object.entries(stated.meta) : [];
    const rows = [['md_id', meta.evidence_id], ['md_kind', t(`kind_${meta.kind}`)], ['md_case', meta.case],
      ['md_by', meta.principal], ['md_time', when(meta.time)], ['md_seq', String(meta.seq)],
      ['md_source', stated.source_url], ['md_captured', stated.captured_at ? when(stated.captured_at) : null],
      ['md_facts', facts.length ? facts.map(([k, v]) => `${k} = ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('; ') : null],
      ['md_signed', meta.submitter_key ? t('signed_by_key', { key: meta.submitter_key }) : t('not_signed')],
      ['md_commitment', meta.commitment_opens === true ? t('commitment_ok') : meta.commitment_opens === false ? t('commitment_bad') : '']];
    parts.push(section(t('metadata_h'), el('dl', { class: 'facts', id: 'item-facts' },
      rows.filter(([, v]) => v).map(([k, v]) => [el('dt', {}, t(k)), el('dd', {}, v)])),
      el('details', {}, el('summary', {}, t('metadata_all')), el('pre', {}, JSON.stringify(md, null, 2)))));
  } else if (it.errors.meta) {
    parts.push(section(t('files_h'), deniedOr(it.errors.meta, 'view')));
  }
  // receipt
  if (it.receipt) {
    parts.push(section(t('receipt_h'), el('p', { class: 'hint' }, t('receipt_help')),
      el('pre', { id: 'item-receipt', class: 'receipt' }, it.receipt.receipt),
      el('p', {}, it.receipt.inclusion_proof ? t('included_in', { size: it.receipt.inclusion_proof.tree_size }) : t('not_in_checkpoint'))));
  } else if (it.errors.receipt) parts.push(section(t('receipt_h'), deniedOr(it.errors.receipt, 'receipt')));
  // custody
  if (it.custody) {
    parts.push(section(t('custody_h'), el('ol', { class: 'custody', id: 'item-custody' }, it.custody.entries.map(custodyLine))));
  } else if (it.errors.custody) parts.push(section(t('custody_h'), deniedOr(it.errors.custody, 'custody')));
  fill(body, parts);
}

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function downloadFile(it, f) {
  status('downloading', { name: f.name });
  try {
    const blob = await guarded(() => api.verifiedFile(it.id, f.sha256), () => downloadFile(it, f));
    if (blob === undefined) return;
    save(blob, f.name);
    status('downloaded', { name: f.name }, 'ok');
  } catch (err) {
    status('');
    it.previews[f.sha256] = { error: err };
    renderItem();
  }
}

async function preview(it, f) {
  status('downloading', { name: f.name });
  try {
    const blob = await guarded(() => api.verifiedFile(it.id, f.sha256), () => preview(it, f));
    if (blob === undefined) return;
    it.previews[f.sha256] = { url: URL.createObjectURL(new Blob([blob], { type: f.media_type })) };
    status('preview_ready', { name: f.name }, 'ok');
  } catch (err) {
    status('');
    it.previews[f.sha256] = { error: err };
  }
  renderItem();
}

/** The bundle report's options (GET .../bundle?tz=&forum=, docs/report.md): the zone of
 * its local times (default the browser's) and whose rules its checklist lists; kept for
 * the session and drawn again in the current language. */
const REPORT = { tz: browserZone(), forum: '' };

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { return ''; }
}

function reportOptions() {
  let zones = [];
  try { zones = Intl.supportedValuesOf('timeZone'); } catch { /* an older browser: the browser's own zone only */ }
  if (REPORT.tz && !zones.includes(REPORT.tz)) zones = [REPORT.tz, ...zones];
  return el('div', { class: 'grid report-options' },
    el('div', {}, el('label', { for: 'report-tz' }, t('report_tz')),
      el('select', { id: 'report-tz', onchange: (e) => { REPORT.tz = e.target.value; } },
        el('option', { value: '', selected: !REPORT.tz }, t('report_tz_server')),
        zones.map((z) => el('option', { value: z, selected: z === REPORT.tz }, z)))),
    el('div', {}, el('label', { for: 'report-forum' }, t('report_forum')),
      el('select', { id: 'report-forum', onchange: (e) => { REPORT.forum = e.target.value; } },
        ['', 'cn', 'eu', 'us', 'intl'].map((f) => el('option', { value: f, selected: f === REPORT.forum }, t(`forum_${f || 'all'}`))))));
}

/** The export's outcome, kept as data and rendered in the current language. */
function exportMsg(m) {
  if (!m) return null;
  if (m.err) return problemBox(m.err);
  return el('p', { class: 'msg ok', 'data-key': 'exported' }, t(m.ok));
}

async function exportBundle(it, provisional) {
  status('exporting');
  it.exportMsg = null;
  try {
    const blob = await guarded(() => api.call('GET', `/v1/evidence/${encodeURIComponent(it.id)}/bundle`,
                                              { as: 'blob', query: { ...(provisional ? { provisional: 1 } : {}),
                                                                     ...(REPORT.tz ? { tz: REPORT.tz } : {}),
                                                                     ...(REPORT.forum ? { forum: REPORT.forum } : {}) } }),
                             () => exportBundle(it, provisional));
    if (blob === undefined) return;
    save(new Blob([blob], { type: 'application/zip' }), `${it.id}${provisional ? '-provisional' : ''}.zip`);
    it.exportMsg = { ok: provisional ? 'exported_prov' : 'exported' };
    status('exported', {}, 'ok');
  } catch (err) {
    status('');
    if (err.code === 'not-anchored-yet') it.provisionalOffer = true;
    it.exportMsg = { err };
  }
  renderItem();
}

function shareItem(id) {
  $('g-items').value = id;
  location.hash = '#/grants';
}

// --- preserving files ----------------------------------------------------------------------

function renderChosen() {
  fill($('f-chosen'), state.files.map((f) => el('li', {}, `${f.name} (${humanSize(f.size)})`)));
}

function chooseFiles(list) {
  state.files = Array.from(list || []);
  state.upload = null;
  $('submit-retry').hidden = true;
  renderChosen();
}

function parseLines(text, whatKey) {
  const out = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new Said('bad_line', { line: line.slice(0, 60) }, { what: whatKey });
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

// the server's rule for a metadata fact (evidence/ledger/intake/staging.py: _META_KEY,
// MAX_TEXT, _CONTROL): checked here so that the form names the line, before any upload
const FACT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const FACT_MAX = 4096;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;

function parseFacts(text, whatKey) {
  const out = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new Said('bad_line', { line: line.slice(0, 60) }, { what: whatKey });
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (!FACT_NAME.test(name)) throw new Said('bad_fact_name', { name: name.slice(0, 80) }, { what: whatKey });
    if (value.length > FACT_MAX || CONTROL.test(value)) throw new Said('bad_fact_value', { name }, { what: whatKey });
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new Said('fact_twice', { name }, { what: whatKey });
    out[name] = value;
  }
  return out;
}

function submission() {
  const kind = $('f-kind').value;
  const shown = (id) => !$(id).closest('[data-kinds]') || !$(id).closest('[data-kinds]').hidden;
  const fields = { case: $('f-case').value, kind };
  if ($('f-title').value.trim()) fields.title = $('f-title').value.trim();
  if (shown('f-source') && $('f-source').value.trim()) fields.source_url = $('f-source').value.trim();
  if (shown('f-captured') && $('f-captured').value) fields.captured_at = new Date($('f-captured').value).toISOString();
  const meta = parseFacts($('f-meta').value, 'f_meta');
  if (Object.keys(meta).length) fields.meta = JSON.stringify(meta);
  if (shown('f-dns')) {
    const dns = parseLines($('f-dns').value, 'f_dns');
    if (Object.keys(dns).length) fields.dns_records = JSON.stringify(dns);
  }
  if ($('f-strict').checked) fields.strict_metadata = 'true';
  return fields;
}

/** The upload bar in whole percent (0-100), the same number in aria-valuenow, and the
 * bytes in words (aria-valuetext), so a screen reader hears what the label shows. */
function progress(sent, total) {
  state.upProgress = { sent, total };
  $('up-wrap').hidden = false;
  const p = $('up-progress');
  const pct = total > 0 ? Math.min(100, Math.floor((sent * 100) / total)) : 0;
  const words = t('uploading', { done: humanSize(sent), total: humanSize(total) });
  p.max = 100; p.value = pct;
  p.setAttribute('aria-valuenow', String(pct));
  p.setAttribute('aria-valuetext', words);
  $('up-label').textContent = words;
}

async function startSubmit() {
  const bad = (draw) => say('submit-result', () => el('p', { class: 'msg bad', role: 'alert' }, draw()));
  say('submit-result', null);
  if (!state.files.length) return bad(() => t('no_files'));
  if (!$('f-case').value) return bad(() => t('no_case'));
  let fields;
  try { fields = submission(); } catch (err) { return bad(() => errText(err)); }
  const sign = $('f-sign').checked;
  if (sign && !state.key) return bad(() => t('no_key'));
  status('hashing');
  const hashes = [];
  for (const f of state.files) hashes.push(await api.sha256Hex(await f.arrayBuffer()));
  // where the log stood before the first try: what a retry must not add twice
  let before;
  try {
    const resp = await guarded(() => api.call('GET', '/v1/status', { as: 'response', auth: false }), startSubmit);
    if (resp === undefined) return;
    before = { size: (await resp.json()).size, date: resp.headers.get('date') };
  } catch (err) { return say('submit-result', () => problemBox(err)); }
  // one key for this submission on every try, another for its signature: a try the server
  // already committed is answered with that item, never made twice (docs/api.md)
  state.upload = { fields, files: state.files.slice(), hashes, before, sign, pending: null, tries: 0,
                   key: api.newIdempotencyKey(), signKey: api.newIdempotencyKey() };
  await sendUpload();
}

/** The items of this case appended since the first try whose files are exactly these:
 * what an upload that failed after the server took it left behind. */
async function alreadyPreserved(up) {
  const since = up.before.date ? new Date(Date.parse(up.before.date) - 5000).toISOString() : null;
  const want = up.hashes.slice().sort().join(',');
  let cursor = null;
  for (let page = 0; page < 20; page++) {
    const r = await api.call('GET', '/v1/evidence', { query: { case: up.fields.case, since, limit: 500, cursor } });
    for (const it of r.items) {
      if (it.seq >= up.before.size && it.files.map((f) => f.sha256).sort().join(',') === want) return it;
    }
    if (!r.next_cursor) return null;
    cursor = r.next_cursor;
  }
  return null;
}

async function sendUpload() {
  const up = state.upload;
  $('submit-retry').hidden = true;
  $('submit-btn').disabled = true;
  up.tries += 1;
  try {
    if (up.tries > 1) {  // a retry: did the server keep the last try after all?
      status('checking_retry');
      if (up.pending) {
        const found = await api.call('GET', '/v1/evidence', { query: { q: up.pending.evidence_id, limit: 50 } });
        const hit = found.items.find((x) => x.evidence_id === up.pending.evidence_id);
        if (hit) return submitted({ evidence_id: hit.evidence_id, seq: hit.seq, signed_by_submitter: true, files: hit.files, receipt: null }, true);
        return await signPending(up);
      }
      const hit = await alreadyPreserved(up);
      if (hit) return submitted({ evidence_id: hit.evidence_id, seq: hit.seq, files: hit.files, receipt: null }, true);
    }
    const form = new FormData();
    for (const [k, v] of Object.entries(up.fields)) form.append(k, v);
    if (up.sign) form.append('sign', 'deferred');
    for (const f of up.files) form.append('file', f, f.name);
    status('uploading_status');
    progress(0, up.files.reduce((n, f) => n + f.size, 0));
    const r = await api.upload('/v1/evidence', form, progress, { 'Idempotency-Key': up.key });
    if (r.status === 202) {
      up.pending = r.body;
      return await signPending(up);
    }
    submitted(r.body, false);
  } catch (err) {
    status('');
    // in flight: an earlier try with this key is still being committed; retry gets its answer
    if (err instanceof api.Unreachable || err.code === 'idempotency-key-in-flight') {
      say('submit-result', () => el('p', { class: 'msg bad', role: 'alert', 'data-code': 'upload-failed' }, t('upload_failed')));
      $('submit-retry').hidden = false;
      $('submit-retry').focus();
    } else if (!(err instanceof api.ApiError) && !(err instanceof api.Unreachable)) {
      say('submit-result', () => el('p', { class: 'msg bad', role: 'alert' }, errText(err)));
    } else {
      say('submit-result', () => [problemBox(err), err.doc && Array.isArray(err.doc.failures)
        ? el('ul', {}, err.doc.failures.map((f) => el('li', {}, `${f.file || f.field || ''}: ${f.reason || f.message || ''}`))) : null]);
    }
  } finally {
    $('submit-btn').disabled = !can('submit');
  }
}

async function signPending(up) {
  const p = up.pending;
  // the files the server describes must be the ones sent (plus files it derived from
  // them, e.g. a chat archive's media, each naming its source), and the text the one the
  // console makes itself from them: a key signs nothing it has not checked
  const sent = up.hashes.slice().sort().join(',');
  const own = p.files.filter((f) => !f.derived_from);
  const derivedOk = p.files.every((f) => !f.derived_from || up.hashes.includes(f.derived_from.sha256));
  if (own.map((f) => f.sha256).sort().join(',') !== sent || !derivedOk) throw new Said('pending_mismatch');
  const text = await keys.submissionText(p.evidence_id, p.metadata_commitment, p.files);
  if (text !== p.text) throw new Said('pending_mismatch');
  status('signing');
  const signature = await keys.sign(state.key, text);
  const body = await api.call('POST', p.sign_url, { json: { key: keys.verifierKey(state.key), signature },
                                                   headers: { 'Idempotency-Key': up.signKey } });
  submitted(body, false);
}

function submitted(r, found) {
  state.upload = null;
  $('up-wrap').hidden = true;
  state.list.query = null;  // the list is stale
  status(found ? 'found_after_retry' : 'preserved', { id: r.evidence_id }, 'ok');
  say('submit-result', () => el('div', { class: 'msg ok', id: 'preserved', 'data-id': r.evidence_id },
    el('p', {}, el('strong', {}, t(found ? 'found_after_retry' : 'preserved', { id: r.evidence_id }))),
    r.signed_by_submitter ? el('p', {}, t('signed_receipt')) : null,
    r.receipt ? el('pre', { class: 'receipt' }, r.receipt) : null,
    el('p', {}, el('a', { href: `#/item/${encodeURIComponent(r.evidence_id)}` }, t('open_item')))));
}

// --- web capture ---------------------------------------------------------------------------

async function startCapture() {
  const body = { url: $('c-url').value.trim(), case: $('c-case').value };
  if ($('c-title').value.trim()) body.title = $('c-title').value.trim();
  if (!body.url) return say('capture-result', () => el('p', { class: 'msg bad', role: 'alert' }, t('no_url')));
  say('capture-result', () => el('p', {}, t('capture_queued')));
  try {
    const job = await guarded(() => api.call('POST', '/v1/captures', { json: body }), startCapture);
    if (job === undefined) return say('capture-result', null);
    await pollCapture(job.id);
  } catch (err) {
    say('capture-result', () => problemBox(err));
  }
}

async function pollCapture(id) {
  for (;;) {
    const job = await api.call('GET', `/v1/captures/${id}`);
    if (job.status === 'done') {
      state.list.query = null;  // the list is stale: the capture is a new item
      return say('capture-result', () => el('div', { class: 'msg ok', id: 'captured', 'data-id': job.evidence_id },
        el('p', {}, t('captured', { id: job.evidence_id, url: job.final_url || '' })),
        el('a', { href: `#/item/${encodeURIComponent(job.evidence_id)}` }, t('open_item'))));
    }
    if (job.status === 'refused' || job.status === 'failed') {
      return say('capture-result', () => el('p', { class: 'msg bad', role: 'alert', 'data-code': job.code }, t('capture_failed', { why: job.error || job.code })));
    }
    say('capture-result', () => el('p', {}, t(`capture_${job.status}`)));
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// --- grants --------------------------------------------------------------------------------

async function loadGrants() {
  try {
    const r = await guarded(() => api.call('GET', '/v1/grants'), loadGrants);
    if (r === undefined) return;
    state.grants = r.grants;
  } catch (err) {
    state.grants = err;
  }
  renderGrants();
}

function renderGrants() {
  const box = $('grants-list');
  const g = state.grants;
  if (!g || !state.me) return fill(box);
  if (g instanceof Error) return fill(box, problemBox(g));
  if (!g.length) return fill(box, el('p', { class: 'empty' }, t('grants_empty')));
  fill(box, el('div', { class: 'scroll' }, el('table', { class: 'grants' },
    el('thead', {}, el('tr', {}, ['col_grant', 'col_grantee', 'col_legal', 'col_items', 'col_until', 'col_downloads', 'col_status', 'col_action']
      .map((k) => el('th', { scope: 'col' }, t(k))))),
    el('tbody', {}, g.map((x) => el('tr', { 'data-grant': x.id, 'data-status': x.status },
      el('td', { class: 'hash' }, x.id, el('div', { class: 'sub' }, t('given_by', { who: x.granted_by, c: x.case_id }))),
      el('td', {}, x.grantee),
      el('td', { class: 'legal' }, grantLegal(x)),
      el('td', {}, x.evidence_ids.map((id) => el('div', {}, el('a', { href: `#/item/${encodeURIComponent(id)}` }, id)))),
      el('td', {}, when(x.expires_at)),
      el('td', {}, x.max_downloads ? `${x.downloads} / ${x.max_downloads}` : String(x.downloads)),
      el('td', {}, t(`gs_${x.status}`)),
      el('td', {}, x.status === 'revoked' ? null : canRevoke(x)
        ? el('button', { type: 'button', class: 'revoke', onclick: () => revoke(x) }, t('revoke_btn'))
        : el('span', { class: 'denied', 'data-denied-grant': x.id }, t('deny_revoke')))))))));
}

/** A basis value in the reader's language; an unknown one (a newer server's) as it is. */
function basisWords(code) {
  return BASES.includes(code) ? t(`basis_${code}`) : code;
}

function basisOption(code) {
  return t('basis_option', { code, words: t(`basis_${code}`) });
}

function fillBases() {
  const sel = $('g-basis');
  const was = sel.value;
  fill(sel, el('option', { value: '', 'data-i18n': 'basis_none', text: t('basis_none') }),
       BASES.map((b) => el('option', { value: b, text: basisOption(b) })));
  sel.value = was;
  basisDesc();
}

function basisDesc() {
  const b = $('g-basis').value;
  $('g-basis-desc').textContent = b ? basisWords(b) : '';
}

/** A grant's recipient, basis and purpose (each as the server keeps it, or "not stated"). */
function grantLegal(x) {
  const lines = [];
  if (x.recipient_organisation || x.recipient_jurisdiction) {
    lines.push(el('div', { 'data-legal': 'recipient' }, t('legal_recipient', {
      org: x.recipient_organisation || '—', juris: x.recipient_jurisdiction || '—' })));
  }
  if (x.legal_basis) {
    lines.push(el('div', { 'data-legal': 'basis', 'data-basis': x.legal_basis },
      t('legal_basis', { basis: basisWords(x.legal_basis) }) + (x.legal_basis_ref ? ` · ${x.legal_basis_ref}` : '')));
  }
  if (x.purpose) lines.push(el('div', { 'data-legal': 'purpose' }, t('purpose_is', { what: x.purpose })));
  return lines.length ? lines : el('span', { class: 'sub' }, t('legal_none'));
}

/** The last grant action's outcome, kept as data so that it is said again in the other
 * language: {err}, {bad: key} or {ok: key, params, grant}. */
function grantMsg(m) {
  state.grantMsg = m;
  renderGrantMsg();
}

function renderGrantMsg() {
  const m = state.grantMsg;
  if (!m || !state.me) return fill($('grant-msg'));
  if (m.err) return fill($('grant-msg'), problemBox(m.err));
  if (m.bad) return fill($('grant-msg'), el('p', { class: 'msg bad', role: 'alert' }, t(m.bad)));
  fill($('grant-msg'), el('p', { class: 'msg ok', 'data-grant': m.grant || null }, t(m.ok, m.params)));
}

async function createGrant() {
  const ids = $('g-items').value.split(/\s+/).filter(Boolean);
  const date = $('g-expires').value;
  if (!$('g-grantee').value.trim() || !ids.length || !date) {
    return grantMsg({ bad: 'grant_incomplete' });
  }
  const body = { grantee: $('g-grantee').value.trim(), evidence_ids: ids,
                 expires_at: new Date(`${date}T23:59:59`).toISOString() };
  if ($('g-max').value) body.max_downloads = Number($('g-max').value);
  if ($('g-note').value.trim()) body.note = $('g-note').value.trim();
  // the legal fields: sent only when given (the server decides whether they are required)
  for (const [id, field] of [['g-purpose', 'purpose'], ['g-org', 'recipient_organisation'],
    ['g-juris', 'recipient_jurisdiction'], ['g-basis', 'legal_basis'], ['g-basis-ref', 'legal_basis_ref']]) {
    const v = $(id).value.trim();
    if (v) body[field] = v;
  }
  try {
    const g = await guarded(() => api.call('POST', '/v1/grants', { json: body }), createGrant);
    if (g === undefined) return;
    grantMsg({ ok: 'granted', params: { who: g.grantee, id: g.id }, grant: g.id });
    status('granted', { who: g.grantee, id: g.id }, 'ok');
    loadGrants();
  } catch (err) {
    grantMsg({ err });
  }
}

async function revoke(g) {
  try {
    const r = await guarded(() => api.call('POST', `/v1/grants/${g.id}/revoke`), () => revoke(g));
    if (r === undefined) return;
    grantMsg({ ok: 'revoked', params: { id: g.id } });
    status('revoked', { id: g.id }, 'ok');
    loadGrants();
  } catch (err) {
    grantMsg({ err });
  }
}

// --- the signing key -----------------------------------------------------------------------

async function loadKey() {
  try { state.key = await keys.load(); } catch (e) { state.key = null; }
  renderKey();
}

function renderKey() {
  const box = $('key-info');
  $('f-sign').disabled = !state.key || !can('submit');
  if (!state.key) { $('f-sign').checked = false; return fill(box, el('p', {}, t('no_key_yet'))); }
  fill(box, el('p', {}, t('key_held', { name: state.key.name })),
       el('p', {}, el('span', {}, t('verifier_key')), ' ', el('code', { id: 'verifier-key', class: 'hash' }, keys.verifierKey(state.key))));
  $('key-export').disabled = !can('key');
  $('key-delete').disabled = !can('key');
}

async function keyAction(fn, okKey) {
  try {
    await fn();
    status(okKey, { name: state.key ? state.key.name : '' }, 'ok');
  } catch (err) {
    status('key_error', { why: err.message }, 'bad');
  }
  renderKey();
}

// --- wiring --------------------------------------------------------------------------------

function wire() {
  $('lang-zh').addEventListener('click', () => setLang('zh'));
  $('lang-en').addEventListener('click', () => setLang('en'));
  $('signout').addEventListener('click', () => signOut('signed_out'));
  $('retry').addEventListener('click', () => { const f = state.offline; clearUnreachable(); if (f) f(); });
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const tok = $('token').value.trim();
    if (!tok) { $('signin-msg').textContent = t('token_missing'); $('signin-msg').className = 'msg bad'; return; }
    signIn(tok);
  });
  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); search(false); });
  $('more-btn').addEventListener('click', () => search(true));
  $('open-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('open-id').value.trim();
    if (id) location.hash = `#/item/${encodeURIComponent(id)}`;
  });
  $('f-kind').addEventListener('change', kindFields);
  $('f-files').addEventListener('change', () => chooseFiles($('f-files').files));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); chooseFiles(e.dataTransfer.files); });
  $('submit-form').addEventListener('submit', (e) => { e.preventDefault(); startSubmit(); });
  $('submit-retry').addEventListener('click', () => { if (state.upload) sendUpload(); });
  $('capture-form').addEventListener('submit', (e) => { e.preventDefault(); startCapture(); });
  $('grant-form').addEventListener('submit', (e) => { e.preventDefault(); createGrant(); });
  $('g-basis').addEventListener('change', basisDesc);
  $('keygen-form').addEventListener('submit', (e) => {
    e.preventDefault();
    keyAction(async () => { const k = await keys.generate($('k-name').value.trim()); await keys.save(k); state.key = k; }, 'key_made');
  });
  $('k-file').addEventListener('change', () => {
    const f = $('k-file').files[0];
    if (f) keyAction(async () => { const k = await keys.fromKeyFile(await f.text()); await keys.save(k); state.key = k; }, 'key_imported');
  });
  $('key-export').addEventListener('click', () => keyAction(async () => {
    if (!state.key) throw new Error(t('no_key_yet'));
    save(new Blob([await keys.toKeyFile(state.key)], { type: 'text/plain' }), `${state.key.name.replace(/\//g, '_')}.key`);
  }, 'key_exported'));
  $('key-delete').addEventListener('click', () => keyAction(async () => { await keys.remove(); state.key = null; }, 'key_removed'));
  window.addEventListener('hashchange', route);
}

async function start() {
  const want = new URLSearchParams(location.search).get('lang');
  let lang = want;
  if (!lang) { try { lang = localStorage.getItem('evidence-console-lang'); } catch (e) { lang = null; } }
  if (!lang) lang = (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
  wire();
  fillKinds();
  fillBases();
  setLang(lang);
  loadKey();
  let tok = null;
  try { tok = sessionStorage.getItem(TOKEN_SLOT); } catch (e) { tok = null; }
  if (tok) await signIn(tok); else route();
  window.EvidenceConsole.ready = true;
}

window.EvidenceConsole = { state, api, keys, can, ready: false };
start();
