/* The console's one door to the server: the public HTTP API (docs/api.md) on this origin,
 * with the bearer token the user signed in with. Nothing here decides what a user may
 * do: the server answers every request, and its refusals (RFC 9457 problem documents)
 * are what the console shows.
 *
 * Three outcomes of a call: the answer (a 2xx), an ApiError (the server answered with a
 * problem: status and stable code), or an Unreachable (no answer at all: the server is
 * down, the network failed, or a proxy answered for it).
 */

export class ApiError extends Error {
  constructor(status, doc) {
    super((doc && doc.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = (doc && doc.code) || `http-${status}`;
    this.doc = doc || {};
  }
}

export class Unreachable extends Error {
  constructor(why) {
    super(why || 'the server did not answer');
    this.code = 'unreachable';
  }
}

let token = null;
let onUnauthorized = null;

/** The token every later call sends; null signs out. */
export function setToken(t) { token = t; }

/** Called with the ApiError of any 401 (expired, revoked or unknown token). */
export function onSignedOut(fn) { onUnauthorized = fn; }

function url(path, query) {
  const u = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  }
  return u.pathname + u.search;
}

async function problemOf(resp) {
  const type = resp.headers.get('content-type') || '';
  if (type.startsWith('application/problem+json') || type.startsWith('application/json')) {
    try { return await resp.json(); } catch (e) { return null; }
  }
  return null;
}

async function failed(resp) {
  const doc = await problemOf(resp);
  if (!doc && resp.status >= 500) {
    // not this service's answer (a proxy's 502/504 page): as good as no answer
    throw new Unreachable(`HTTP ${resp.status}`);
  }
  const err = new ApiError(resp.status, doc);
  if (resp.status === 401 && token && onUnauthorized) onUnauthorized(err);
  throw err;
}

/** One request. ``json``: a body to send as JSON; ``as``: 'json' (default), 'blob',
 * 'response'; ``headers``: more request headers (an Idempotency-Key). Resolves with the
 * parsed answer; rejects with ApiError or Unreachable. */
export async function call(method, path, { query, json, as = 'json', auth = true, headers: extra } = {}) {
  const headers = { ...(extra || {}) };
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let resp;
  try {
    resp = await fetch(url(path, query), { method, headers, body, cache: 'no-store',
                                           credentials: 'omit', redirect: 'error' });
  } catch (e) {
    throw new Unreachable(String(e && e.message || e));
  }
  if (!resp.ok) await failed(resp);
  if (as === 'response') return resp;
  if (as === 'blob') return resp.blob();
  if (resp.status === 204) return null;
  return resp.json();
}

/** A multipart POST with upload progress (fetch has none): ``onProgress(sent, total)``;
 * ``headers``: more request headers (the submission's Idempotency-Key, the same on every
 * try). Resolves with {status, body}; rejects like call(). An upload cut off half-way
 * rejects with Unreachable: the server keeps nothing of an incomplete body (docs/api.md). */
export function upload(path, form, onProgress, headers) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    xhr.responseType = 'text';
    let total = 0;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) total = e.total;
      if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    };
    // the body is all sent: the bar ends full even when the last progress event fell short
    xhr.upload.onload = () => { if (onProgress && total) onProgress(total, total); };
    xhr.onerror = () => reject(new Unreachable('the upload was cut off'));
    xhr.onabort = () => reject(new Unreachable('the upload was stopped'));
    xhr.ontimeout = () => reject(new Unreachable('the upload timed out'));
    xhr.onload = () => {
      let doc = null;
      try { doc = JSON.parse(xhr.responseText); } catch (e) { doc = null; }
      if (xhr.status >= 200 && xhr.status < 300) return resolve({ status: xhr.status, body: doc });
      if (!doc && xhr.status >= 500) return reject(new Unreachable(`HTTP ${xhr.status}`));
      const err = new ApiError(xhr.status, doc);
      if (xhr.status === 401 && token && onUnauthorized) onUnauthorized(err);
      reject(err);
    };
    xhr.send(form);
  });
}

/** A new Idempotency-Key (docs/api.md, "Retrying a submission"): 128 random bits, as
 * the header's quoted string. One per logical submission, sent again on its retries.
 * (getRandomValues, unlike randomUUID, works on a plain-HTTP origin too.) */
export function newIdempotencyKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return `"${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}"`;
}

/** Hex SHA-256 of bytes (ArrayBuffer or view). */
export async function sha256Hex(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A file of an item, fetched and checked against its preserved SHA-256 before anything
 * is shown or saved: a mismatch rejects (never a blob of other bytes). */
export async function verifiedFile(evidenceId, sha256) {
  const blob = await call('GET', `/v1/evidence/${encodeURIComponent(evidenceId)}/files/${sha256}`,
                          { as: 'blob' });
  const got = await sha256Hex(await blob.arrayBuffer());
  if (got !== sha256) {
    const err = new ApiError(0, { code: 'hash-mismatch', detail: `received bytes hash to ${got}, not ${sha256}` });
    throw err;
  }
  return blob;
}
