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
    compare: null,       // File
    run: 0,              // id of the current verification (a newer one wins)
    stop: false,
    report: null,        // last report (EvidenceVerify Report)
    compareResult: null, // {name, size, sha256}
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
    renderAll();
    renderLookup();
  }

  // --- configuration and environment ----------------------------------------------------

  function loadConfig() {
    let cfg = {};
    try { cfg = JSON.parse($('ev-config').textContent || '{}') || {}; } catch (e) { cfg = {}; }
    if (cfg.log_key) $('log-key').value = cfg.log_key;
    if (Array.isArray(cfg.witness_keys)) $('witness-keys').value = cfg.witness_keys.join('\n');
    if (Number.isInteger(cfg.witness_quorum)) $('quorum').value = String(cfg.witness_quorum);
    if (cfg.witness_keys && cfg.witness_keys.length) $('witness-box').open = true;
    let api = cfg.api_base || '';
    if (!api && /^https?:$/.test(location.protocol)) api = location.origin;
    $('api-base').value = api;
    state.configuredBy = cfg.log_key ? (cfg.configured_by || location.host || 'config') : '';
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

  function trust() {
    return {
      logKey: $('log-key').value.trim(),
      witnessKeys: $('witness-keys').value.split('\n').map((s) => s.trim()).filter(Boolean),
      witnessQuorum: Math.max(0, parseInt($('quorum').value, 10) || 0),
    };
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
    if (files.length > 2) { showError('too_many'); return; }
    let bundle = files[0], compare = null;
    if (files.length === 2) {
      const flags = await Promise.all(files.map(looksLikeBundle));
      if (flags[0] && flags[1]) { showError('two_bundles'); return; }
      if (flags[1] && !flags[0]) { bundle = files[1]; compare = files[0]; } else { compare = files[1]; }
    }
    state.bundle = bundle;
    state.compare = compare;
    setPickerNames();
    verifyNow();
  }

  function setPickerNames() {
    // A file input cannot be set from a drop in every browser; show what was taken.
    for (const [id, f] of [['bundle-input', state.bundle], ['file-input', state.compare]]) {
      const el = $(id);
      let note = el.parentElement.querySelector('.chosen');
      if (!note) { note = document.createElement('span'); note.className = 'chosen'; el.parentElement.appendChild(note); }
      note.textContent = f ? `${f.name} (${humanSize(f.size)})` : '';
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

  async function verifyNow() {
    if (!state.bundle) { showError('no_bundle'); return; }
    if (!trust().logKey) { showError('key_missing'); $('log-key').focus(); return; }
    const run = ++state.run;
    state.stop = false;
    state.report = null;
    state.error = null;
    state.compareResult = null;
    state.busy = true;
    $('stop-btn').hidden = false;
    $('verify-btn').disabled = true;
    renderAll();
    const stale = () => run !== state.run || state.stop;
    try {
      const report = await EV.verifyBundle(state.bundle, trust(), {
        progress: (done, total) => { if (!stale()) progress('progress_reading', done, total); },
        shouldStop: stale,
      });
      if (stale()) throw new EV.VerifyError('stopped');
      if (state.compare) {
        const f = state.compare;
        const sha = await EV.digestBlob(f, (() => { let d = 0; return (n) => { d += n; if (!stale()) progress('progress_file', d, f.size); }; })(), stale);
        state.compareResult = { name: f.name, size: f.size, sha256: sha };
      }
      if (run !== state.run) return;
      state.report = report;
    } catch (e) {
      if (run !== state.run) return;
      if (state.stop || e.message === 'stopped' || e.message === 'stopped by the user') {
        state.error = { key: 'stopped' };
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

  function renderAll() {
    renderVerdict();
    renderDetails();
  }

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
    const icon = { verified: '✔', purged: '⚠', failed: '✘', unsupported: '⚠' }[v];
    let sub;
    if (v === 'failed' || v === 'unsupported') {
      const c = r.checks.find((x) => !x.ok && x.required);
      sub = t(v === 'failed' ? 'verdict_failed_sub' : 'verdict_unsupported_sub', { check: checkLabel(c.name), reason: reasonOf(c) });
    } else {
      sub = t(`verdict_${v}_sub`);
    }
    box.append(
      el('p', { class: 'verdict-title' }, el('span', { class: 'icon', 'aria-hidden': 'true' }, icon), ' ', t(`verdict_${v}`)),
      el('p', { class: 'verdict-sub' }, sub),
      el('p', { class: 'verdict-file' }, t('verdict_bundle_for', { name: state.bundle ? state.bundle.name : '', size: state.bundle ? humanSize(state.bundle.size) : '' })),
    );
  }

  function dl(rows) {
    return el('dl', { class: 'facts' }, rows.filter(Boolean).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  }

  function renderDetails() {
    const out = $('details');
    out.replaceChildren();
    const r = state.report;
    if (!r) return;
    const cp = r.checkpoint;
    // evidence summary
    if (r.evidence_id || cp) {
      out.append(el('h3', {}, t('h_summary')), dl([
        r.evidence_id && [t('evidence_id'), el('code', {}, r.evidence_id)],
        r.submitted_at && [t('submitted_at'), `${r.submitted_at} (UTC)`],
        cp && [t('checkpoint'), t('checkpoint_value', { origin: cp.origin, size: cp.size })],
        cp && [t('root'), el('code', { class: 'hash' }, cp.root)],
        cp && [t('witnesses'), cp.cosigned_by.length ? el('ul', {}, cp.cosigned_by.map((w) => el('li', {}, t('witness_row', { name: w.name, time: unix(w.cosigned_at) })))) : t('witness_none')],
        r.manifest_hints && r.manifest_hints.created_at && [t('bundle_created'), String(r.manifest_hints.created_at)],
      ]));
    }
    // time window
    if (r.submitted_at) {
      const items = [el('li', {}, t('time_log', { time: `${r.submitted_at} (UTC)` }))];
      for (const w of (cp ? cp.cosigned_by : [])) items.push(el('li', {}, t('time_witness', { name: w.name, time: unix(w.cosigned_at) })));
      if (!r.timestamps_stated.length) items.push(el('li', {}, t('time_none')));
      for (const ts of r.timestamps_stated) {
        if (ts.error) { items.push(el('li', { class: 'bad' }, t('time_token_unreadable', { why: ts.error }))); continue; }
        const tsa = ts.tsaName || ts.signer || ts.label || '?';
        items.push(el('li', { class: ts.imprint_matches ? '' : 'bad' },
          el('strong', {}, t('time_token', { tsa, time: ts.genTime })), ' ',
          el('span', { class: 'stated' }, t('time_token_stated')), ' ',
          t(ts.imprint_matches ? 'time_token_imprint_ok' : 'time_token_imprint_bad')));
      }
      out.append(el('h3', {}, t('h_time')), el('ul', { class: 'timeline' }, items));
    }
    // files
    if (r.files.length) {
      out.append(el('h3', {}, t('h_files')), el('div', { class: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, [t('col_name'), t('col_type'), t('col_size'), t('col_sha'), t('col_included')].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, r.files.map((f) => el('tr', {},
          el('td', {}, String(f.name)), el('td', {}, String(f.media_type)), el('td', {}, humanSize(f.size)),
          el('td', {}, el('code', { class: 'hash' }, String(f.sha256))), el('td', {}, f.included ? t('yes') : t('no'))))))));
    }
    // the file to compare
    if (state.compareResult) {
      const c = state.compareResult;
      const match = r.ok ? r.files.find((f) => f.sha256 === c.sha256) : null;
      let key, cls;
      if (!r.ok) { key = 'compare_unverified'; cls = 'bad'; } else if (match) { key = r.purged && !match.included ? 'compare_match_purged' : 'compare_match'; cls = 'ok'; } else { key = 'compare_nomatch'; cls = 'bad'; }
      out.append(el('h3', {}, t('h_compare')), el('div', { class: `compare ${cls}`, id: 'compare-result', 'data-match': match ? 'yes' : 'no' },
        el('p', { class: 'compare-title' }, t(key, { name: match ? match.name : '' })),
        el('p', {}, t('compare_file', { name: c.name, size: humanSize(c.size), sha: c.sha256 }))));
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
      el('tbody', {}, r.checks.map((c) => el('tr', { class: c.ok ? 'pass' : (c.required ? 'fail' : 'optfail'), 'data-check': c.name, 'data-ok': String(c.ok), 'data-required': String(c.required) },
        el('th', { scope: 'row' }, checkLabel(c.name), el('br'), el('code', {}, c.name)),
        el('td', {}, c.ok ? (c.required ? t('result_pass') : t('result_optional')) : (c.required ? t('result_fail') : t('result_optional_fail'))),
        el('td', {}, reasonOf(c))))))));
    // metadata
    if (r.metadata) {
      out.append(el('details', { class: 'metadata' }, el('summary', {}, t('h_metadata')), el('pre', {}, JSON.stringify(r.metadata, null, 2))));
    }
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
    const cp = await EV.verifyCheckpoint(new TextEncoder().encode(p.checkpoint), logKey, []);
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
    try { logKey = await EV.parseVerifierKey(trust().logKey); } catch (e) { lines.push({ key: 'lookup_need_key', cls: 'bad' }); return done(); }
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

  // --- wiring ----------------------------------------------------------------------------------

  function init() {
    loadConfig();
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
      state.compare = e.target.files[0] || null; setPickerNames(); if (state.bundle) verifyNow();
    });
    $('verify-btn').addEventListener('click', verifyNow);
    $('stop-btn').addEventListener('click', () => { state.stop = true; });
    $('print-btn').addEventListener('click', () => window.print());
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
  }

  window.EvidencePage.takeFiles = takeDropped; // for tests and for drop emulation
  window.EvidencePage.setLang = setLang;
  init();
})();
