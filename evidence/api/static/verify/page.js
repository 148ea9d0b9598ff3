/* The verification page: inputs, progress, verdict, details, ledger lookup.
 *
 * Verification itself is verify.js (no network, ever). This file only reads the files
 * the user picks, calls EvidenceVerify.verifyBundle, and renders the report with
 * textContent (bundle contents are hostile input: never innerHTML). The lookup section
 * is the only code here that talks to a server: small GET requests with an id or a
 * hash in the URL, to the page's own origin or the configured ledger address.
 */
(function () {
  'use strict';
  const EV = window.EvidenceVerify;
  const I18N = window.EV_I18N;
  const $ = (id) => document.getElementById(id);

  const state = {
    lang: 'en',
    bundle: null,        // File
    compare: [],         // the judge's own files (File)
    trust: null,         // {policy, source: 'file'|'prefill'|'served', name} from the trust file
    trustError: null,    // {en, zh} when the chosen trust file was refused
    trustGen: 0,         // id of the newest trust file read (a newer one wins)
    trustChosen: false,  // the clerk chose (or removed) a trust file: no pre-fill replaces it
    run: 0,              // id of the current verification (a newer one wins)
    stop: false,
    report: null,        // last report (EvidenceVerify Report)
    shot: null,          // a web capture's screenshot: {key, url (blob:), failed}
    error: null,         // {key, params} for a message instead of a report
    lookup: null,        // last lookup result (rendered again on language change)
  };
  window.EvidencePage = { state };

  // --- language --------------------------------------------------------------------------

  function t(key, params) {
    let s = (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
    return s;
  }

  function setLang(lang) {
    state.lang = lang === 'zh' ? 'zh' : 'en';
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    $('lang-zh').setAttribute('aria-pressed', String(state.lang === 'zh'));
    $('lang-en').setAttribute('aria-pressed', String(state.lang === 'en'));
    document.title = t('title') + (state.lang === 'zh' ? ' · Evidence verification' : ' · 证据核验');
    try { localStorage.setItem('evidence-verify-lang', state.lang); } catch (e) { /* private mode */ }
    checkKeyField();
    renderTrust();
    renderAll();
    renderLookup();
    renderTlogProof();
  }

  // --- configuration and environment ----------------------------------------------------

  function loadConfig() {
    let cfg = {};
    try { cfg = JSON.parse($('ev-config').textContent || '{}') || {}; } catch (e) { cfg = {}; }
    if (cfg.log_key) $('log-key').value = cfg.log_key;
    if (Array.isArray(cfg.witness_keys)) $('witness-keys').value = cfg.witness_keys.join('\n');
    if (Number.isInteger(cfg.witness_quorum)) $('quorum').value = String(cfg.witness_quorum);
    if (cfg.witness_keys && cfg.witness_keys.length) $('witness-box').open = true;
    if (cfg.log_key) $('manual-box').open = true;
    let api = cfg.api_base || '';
    if (!api && /^https?:$/.test(location.protocol)) api = location.origin;
    $('api-base').value = api;
    state.configuredBy = cfg.log_key ? (cfg.configured_by || location.host || 'config') : '';
    state.configTrust = typeof cfg.trust === 'string' && cfg.trust
      ? { text: cfg.trust, sha256: String(cfg.trust_sha256 || ''), by: String(cfg.configured_by || location.host || 'config') } : null;
  }

  async function checkEnvironment() {
    const problems = [];
    if (!(window.crypto && window.crypto.subtle)) problems.push('env_no_crypto');
    else if (!(await EV.ed25519Supported())) problems.push('env_no_ed25519');
    if (typeof DecompressionStream === 'undefined') problems.push('env_no_stream');
    state.envProblems = problems;
    renderEnv();
  }

  function renderEnv() {
    const box = $('env-warning');
    const p = state.envProblems || [];
    box.hidden = !p.length;
    box.textContent = p.map((k) => t(k)).join(' ');
  }

  let keyCheck = 0;
  async function checkKeyField() {
    const mine = ++keyCheck;
    const out = $('log-key-status');
    const text = $('log-key').value.trim();
    if (!text) { out.textContent = t('key_missing'); out.className = 'hint'; return; }
    try {
      const k = await EV.parseVerifierKey(text);
      if (mine !== keyCheck) return;
      let msg = t('key_ok', { name: k.name, id: k.keyId.toString(16).padStart(8, '0') });
      if (state.configuredBy && text === (JSON.parse($('ev-config').textContent || '{}').log_key || '').trim()) {
        msg += ' ' + t('key_source_config', { by: state.configuredBy });
      }
      out.textContent = msg;
      out.className = 'hint ok';
    } catch (e) {
      if (mine !== keyCheck) return;
      out.textContent = t('key_bad', { why: e.message });
      out.className = 'hint bad';
    }
  }

  /* What verification trusts: the trust file when one is loaded, else the keys typed
     under "Advanced" (the older inputs: no TSA root, so the time is never proven). */
  function trust() {
    if (state.trust) return state.trust.policy;
    return {
      logKey: $('log-key').value.trim(),
      witnessKeys: $('witness-keys').value.split('\n').map((s) => s.trim()).filter(Boolean),
      witnessQuorum: Math.max(0, parseInt($('quorum').value, 10) || 0),
    };
  }

  // --- the trust file (docs/verdict.md section 3) ---------------------------------------

  const typedFingerprint = () => $('trust-sha256').value.trim().toLowerCase().replace(/\s+/g, '');

  /* Parse and keep a trust file; refuse it (and clear what was kept) when it is
     malformed or its SHA-256 is not the fingerprint the clerk typed (or, for the
     pre-filled file, the fingerprint the service sent with it: `expect`). The newest
     read wins, so a slow read never replaces the file chosen after it. Whatever the
     outcome, every verdict shown is taken again against the trust now in force
     (trustChanged): a verdict of the trust before never stays on screen. */
  async function loadTrust(bytes, source, name, expect) {
    const gen = ++state.trustGen;
    state.trust = null;
    state.trustError = null;
    let kept = null, error = null;
    try {
      const policy = await EV.parseTrustPolicy(bytes);
      const want = typedFingerprint();
      if (want && want !== policy.fingerprint) {
        error = { key: 'trust_fingerprint_mismatch', params: { got: policy.fingerprint, want } };
      } else if (expect && expect !== policy.fingerprint) {
        error = { key: 'trust_prefill_damaged', params: { got: policy.fingerprint, want: expect } };
      } else {
        kept = { policy, source, name };
      }
    } catch (e) {
      error = e instanceof EV.TrustFileError ? { en: e.message, zh: e.zh } : { en: e.message, zh: e.message };
    }
    if (gen !== state.trustGen) return; // a newer trust file (or its removal) came meanwhile
    state.trust = kept;
    state.trustError = error;
    trustChanged();
  }

  /* The trust in force changed (loaded, refused, removed): show it, and verify again
     whatever was verified with the trust before (or show why nothing is verified). */
  function trustChanged() {
    renderTrust();
    if (state.bundle) verifyNow();
    if (state.tlog.file) takeTlogProof(state.tlog.file);
  }

  /* The pre-fill when the page is served by `evidence serve`: the log's whole trust file
     (every key with its window, ML-DSA-44 pins, witnesses, TSA roots), as the
     configuration block carries it (verify_page.py; kept in a saved or offline copy), or
     else as /v1/log/trust publishes it. It is the operator's suggestion: the clerk's own
     choice always wins (trustChosen). */
  async function loadServedTrust() {
    if (state.configTrust) {
      if (state.trustChosen) return;
      const c = state.configTrust;
      await loadTrust(new TextEncoder().encode(c.text), 'prefill', c.by, c.sha256.toLowerCase());
      return;
    }
    if (!/^https?:$/.test(location.protocol)) return;
    try {
      const resp = await fetch(new URL('/v1/log/trust', location.href).href, { method: 'GET', credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });
      if (resp.status !== 200) return; // not published by this service (yet): leave the picker empty
      const bytes = new Uint8Array(await resp.arrayBuffer());
      if (state.trustChosen || state.trust || state.trustError) return; // the clerk chose a file meanwhile
      await loadTrust(bytes, 'served', new URL('/v1/log/trust', location.href).href);
    } catch (e) { /* no trust file from this service */ }
  }

  function renderTrust() {
    const out = $('trust-status');
    out.replaceChildren();
    out.className = 'trust-status';
    if (state.trustError) {
      const er = state.trustError;
      out.classList.add('bad');
      out.append(el('p', {}, t('trust_refused')), el('p', {}, er.key ? t(er.key, er.params) : (state.lang === 'zh' ? er.zh : er.en)));
      return;
    }
    if (!state.trust) { out.append(el('p', { class: 'hint' }, t('trust_none'))); return; }
    const p = state.trust.policy;
    const list = (xs) => xs.join(', ') || t('trust_none_listed');
    const served = state.trust.source !== 'file'; // pre-filled: the operator's suggestion
    out.classList.add(served ? 'suggested' : 'ok');
    out.dataset.source = state.trust.source;
    out.append(
      el('p', {}, t({ prefill: 'trust_from_prefill', served: 'trust_from_service' }[state.trust.source] || 'trust_from_file', { name: state.trust.name })),
      served ? el('p', { class: 'warn-text', id: 'trust-suggestion' }, t('trust_operator_suggestion')) : null,
      el('p', {}, t('trust_fingerprint'), ' ', el('code', { class: 'hash', id: 'trust-fingerprint' }, p.fingerprint)),
      el('p', { class: 'hint' }, t('trust_compare_fingerprint')),
      dl([
        [t('trust_logs'), el('ul', { class: 'trust-keys' }, p.logs.map((l) => el('li', {}, logKeyLine(l))))],
        [t('trust_witnesses'), list(p.witnesses.map((w) => w.name))],
        [t('trust_quorum'), p.quorum === 'none' ? t('trust_quorum_none') : p.quorum],
        [t('trust_tsa'), list(p.tsa.map((x) => `${x.name} (${x.subject})`).concat(p.tsaStore ? [t('trust_tsa_store')] : []))],
      ]));
  }

  /* One pinned log key as the clerk compares it: name+key id, and its window of checkpoint
     sizes (a key rotated out, revoked, of a frozen shard) or, for ML-DSA-44, the size from
     which its signature is required. */
  function logKeyLine(l) {
    const id = `${l.key.name}+${l.key.keyId.toString(16).padStart(8, '0')}`;
    let note = '';
    if (l.key.alg === 0x06) note = t('trust_key_mldsa', { from: l.window ? l.window[0] : 0 });
    else if (l.window) note = t('trust_key_window', { from: l.window[0], until: l.window[1] });
    else note = t('trust_key_open');
    return [el('code', {}, id), ' ', note];
  }

  // --- choosing files ------------------------------------------------------------------------

  async function looksLikeBundle(file) {
    try {
      const z = await EV.ZipReader.open(file);
      return z.has('manifest.json');
    } catch (e) {
      return false;
    }
  }

  async function takeDropped(files) {
    files = [...files];
    if (!files.length) return;
    if (files.length > 9) { showError('too_many'); return; }
    if (files.length === 1 && /\.tlog-proof$/i.test(files[0].name)) { takeTlogProof(files[0]); return; }
    const flags = await Promise.all(files.map(looksLikeBundle));
    const bundles = files.filter((f, i) => flags[i]);
    if (bundles.length > 1) { showError('two_bundles'); return; }
    const bundle = bundles[0] || files[0];
    state.bundle = bundle;
    state.compare = files.filter((f) => f !== bundle);
    setPickerNames();
    verifyNow();
  }

  function setPickerNames() {
    // A file input cannot be set from a drop in every browser; show what was taken.
    for (const [id, fs] of [['bundle-input', state.bundle ? [state.bundle] : []], ['file-input', state.compare]]) {
      const el = $(id);
      let note = el.parentElement.querySelector('.chosen');
      if (!note) { note = document.createElement('span'); note.className = 'chosen'; el.parentElement.appendChild(note); }
      note.textContent = fs.map((f) => `${f.name} (${humanSize(f.size)})`).join('; ');
    }
  }

  // --- verification --------------------------------------------------------------------------

  function humanSize(n) {
    if (n === null || n === undefined || typeof n !== 'number') return String(n);
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]} (${n.toLocaleString('en-US')} B)`;
  }

  function progress(labelKey, done, total) {
    $('progress-wrap').hidden = false;
    const bar = $('progress');
    if (total > 0) { bar.max = total; bar.value = Math.min(done, total); } else { bar.removeAttribute('value'); }
    $('progress-label').textContent = t(labelKey, { done: humanSize(done).split(' (')[0], total: humanSize(total).split(' (')[0] });
  }

  function showError(key, params) {
    state.report = null;
    state.error = { key, params };
    renderAll();
  }

  /* Forget the verification in flight (its trust is no longer the one in force). */
  function cancelRun() {
    state.run++;
    state.busy = false;
    $('progress-wrap').hidden = true;
    $('stop-btn').hidden = true;
    $('verify-btn').disabled = false;
  }

  async function verifyNow() {
    if (!state.bundle) { cancelRun(); showError('no_bundle'); return; }
    if (state.trustError) { cancelRun(); showError('trust_refused_short'); return; }
    if (!state.trust && !trust().logKey) { cancelRun(); showError('trust_missing'); $('trust-file').focus(); return; }
    const run = ++state.run;
    state.stop = false;
    state.report = null;
    state.error = null;
    state.busy = true;
    $('stop-btn').hidden = false;
    $('verify-btn').disabled = true;
    renderAll();
    const stale = () => run !== state.run || state.stop;
    try {
      const report = await EV.verifyBundle(state.bundle, trust(), {
        compare: state.compare,
        progress: (done, total, phase) => { if (!stale()) progress(phase === 'compare' ? 'progress_file' : 'progress_reading', done, total); },
        shouldStop: stale,
      });
      if (stale()) throw new EV.VerifyError('stopped');
      if (run !== state.run) return;
      state.report = report;
    } catch (e) {
      if (run !== state.run) return;
      if (state.stop || e.message === 'stopped' || e.message === 'stopped by the user') {
        state.error = { key: 'stopped' };
      } else if (e instanceof EV.TrustFileError) {
        state.error = { raw: state.lang === 'zh' ? e.zh : e.message };
      } else if (e.setup) {
        state.error = { key: 'key_bad', params: { why: e.message } };
      } else {
        state.error = { raw: e.message };
      }
    } finally {
      if (run === state.run) {
        state.busy = false;
        $('progress-wrap').hidden = true;
        $('stop-btn').hidden = true;
        $('verify-btn').disabled = false;
        renderAll();
        $('verdict').focus();
      }
    }
  }

  // --- rendering -----------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v; else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  const reasonOf = (c) => (state.lang === 'zh' ? c.reason_zh : c.reason);
  const checkLabel = (name) => t('check_' + name);
  const unix = (s) => (typeof s === 'number' ? new Date(s * 1000).toISOString().replace('.000Z', 'Z') : String(s));

  /* The second zone beside UTC: Asia/Shanghai in Chinese; the browser's own in English
     (Asia/Shanghai when the browser says UTC). */
  function secondZone() {
    let zone = '';
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { zone = ''; }
    if (state.lang === 'zh' || !zone || /^(UTC|Etc\/UTC|Etc\/GMT|GMT)$/.test(zone)) zone = 'Asia/Shanghai';
    return zone;
  }
  /* "2026-11-21 08:00:02 UTC (2026-11-21 16:00:02 Asia/Shanghai)" from ISO text or seconds. */
  function when(v) {
    const d = typeof v === 'number' ? new Date(v * 1000) : new Date(String(v));
    if (Number.isNaN(d.getTime())) return String(v);
    const zone = secondZone();
    let local = '';
    try {
      const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', { timeZone: zone, hourCycle: 'h23',
        year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
        .formatToParts(d).map((p) => [p.type, p.value]));
      local = `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${zone}`;
    } catch (e) { local = ''; }
    const utc = d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '').replace('Z', '') + ' UTC';
    return local ? `${utc} (${local})` : utc;
  }

  function renderAll() {
    renderExpected();
    renderVerdict();
    renderDetails();
  }

  const VERDICT_ICON = { verified: '✔', incomplete: '⚠', provisional: '⚠', failed: '✘' };

  function renderVerdict() {
    const box = $('verdict');
    box.replaceChildren();
    box.className = 'verdict';
    const r = state.report;
    if (state.busy) return;
    if (!r) {
      if (state.error) {
        box.classList.add('failed');
        box.dataset.verdict = state.error.key === 'stopped' ? 'stopped' : 'error';
        box.append(el('p', { class: 'verdict-sub' }, state.error.raw ? state.error.raw : t(state.error.key, state.error.params)));
      } else {
        delete box.dataset.verdict;
      }
      return;
    }
    const v = r.verdict;
    box.dataset.verdict = v;
    box.classList.add(v);
    const unsupported = r.checks.some((c) => c.status === 'not-checked' && c.unsupported && c.name === 'checkpoint');
    let title = t(`verdict_${v}`);
    if (v === 'verified' && r.purged) title = t('verdict_purged');
    if (v === 'incomplete' && unsupported) title = t('verdict_unsupported');
    const lines = [];
    if (v === 'failed') {
      lines.push(el('p', { class: 'verdict-sub' }, t('verdict_failed_sub')));
      lines.push(el('ul', { class: 'verdict-lines' }, r.checks.filter((c) => c.status === 'fail').map((c) =>
        el('li', { 'data-check': c.name }, el('strong', {}, checkLabel(c.name)), ': ', reasonOf(c)))));
    } else {
      lines.push(el('p', { class: 'verdict-sub' }, t(v === 'verified' && r.purged ? 'verdict_purged_sub' : `verdict_${v}_sub`)));
      const nc = r.checks.filter((c) => c.status === 'not-checked');
      if (nc.length) {
        lines.push(el('ul', { class: 'verdict-lines' }, nc.map((c) =>
          el('li', { 'data-check': c.name }, el('strong', {}, t('not_checked_label', { check: checkLabel(c.name) })), ': ', reasonOf(c)))));
      }
      const ts = r.preserved_no_later_than;
      if (ts.length) lines.push(el('p', { class: 'verdict-time' }, t('verdict_time', { time: when(ts[0].gen_time), tsa: ts[0].tsa })));
    }
    box.append(
      el('p', { class: 'verdict-title' }, el('span', { class: 'icon', 'aria-hidden': 'true' }, VERDICT_ICON[v]), ' ', title),
      ...lines,
      el('p', { class: 'verdict-file' }, t('verdict_bundle_for', { name: state.bundle ? state.bundle.name : '', size: state.bundle ? humanSize(state.bundle.size) : '' })),
    );
  }

  function dl(rows) {
    return el('dl', { class: 'facts' }, rows.filter(Boolean).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  }

  const RESULT_KEY = { pass: 'result_pass', fail: 'result_fail', 'not-checked': 'result_not_checked' };

  function renderDetails() {
    const out = $('details');
    out.replaceChildren();
    const r = state.report;
    if (!r) return;
    const failed = r.verdict === 'failed';
    const cp = r.checkpoint;
    // evidence summary (after a failure: no time, no "included")
    if (r.evidence_id || cp) {
      out.append(el('h3', {}, t('h_summary')), dl([
        r.evidence_id && [t('evidence_id'), el('code', {}, r.evidence_id)],
        !failed && r.submitted_at && [t('submitted_at'), when(r.submitted_at)],
        cp && [t('checkpoint'), t('checkpoint_value', { origin: cp.origin, size: cp.size })],
        cp && [t('root'), el('code', { class: 'hash' }, cp.root)],
        r.trust_fingerprint && [t('trust_fingerprint'), el('code', { class: 'hash' }, r.trust_fingerprint)],
        r.tool && [t('tool_label'), t('tool_value', { sha: r.tool.sha256 })],
      ]));
    }
    // time window: only what was verified, and nothing after a failure
    if (r.submitted_at) {
      const items = [];
      if (failed) {
        items.push(el('li', { class: 'bad' }, t('time_failed')));
      } else {
        items.push(el('li', {}, t('time_log', { time: when(r.submitted_at) })));
        for (const w of (cp ? cp.cosigned_by : [])) if (w.cosigned_at !== null) items.push(el('li', {}, t('time_witness', { name: w.name, time: when(w.cosigned_at) })));
        for (const ts of r.preserved_no_later_than) {
          items.push(el('li', { class: 'ok' }, el('strong', {}, t('time_token', { tsa: ts.tsa, time: when(ts.gen_time) })), ' ', t('time_token_verified', { root: ts.root })));
        }
        const tc = r.checks.find((c) => c.name === 'timestamps');
        if (tc && tc.status === 'not-checked') items.push(el('li', { class: 'warn-text' }, t('time_not_proven', { why: reasonOf(tc) })));
      }
      out.append(el('h3', {}, t('h_time')), el('ul', { class: 'timeline' }, items));
    }
    // a web capture: what it shows, the screenshot, what a court can and cannot conclude
    if (r.webcapture) out.append(...captureSection(r));
    // files
    if (r.files.length) {
      const cols = [t('col_name'), t('col_type'), t('col_size'), t('col_sha')].concat(failed ? [] : [t('col_included')]);
      out.append(el('h3', {}, t('h_files')), el('div', { class: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, cols.map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, r.files.map((f) => el('tr', {},
          el('td', {}, String(f.name)), el('td', {}, String(f.media_type)), el('td', {}, humanSize(f.size)),
          el('td', {}, el('code', { class: 'hash' }, String(f.sha256))), failed ? null : el('td', {}, f.included ? t('yes') : t('no'))))))));
    }
    // the judge's own files
    if (state.compare.length) {
      const cc = r.checks.find((c) => c.name === 'compared_files');
      const rows = [];
      if (!cc) {
        rows.push(el('p', { class: 'compare-title' }, t('compare_unverified')));
        for (const f of state.compare) rows.push(el('p', {}, t('compare_file_unhashed', { name: f.name, size: humanSize(f.size) })));
      } else {
        for (const c of r.compared) {
          const m = c.matches;
          // after a failure only a file that differs is named; none is vouched for
          const title = m ? t(r.purged && !m.included ? 'compare_match_purged' : 'compare_match', { name: m.name })
            : m === null ? t('compare_nomatch') : t('compare_unverified');
          rows.push(el('p', { class: 'compare-title' }, title));
          rows.push(el('p', {}, t('compare_file', { name: c.name, size: humanSize(c.size), sha: c.sha256 })));
        }
      }
      const all = cc && cc.status === 'pass';
      out.append(el('h3', {}, t('h_compare')), el('div', { class: `compare ${all ? 'ok' : 'bad'}`, id: 'compare-result', 'data-match': all ? 'yes' : 'no' }, rows));
    }
    // custody
    if (r.custody.length) {
      out.append(el('h3', {}, t('h_custody')), el('ol', { class: 'custody' }, r.custody.map((e) => {
        const typeKey = 'type_' + e.type.replace(/\./g, '_');
        const label = I18N.en[typeKey] ? t(typeKey) : e.type;
        const extra = ['principal', 'action', 'grantee', 'reason', 'text'].filter((k) => k in e).map((k) => `${k}: ${typeof e[k] === 'string' ? e[k] : JSON.stringify(e[k])}`);
        return el('li', { class: e.type === 'evidence.purged' ? 'purged' : '' },
          el('span', { class: 'when' }, `#${e.seq} · ${e.time}`), ' ', el('strong', {}, label), ' ', el('code', {}, e.type),
          extra.length ? el('div', { class: 'extra' }, extra.join(' · ')) : null);
      })));
    }
    // checks
    out.append(el('h3', {}, t('h_checks')), el('div', { class: 'scroll' }, el('table', { class: 'checks', id: 'checks' },
      el('thead', {}, el('tr', {}, [t('col_check'), t('col_result'), t('col_reason')].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, r.checks.map((c) => el('tr', { class: c.status === 'not-checked' ? 'notchecked' : c.status, 'data-check': c.name, 'data-status': c.status },
        el('th', { scope: 'row' }, checkLabel(c.name), el('br'), el('code', {}, c.name)),
        el('td', {}, t(RESULT_KEY[c.status])),
        el('td', {}, reasonOf(c))))))));
    // metadata
    if (r.metadata) {
      out.append(el('details', { class: 'metadata' }, el('summary', {}, t('h_metadata')), el('pre', {}, JSON.stringify(r.metadata, null, 2))));
    }
  }

  // --- the evidence id a link names (docs/verify-page.md, "An evidence id in the link") -------
  // The court report's QR code opens /verify/?id=<evidence_id>. The id is not a verdict
  // input: the verdict comes from the bundle and the trust file alone, whatever the link
  // says. It only says which item the reader expects, and the page says whether the dropped
  // bundle is that item: a mismatch is a warning in the bad colour, never green.

  const ID_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$/;  // as the lookup accepts
  const ID_TEXT = {
    en: {
      id_expected_h: 'Evidence id in the link you opened',
      id_expected: 'You opened this page for evidence id {id}. Drop the bundle for it below; the page will say whether the bundle is for this id.',
      id_not_verdict: 'The id in the link does not change the verdict: only the bundle and the trust file do.',
      id_link_bad: 'The link names an evidence id that is not valid ({id}); it is ignored.',
      id_match: 'The bundle is for evidence id {id}, the id in the link you opened.',
      id_match_failed: 'The bundle names evidence id {id}, the id in the link, but it failed verification (see below).',
      id_mismatch: 'Warning: this bundle is for evidence id {got}, NOT {want} named in the link you opened. It is a different item: check that you have the right bundle.',
      id_unknown: 'Warning: the evidence id of this bundle could not be read, so it cannot be compared with {want} named in the link.',
    },
    zh: {
      id_expected_h: '链接中的证据编号',
      id_expected: '您打开本页面核验证据编号 {id}。请在下方放入该证据的证据包；页面会说明证据包是否属于该编号。',
      id_not_verdict: '链接中的编号不影响核验结论：结论只取决于证据包和信任文件。',
      id_link_bad: '链接中的证据编号无效（{id}），已忽略。',
      id_match: '该证据包属于证据编号 {id}，与您打开的链接中的编号一致。',
      id_match_failed: '该证据包标明的证据编号 {id} 与链接一致，但核验未通过（见下文）。',
      id_mismatch: '警告：该证据包属于证据编号 {got}，而不是您打开的链接中的 {want}。这是另一项证据，请确认证据包是否正确。',
      id_unknown: '警告：无法读取该证据包的证据编号，不能与链接中的 {want} 比对。',
    },
  };

  function tid(key, params) {
    let s = (ID_TEXT[state.lang] || ID_TEXT.en)[key] || ID_TEXT.en[key] || key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
    return s;
  }

  /* {id, valid} from ?id= (the query; #id= too, for a page opened from disk), or null. */
  function expectedFromUrl() {
    let raw = null;
    try { raw = new URLSearchParams(location.search).get('id'); } catch (e) { raw = null; }
    if (raw === null) {
      const m = /[#&]id=([^&]*)/.exec(location.hash);
      if (m) { try { raw = decodeURIComponent(m[1]); } catch (e) { raw = m[1]; } }
    }
    if (raw === null) return null;
    raw = raw.trim();
    return { id: raw, valid: ID_SHAPE.test(raw) };
  }

  function idBox(id, before) {
    let box = $(id);
    if (!box) {
      box = document.createElement('div');
      box.id = id;
      box.setAttribute('role', 'status');
      box.setAttribute('aria-live', 'polite');
      before.parentNode.insertBefore(box, before);
    }
    return box;
  }

  function renderExpected() {
    const want = state.expected;
    if (!want) return;
    const banner = idBox('expected-id', $('drop'));
    banner.replaceChildren();
    if (!want.valid) {
      banner.className = 'warn';
      banner.dataset.valid = 'no';
      banner.append(el('p', {}, tid('id_link_bad', { id: want.id.slice(0, 80) })));
      return;
    }
    banner.className = 'expected-id';
    banner.dataset.valid = 'yes';
    banner.dataset.id = want.id;
    banner.append(el('p', {}, el('strong', {}, tid('id_expected_h')), ': ', el('code', {}, want.id)),
                  el('p', {}, tid('id_expected', { id: want.id })),
                  el('p', { class: 'hint' }, tid('id_not_verdict')));
    // after a bundle: is it the item the link names?
    const match = idBox('id-match', $('verdict'));
    match.replaceChildren();
    const r = state.report;
    if (!r || state.busy) { match.hidden = true; match.className = ''; delete match.dataset.match; return; }
    match.hidden = false;
    const got = typeof r.evidence_id === 'string' && r.evidence_id ? r.evidence_id : null;
    let key, cls, value;
    if (got === null) { key = 'id_unknown'; cls = 'warn'; value = 'unknown'; }
    else if (got !== want.id) { key = 'id_mismatch'; cls = 'compare bad'; value = 'no'; }
    else if (r.verdict === 'failed') { key = 'id_match_failed'; cls = 'compare'; value = 'yes'; }
    else { key = 'id_match'; cls = 'compare ok'; value = 'yes'; }
    match.className = cls;
    match.dataset.match = value;
    match.append(el('p', { class: 'compare-title' }, tid(key, { id: want.id, want: want.id, got: got || '' })));
  }

  // --- a web capture (docs/verdict.md section 6) ------------------------------------------------
  // r.webcapture is only there when the webcapture check passed or was not checked and no
  // check failed. Its values come from the capture manifest: hostile text, shown with
  // textContent only.

  const show = (v) => (v === null || v === undefined || v === '' ? '—' : typeof v === 'string' ? v : JSON.stringify(v));
  const seconds = (x) => (Math.round(Math.abs(x) * 1000) / 1000).toLocaleString('en-US', { maximumFractionDigits: 3 });

  function captureSection(r) {
    const w = r.webcapture;
    const off = w.clock_offset_seconds;
    const node = w.node_name ? t('wc_node_pinned', { name: w.node_name, key: show(w.node) }) : t('wc_node_unpinned', { key: show(w.node) });
    let offset;
    if (typeof off !== 'number') offset = el('span', {}, t('wc_offset_none'));
    else if (off < 0) offset = el('strong', { class: 'warn-text', id: 'capture-clock-warning' }, t('wc_offset_ahead', { s: seconds(off) }));
    else offset = el('span', {}, t('wc_offset_value', { s: seconds(off) }));
    const labels = Array.isArray(w.labels) && w.labels.length ? w.labels.map(show).join(', ') : t('wc_no_labels');
    const box = el('div', { class: 'capture', id: 'capture' },
      dl([
        [t('wc_url'), show(w.url)],
        [t('wc_final_url'), show(w.final_url)],
        [t('wc_http_status'), show(w.http_status)],
        [t('wc_title'), show(w.title)],
        [t('wc_server_ip'), show(w.server_ip)],
        [t('wc_tls_subject'), show(w.tls_subject)],
        [t('wc_tls_issuer'), show(w.tls_issuer)],
        [t('wc_started'), typeof w.started_at === 'string' ? when(w.started_at) : show(w.started_at)],
        [t('wc_ended'), typeof w.ended_at === 'string' ? when(w.ended_at) : show(w.ended_at)],
        [t('wc_node'), node],
        [t('wc_labels'), labels],
        [t('wc_offset'), offset],
      ]),
      screenshotFigure(r),
      el('div', { class: 'conclude' },
        el('p', {}, el('strong', {}, t('wc_can_h')), ' ', t('wc_can')),
        el('p', {}, el('strong', {}, t('wc_cannot_h')), ' ', t('wc_cannot'))));
    return [el('h3', {}, t('h_webcapture')), box];
  }

  /* The screenshot from the bundle itself (a blob: URL), once its SHA-256 is again the one
     the submission entry lists; read after the report is shown. */
  function screenshotFigure(r) {
    const w = r.webcapture;
    const f = r.files.find((x) => x.name === w.screenshot);
    if (!f || !state.bundle) return null;
    const key = `${state.run}:${f.sha256}`;
    if (!state.shot || state.shot.key !== key) {
      if (state.shot && state.shot.url) URL.revokeObjectURL(state.shot.url);
      state.shot = { key, url: null, failed: false };
      loadScreenshot(state.shot, f, r);
    }
    const caption = el('figcaption', {}, t('wc_screenshot', { name: show(w.screenshot) }));
    if (state.shot.failed) return el('figure', { class: 'screenshot' }, caption, el('p', { class: 'bad' }, t('wc_screenshot_unreadable')));
    if (!state.shot.url) return el('figure', { class: 'screenshot' }, caption, el('p', { class: 'hint' }, t('wc_screenshot_loading')));
    return el('figure', { class: 'screenshot' }, caption,
      el('img', { id: 'capture-screenshot', src: state.shot.url, alt: t('wc_screenshot_alt', { url: show(w.url) }) }));
  }

  async function loadScreenshot(shot, f, r) {
    try {
      const z = await EV.ZipReader.open(state.bundle);
      // where the bundle's format keeps the file (docs/bundle.md): v1 files/<sha256>; v2
      // files/<sha256>/<safe name of the first file the entry lists with that content>
      const first = r.files.find((x) => x.sha256 === f.sha256) || f;
      const member = r.format === 'evidence-bundle/v1' ? `files/${f.sha256}`
        : `files/${f.sha256}/${EV.safeName(first.name)}`;
      const part = await z.slice(member);
      if (await EV.digestBlob(part) !== f.sha256) throw new EV.VerifyError('the screenshot changed since it was verified');
      const type = typeof f.media_type === 'string' && /^image\/[a-z0-9.+-]+$/.test(f.media_type) ? f.media_type : 'image/png';
      if (state.shot !== shot) return;
      shot.url = URL.createObjectURL(new Blob([part], { type }));
    } catch (e) {
      if (state.shot !== shot) return;
      shot.failed = true;
    }
    if (state.report) renderDetails();
  }

  // --- ledger lookup ---------------------------------------------------------------------------
  // Public endpoints of `evidence serve` (docs/api.md): /v1/log/proof/inclusion,
  // /v1/log/checkpoints/{size}; and /v1/lookup for ids and file hashes (see
  // docs/verify-page.md: the page says plainly when a service lacks it).

  const LOOKUP_PATH = '/v1/lookup';

  async function getJson(base, path) {
    const url = new URL(path, base.endsWith('/') ? base : base + '/');
    const resp = await fetch(url.href, { method: 'GET', credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer', headers: { Accept: 'application/json' } });
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    return { status: resp.status, body };
  }

  /* The proof answer is not trusted: its checkpoint must be signed by the pinned key and
     the proof must lead from the leaf to that checkpoint's root. */
  async function verifyProofAnswer(p, logKey) {
    if (!p || typeof p.checkpoint !== 'string') throw new EV.VerifyError('the answer carries no signed checkpoint');
    const note = new TextEncoder().encode(p.checkpoint);
    let cp;
    if (Array.isArray(logKey)) { // a trust file: every key of the answer's origin, windows and ML-DSA pins as for bundles
      const origin = p.checkpoint.split('\n')[0];
      const mine = logKey.filter((l) => l.key.name === origin);
      cp = await EV.verifyCheckpointWindowed(note, mine.length ? mine : logKey.slice(0, 1), []);
    } else {
      cp = await EV.verifyCheckpoint(note, logKey, []);
    }
    if (BigInt(p.tree_size) !== cp.checkpoint.size) throw new EV.VerifyError('the proof is not for the signed checkpoint');
    await EV.verifyInclusion(p.index, cp.checkpoint.size, EV.fromHex(p.leaf_hash), p.proof.map((h) => EV.fromHex(h)), cp.checkpoint.root);
    return cp;
  }

  async function lookup(ev) {
    if (ev) ev.preventDefault();
    const q = $('lookup-input').value.trim();
    const base = $('api-base').value.trim();
    const lines = [];
    const done = () => { state.lookup = lines; renderLookup(); };
    let logKey;
    try { logKey = state.trust ? state.trust.policy.logs : await EV.parseVerifierKey(trust().logKey); } catch (e) { lines.push({ key: 'lookup_need_key', cls: 'bad' }); return done(); }
    if (!base) { lines.push({ key: 'lookup_need_api', cls: 'bad' }); return done(); }
    const isHash = /^[0-9a-fA-F]{64}$/.test(q);
    if (!isHash && !/^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$/.test(q)) { lines.push({ key: 'lookup_bad_input', cls: 'bad' }); return done(); }
    state.lookup = [{ key: 'lookup_busy' }];
    renderLookup();
    try {
      let seq = null, item = null;
      const param = isHash ? `sha256=${q.toLowerCase()}` : `evidence_id=${encodeURIComponent(q)}`;
      const found = await getJson(base, `${LOOKUP_PATH}?${param}`);
      // /v1/lookup answers {"matches": [...]}, empty when nothing matches: take the first
      // (a file preserved in several items shows its earliest submission).
      if (found.status === 200 && found.body && Array.isArray(found.body.matches)) {
        found.body = found.body.matches[0] || null;
        if (!found.body) { found.status = 404; found.body = { code: 'not-found' }; }
      }
      if (found.status === 200 && found.body) {
        item = found.body;
        seq = item.seq;
        lines.push({ key: 'lookup_found_item', params: { id: item.evidence_id, seq: item.seq, time: item.time }, cls: 'ok' });
        if (item.purged) lines.push({ key: 'lookup_purged', cls: 'warn' });
      } else if (found.status === 404 && found.body && found.body.code === 'not-found') {
        if (!isHash) lines.push({ key: 'lookup_not_found', params: { what: q }, cls: 'bad' });
      } else if (!isHash) {
        lines.push({ key: 'lookup_missing_endpoint', params: { what: state.lang === 'zh' ? '证据编号' : 'evidence id', path: LOOKUP_PATH }, cls: 'warn' });
      }
      let proof = null;
      if (seq !== null && seq !== undefined) {
        proof = await getJson(base, `/v1/log/proof/inclusion?seq=${Number(seq)}`);
      } else if (isHash) {
        if (found.status !== 200 && !(found.body && found.body.code === 'not-found')) {
          lines.push({ key: 'lookup_missing_endpoint', params: { what: state.lang === 'zh' ? '文件 SHA-256' : 'file SHA-256', path: LOOKUP_PATH }, cls: 'warn' });
        }
        proof = await getJson(base, `/v1/log/proof/inclusion?leaf_hash=${q.toLowerCase()}`);
        if (proof.status === 200) lines.push({ key: 'lookup_found_entry', params: { seq: proof.body.index }, cls: 'ok' });
        else if (found.status !== 200) lines.push({ key: 'lookup_not_found', params: { what: q }, cls: 'bad' });
      }
      if (proof && proof.status === 200) {
        try {
          const cp = await verifyProofAnswer(proof.body, logKey);
          lines.push({ key: 'lookup_proof_ok', params: { seq: proof.body.index, size: String(cp.checkpoint.size) }, cls: 'ok' });
          const anchors = await getJson(base, `/v1/log/checkpoints/${cp.checkpoint.size}`);
          if (anchors.status === 200 && anchors.body) {
            lines.push({ key: 'lookup_anchors', params: { size: String(cp.checkpoint.size) } });
            const a = anchors.body;
            for (const ts of a.timestamps || []) lines.push({ key: 'lookup_anchor_tsa', params: { source: ts.source, time: ts.gen_time }, cls: 'sub' });
            for (const w of a.cosignatures || []) lines.push({ key: 'lookup_anchor_witness', params: { source: w.source, time: unix(w.cosigned_at) }, cls: 'sub' });
            if (!(a.timestamps || []).length && !(a.cosignatures || []).length) lines.push({ key: 'lookup_no_anchors', cls: 'sub' });
          }
        } catch (e) {
          lines.push({ key: 'lookup_proof_bad', params: { why: e.message }, cls: 'bad' });
        }
      } else if (proof && seq !== null && seq !== undefined) {
        lines.push({ key: 'lookup_proof_bad', params: { why: `HTTP ${proof.status}` }, cls: 'bad' });
      }
    } catch (e) {
      lines.length = 0;
      lines.push({ key: 'lookup_network', params: { why: e.message }, cls: 'bad' });
    }
    done();
  }

  function renderLookup() {
    const out = $('lookup-result');
    out.replaceChildren();
    $('lookup-hint').textContent = t('lookup_file_hint');
    if (!state.lookup) return;
    out.append(el('ul', { class: 'lookup-lines' }, state.lookup.map((l) => el('li', { class: l.cls || '' }, t(l.key, l.params)))));
  }

  // --- a stand-alone .tlog-proof file (C2SP tlog-proof@v1; docs/verdict.md "tlog-proof files") ---
  // One file, checked against the pinned trust file (it serves as the tlog-policy) by
  // EvidenceVerify.verifyTlogProof, the function whose verdict tests/verdicts/
  // test_tlog_proof_files.py holds equal to `evidence verify` and scripts/verify_bundle.py;
  // tests/browser/test_tlog_proof_page.py drives this section. Its text is hostile input:
  // textContent only.

  state.tlog = { file: null, report: null, error: null, busy: false, run: 0 };

  async function takeTlogProof(file) {
    const s = state.tlog, run = ++s.run;
    s.file = file || null;
    s.report = null;
    s.error = null;
    if (!s.file) { renderTlogProof(); return; }
    if (state.trustError) s.error = 'trust_refused_short';
    else if (!state.trust) s.error = 'tlog_need_trust';  // typed keys are no tlog-policy
    if (s.error) { renderTlogProof(); return; }
    s.busy = true;
    renderTlogProof();
    try {
      const report = await EV.verifyTlogProof(new Uint8Array(await s.file.arrayBuffer()), state.trust.policy);
      if (run === s.run) s.report = report;
    } catch (e) {
      if (run === s.run) s.error = { raw: e.message };
    } finally {
      if (run === s.run) { s.busy = false; renderTlogProof(); }
    }
  }

  function renderTlogProof() {
    const s = state.tlog, box = $('tlog-verdict'), out = $('tlog-details');
    box.replaceChildren();
    out.replaceChildren();
    box.className = 'verdict';
    delete box.dataset.verdict;
    const chosen = $('tlog-input').parentElement;
    let note = chosen.querySelector('.chosen');
    if (!note) { note = el('span', { class: 'chosen' }); chosen.append(note); }
    note.textContent = s.file ? `${s.file.name} (${humanSize(s.file.size)})` : '';
    if (s.busy || !s.file) return;
    if (s.error) {
      box.classList.add('failed');
      box.dataset.verdict = 'error';
      box.append(el('p', { class: 'verdict-sub' }, s.error.raw ? s.error.raw : t(s.error)));
      return;
    }
    const r = s.report, v = r.verdict;
    box.dataset.verdict = v;
    box.classList.add(v);
    const listed = v === 'failed' ? r.checks.filter((c) => c.status === 'fail') : r.checks.filter((c) => c.status === 'not-checked');
    box.append(
      el('p', { class: 'verdict-title' }, el('span', { class: 'icon', 'aria-hidden': 'true' }, VERDICT_ICON[v]), ' ', t(`tlog_verdict_${v}`)),
      el('p', { class: 'verdict-sub' }, t(`tlog_verdict_${v}_sub`, { index: r.index === null ? '?' : r.index })),
      listed.length ? el('ul', { class: 'verdict-lines' }, listed.map((c) => el('li', { 'data-check': c.name },
        el('strong', {}, v === 'failed' ? checkLabel(c.name) : t('not_checked_label', { check: checkLabel(c.name) })), ': ', reasonOf(c)))) : null,
      el('p', { class: 'verdict-file' }, t('tlog_file', { name: s.file.name, size: humanSize(s.file.size) })));
    const cp = r.checkpoint, e = r.entry;
    out.append(dl([
      e && [t('tlog_entry'), t('tlog_entry_value', { seq: e.seq, type: e.type, time: when(e.time) })],
      e && [t('tlog_leaf'), el('code', { class: 'hash' }, e.leaf_hash)],
      cp && [t('checkpoint'), t('checkpoint_value', { origin: cp.origin, size: cp.size })],
      cp && [t('root'), el('code', { class: 'hash' }, cp.root)],
      cp && cp.cosigned_by.length && [t('tlog_cosigned'), cp.cosigned_by.map((w) => w.name).join(', ')],
      [t('trust_fingerprint'), el('code', { class: 'hash' }, r.trust_fingerprint)],
    ]), el('ul', { class: 'checks' }, r.checks.map((c) => el('li', { 'data-check': c.name, 'data-status': c.status },
      el('strong', {}, checkLabel(c.name)), ' — ', t(RESULT_KEY[c.status]), ': ', reasonOf(c)))));
  }

  window.EvidencePage.takeTlogProof = takeTlogProof;

  // --- wiring ----------------------------------------------------------------------------------

  function init() {
    loadConfig();
    state.expected = expectedFromUrl();
    if (state.expected && state.expected.valid) $('lookup-input').value = state.expected.id;
    let lang = 'en';
    try { lang = localStorage.getItem('evidence-verify-lang') || ''; } catch (e) { lang = ''; }
    if (!lang) lang = (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
    const fromUrl = /[#&?]lang=(zh|en)\b/.exec(location.hash + location.search);
    if (fromUrl) lang = fromUrl[1];
    $('lang-zh').addEventListener('click', () => setLang('zh'));
    $('lang-en').addEventListener('click', () => setLang('en'));
    $('log-key').addEventListener('input', checkKeyField);
    $('bundle-input').addEventListener('change', (e) => {
      state.bundle = e.target.files[0] || null; setPickerNames(); if (state.bundle) verifyNow();
    });
    $('file-input').addEventListener('change', (e) => {
      state.compare = [...e.target.files]; setPickerNames(); if (state.bundle) verifyNow();
    });
    $('verify-btn').addEventListener('click', verifyNow);
    $('trust-file').addEventListener('change', async (e) => {
      const f = e.target.files[0];
      if (!f) return;
      state.trustChosen = true; // before any await: the pre-fill must not land after this
      await loadTrust(new Uint8Array(await f.arrayBuffer()), 'file', f.name);
    });
    $('trust-sha256').addEventListener('change', async () => {
      // the fingerprint is checked against the file kept (or refused) as it was read
      if (state.trust) {
        const want = typedFingerprint();
        if (want && want !== state.trust.policy.fingerprint) {
          state.trustError = { key: 'trust_fingerprint_mismatch', params: { got: state.trust.policy.fingerprint, want } };
          state.trust = null;
          state.trustGen++;
          trustChanged();
        }
      }
    });
    $('trust-clear').addEventListener('click', () => {
      state.trustChosen = true;
      state.trustGen++;
      state.trust = null; state.trustError = null; $('trust-file').value = '';
      trustChanged();
    });
    $('stop-btn').addEventListener('click', () => { state.stop = true; });
    $('print-btn').addEventListener('click', () => window.print());
    $('tlog-input').addEventListener('change', (e) => takeTlogProof(e.target.files[0] || null));
    const tdrop = $('tlog-drop');
    tdrop.addEventListener('dragover', (e) => { e.preventDefault(); tdrop.classList.add('over'); });
    tdrop.addEventListener('dragleave', () => tdrop.classList.remove('over'));
    tdrop.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      tdrop.classList.remove('over');
      if (e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files.length) takeTlogProof(e.dataTransfer.files[0]);
    });
    $('lookup-form').addEventListener('submit', lookup);
    const drop = $('drop');
    // a file dropped anywhere must not make the browser navigate away to it
    for (const type of ['dragover', 'drop']) document.addEventListener(type, (e) => e.preventDefault());
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      if (e.dataTransfer && e.dataTransfer.files) takeDropped(e.dataTransfer.files);
    });
    setLang(lang);
    checkEnvironment();
    window.EvidencePage.trustReady = loadServedTrust();
  }

  window.EvidencePage.takeFiles = takeDropped; // for tests and for drop emulation
  window.EvidencePage.setLang = setLang;
  window.EvidencePage.loadTrust = loadTrust;
  window.EvidencePage.loadServedTrust = loadServedTrust; // the pre-fill again (tests: it never replaces the clerk's file)
  init();
})();
