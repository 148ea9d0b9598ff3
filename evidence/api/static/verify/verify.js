/* Evidence bundle verifier for the browser: a port of evidence/verify/bundle.py.
 *
 * Reads an evidence-bundle/v1 ZIP (docs/bundle.md) from a local File and checks every
 * claim it makes against the keys the court pins. Nothing is sent anywhere: this file
 * makes no network request at all (the page's optional ledger lookup lives in page.js).
 *
 * The named checks, their order, and their pass/fail/required semantics are those of
 * the Python verifier; tests/vectors_shared/verify_page.json runs the same bundles
 * through both so that the two cannot drift. Reasons are given in English and Chinese.
 *
 * What this file verifies itself: the ZIP structure (hostile-archive rules), member
 * SHA-256 and CRC-32, entries (canonical JSON, house rules), RFC 9162 inclusion proofs,
 * hash-chain links, the checkpoint's Ed25519 signature and tlog-cosignature/v1
 * cosignatures (WebCrypto), the submitter's signature, custody order, the files, and the
 * salted metadata commitment (RFC 8785 JCS).
 * What it only reads and displays: RFC 3161 timestamp tokens. It parses each token's
 * TSTInfo (genTime, TSA name, serial) and compares its message imprint with SHA-256 of the
 * checkpoint text (a token over other data fails the check, as a sign of tampering), but
 * it does not verify the CMS signature or the TSA certificate chain: such times are
 * "stated by the token" until `evidence verify --tsa-ca ...` checks them.
 *
 * Sections: bytes and text - SHA-256 - CRC-32 - ZIP reader - JSON and JCS - entries -
 * Merkle proofs - keys, notes, checkpoints - submitter - DER and timestamp tokens -
 * bundle checks. Everything is exported on window.EvidenceVerify.
 */
(function (global) {
  'use strict';

  class VerifyError extends Error {}           // a claim in the bundle does not hold
  class MalformedInput extends VerifyError {}  // input that is not what the format says
  class BundleError extends VerifyError {}     // the archive cannot be read safely

  const FORMAT = 'evidence-bundle/v1';
  const MANIFEST = 'manifest.json';
  const CHECKPOINT = 'checkpoint/checkpoint.note';
  const METADATA = 'metadata/metadata.json';
  const SUBMITTED = 'evidence.submitted';
  const PURGED = 'evidence.purged';
  const MiB = 1024 * 1024;
  const GiB = 1024 * MiB;

  const LIMITS = Object.freeze({      // evidence/verify/bundle.py Limits
    maxMembers: 20000,
    maxFileSize: 64 * GiB,
    maxTotalSize: 256 * GiB,
    maxSmallMember: 16 * MiB,
    maxRatio: 200,
  });

  const MEMBER_PATTERNS = [
    /^manifest\.json$/,
    /^entries\/(0|[1-9][0-9]{0,15})\.entry$/,
    /^proofs\/(0|[1-9][0-9]{0,15})\.json$/,
    /^checkpoint\/checkpoint\.note$/,
    /^timestamps\/(0|[1-9][0-9]{0,2})\.(tst|chain\.pem)$/,
    /^metadata\/metadata\.json$/,
    /^files\/[0-9a-f]{64}$/,
    /^report\/report\.(html|txt|pdf)$/,
  ];

  const settings = {
    chunkSize: 4 * MiB,
    /* members up to this size are hashed in one WebCrypto call; larger ones (evidence
       files) are streamed through the incremental SHA-256 below, chunk by chunk. */
    wholeDigestLimit: 32 * MiB,
  };

  // --- bytes and text ------------------------------------------------------------------

  const enc = new TextEncoder();
  const utf8 = (s) => enc.encode(s);
  const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  function decodeUtf8(bytes, what) {
    try { return strictDecoder.decode(bytes); } catch (e) {
      throw new MalformedInput(`${what} is not valid UTF-8`);
    }
  }

  function concat(...parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }

  function toHex(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    return s;
  }

  function fromHex(hex) {
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }

  /* Python's hash_from_hex: exactly 64 hex digits (either case). */
  function hashFromHex(text, what) {
    if (typeof text !== 'string' || !/^[0-9a-fA-F]{64}$/.test(text)) {
      throw new MalformedInput(`${what} must be 64 hex digits`);
    }
    return fromHex(text);
  }

  /* Python's bytes.fromhex: pairs of hex digits, ASCII whitespace between them ignored. */
  function pyFromHex(text) {
    const t = text.replace(/[ \t\n\r\f\v]/g, '');
    if (t.length % 2 || !/^[0-9a-fA-F]*$/.test(t)) throw new MalformedInput('salt is not hexadecimal');
    return fromHex(t);
  }

  /* Strict standard base64 with padding (Python's b64decode(validate=True)). */
  function b64decode(text, what) {
    if (typeof text !== 'string' || text.length % 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
      throw new MalformedInput(`${what} is not valid base64`);
    }
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function b64encode(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  /* Python's str.isspace() characters (used for key names and strip()). */
  const PY_SPACE = '\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003' +
    '\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';
  const isPySpace = (ch) => PY_SPACE.includes(ch);
  function pyStrip(s) {
    let a = 0, b = s.length;
    while (a < b && isPySpace(s[a])) a++;
    while (b > a && isPySpace(s[b - 1])) b--;
    return s.slice(a, b);
  }

  const yieldToUi = () => new Promise((r) => setTimeout(r, 0));

  // --- SHA-256 -------------------------------------------------------------------------
  // WebCrypto for whole buffers; WebCrypto has no incremental API, so large members are
  // hashed with this FIPS 180-4 implementation in chunks (flat memory, progress, no
  // freeze). tests/test_verify_page.py holds it equal to hashlib on many lengths.

  const K256 = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  class Sha256 {
    constructor() {
      this.h = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
      this.w = new Int32Array(64);
      this.buf = new Uint8Array(64);
      this.bufLen = 0;
      this.length = 0; // bytes so far (a Number: exact up to 2^53)
    }

    update(data) {
      let i = 0;
      const n = data.length;
      this.length += n;
      if (this.bufLen) {
        while (this.bufLen < 64 && i < n) this.buf[this.bufLen++] = data[i++];
        if (this.bufLen < 64) return this;
        this._block(this.buf, 0);
        this.bufLen = 0;
      }
      for (; i + 64 <= n; i += 64) this._block(data, i);
      while (i < n) this.buf[this.bufLen++] = data[i++];
      return this;
    }

    digest() {
      const bits = this.length * 8;
      const pad = new Uint8Array(((this.bufLen < 56) ? 56 : 120) - this.bufLen + 8);
      pad[0] = 0x80;
      const hi = Math.floor(bits / 0x100000000), lo = bits >>> 0;
      const e = pad.length;
      pad[e - 8] = hi >>> 24; pad[e - 7] = hi >>> 16; pad[e - 6] = hi >>> 8; pad[e - 5] = hi;
      pad[e - 4] = lo >>> 24; pad[e - 3] = lo >>> 16; pad[e - 2] = lo >>> 8; pad[e - 1] = lo;
      const len = this.length;
      this.update(pad);
      this.length = len;
      const out = new Uint8Array(32);
      for (let j = 0; j < 8; j++) {
        out[4 * j] = this.h[j] >>> 24; out[4 * j + 1] = this.h[j] >>> 16;
        out[4 * j + 2] = this.h[j] >>> 8; out[4 * j + 3] = this.h[j];
      }
      return out;
    }

    _block(d, o) {
      const w = this.w, h = this.h;
      for (let t = 0; t < 16; t++, o += 4) w[t] = (d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3];
      for (let t = 16; t < 64; t++) {
        const a = w[t - 15], b = w[t - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      let A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], H = h[7];
      for (let t = 0; t < 64; t++) {
        const S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        const ch = (E & F) ^ (~E & G);
        const t1 = (H + S1 + ch + K256[t] + w[t]) | 0;
        const S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        const maj = (A & B) ^ (A & C) ^ (B & C);
        const t2 = (S0 + maj) | 0;
        H = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
      }
      h[0] = (h[0] + A) | 0; h[1] = (h[1] + B) | 0; h[2] = (h[2] + C) | 0; h[3] = (h[3] + D) | 0;
      h[4] = (h[4] + E) | 0; h[5] = (h[5] + F) | 0; h[6] = (h[6] + G) | 0; h[7] = (h[7] + H) | 0;
    }
  }

  function subtle() {
    const s = global.crypto && global.crypto.subtle;
    if (!s) {
      throw new VerifyError('WebCrypto is not available: open this page over HTTPS, from ' +
        'localhost, or saved to disk (file://); browsers disable it on plain-HTTP pages');
    }
    return s;
  }

  async function sha256(bytes) {
    return new Uint8Array(await subtle().digest('SHA-256', bytes));
  }
  const leafHash = (entryBytes) => sha256(concat(new Uint8Array([0]), entryBytes));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

  // --- CRC-32 (ZIP) --------------------------------------------------------------------

  const CRC_TABLE = (() => {
    const t = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = (c & 1) ? (0xedb88320 ^ (c >>> 1)) : (c >>> 1);
      t[n] = c;
    }
    return t;
  })();

  function crc32Update(crc, data) {
    let c = ~crc;
    for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
    return ~c >>> 0;
  }

  // --- ZIP reader ----------------------------------------------------------------------
  // Enough of APPNOTE for what Python's zipfile writes: central directory, ZIP64, stored
  // and deflated members. Nothing is extracted; members are read (small ones) or streamed
  // through SHA-256 and CRC-32 (files). Structural rules are those of BundleReader.

  const u16 = (b, o) => b[o] | (b[o + 1] << 8);
  const u32 = (b, o) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  const u64 = (b, o) => u32(b, o) + u32(b, o + 4) * 0x100000000; // exact below 2^53

  async function readSlice(blob, start, end) {
    if (start < 0 || end > blob.size || start > end) throw new BundleError('truncated archive');
    return new Uint8Array(await blob.slice(start, end).arrayBuffer());
  }

  function rfind(bytes, sig) {
    for (let i = bytes.length - sig.length; i >= 0; i--) {
      let ok = true;
      for (let j = 0; j < sig.length; j++) if (bytes[i + j] !== sig[j]) { ok = false; break; }
      if (ok) return i;
    }
    return -1;
  }

  const SIG_EOCD = [0x50, 0x4b, 0x05, 0x06];

  class ZipReader {
    static async open(blob, limits = LIMITS) {
      const z = new ZipReader(blob, limits);
      const raw = await z._readCentralDirectory();
      z.infos = z._checkStructure(raw);
      return z;
    }

    constructor(blob, limits) { this.blob = blob; this.limits = limits; }

    async _readCentralDirectory() {
      const blob = this.blob;
      const notZip = 'not a readable ZIP archive: File is not a zip file';
      if (blob.size < 22) throw new BundleError(notZip);
      const tailStart = Math.max(0, blob.size - (22 + 65535));
      const tail = await readSlice(blob, tailStart, blob.size);
      let at = (u32(tail, tail.length - 22) === 0x06054b50) ? tail.length - 22 : rfind(tail, SIG_EOCD);
      if (at < 0 || at + 22 > tail.length) throw new BundleError(notZip);
      const eocdPos = tailStart + at;
      let count = u16(tail, at + 10), cdSize = u32(tail, at + 12), cdOffset = u32(tail, at + 16);
      let cdEnd = eocdPos; // where the central directory must end
      if (eocdPos >= 20) {
        const loc = await readSlice(blob, eocdPos - 20, eocdPos);
        if (u32(loc, 0) === 0x07064b50) { // ZIP64 end-of-central-directory locator
          const recPos = eocdPos - 20 - 56;
          if (recPos < 0) throw new BundleError('not a readable ZIP archive: corrupt ZIP64 record');
          const rec = await readSlice(blob, recPos, recPos + 56);
          if (u32(rec, 0) !== 0x06064b50) {
            throw new BundleError('not a readable ZIP archive: corrupt ZIP64 record');
          }
          count = u64(rec, 32); cdSize = u64(rec, 40); cdOffset = u64(rec, 48);
          cdEnd = recPos;
        }
      }
      const concatOffset = cdEnd - cdSize - cdOffset; // bytes prepended to the archive
      if (concatOffset < 0) throw new BundleError('not a readable ZIP archive: bad central directory offset');
      if (count > this.limits.maxMembers) {
        throw new BundleError(`archive has ${count} members; the limit is ${this.limits.maxMembers}`);
      }
      if (cdSize > 64 * MiB) throw new BundleError('not a readable ZIP archive: central directory too large');
      this.startDir = cdOffset + concatOffset;
      const cd = await readSlice(blob, this.startDir, this.startDir + cdSize);
      const out = [];
      let p = 0;
      while (p < cd.length) {
        if (p + 46 > cd.length || u32(cd, p) !== 0x02014b50) {
          throw new BundleError('not a readable ZIP archive: Bad magic number for central directory');
        }
        const flags = u16(cd, p + 8), method = u16(cd, p + 10), crc = u32(cd, p + 16);
        let csize = u32(cd, p + 20), usize = u32(cd, p + 24);
        const n = u16(cd, p + 28), m = u16(cd, p + 30), k = u16(cd, p + 32);
        const ext = u32(cd, p + 38);
        let offset = u32(cd, p + 42);
        if (p + 46 + n + m + k > cd.length) throw new BundleError('not a readable ZIP archive: truncated central directory');
        const rawName = cd.subarray(p + 46, p + 46 + n);
        const extra = cd.subarray(p + 46 + n, p + 46 + n + m);
        for (let e = 0; e + 4 <= extra.length;) { // ZIP64 extended information
          const id = u16(extra, e), len = u16(extra, e + 2);
          if (e + 4 + len > extra.length) throw new BundleError('not a readable ZIP archive: Corrupt extra field');
          if (id === 1) {
            let q = e + 4;
            const take = () => {
              if (q + 8 > e + 4 + len) throw new BundleError('not a readable ZIP archive: Corrupt extra field 0001');
              const v = u64(extra, q); q += 8; return v;
            };
            if (usize === 0xffffffff) usize = take();
            if (csize === 0xffffffff) csize = take();
            if (offset === 0xffffffff) offset = take();
          }
          e += 4 + len;
        }
        // Python decodes names as UTF-8 (flag 0x800) or cp437 and cuts them at a NUL;
        // only ASCII names are valid here, so latin-1 is enough to report a bad one.
        let name = '';
        for (const c of rawName) { if (c === 0) break; name += String.fromCharCode(c); }
        if (flags & 0x800) { try { name = strictDecoder.decode(rawName).split('\0')[0]; } catch (e) { /* keep */ } }
        out.push({ name, rawName, flags, method, crc, csize, usize, ext,
          offset: offset + concatOffset });
        p += 46 + n + m + k;
      }
      return out;
    }

    _checkStructure(infos) {
      const lim = this.limits;
      if (infos.length > lim.maxMembers) {
        throw new BundleError(`archive has ${infos.length} members; the limit is ${lim.maxMembers}`);
      }
      const out = new Map();
      let total = 0, compressed = 0;
      for (const info of infos) {
        const name = info.name;
        if (!MEMBER_PATTERNS.some((re) => re.test(name))) {
          throw new BundleError(`unexpected member ${JSON.stringify(name.slice(0, 100))} (not part of the ` +
            "format; absolute paths, '..' and unknown names are refused)");
        }
        if (out.has(name)) throw new BundleError(`duplicate member ${JSON.stringify(name)}`);
        if (((info.ext >>> 16) & 0o170000) === 0o120000) {
          throw new BundleError(`member ${JSON.stringify(name)} is a symbolic link`);
        }
        if (info.flags & 0x1) throw new BundleError(`member ${JSON.stringify(name)} is encrypted`);
        const isFile = name.startsWith('files/');
        const allowed = isFile ? [0] : [0, 8];
        if (!allowed.includes(info.method)) {
          throw new BundleError(`member ${JSON.stringify(name)} uses compression method ${info.method}; ` +
            'evidence files must be stored, other members stored or deflated');
        }
        const cap = isFile ? lim.maxFileSize : lim.maxSmallMember;
        if (info.usize > cap) {
          throw new BundleError(`member ${JSON.stringify(name)} declares ${info.usize} bytes; limit ${cap}`);
        }
        if (info.usize > MiB && info.usize > lim.maxRatio * Math.max(info.csize, 1)) {
          throw new BundleError(`member ${JSON.stringify(name)} expands ${info.usize} bytes from ` +
            `${info.csize} (zip bomb?); the limit is ${lim.maxRatio}x`);
        }
        total += info.usize;
        compressed += info.csize;
        out.set(name, info);
      }
      if (total > lim.maxTotalSize) {
        throw new BundleError(`archive expands to ${total} bytes; limit ${lim.maxTotalSize}`);
      }
      if (total > MiB + lim.maxRatio * compressed) {
        throw new BundleError(`archive expands to ${total} bytes from ${compressed} (zip bomb?); ` +
          `the limit is ${lim.maxRatio}x`);
      }
      // no overlapping members, none running into the central directory
      const spans = infos.map((i) => [i.offset, i.offset + 30 + i.rawName.length + i.csize, i.name])
        .sort((a, b) => (a[0] - b[0]) || (a[1] - b[1]) || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
      for (let i = 0; i + 1 < spans.length; i++) {
        if (spans[i][1] > spans[i + 1][0]) {
          throw new BundleError(`members ${JSON.stringify(spans[i][2])} and ${JSON.stringify(spans[i + 1][2])} overlap in the archive`);
        }
      }
      if (spans.length && spans[spans.length - 1][1] > this.startDir) {
        throw new BundleError(`member ${JSON.stringify(spans[spans.length - 1][2])} runs into the central directory`);
      }
      if (!out.has(MANIFEST)) throw new BundleError('archive has no manifest.json');
      return out;
    }

    /* Stream a member's bytes to onChunk(Uint8Array); checks the local header, the
       declared size and the CRC-32, like zipfile does. Returns the byte count. */
    async _stream(info, onChunk) {
      const damaged = (why) => new BundleError(`member ${JSON.stringify(info.name)} is damaged: ${why}`);
      const head = await readSlice(this.blob, info.offset, info.offset + 30).catch(() => { throw damaged('truncated'); });
      if (u32(head, 0) !== 0x04034b50) throw damaged('Bad magic number for file header');
      const n = u16(head, 26), m = u16(head, 28);
      const localName = await readSlice(this.blob, info.offset + 30, info.offset + 30 + n).catch(() => { throw damaged('truncated'); });
      if (!equalBytes(localName, info.rawName)) throw damaged('File name in directory and header differ');
      const start = info.offset + 30 + n + m;
      const end = start + info.csize;
      if (end > this.blob.size) throw damaged('truncated');
      let crc = 0, count = 0;
      const take = async (chunk) => {
        if (count + chunk.length > info.usize) {           // zipfile stops at the declared size
          chunk = chunk.subarray(0, info.usize - count);
        }
        count += chunk.length;
        crc = crc32Update(crc, chunk);
        await onChunk(chunk);
      };
      if (info.method === 0) {
        for (let pos = start; pos < end; pos += settings.chunkSize) {
          await take(await readSlice(this.blob, pos, Math.min(end, pos + settings.chunkSize)));
          if (count >= info.usize) break;
        }
      } else {
        if (typeof DecompressionStream === 'undefined') {
          throw new VerifyError('this browser cannot read deflated ZIP members (no DecompressionStream)');
        }
        const stream = this.blob.slice(start, end).stream().pipeThrough(new DecompressionStream('deflate-raw'));
        const reader = stream.getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            await take(value);
            if (count >= info.usize) break;
          }
        } catch (e) {
          throw damaged(`Error -3 while decompressing data (${e.message})`);
        } finally {
          reader.cancel().catch(() => {});
        }
      }
      if (count === info.usize && crc !== info.crc) throw damaged('Bad CRC-32');
      return count;
    }

    /* A small member, whole (bounded by the structure check). */
    async read(name) {
      const info = this.infos.get(name);
      if (!info) throw new BundleError(`member ${JSON.stringify(name)} is missing`);
      const parts = [];
      const n = await this._stream(info, (c) => { parts.push(c.slice()); });
      if (n !== info.usize) throw new BundleError(`member ${JSON.stringify(name)} is not the size its header declares`);
      return concat(...parts);
    }

    /* SHA-256 (hex) and size of a member, streamed; progress(bytes) after each chunk. */
    async digest(name, progress) {
      const info = this.infos.get(name);
      if (!info) throw new BundleError(`member ${JSON.stringify(name)} is missing`);
      let hex, n;
      if (info.usize <= settings.wholeDigestLimit) {
        const data = await this.read(name);
        n = data.length;
        hex = toHex(await sha256(data));
        if (progress) progress(n);
      } else {
        const h = new Sha256();
        n = await this._stream(info, async (chunk) => {
          h.update(chunk);
          if (progress) progress(chunk.length);
          await yieldToUi();
        });
        hex = toHex(h.digest());
      }
      if (n !== info.usize) throw new BundleError(`member ${JSON.stringify(name)} is not the size its header declares`);
      return [hex, n];
    }

    has(name) { return this.infos.has(name); }
    names() { return [...this.infos.keys()]; }
  }

  /* SHA-256 of a whole local file, in chunks: the "file to compare" path. */
  async function digestBlob(blob, progress, shouldStop) {
    if (blob.size <= settings.wholeDigestLimit) {
      const hex = toHex(await sha256(new Uint8Array(await blob.arrayBuffer())));
      if (progress) progress(blob.size);
      return hex;
    }
    const h = new Sha256();
    for (let pos = 0; pos < blob.size; pos += settings.chunkSize) {
      if (shouldStop && shouldStop()) throw new VerifyError('stopped');
      const chunk = await readSlice(blob, pos, Math.min(blob.size, pos + settings.chunkSize));
      h.update(chunk);
      if (progress) progress(chunk.length);
      await yieldToUi();
    }
    return toHex(h.digest());
  }

  // --- JSON and JCS --------------------------------------------------------------------

  function parseJson(bytes, what) {
    try { return JSON.parse(decodeUtf8(bytes, what)); } catch (e) {
      throw new MalformedInput(`${what} is not UTF-8 JSON`);
    }
  }

  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
  const hasLoneSurrogate = (s) => /[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s);

  /* RFC 8785 (JCS): keys sorted by UTF-16 code units, numbers as ECMAScript prints them,
     strings as JSON.stringify writes them. This is what JCS specifies, so it needs nothing
     more than the language's own serialiser for each leaf value. */
  function jcs(value) {
    if (value === null || typeof value === 'boolean') return JSON.stringify(value);
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new MalformedInput('JCS cannot encode NaN or Infinity');
      return JSON.stringify(value); // -0 -> "0", 1e21 -> "1e+21": RFC 8785 section 3.2.2.3
    }
    if (typeof value === 'string') {
      if (hasLoneSurrogate(value)) throw new MalformedInput('a string holds a lone surrogate');
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) return '[' + value.map(jcs).join(',') + ']';
    if (isObject(value)) {
      const keys = Object.keys(value).sort();
      return '{' + keys.map((k) => jcs(k) + ':' + jcs(value[k])).join(',') + '}';
    }
    throw new MalformedInput(`JCS cannot encode a ${typeof value}`);
  }

  /* Python-style equality of two parsed JSON values (None == missing). */
  function pyEq(a, b) {
    if (a === undefined) a = null;
    if (b === undefined) b = null;
    if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
    try { return jcs(a) === jcs(b); } catch (e) { return false; }
  }

  // --- entries (docs/formats.md section 2; evidence/verify/entry.py) --------------------

  const MAX_ENTRY_SIZE = MiB;
  const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;
  const TYPE_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
  const HEX64_RE = /^[0-9a-f]{64}$/;
  const FIELDS = ['body', 'prev', 'seq', 'time', 'type', 'v'];

  function validTime(t) {
    const m = typeof t === 'string' && TIME_RE.exec(t);
    if (!m) return false;
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
    if (y < 1 || mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59 || d < 1) return false;
    const days = new Date(Date.UTC(2000, mo, 0)).getUTCDate(); // month length (leap-year Feb: 29)
    const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
    return d <= (mo === 2 ? (leap ? 29 : 28) : days);
  }

  function checkHouseRules(v, path) {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new VerifyError(`${path}: floating-point numbers are not allowed in entries`);
      if (!Number.isSafeInteger(v)) throw new VerifyError(`${path}: integer ${v} is outside the I-JSON range of +/-(2^53-1)`);
    } else if (typeof v === 'string') {
      if (hasLoneSurrogate(v)) throw new VerifyError(`${path}: lone surrogate`);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => checkHouseRules(x, `${path}[${i}]`));
    } else if (isObject(v)) {
      for (const k of Object.keys(v)) {
        if (!/^[\x00-\x7f]*$/.test(k)) throw new VerifyError(`${path}: object keys must be ASCII`);
        checkHouseRules(v[k], `${path}.${k}`);
      }
    }
  }

  /* parse_entry: the exact bytes, canonical JCS, house rules, header fields. */
  async function parseEntry(data) {
    if (data.length > MAX_ENTRY_SIZE) throw new VerifyError(`entry is ${data.length} bytes; the limit is ${MAX_ENTRY_SIZE}`);
    let obj;
    try { obj = JSON.parse(decodeUtf8(data, 'entry')); } catch (e) {
      throw new VerifyError(`entry is not UTF-8 JSON: ${e.message}`);
    }
    if (!isObject(obj)) throw new VerifyError('entry is not a JSON object');
    checkHouseRules(obj, '$');
    const keys = Object.keys(obj).sort();
    if (keys.join() !== FIELDS.join()) throw new VerifyError(`entry fields wrong (${keys.join(', ')})`);
    if (obj.v !== 1) throw new VerifyError(`entry version ${JSON.stringify(obj.v)} is not 1`);
    if (!isInt(obj.seq) || obj.seq < 0) throw new VerifyError('entry seq is not a non-negative integer');
    if (!validTime(obj.time)) throw new VerifyError(`time ${JSON.stringify(String(obj.time).slice(0, 40))} is not RFC 3339 UTC with microseconds`);
    if (typeof obj.prev !== 'string' || !HEX64_RE.test(obj.prev)) throw new VerifyError('entry prev is not 64 lowercase hex digits');
    if (typeof obj.type !== 'string' || !TYPE_RE.test(obj.type)) throw new VerifyError('entry type is not a dotted lowercase name');
    if (!isObject(obj.body)) throw new VerifyError('entry body is not a JSON object');
    let canonical;
    try { canonical = utf8(jcs(obj)); } catch (e) { canonical = null; }
    if (!canonical || !equalBytes(canonical, data)) throw new VerifyError('entry bytes are not RFC 8785 canonical JSON');
    return { seq: obj.seq, time: obj.time, prev: obj.prev, type: obj.type, body: obj.body,
      data, leafHash: await leafHash(data) };
  }

  // --- Merkle proofs (RFC 9162 2.1.3.2; evidence/verify/merkle.py) -----------------------

  const MAX_TREE_SIZE = (1n << 64n) - 1n;
  const bitLength = (x) => (x === 0n ? 0 : x.toString(2).length);
  const popcount = (x) => { let c = 0; for (; x; x >>= 1n) c += Number(x & 1n); return c; };

  async function rootFromInclusionProof(index, size, leaf, proof) {
    index = BigInt(index); size = BigInt(size);
    if (size < 0n || size > MAX_TREE_SIZE) throw new MalformedInput(`tree size ${size} is outside 0..2^64-1`);
    if (index < 0n || index > MAX_TREE_SIZE) throw new MalformedInput(`leaf index ${index} is outside 0..2^64-1`);
    if (index >= size) throw new MalformedInput(`leaf index ${index} is past the end of a tree of size ${size}`);
    const inner = bitLength(index ^ (size - 1n));
    const want = inner + popcount(index >> BigInt(inner));
    if (proof.length !== want) {
      throw new MalformedInput(`inclusion proof has ${proof.length} hashes; leaf ${index} of a tree of size ${size} needs ${want}`);
    }
    let r = leaf;
    for (let level = 0; level < inner; level++) {
      r = ((index >> BigInt(level)) & 1n) ? await nodeHash(proof[level], r) : await nodeHash(r, proof[level]);
    }
    for (const p of proof.slice(inner)) r = await nodeHash(p, r);
    return r;
  }

  async function verifyInclusion(index, size, leaf, proof, root) {
    const got = await rootFromInclusionProof(index, size, leaf, proof);
    if (!equalBytes(got, root)) {
      throw new VerifyError(`inclusion proof for leaf ${index} of size ${size} gives root ${toHex(got)}, expected ${toHex(root)}`);
    }
  }

  // --- keys, signed notes, checkpoints (docs/formats.md section 5) -----------------------

  const ALG_ED25519 = 0x01;
  const ALG_COSIGNATURE_V1 = 0x04;
  const SIG_PREFIX = '\u2014 ';
  const MAX_NOTE_SIZE = MiB;
  const MAX_SIGNATURES = 100;

  const isValidKeyName = (name) => !!name && !name.includes('+') && ![...name].some(isPySpace);

  async function keyId(name, alg, pub) {
    const d = await sha256(concat(utf8(name), new Uint8Array([0x0a, alg]), pub));
    return u32([d[3], d[2], d[1], d[0]], 0);
  }

  let ed25519Support = null;
  /* Whether this browser's WebCrypto verifies Ed25519 (Chromium 113+, Firefox 129+, Safari 17+). */
  async function ed25519Supported() {
    if (ed25519Support !== null) return ed25519Support;
    try {
      // RFC 8032 test 1: empty message
      const pub = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
      const sig = fromHex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155' +
        '5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
      const k = await subtle().importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
      ed25519Support = await subtle().verify({ name: 'Ed25519' }, k, sig, new Uint8Array(0));
    } catch (e) {
      ed25519Support = false;
    }
    return ed25519Support;
  }

  class Ed25519Unsupported extends VerifyError {}

  async function ed25519Verify(pub, sig, msg) {
    if (!(await ed25519Supported())) {
      throw new Ed25519Unsupported('this browser cannot verify Ed25519 signatures (WebCrypto); ' +
        'use a current Chromium, Edge, Firefox or Safari, or `evidence verify`');
    }
    let key;
    try {
      key = await subtle().importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      return false; // not a valid public key: nothing it "signs" verifies
    }
    try { return await subtle().verify({ name: 'Ed25519' }, key, sig, msg); } catch (e) { return false; }
  }

  /* parse_verifier_key: name+<8 hex key id>+base64(alg || 32-byte key). */
  async function parseVerifierKey(vkey) {
    if (typeof vkey !== 'string') throw new MalformedInput('verifier key must be a string');
    vkey = pyStrip(vkey);
    const i = vkey.indexOf('+'), j = i < 0 ? -1 : vkey.indexOf('+', i + 1);
    if (i < 0 || j < 0) throw new MalformedInput('verifier key must look like name+keyid+base64key');
    const name = vkey.slice(0, i), hexId = vkey.slice(i + 1, j), b64 = vkey.slice(j + 1);
    if (!isValidKeyName(name)) throw new MalformedInput(`verifier key name ${JSON.stringify(name)} is empty or contains space or '+'`);
    if (!/^[0-9a-f]{8}$/.test(hexId)) throw new MalformedInput(`verifier key id ${JSON.stringify(hexId)} is not 8 lowercase hex digits`);
    let data;
    try { data = b64decode(b64, 'verifier key data'); } catch (e) { throw new MalformedInput('verifier key data is not valid base64'); }
    if (data.length !== 33 || (data[0] !== ALG_ED25519 && data[0] !== ALG_COSIGNATURE_V1)) {
      throw new MalformedInput('verifier key is not an Ed25519 (0x01) or cosignature/v1 (0x04) key');
    }
    const alg = data[0], pub = data.slice(1);
    const want = await keyId(name, alg, pub);
    if (parseInt(hexId, 16) !== want) {
      throw new MalformedInput(`verifier key id ${hexId} does not match its key (expected ${want.toString(16).padStart(8, '0')})`);
    }
    return { name, keyId: want, alg, pub, text: vkey };
  }

  function checkNoteText(text) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x20 && c !== 0x0a) throw new MalformedInput(`note contains control character U+${c.toString(16).padStart(4, '0').toUpperCase()} at ${i}`);
    }
    if (!text.endsWith('\n')) throw new MalformedInput('note text must end with a newline');
  }

  function parseNote(bytes) {
    if (bytes.length > MAX_NOTE_SIZE) throw new MalformedInput(`note is ${bytes.length} bytes; the limit is ${MAX_NOTE_SIZE}`);
    let msg;
    try { msg = strictDecoder.decode(bytes); } catch (e) { throw new MalformedInput('note is not valid UTF-8'); }
    checkNoteText(msg);
    const split = msg.lastIndexOf('\n\n');
    if (split < 0) throw new MalformedInput('note has no blank line before its signatures');
    const text = msg.slice(0, split + 1), sigs = msg.slice(split + 2);
    if (!sigs) throw new MalformedInput('note has no signature lines after the blank line');
    const lines = sigs.split('\n').slice(0, -1);
    if (lines.length > MAX_SIGNATURES) throw new MalformedInput(`note has more than ${MAX_SIGNATURES} signatures`);
    const signatures = lines.map((line, n) => {
      if (!line.startsWith(SIG_PREFIX)) throw new MalformedInput(`signature line ${n + 1} does not start with '\u2014 '`);
      const rest = line.slice(SIG_PREFIX.length);
      const sp = rest.indexOf(' ');
      const name = sp < 0 ? rest : rest.slice(0, sp), b64 = sp < 0 ? '' : rest.slice(sp + 1);
      if (sp < 0 || !b64 || !isValidKeyName(name)) throw new MalformedInput(`signature line ${n + 1} is not '\u2014 <name> <base64>'`);
      const blob = b64decode(b64, `signature line ${n + 1}`);
      if (blob.length < 5) throw new MalformedInput(`signature line ${n + 1} is too short to hold a key id`);
      return { name, keyId: u32([blob[3], blob[2], blob[1], blob[0]], 0), sig: blob.slice(4), line };
    });
    return { text, signatures };
  }

  async function verifySignature(v, text, sig) {
    let message = text, cosignedAt = null;
    if (v.alg === ALG_COSIGNATURE_V1) {
      if (sig.length !== 72) throw new VerifyError(`cosignature by ${v.name} has the wrong length`);
      let t = 0n;
      for (let i = 0; i < 8; i++) t = (t << 8n) | BigInt(sig[i]);
      cosignedAt = Number(t);
      message = concat(utf8(`cosignature/v1\ntime ${t}\n`), text);
      sig = sig.slice(8);
    }
    if (!(await ed25519Verify(v.pub, sig, message))) {
      throw new VerifyError(`signature by ${v.name} (${v.keyId.toString(16).padStart(8, '0')}) does not verify`);
    }
    return { name: v.name, keyId: v.keyId, alg: v.alg, cosignedAt };
  }

  /* open_note: Go's rules. Unknown keys ignored; a bad signature by a pinned key rejects
     the note; no verified signature rejects it. */
  async function openNote(bytes, verifiers) {
    const parsed = parseNote(bytes);
    const known = new Map(verifiers.map((v) => [`${v.name}\n${v.keyId}`, v]));
    const text = utf8(parsed.text);
    const verified = [], unverified = [], seen = new Set(), seenLines = new Set();
    for (const s of parsed.signatures) {
      const id = `${s.name}\n${s.keyId}`;
      const v = known.get(id);
      if (!v) {
        if (!seenLines.has(s.line)) { seenLines.add(s.line); unverified.push(s); }
        continue;
      }
      if (seen.has(id)) continue;
      seen.add(id);
      verified.push(await verifySignature(v, text, s.sig));
    }
    if (!verified.length) {
      const names = [...new Set(unverified.map((s) => s.name))].sort().join(', ') || 'none';
      const pinned = [...new Set(verifiers.map((v) => v.name))].sort().join(', ') || 'none';
      throw new VerifyError(`no signature by a pinned key (signed by: ${names}; pinned: ${pinned})`);
    }
    return { text: parsed.text, verified, unverified };
  }

  function parseCheckpoint(text) {
    checkNoteText(text);
    const lines = text.slice(0, -1).split('\n');
    if (lines.length < 3) throw new MalformedInput('checkpoint needs origin, size and root lines');
    const [origin, sizeS, rootS, ...ext] = lines;
    if (!origin) throw new MalformedInput('checkpoint origin line is empty');
    if (!/^(0|[1-9][0-9]*)$/.test(sizeS)) throw new MalformedInput(`checkpoint size ${JSON.stringify(sizeS.slice(0, 30))} is not a canonical decimal`);
    const size = BigInt(sizeS);
    if (size > MAX_TREE_SIZE) throw new MalformedInput('checkpoint size is larger than 2^64-1');
    let root;
    try { root = b64decode(rootS, 'checkpoint root'); } catch (e) { throw new MalformedInput('checkpoint root is not valid base64'); }
    if (root.length !== 32) throw new MalformedInput(`checkpoint root is ${root.length} bytes, not 32`);
    if (ext.some((l) => !l)) throw new MalformedInput('checkpoint has an empty extension line');
    return { origin, size, root, extensions: ext };
  }

  async function verifyCheckpoint(bytes, logKey, witnessKeys) {
    if (logKey.alg !== ALG_ED25519) throw new MalformedInput('the pinned log key must be an Ed25519 (0x01) verifier key');
    const opened = await openNote(bytes, [logKey, ...witnessKeys]);
    const cp = parseCheckpoint(opened.text);
    if (cp.origin !== logKey.name) throw new MalformedInput(`checkpoint origin ${JSON.stringify(cp.origin)} is not ${JSON.stringify(logKey.name)}`);
    const logSigs = opened.verified.filter((v) => v.name === logKey.name && v.keyId === logKey.keyId);
    if (!logSigs.length) throw new VerifyError(`checkpoint is not signed by the pinned log key ${logKey.name}`);
    const cosignatures = opened.verified.filter((v) => v.alg === ALG_COSIGNATURE_V1);
    return { checkpoint: cp, note: opened, cosignatures };
  }

  // --- the submitter's signature (evidence/verify/submission.py) -------------------------

  const EVIDENCE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

  async function verifySubmission(body) {
    const sub = body.submitter;
    if (sub === undefined || sub === null) return null;
    const fail = (why) => new VerifyError(why);
    if (!isObject(sub) || Object.keys(sub).sort().join() !== 'key,signature' ||
        typeof sub.key !== 'string' || typeof sub.signature !== 'string') {
      throw fail('"submitter" must be {"key": str, "signature": str}');
    }
    let v;
    try { v = await parseVerifierKey(sub.key); } catch (e) { throw fail(`submitter key is not a verifier key: ${e.message}`); }
    if (v.alg !== ALG_ED25519) throw fail('submitter key is not a plain Ed25519 key');
    let sig;
    try { sig = b64decode(sub.signature, 'signature'); } catch (e) { throw fail('submitter signature is not base64'); }
    if (sig.length !== 64) throw fail('submitter signature is not 64 bytes');
    const id = body.evidence_id, mc = body.metadata_commitment;
    if (typeof id !== 'string' || !EVIDENCE_ID_RE.test(id)) throw fail('the body cannot have been signed: evidence id is not a plain identifier');
    if (typeof mc !== 'string' || !HEX64_RE.test(mc)) throw fail('the body cannot have been signed: metadata commitment must be 64 lowercase hex digits');
    const files = body.files || [];
    let filesDigest;
    try {
      checkHouseRules(files, '$');
      filesDigest = toHex(await sha256(utf8(jcs(files))));
    } catch (e) { throw fail(`the body cannot have been signed: ${e.message}`); }
    const text = `evidence.submission/v1\n${id}\n${mc}\n${filesDigest}\n`;
    if (!(await ed25519Verify(v.pub, sig, utf8(text)))) {
      throw fail(`the signature by ${v.name}+${v.keyId.toString(16).padStart(8, '0')} does not sign this evidence id, metadata commitment and file list`);
    }
    return v;
  }

  // --- DER and RFC 3161 timestamp tokens (read, not verified) ----------------------------

  function derRead(b, pos, limit) {
    if (pos + 2 > limit) throw new MalformedInput('DER: truncated');
    const tag = b[pos];
    if ((tag & 0x1f) === 0x1f) throw new MalformedInput('DER: high tag number');
    let len = b[pos + 1], vs = pos + 2;
    if (len === 0x80) throw new MalformedInput('DER: indefinite length');
    if (len > 0x80) {
      const n = len & 0x7f;
      if (n > 4) throw new MalformedInput('DER: length too large');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[pos + 2 + i];
      vs = pos + 2 + n;
    }
    const end = vs + len;
    if (end > limit) throw new MalformedInput('DER: truncated element');
    return { tag, start: pos, vs, end };
  }
  function derChildren(b, t) {
    const out = [];
    for (let p = t.vs; p < t.end;) { const c = derRead(b, p, t.end); out.push(c); p = c.end; }
    return out;
  }
  function derOid(b, t) {
    const v = b.subarray(t.vs, t.end);
    const parts = [];
    let x = 0n;
    for (let i = 0; i < v.length; i++) {
      x = (x << 7n) | BigInt(v[i] & 0x7f);
      if (!(v[i] & 0x80)) { parts.push(x); x = 0n; }
    }
    if (!parts.length) return '';
    const first = parts[0] < 80n ? [parts[0] / 40n, parts[0] % 40n] : [2n, parts[0] - 80n];
    return [...first, ...parts.slice(1)].join('.');
  }
  const derString = (b, t) => { try { return strictDecoder.decode(b.subarray(t.vs, t.end)); } catch (e) { return toHex(b.subarray(t.vs, t.end)); } };
  const NAME_ATTRS = { '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.5': 'serialNumber' };
  function derName(b, t) { // RFC 4514 order (last RDN first)
    const rdns = derChildren(b, t).map((set) => derChildren(b, set).map((atv) => {
      const [oid, val] = derChildren(b, atv);
      const o = derOid(b, oid);
      return `${NAME_ATTRS[o] || o}=${derString(b, val)}`;
    }).join('+'));
    return rdns.reverse().join(',');
  }
  function derTime(b, t) { // GeneralizedTime YYYYMMDDHHMMSS[.f]Z -> ISO 8601
    const s = String.fromCharCode(...b.subarray(t.vs, t.end));
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(s);
    if (!m) throw new MalformedInput(`genTime ${s} is not a UTC GeneralizedTime`);
    return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] || ''}+00:00`;
  }

  /* The parts of a TimeStampToken a reader can see without checking its signature. */
  function readTimestampToken(tok) {
    const top = derRead(tok, 0, tok.length);
    if (top.tag !== 0x30 || top.end !== tok.length) throw new MalformedInput('token is not one DER SEQUENCE');
    const [ctype, ctx] = derChildren(tok, top);
    if (derOid(tok, ctype) !== '1.2.840.113549.1.7.2' || !ctx || ctx.tag !== 0xa0) throw new MalformedInput('token is not CMS SignedData');
    const sd = derChildren(tok, ctx)[0];
    const parts = derChildren(tok, sd);
    const encap = parts[2];
    const [etype, econtent] = derChildren(tok, encap);
    if (derOid(tok, etype) !== '1.2.840.113549.1.9.16.1.4') throw new MalformedInput('token does not hold a TSTInfo');
    const octets = derChildren(tok, econtent)[0];
    const info = derRead(tok, octets.vs, octets.end);
    const f = derChildren(tok, info);
    const policy = derOid(tok, f[1]);
    const [algSeq, hashed] = derChildren(tok, f[2]);
    const hashAlg = derOid(tok, derChildren(tok, algSeq)[0]);
    const imprint = tok.slice(hashed.vs, hashed.end);
    const serial = toHex(tok.subarray(f[3].vs, f[3].end));
    const genTime = derTime(tok, f[4]);
    let tsaName = null;
    for (const x of f.slice(5)) {
      if (x.tag === 0xa0) {           // tsa [0] EXPLICIT GeneralName
        const gn = derChildren(tok, x)[0];
        if (gn.tag === 0xa4) tsaName = derName(tok, derChildren(tok, gn)[0]);
      }
    }
    // the signer certificate's subject, matched by the SignerInfo's issuer and serial
    let signer = null;
    const certsField = parts.find((p) => p.tag === 0xa0);
    const signerInfos = parts[parts.length - 1];
    try {
      const si = derChildren(tok, derChildren(tok, signerInfos)[0]);
      const sid = si[1];
      if (sid.tag === 0x30 && certsField) {
        const [sidIssuer, sidSerial] = derChildren(tok, sid);
        for (const cert of derChildren(tok, certsField)) {
          const tbs = derChildren(tok, derChildren(tok, cert)[0]);
          const o = tbs[0].tag === 0xa0 ? 1 : 0;
          if (equalBytes(tok.subarray(tbs[o].start, tbs[o].end), tok.subarray(sidSerial.start, sidSerial.end)) &&
              equalBytes(tok.subarray(tbs[o + 2].start, tbs[o + 2].end), tok.subarray(sidIssuer.start, sidIssuer.end))) {
            signer = derName(tok, tbs[o + 4]);
          }
        }
      }
    } catch (e) { signer = null; }
    return { genTime, policy, hashAlg, imprint: toHex(imprint), serial, tsaName, signer };
  }

  // --- the bundle checks (evidence/verify/bundle.py _verify) ----------------------------

  class Report {
    constructor() {
      this.checks = [];
      this.evidence_id = null;
      this.files = [];
      this.checkpoint = null;
      this.submitted_at = null;
      this.custody = [];
      this.metadata = null;
      this.purged = false;
      this.timestamps_stated = [];
      this.manifest_hints = null;
    }
    get ok() { return this.checks.length > 0 && this.checks.every((c) => c.ok || !c.required); }
    add(name, ok, reason, reason_zh, required = true) { this.checks.push({ name, ok, reason, reason_zh, required }); return ok; }
    fail(name, reason, reason_zh) { this.add(name, false, reason, reason_zh); }
    check(name) { return this.checks.find((c) => c.name === name) || null; }
    /* verified / purged / failed / unsupported: what the page shows in big letters. */
    get verdict() {
      if (this.checks.some((c) => !c.ok && c.unsupported)) return 'unsupported';
      if (!this.ok) return 'failed';
      return this.purged ? 'purged' : 'verified';
    }
    toJSON() {
      return { ok: this.ok, verdict: this.verdict, format: FORMAT, evidence_id: this.evidence_id,
        checkpoint: this.checkpoint, submitted_at: this.submitted_at, purged: this.purged,
        files: this.files, custody: this.custody, metadata: this.metadata,
        timestamps_stated: this.timestamps_stated, manifest_hints: this.manifest_hints,
        checks: this.checks };
    }
  }

  const repr = (v) => JSON.stringify(v === undefined ? null : v);
  const list5 = (xs) => '[' + xs.slice(0, 5).map((x) => (typeof x === 'string' ? `'${x}'` : x)).join(', ') + ']';

  /* trust: {logKey: "<verifier key>", witnessKeys: ["..."], witnessQuorum: 0} (strings);
     opts.progress(done, total, phase) and opts.shouldStop() are optional. */
  async function verifyBundle(blob, trust, opts = {}) {
    const report = new Report();
    let logKey, witnessKeys;
    try {
      subtle();
      logKey = await parseVerifierKey(trust.logKey || '');
      witnessKeys = [];
      for (const w of trust.witnessKeys || []) witnessKeys.push(await parseVerifierKey(w));
    } catch (e) {
      // Not a check of the bundle: the page asks for a usable pinned key first.
      const err = new VerifyError(e.message);
      err.setup = true;
      throw err;
    }
    let reader;
    try {
      reader = await ZipReader.open(blob, opts.limits || LIMITS);
    } catch (e) {
      const why = (e instanceof BundleError) ? e.message : `not a readable ZIP archive: ${e.message}`;
      report.fail('archive', why, `归档文件不安全或已损坏：${why}`);
      return report;
    }
    try {
      await verifyOpened(reader, { logKey, witnessKeys, quorum: Number(trust.witnessQuorum || 0) }, report, opts);
    } catch (e) {
      if (e instanceof Ed25519Unsupported) {
        report.checks.push({ name: 'checkpoint', ok: false, required: true, unsupported: true,
          reason: e.message, reason_zh: '此浏览器无法验证 Ed25519 签名（WebCrypto）；请使用新版 Chromium、Edge、Firefox 或 Safari，或使用 `evidence verify`' });
      } else if (e instanceof VerifyError) {
        report.fail('bundle', `bundle is malformed: ${e.message}`, `证据包格式错误：${e.message}`);
      } else {
        report.fail('bundle', `unexpected error (${e.name}: ${e.message}); the bundle is not accepted`,
          `意外错误（${e.name}）；证据包不予接受`);
      }
    }
    return report;
  }

  async function verifyOpened(reader, trust, report, opts) {
    report.add('archive', true, 'archive structure is safe and within limits', '归档结构安全，且未超出限制');
    const [manifest, digests] = await checkManifest(reader, report, opts);
    if (!manifest) return;
    const cp = await checkCheckpoint(reader, trust, report);
    if (!cp) return;
    const entries = await checkEntries(reader, cp, report);
    if (!entries) return;
    const submission = checkSubmission(entries, manifest.evidence_id, report);
    if (!submission) return;
    await checkSubmitter(submission, report);
    checkCustody(entries, submission, report);
    checkFiles(submission, digests, report);
    await checkMetadata(reader, submission, report);
    await checkTimestamps(reader, manifest, cp, report);
  }

  async function checkManifest(reader, report, opts) {
    const manifest = parseJson(await reader.read(MANIFEST), MANIFEST);
    if (!isObject(manifest) || manifest.format !== FORMAT) {
      const fmt = isObject(manifest) ? manifest.format : null;
      report.fail('manifest', `manifest format is ${repr(String(fmt).slice(0, 40))}, not ${FORMAT} (a newer verifier may read it)`,
        `清单格式为 ${repr(String(fmt).slice(0, 40))}，不是 ${FORMAT}（可能需要更新的验证程序）`);
      return [null, null];
    }
    if (isObject(manifest.log)) report.manifest_hints = { log: manifest.log, created_at: manifest.created_at, exporter: manifest.exporter };
    const members = manifest.members;
    if (!isObject(members)) {
      report.fail('manifest', 'manifest has no member list', '清单缺少成员列表');
      return [null, null];
    }
    const present = reader.names().filter((n) => n !== MANIFEST);
    const listed = Object.keys(members);
    const missing = listed.filter((n) => !reader.has(n) || n === MANIFEST).sort();
    const extra = present.filter((n) => !(n in members)).sort();
    if (missing.length || extra.length) {
      report.fail('manifest', `members missing ${list5(missing)}, unlisted ${list5(extra)}`,
        `缺少成员 ${list5(missing)}，或存在未列出的成员 ${list5(extra)}`);
      return [null, null];
    }
    const total = listed.reduce((s, n) => s + reader.infos.get(n).usize, 0);
    let done = 0;
    const digests = new Map();
    const bad = [];
    for (const name of listed.sort()) {
      if (opts.shouldStop && opts.shouldStop()) throw new VerifyError('stopped by the user');
      const want = members[name];
      const [hex, size] = await reader.digest(name, (n) => { done += n; if (opts.progress) opts.progress(done, total, name); });
      digests.set(name, hex);
      if (!isObject(want) || want.sha256 !== hex || !isInt(want.size) || want.size !== size) bad.push(name);
    }
    if (bad.length) {
      report.fail('manifest', `members differ from the manifest's SHA-256 or size: ${list5(bad)}`,
        `成员与清单中的 SHA-256 或大小不符：${list5(bad)}`);
      return [null, null];
    }
    report.add('manifest', true, `all ${listed.length} members match the manifest's SHA-256 and size`,
      `全部 ${listed.length} 个成员与清单中的 SHA-256 和大小一致`);
    return [manifest, digests];
  }

  async function checkCheckpoint(reader, trust, report) {
    let cp;
    try {
      cp = await verifyCheckpoint(await reader.read(CHECKPOINT), trust.logKey, trust.witnessKeys);
    } catch (e) {
      if (!(e instanceof VerifyError) || e instanceof Ed25519Unsupported) throw e;
      report.fail('checkpoint', `checkpoint not verified with the pinned log key ${trust.logKey.name}: ${e.message}`,
        `检查点未能用固定的日志公钥 ${trust.logKey.name} 验证：${e.message}`);
      return null;
    }
    const c = cp.checkpoint;
    report.checkpoint = { origin: c.origin, size: Number(c.size), root: toHex(c.root),
      text: cp.note.text, cosigned_by: cp.cosignatures.map((s) => ({ name: s.name, cosigned_at: s.cosignedAt })) };
    report.add('checkpoint', true, `checkpoint of size ${c.size} is signed by the pinned log key ${trust.logKey.name}`,
      `大小为 ${c.size} 的检查点由固定的日志公钥 ${trust.logKey.name} 签名`);
    const names = cp.cosignatures.map((s) => s.name).join(', ') || 'none';
    const q = trust.quorum, n = cp.cosignatures.length;
    report.add('cosignatures', n >= q, `${n} valid cosignature(s) by pinned witnesses (${names}); quorum ${q}`,
      `${n} 个固定见证方的有效联署（${names}）；法定数 ${q}`, q > 0);
    return cp;
  }

  async function checkEntries(reader, cp, report) {
    const size = cp.checkpoint.size, root = cp.checkpoint.root;
    const entries = new Map(), proofs = new Map();
    for (const name of reader.names()) {           // archive order, like Python
      if (name.startsWith('entries/')) {
        const seq = Number(name.slice('entries/'.length, -'.entry'.length));
        let e;
        try { e = await parseEntry(await reader.read(name)); } catch (err) {
          if (!(err instanceof VerifyError) || err instanceof BundleError) throw err;
          report.fail('entries', `${name}: ${err.message}`, `${name}：记录格式错误：${err.message}`);
          return null;
        }
        if (e.seq !== seq) {
          report.fail('entries', `${name} holds entry ${e.seq}`, `${name} 中的记录序号为 ${e.seq}`);
          return null;
        }
        entries.set(seq, e);
      } else if (name.startsWith('proofs/')) {
        proofs.set(Number(name.slice('proofs/'.length, -'.json'.length)), parseJson(await reader.read(name), name));
      }
    }
    if (!entries.size) {
      report.fail('entries', 'the bundle holds no entries', '证据包中没有任何记录');
      return null;
    }
    report.add('entries', true, `${entries.size} entries parse as canonical ledger entries, each at its own number`,
      `${entries.size} 条记录均为规范的账本记录，序号与位置一致`);

    const included = async (index, leaf) => {
      const p = proofs.get(index);
      if (!isObject(p)) return `no inclusion proof for leaf ${index}`;
      if (p.index !== index || !isInt(p.tree_size) || BigInt(p.tree_size) !== size) {
        return `the proof for leaf ${index} is not to the bundle's checkpoint (size ${size})`;
      }
      if (p.leaf_hash !== toHex(leaf)) return `the proof for leaf ${index} is for another leaf`;
      if (!Array.isArray(p.proof)) return `the proof for leaf ${index} has no list of hashes`;
      try {
        await verifyInclusion(index, size, leaf, p.proof.map((h) => hashFromHex(h, 'proof hash')), root);
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        return `leaf ${index}: ${err.message}`;
      }
      return null;
    };
    const ordered = [...entries.values()].sort((a, b) => a.seq - b.seq);
    for (const e of ordered) {
      const err = await included(e.seq, e.leafHash);
      if (err) { report.fail('inclusion', err, `包含证明失败：${err}`); return null; }
    }
    report.add('inclusion', true, `all ${entries.size} entries are in the tree of the checkpoint (RFC 9162 inclusion proofs)`,
      `全部 ${entries.size} 条记录均包含在检查点的默克尔树中（RFC 9162 包含证明）`);
    for (const e of ordered) {
      const err = e.seq === 0 ? (e.prev === '0'.repeat(64) ? null : 'entry 0 must have a zero prev')
        : await included(e.seq - 1, fromHex(e.prev));
      if (err) {
        report.fail('chain', `entry ${e.seq}'s prev link: ${err}`, `第 ${e.seq} 条记录的前序链接：${err}`);
        return null;
      }
    }
    report.add('chain', true, "each entry's prev hash is the leaf before it in the same tree",
      '每条记录的前序哈希均为同一棵树中前一个叶子');
    return entries;
  }

  function checkSubmission(entries, evidenceId, report) {
    const sub = [...entries.values()].filter((e) => e.type === SUBMITTED && pyEq(e.body.evidence_id, evidenceId));
    if (typeof evidenceId !== 'string' || sub.length !== 1) {
      const id = repr(String(evidenceId === undefined ? null : evidenceId).slice(0, 80));
      report.fail('submission', `the bundle holds ${sub.length} submission entries for ${id}, not exactly one`,
        `证据包中 ${id} 的提交记录有 ${sub.length} 条，而非恰好一条`);
      return null;
    }
    const s = sub[0];
    report.evidence_id = evidenceId;
    report.submitted_at = s.time;
    report.add('submission', true, `evidence ${evidenceId} was submitted as entry ${s.seq} at ${s.time} (log time)`,
      `证据 ${evidenceId} 于 ${s.time}（日志时间）作为第 ${s.seq} 条记录提交`);
    return s;
  }

  async function checkSubmitter(submission, report) {
    let who;
    try { who = await verifySubmission(submission.body); } catch (e) {
      if (!(e instanceof VerifyError) || e instanceof Ed25519Unsupported) throw e;
      report.fail('submitter', `the submitter's signature does not verify: ${e.message}`, `提交方签名验证失败：${e.message}`);
      return;
    }
    if (!who) {
      report.add('submitter', true, 'not signed by the submitter (optional)', '提交方未签名（可选）', false);
      return;
    }
    const key = `${who.name}+${who.keyId.toString(16).padStart(8, '0')}`;
    report.submitter_key = who.text;
    report.add('submitter', true, `signed by the submitter's own key ${key} (the key named in the entry; compare it with the key the submitter published)`,
      `由提交方自己的密钥 ${key} 签名（该密钥见于记录中；请与提交方公布的密钥比对）`);
  }

  function checkCustody(entries, submission, report) {
    const id = report.evidence_id;
    const ordered = [...entries.values()].sort((a, b) => a.seq - b.seq);
    const custody = ordered.filter((e) => e !== submission);
    const strangers = custody.filter((e) => !pyEq(e.body.evidence_id, id)).map((e) => e.seq);
    const early = custody.filter((e) => e.seq < submission.seq).map((e) => e.seq);
    const backwards = ordered.slice(1).filter((b, i) => b.time < ordered[i].time).map((e) => e.seq);
    report.purged = custody.some((e) => e.type === PURGED);
    report.custody = ordered.map((e) => {
      const row = { seq: e.seq, time: e.time, type: e.type };
      for (const k of ['principal', 'action', 'reason', 'grantee', 'text']) if (k in e.body) row[k] = e.body[k];
      return row;
    });
    if (strangers.length) {
      report.fail('custody', `entries ${list5(strangers)} are about another evidence item`, `记录 ${list5(strangers)} 属于其他证据`);
    } else if (early.length) {
      report.fail('custody', `entries ${list5(early)} come before the submission`, `记录 ${list5(early)} 早于提交记录`);
    } else if (backwards.length) {
      report.fail('custody', `entries ${list5(backwards)} have an earlier time than the entry before them`,
        `记录 ${list5(backwards)} 的时间早于其前一条记录`);
    } else {
      report.add('custody', true, `${custody.length} custody entries, all about this item and after its submission, in time order`,
        `${custody.length} 条保管记录，均关于本证据、在提交之后且按时间排列`);
    }
  }

  function checkFiles(submission, digests, report) {
    const declared = submission.body.files;
    if (!Array.isArray(declared) || !declared.length || !declared.every((f) => isObject(f) && typeof f.sha256 === 'string')) {
      report.fail('files', 'the submission entry lists no files', '提交记录未列出任何文件');
      return;
    }
    const present = new Set([...digests.keys()].filter((n) => n.startsWith('files/')).map((n) => n.slice(6)));
    const wanted = new Set(declared.map((f) => f.sha256));
    report.files = declared.map((f) => ({ name: f.name === undefined ? null : f.name,
      media_type: f.media_type === undefined ? null : f.media_type,
      size: f.size === undefined ? null : f.size, sha256: f.sha256, included: present.has(f.sha256) }));
    if (report.purged && !present.size) {
      report.add('files', true, 'the item was purged: the bundle carries no files; the entry still proves their SHA-256 and sizes',
        '该证据已被清除：证据包不含文件；记录仍证明其 SHA-256 与大小', false);
      return;
    }
    const missing = [...wanted].filter((h) => !present.has(h)).sort();
    const extra = [...present].filter((h) => !wanted.has(h)).sort();
    if (missing.length || extra.length) {
      report.fail('files', `files missing ${list5(missing.slice(0, 3))}, extra ${list5(extra.slice(0, 3))}`,
        `缺少文件 ${list5(missing.slice(0, 3))}，或多出文件 ${list5(extra.slice(0, 3))}`);
      return;
    }
    for (const f of declared) {
      if (digests.get(`files/${f.sha256}`) !== f.sha256) {
        report.fail('files', `file '${String(f.name)}' is not the preserved one`, `文件 '${String(f.name)}' 不是保全时的文件`);
        return;
      }
    }
    report.add('files', true, `all ${declared.length} files are byte for byte the preserved ones (SHA-256 in the submission entry)`,
      `全部 ${declared.length} 个文件与保全时逐字节一致（与提交记录中的 SHA-256 相同）`);
  }

  async function checkMetadata(reader, submission, report) {
    const commitment = submission.body.metadata_commitment;
    if (!reader.has(METADATA)) {
      if (report.purged) {
        report.add('metadata', true, 'metadata not included: the item was purged (the commitment stays in the ledger)',
          '未包含元数据：该证据已被清除（承诺值仍在账本中）', false);
      } else {
        report.fail('metadata', 'metadata and salt are missing', '缺少元数据与盐值');
      }
      return;
    }
    const opened = parseJson(await reader.read(METADATA), METADATA);
    try {
      if (!isObject(opened) || Object.keys(opened).sort().join() !== 'metadata,salt') {
        throw new MalformedInput('metadata.json must be {"metadata": {...}, "salt": "<hex>"}');
      }
      if (!isObject(opened.metadata) || typeof opened.salt !== 'string') {
        throw new MalformedInput('metadata must be an object and salt a hex string');
      }
      const salt = pyFromHex(opened.salt);
      if (salt.length !== 32) throw new MalformedInput('salt must be 32 bytes');
      const got = toHex(await sha256(concat(salt, utf8(jcs(opened.metadata)))));
      if (got !== String(commitment)) throw new VerifyError('metadata and salt do not match the commitment in the ledger');
    } catch (e) {
      if (!(e instanceof VerifyError)) throw e;
      report.fail('metadata', `the metadata and salt do not open the commitment: ${e.message}`, `元数据与盐值无法打开承诺值：${e.message}`);
      return;
    }
    report.metadata = opened.metadata;
    report.add('metadata', true, 'the metadata and salt open the commitment in the entry', '元数据与盐值可打开记录中的承诺值');
  }

  /* The page pins no TSA root and does not check CMS signatures, like `evidence verify`
     without --tsa-ca: the check is optional and says the time is not proven. It still
     reads every token and compares its message imprint with SHA-256 of the checkpoint
     text, so the page can show each token's stated time. */
  async function checkTimestamps(reader, manifest, cp, report) {
    const listed = manifest.timestamps;
    if (!listed || (Array.isArray(listed) && !listed.length) || (isObject(listed) && !Object.keys(listed).length)) {
      report.add('timestamps', true, 'the bundle carries no RFC 3161 timestamp', '证据包未包含 RFC 3161 时间戳', false);
      return;
    }
    if (!Array.isArray(listed)) throw new MalformedInput('manifest timestamps must be a list');
    const want = toHex(await sha256(utf8(cp.note.text)));
    for (const [i, t] of listed.entries()) {
      const where = isObject(t) ? t.token : null;
      const row = { index: i, member: where, label: isObject(t) ? t.tsa : null };
      try {
        if (typeof where !== 'string' || !reader.has(where) || !where.endsWith('.tst')) throw new MalformedInput('no token member');
        const tok = readTimestampToken(await reader.read(where));
        Object.assign(row, tok, { imprint_matches: tok.hashAlg === '2.16.840.1.101.3.4.2.1' && tok.imprint === want });
      } catch (e) {
        if (e instanceof BundleError) throw e;
        row.error = e.message;
        row.imprint_matches = false;
      }
      report.timestamps_stated.push(row);
    }
    // A token over other data (or one that cannot be read) is a sign of tampering, as in
    // bundle.py with pinned roots: it fails, even though no token's time is proven here.
    const bad = report.timestamps_stated.filter((r) => !r.imprint_matches)
      .map((r) => `${r.member}: ${r.error || 'its message imprint is not SHA-256 of this checkpoint'}`);
    if (bad.length) {
      report.fail('timestamps', `a timestamp token is not over this checkpoint (altered, or over other data): ${bad.join('; ')}`,
        `有时间戳令牌针对的不是本检查点（被篡改，或针对其他数据）：${bad.join('；')}`);
      return;
    }
    report.add('timestamps', true,
      `${listed.length} RFC 3161 token(s) over this checkpoint, read but not verified: no TSA root certificate pinned in this page, the time is not proven here (verify with \`evidence verify --tsa-ca ...\`)`,
      `${listed.length} 个针对本检查点的 RFC 3161 时间戳令牌已读取但未验证：本页面未固定时间戳机构根证书，此处未证明时间（请用 \`evidence verify --tsa-ca ...\` 验证）`, false);
  }

  global.EvidenceVerify = {
    FORMAT, LIMITS, settings, VerifyError, MalformedInput, BundleError,
    verifyBundle, ZipReader, Sha256, sha256, digestBlob, toHex, fromHex, jcs, crc32Update,
    parseVerifierKey, verifyCheckpoint, parseCheckpoint, rootFromInclusionProof, verifyInclusion,
    readTimestampToken, ed25519Supported, parseEntry, leafHash,
  };
})(typeof window !== 'undefined' ? window : globalThis);
