/* The submitter's own Ed25519 key, in the browser (WebCrypto), never sent anywhere.
 *
 * File format: the one `evidence keygen` writes and evidence/ledger/keyfile.py reads, Go's
 * note key string `PRIVATE+KEY+<name>+<key id, 8 hex>+base64(0x01 || 32-byte seed)`; the
 * verifier key is `<name>+<key id>+base64(0x01 || public key)`, the key id the first four
 * bytes (big-endian) of SHA-256(name || "\n" || 0x01 || public key) (evidence/verify/note.py).
 *
 * Kept in IndexedDB as a CryptoKey (extractable, so it can be exported to its file again)
 * with its name and public key. What is signed is the submission text the server sends
 * back (evidence/verify/submission.py), after the console rebuilt it itself.
 */

const ALG_ED25519 = 0x01;
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03,
  0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const DB = 'evidence-console';
const STORE = 'keys';
const SLOT = 'submitter';

export class KeyError extends Error {}

const b64 = (u8) => btoa(String.fromCharCode(...u8));
function unb64(s) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4) throw new KeyError('not base64');
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}
const hex8 = (n) => n.toString(16).padStart(8, '0');

export function validName(name) {
  return typeof name === 'string' && name.length > 0 && !/[+\s]/.test(name);
}

async function keyId(name, pub) {
  const enc = new TextEncoder().encode(name + '\n');
  const buf = new Uint8Array(enc.length + 1 + pub.length);
  buf.set(enc); buf[enc.length] = ALG_ED25519; buf.set(pub, enc.length + 1);
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  return ((d[0] << 24) >>> 0) + (d[1] << 16) + (d[2] << 8) + d[3];
}

async function publicOf(privateKey) {
  const jwk = await crypto.subtle.exportKey('jwk', privateKey);
  return unb64(jwk.x.replace(/-/g, '+').replace(/_/g, '/').padEnd(44, '='));
}

async function fromSeed(name, seed) {
  const der = new Uint8Array(PKCS8_PREFIX.length + 32);
  der.set(PKCS8_PREFIX); der.set(seed, PKCS8_PREFIX.length);
  const privateKey = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, true, ['sign']);
  const pub = await publicOf(privateKey);
  return { name, privateKey, pub, id: await keyId(name, pub) };
}

/** A new key named ``name``. */
export async function generate(name) {
  if (!validName(name)) throw new KeyError('a key name must be non-empty, with no spaces and no +');
  const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const pub = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { name, privateKey: pair.privateKey, pub, id: await keyId(name, pub) };
}

/** The key of a `PRIVATE+KEY+...` file, checked as parse_signer_key checks it. */
export async function fromKeyFile(text) {
  const s = String(text).trim();
  if (!s.startsWith('PRIVATE+KEY+')) throw new KeyError('a key file starts with PRIVATE+KEY+');
  const parts = s.slice('PRIVATE+KEY+'.length).split('+');
  if (parts.length < 3) throw new KeyError('a key file looks like PRIVATE+KEY+name+keyid+base64key');
  const data = unb64(parts.slice(2).join('+'));
  const [name, id] = parts;
  if (!validName(name)) throw new KeyError('the key name is not valid');
  if (data.length !== 33 || data[0] !== ALG_ED25519) {
    throw new KeyError(data[0] === 0x04 ? 'this is a witness key, not a submitter key'
                                        : 'the key is not an Ed25519 key');
  }
  const key = await fromSeed(name, data.slice(1));
  if (!/^[0-9a-f]{8}$/.test(id) || hex8(key.id) !== id) throw new KeyError('the key id does not match the key');
  return key;
}

/** The key as `evidence keygen` writes it (one line, with its newline). */
export async function toKeyFile(key) {
  const der = new Uint8Array(await crypto.subtle.exportKey('pkcs8', key.privateKey));
  const data = new Uint8Array(33);
  data[0] = ALG_ED25519; data.set(der.slice(der.length - 32), 1);
  return `PRIVATE+KEY+${key.name}+${hex8(key.id)}+${b64(data)}\n`;
}

/** The verifier key: safe to publish, what the ledger records with the signature. */
export function verifierKey(key) {
  const data = new Uint8Array(33);
  data[0] = ALG_ED25519; data.set(key.pub, 1);
  return `${key.name}+${hex8(key.id)}+${b64(data)}`;
}

/** base64 of the 64-byte Ed25519 signature over the UTF-8 bytes of ``text``. */
export async function sign(key, text) {
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, key.privateKey, new TextEncoder().encode(text));
  return b64(new Uint8Array(sig));
}

// --- JCS (RFC 8785) of the files list, as evidence.verify.entry.canonical_json -------------

function jcs(v) {
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new KeyError('only integers are expected here');
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  const keys = Object.keys(v).sort((a, b) => {
    // RFC 8785 sorts by UTF-16 code units: JavaScript's default string order
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + jcs(v[k])).join(',') + '}';
}

/** The text a submitter signs (evidence/verify/submission.py submission_text). */
export async function submissionText(evidenceId, commitment, files) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(jcs(files))));
  const digest = Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
  return `evidence.submission/v1\n${evidenceId}\n${commitment}\n${digest}\n`;
}

// --- storage ----------------------------------------------------------------------------

function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const d = await db();
  try {
    return await new Promise((resolve, reject) => {
      const t = d.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req && req.result);
      t.onerror = () => reject(t.error);
    });
  } finally {
    d.close();
  }
}

export const load = () => tx('readonly', (s) => s.get(SLOT)).then((k) => k || null);
export const save = (key) => tx('readwrite', (s) => s.put(key, SLOT));
export const remove = () => tx('readwrite', (s) => s.delete(SLOT));
