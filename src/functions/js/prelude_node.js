// utils (crypto, jwt), Buffer, TextEncoder/TextDecoder, crypto (randomUUID, randomBytes,
// createHash, createHmac) and timers: the App Services globals and the Node subset
// Expanse offers, loaded (the module "expanse:node", compiled to bytecode once per process, strict
// mode: see compiled.rs) by the prelude's __warm when the context is made (see prelude.js). An
// expression: evaluated, it gives the object the globals read from.
//
// Bytes cross to the host (__native, native.rs) as hexadecimal strings; the host answers
// "+result" or "-error message".
(() => {
const __Binary = () => __extras().Binary;
const __isBinary = (v) => v instanceof BSONValue && __isExtrasBinary(v);

function __nativeCall(op, a = "", b = "", c = "", d = "") {
  const out = __native(op, String(a), String(b), String(c), String(d));
  if (out[0] === "-") throw new Error(out.slice(1));
  return out.slice(1);
}

// ---------------------------------------------------------------------------------------------
// UTF-8

function __utf8Encode(text) {
  const s = String(text);
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

function __utf8Decode(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    let need = 0, c = 0xfffd, min = 0;
    if (b < 0x80) { out += String.fromCharCode(b); i++; continue; }
    if (b >= 0xc2 && b <= 0xdf) { need = 1; c = b & 31; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; c = b & 15; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; c = b & 7; min = 0x10000; }
    else { out += "\ufffd"; i++; continue; }
    let j = 1;
    for (; j <= need; j++) {
      const n = bytes[i + j];
      if (n === undefined || (n & 0xc0) !== 0x80) break;
      c = (c << 6) | (n & 63);
    }
    if (j <= need || c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) { out += "\ufffd"; i += Math.max(1, j); continue; }
    out += String.fromCodePoint(c);
    i += need + 1;
  }
  return out;
}

class TextEncoder {
  get encoding() { return "utf-8"; }
  encode(text = "") { return __utf8Encode(text); }
}

class TextDecoder {
  constructor(label = "utf-8") {
    const l = String(label).toLowerCase();
    if (l !== "utf-8" && l !== "utf8") throw new RangeError(`TextDecoder: the encoding "${label}" is not supported (only utf-8)`);
  }
  get encoding() { return "utf-8"; }
  decode(bytes) {
    if (bytes === undefined) return "";
    return __utf8Decode(__bytes(bytes, "TextDecoder.decode: the input"));
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes

const __B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function __base64(bytes, url) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
    out += __B64[(n >> 18) & 63] + __B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? __B64[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? __B64[n & 63] : "=";
  }
  if (url) out = out.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return out;
}

function __unbase64(text) {
  const clean = String(text).replace(/-/g, "+").replace(/_/g, "/").replace(/[\s=]/g, "");
  const out = [];
  let bits = 0, value = 0;
  for (const ch of clean) {
    const v = __B64.indexOf(ch);
    if (v < 0) break;
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) { bits -= 8; out.push((value >> bits) & 255); }
  }
  return new Uint8Array(out);
}

function __unhexLoose(text) {
  const s = String(text);
  const out = [];
  for (let i = 0; i + 1 < s.length; i += 2) {
    const b = parseInt(s.substr(i, 2), 16);
    if (Number.isNaN(b)) break;
    out.push(b);
  }
  return new Uint8Array(out);
}

const __ENCODINGS = ["utf8", "utf-8", "hex", "base64", "base64url", "latin1", "binary", "ascii"];

function __encoding(name, what) {
  const e = name === undefined ? "utf8" : String(name).toLowerCase();
  if (!__ENCODINGS.includes(e)) throw new TypeError(`${what}: the encoding "${name}" is not supported (supported: ${__ENCODINGS.join(", ")})`);
  return e;
}

function __fromString(text, encoding) {
  switch (__encoding(encoding, "Buffer.from")) {
    case "hex": return __unhexLoose(text);
    case "base64": case "base64url": return __unbase64(text);
    case "latin1": case "binary": case "ascii": {
      const s = String(text);
      const out = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 255;
      return out;
    }
    default: return __utf8Encode(text);
  }
}

// The bytes of a value utils and Buffer take: a string (UTF-8), a Uint8Array or Buffer, an
// ArrayBuffer, or a BSON.Binary.
function __bytes(value, what) {
  if (typeof value === "string") return __utf8Encode(value);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (__isBinary(value)) return value.buffer;
  throw new TypeError(`${what} must be a string, a Buffer, a Uint8Array or a BSON.Binary`);
}

class Buffer extends Uint8Array {
  static from(value, encodingOrOffset, length) {
    if (typeof value === "string") return Buffer.__of(__fromString(value, encodingOrOffset));
    if (value instanceof ArrayBuffer) return new Buffer(value, encodingOrOffset || 0, length === undefined ? value.byteLength - (encodingOrOffset || 0) : length);
    if (Array.isArray(value) || value instanceof Uint8Array || ArrayBuffer.isView(value)) {
      const out = new Buffer(value.length);
      for (let i = 0; i < value.length; i++) out[i] = value[i] & 255;
      return out;
    }
    if (__isBinary(value)) return Buffer.from(value.buffer);
    throw new TypeError("Buffer.from takes a string, an array, an ArrayBuffer, a Uint8Array or a BSON.Binary");
  }
  static __of(bytes) {
    const out = new Buffer(bytes.length);
    out.set(bytes);
    return out;
  }
  static alloc(size, fill) {
    const out = new Buffer(size);
    if (fill !== undefined) out.fill(typeof fill === "string" ? fill.charCodeAt(0) & 255 : fill);
    return out;
  }
  static allocUnsafe(size) { return new Buffer(size); }
  static isBuffer(value) { return value instanceof Buffer; }
  static isEncoding(name) { return __ENCODINGS.includes(String(name).toLowerCase()); }
  static byteLength(value, encoding) {
    return typeof value === "string" ? __fromString(value, encoding).length : __bytes(value, "Buffer.byteLength: the value").length;
  }
  static concat(list, total) {
    const size = total === undefined ? list.reduce((n, b) => n + b.length, 0) : total;
    const out = Buffer.alloc(size);
    let at = 0;
    for (const b of list) {
      if (at >= size) break;
      out.set(b.subarray(0, size - at), at);
      at += b.length;
    }
    return out;
  }
  static compare(a, b) { return a.compare(b); }
  toString(encoding, start = 0, end = this.length) {
    const bytes = this.subarray(start, end);
    switch (__encoding(encoding, "Buffer.toString")) {
      case "hex": return __hex(bytes);
      case "base64": return __base64(bytes, false);
      case "base64url": return __base64(bytes, true);
      case "latin1": case "binary": case "ascii": {
        let out = "";
        for (const b of bytes) out += String.fromCharCode(b);
        return out;
      }
      default: return __utf8Decode(bytes);
    }
  }
  toJSON() { return { type: "Buffer", data: Array.from(this) }; }
  equals(other) { return this.compare(other) === 0; }
  compare(other) {
    const n = Math.min(this.length, other.length);
    for (let i = 0; i < n; i++) if (this[i] !== other[i]) return this[i] < other[i] ? -1 : 1;
    return this.length === other.length ? 0 : this.length < other.length ? -1 : 1;
  }
  write(text, offset = 0, encoding) {
    const bytes = __fromString(text, encoding).subarray(0, Math.max(0, this.length - offset));
    this.set(bytes, offset);
    return bytes.length;
  }
  slice(start, end) { return this.subarray(start, end); }
  subarray(start, end) {
    const view = Uint8Array.prototype.subarray.call(this, start, end);
    return new Buffer(view.buffer, view.byteOffset, view.length);
  }
}

// ---------------------------------------------------------------------------------------------
// crypto (Node's subset)

function randomBytes(size) {
  if (!Number.isInteger(size) || size < 0) throw new TypeError("crypto.randomBytes: the size must be a non-negative integer");
  return Buffer.__of(__unhex(__nativeCall("randomBytes", size)));
}

function randomUUID() {
  const b = __unhex(__nativeCall("randomBytes", 16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = __hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function __digestOutput(hex, encoding, what) {
  if (encoding === undefined) return Buffer.__of(__unhex(hex));
  switch (__encoding(encoding, what)) {
    case "hex": return hex;
    case "base64": return __base64(__unhex(hex), false);
    case "base64url": return __base64(__unhex(hex), true);
    default: throw new TypeError(`${what}: the encoding "${encoding}" is not supported (hex, base64, base64url, or none for a Buffer)`);
  }
}

function __hasher(what, finish) {
  const parts = [];
  const h = {
    update(data, encoding) {
      parts.push(typeof data === "string" ? __fromString(data, encoding) : __bytes(data, `${what}.update: the data`));
      return h;
    },
    digest(encoding) {
      const all = Buffer.concat(parts);
      return __digestOutput(finish(__hex(all)), encoding, `${what}.digest`);
    },
  };
  return h;
}

const __nodeHash = (name) => String(name).toLowerCase().replace(/-/g, "");

const crypto = {
  randomBytes,
  randomUUID,
  getRandomValues(array) {
    if (!ArrayBuffer.isView(array)) throw new TypeError("crypto.getRandomValues takes a typed array");
    const bytes = __unhex(__nativeCall("randomBytes", array.byteLength));
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
    return array;
  },
  createHash: (algorithm) => __hasher("crypto.createHash", (hex) => __nativeCall("hash", __nodeHash(algorithm), hex)),
  createHmac: (algorithm, key) => {
    const k = __hex(__bytes(key, "crypto.createHmac: the key"));
    return __hasher("crypto.createHmac", (hex) => __nativeCall("hmac", __nodeHash(algorithm), hex, k, "hex"));
  },
};

// ---------------------------------------------------------------------------------------------
// utils (App Services)

const __binaryOf = (hex) => new (__Binary())(__unhex(hex), 0);

const __utilsCrypto = {
  hash(algorithm, input) {
    return __binaryOf(__nativeCall("hash", algorithm, __hex(__bytes(input, "utils.crypto.hash: the input"))));
  },
  hmac(input, secret, algorithm, encoding) {
    return __nativeCall("hmac", algorithm, __hex(__bytes(input, "utils.crypto.hmac: the input")), __hex(__bytes(secret, "utils.crypto.hmac: the secret")), encoding);
  },
  encrypt(type, message, key) {
    if (type !== "aes") throw new Error(`utils.crypto.encrypt: the encryption type "${type}" is not supported (only "aes")`);
    return __binaryOf(__nativeCall("aesEncrypt", __hex(__bytes(message, "utils.crypto.encrypt: the message")), __hex(__bytes(key, "utils.crypto.encrypt: the key"))));
  },
  decrypt(type, encrypted, key) {
    if (type !== "aes") throw new Error(`utils.crypto.decrypt: the encryption type "${type}" is not supported (only "aes")`);
    return __binaryOf(__nativeCall("aesDecrypt", __hex(__bytes(encrypted, "utils.crypto.decrypt: the encrypted message")), __hex(__bytes(key, "utils.crypto.decrypt: the key"))));
  },
  sign(type, message, privateKey, scheme = "pss") {
    if (type !== "rsa") throw new Error(`utils.crypto.sign: the type "${type}" is not supported (only "rsa")`);
    return __binaryOf(__nativeCall("rsaSign", __hex(__bytes(message, "utils.crypto.sign: the message")), String(privateKey), scheme));
  },
  verify(type, message, publicKey, signature, scheme = "pss") {
    if (type !== "rsa") throw new Error(`utils.crypto.verify: the type "${type}" is not supported (only "rsa")`);
    return __nativeCall("rsaVerify", __hex(__bytes(message, "utils.crypto.verify: the message")), String(publicKey), __hex(__bytes(signature, "utils.crypto.verify: the signature")), scheme) === "true";
  },
};

const __utilsJwt = {
  encode(signingMethod, payload, secret, customHeaderFields) {
    return __nativeCall("jwtEncode", signingMethod, EJSON.stringify(payload), String(secret), customHeaderFields === undefined ? "null" : EJSON.stringify(customHeaderFields));
  },
  decode(jwtString, key, returnHeader = false, acceptedSigningMethods) {
    const accepted = acceptedSigningMethods === undefined ? "null" : JSON.stringify(acceptedSigningMethods);
    const both = JSON.parse(__nativeCall("jwtDecode", String(jwtString), String(key), accepted));
    return returnHeader ? both : both.payload;
  },
};

const utils = { crypto: __utilsCrypto, jwt: __utilsJwt };

// ---------------------------------------------------------------------------------------------
// Timers: run by the host when the call has nothing else to do (a timer still pending when the
// function's promise settles is dropped with the call).

const __timers = [];
let __nextTimer = 1;

function __addTimer(callback, ms, args, what) {
  if (typeof callback !== "function") throw new TypeError(`${what}: the callback must be a function`);
  const id = __nextTimer++;
  const delay = Math.max(0, Number(ms) || 0);
  __timers.push({ id, at: Date.now() + delay, callback, args });
  return id;
}

function setTimeout(callback, ms, ...args) { return __addTimer(callback, ms, args, "setTimeout"); }
function setImmediate(callback, ...args) { return __addTimer(callback, 0, args, "setImmediate"); }
function clearTimeout(id) {
  const i = __timers.findIndex((t) => t.id === id);
  if (i >= 0) __timers.splice(i, 1);
}
function setInterval() { throw new Error("setInterval is not available in Expanse functions (a function's call must end); use setTimeout"); }
function clearInterval(id) { clearTimeout(id); }

// Between calls: no timer left, ids from 1 again.
function __timersReset() {
  __timers.length = 0;
  __nextTimer = 1;
}

function __earliest() {
  let best = -1;
  for (let i = 0; i < __timers.length; i++) {
    const t = __timers[i];
    if (best < 0 || t.at < __timers[best].at || (t.at === __timers[best].at && t.id < __timers[best].id)) best = i;
  }
  return best;
}

function __timerDue() {
  const i = __earliest();
  return i < 0 ? -1 : Math.max(0, __timers[i].at - Date.now());
}

function __timerFire() {
  const i = __earliest();
  if (i < 0) return;
  const [timer] = __timers.splice(i, 1);
  try {
    timer.callback(...timer.args);
  } catch (error) {
    __done(false, __message(error));
  }
}

// ---------------------------------------------------------------------------------------------
// context.http: `call` is the base prelude's host call. An object body with encodeBodyAsJSON is
// sent as its EJSON text; the response's body is a BSON.Binary with text().

function __http(method, request, call) {
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    return Promise.reject(new TypeError(`context.http.${method}: the argument must be a request object ({url, headers, body, …})`));
  }
  let sent = request;
  const body = request.body;
  if (request.encodeBodyAsJSON === true && body !== undefined && body !== null && typeof body !== "string") {
    try {
      sent = { ...request, body: EJSON.stringify(body) };
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return call({ kind: "http", method }, [sent], ["request"]).then((response) => {
    const bytes = response.body;
    if (bytes !== null && typeof bytes === "object") {
      Object.defineProperty(bytes, "text", { value: () => __utf8Decode(bytes.buffer), writable: true, configurable: true });
    }
    return response;
  });
}

return {
  utils, Buffer, TextEncoder, TextDecoder, crypto, setTimeout, clearTimeout, setImmediate,
  setInterval, clearInterval, __timerDue, __timerFire, __timersReset, __http,
};
})()
