// The BSON types other than ObjectId, and EJSON: the module "expanse:extras" (compiled to
// bytecode once per process, strict mode: see compiled.rs), loaded by the prelude's __warm when a
// context is made (see prelude.js). An expression: the prelude keeps what it returns. It sees the
// prelude's globals (BSONValue, ObjectId, __tagged, __toBridge, __hex, __unhex, __makeRegExp,
// __doubleText, __I64_MIN, __I64_MAX).
(() => {
const __B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function __toBase64(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += __B64[(n >> 18) & 63] + __B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? __B64[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? __B64[n & 63] : "=";
  }
  return out;
}

function __fromBase64(text) {
  if (typeof text !== "string") throw new TypeError("base64 text expected");
  const clean = text.replace(/=+$/, "");
  if (/[^A-Za-z0-9+/]/.test(clean) || clean.length % 4 === 1) throw new TypeError("invalid base64 string");
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let j = 0;
  for (const c of clean) {
    value = ((value << 6) | __B64.indexOf(c)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (value >> bits) & 255;
    }
  }
  return out;
}


const __wrap64 = (b) => BigInt.asIntN(64, b);

class Long extends BSONValue {
  // new Long(bigint | string | number), or new Long(low, high) from two 32-bit halves.
  constructor(low = 0, high, unsigned) {
    super();
    if (unsigned) throw new TypeError("an unsigned Long is not supported: BSON's Int64 is signed");
    if (high !== undefined) this._value = __wrap64((BigInt(high | 0) << 32n) | BigInt(low >>> 0));
    else if (typeof low === "bigint") this._value = Long.__inRange(low);
    else if (typeof low === "string") this._value = Long.fromString(low)._value;
    else if (low instanceof Long) this._value = low._value;
    else this._value = Long.fromNumber(Number(low))._value;
  }
  static __inRange(b) {
    if (b < __I64_MIN || b > __I64_MAX) throw new RangeError("beyond the range of a 64-bit integer");
    return b;
  }
  static fromBigInt(b) { return new Long(BigInt(b)); }
  static fromNumber(n) {
    if (typeof n !== "number" || !Number.isFinite(n)) throw new TypeError("Long.fromNumber needs a finite number");
    return new Long(BigInt(Math.trunc(n)));
  }
  static fromInt(n) { return Long.fromNumber(n); }
  static fromBits(low, high) { return new Long(low, high); }
  static fromString(text, radix = 10) {
    if (typeof text !== "string") throw new TypeError("Long.fromString needs a string");
    if (!Number.isInteger(radix) || radix < 2 || radix > 36) throw new RangeError("radix out of range");
    const m = /^([+-]?)([0-9a-zA-Z]+)$/.exec(text);
    if (!m) throw new TypeError("Long.fromString: not an integer");
    let v = 0n;
    const r = BigInt(radix);
    for (const c of m[2].toLowerCase()) {
      const d = parseInt(c, radix);
      if (Number.isNaN(d)) throw new TypeError("Long.fromString: not an integer in base " + radix);
      v = v * r + BigInt(d);
      if (v > 2n ** 64n) throw new RangeError("beyond the range of a 64-bit integer");
    }
    return new Long(m[1] === "-" ? -v : v);
  }
  static fromValue(v) {
    if (v instanceof Long) return v;
    if (typeof v === "bigint") return Long.fromBigInt(v);
    if (typeof v === "string") return Long.fromString(v);
    if (typeof v === "number") return Long.fromNumber(v);
    if (v instanceof Int32 || v instanceof Double) return Long.fromNumber(v.valueOf());
    throw new TypeError("not convertible to a Long");
  }
  static isLong(v) { return v instanceof Long; }
  get high() { return Number(BigInt.asIntN(32, this._value >> 32n)); }
  get low() { return Number(BigInt.asIntN(32, this._value)); }
  get unsigned() { return false; }
  toBigInt() { return this._value; }
  toNumber() { return Number(this._value); }
  toInt() { return this.low; }
  toString(radix = 10) { return this._value.toString(radix); }
  valueOf() { return this.toNumber(); }
  toJSON() {
    const n = this.toNumber();
    return Number.isSafeInteger(n) ? n : { $numberLong: this.toString() };
  }
  equals(other) {
    try { return Long.fromValue(other)._value === this._value; } catch (e) { return false; }
  }
  compare(other) {
    const o = Long.fromValue(other)._value;
    return this._value < o ? -1 : this._value > o ? 1 : 0;
  }
  lessThan(o) { return this.compare(o) < 0; }
  lessThanOrEqual(o) { return this.compare(o) <= 0; }
  greaterThan(o) { return this.compare(o) > 0; }
  greaterThanOrEqual(o) { return this.compare(o) >= 0; }
  isZero() { return this._value === 0n; }
  isNegative() { return this._value < 0n; }
  isPositive() { return this._value >= 0n; }
  negate() { return new Long(__wrap64(-this._value)); }
  add(o) { return new Long(__wrap64(this._value + Long.fromValue(o)._value)); }
  subtract(o) { return new Long(__wrap64(this._value - Long.fromValue(o)._value)); }
  multiply(o) { return new Long(__wrap64(this._value * Long.fromValue(o)._value)); }
  divide(o) {
    const d = Long.fromValue(o)._value;
    if (d === 0n) throw new RangeError("division by zero");
    return new Long(__wrap64(this._value / d));
  }
  modulo(o) {
    const d = Long.fromValue(o)._value;
    if (d === 0n) throw new RangeError("division by zero");
    return new Long(this._value % d);
  }
  toExtendedJSON(relaxed) {
    const n = this.toNumber();
    return relaxed && Number.isSafeInteger(n) ? n : { $numberLong: this.toString() };
  }
  [__toBridge]() { return __tagged("long", this._value.toString()); }
}
Long.MAX_VALUE = new Long(__I64_MAX);
Long.MIN_VALUE = new Long(__I64_MIN);
Long.ZERO = new Long(0n);
Long.ONE = new Long(1n);
Long.NEG_ONE = new Long(-1n);

const __numberOf = (v) => (v instanceof BSONValue && typeof v.valueOf() === "number" ? v.valueOf() : Number(v));

class Int32 extends BSONValue {
  constructor(value) {
    super();
    const n = __numberOf(value);
    if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
      throw new RangeError("an Int32 is a whole number from -2147483648 to 2147483647");
    }
    this.value = n === 0 ? 0 : n;
  }
  valueOf() { return this.value; }
  toString(radix) { return this.value.toString(radix); }
  toJSON() { return this.value; }
  equals(other) { return other !== null && other !== undefined && __numberOf(other) === this.value; }
  toExtendedJSON(relaxed) { return relaxed ? this.value : { $numberInt: String(this.value) }; }
  [__toBridge]() { return this.value; }
}

class Double extends BSONValue {
  constructor(value) {
    super();
    const n = __numberOf(value);
    if (Number.isNaN(n) && !(typeof value === "number" || value instanceof Double || String(value).trim() === "NaN")) {
      throw new TypeError("a Double needs a number");
    }
    this.value = n;
  }
  valueOf() { return this.value; }
  toString(radix) { return this.value.toString(radix); }
  toJSON() { return this.value; }
  equals(other) { return other !== null && other !== undefined && Object.is(__numberOf(other), this.value); }
  toExtendedJSON(relaxed) {
    if (relaxed && Number.isFinite(this.value)) return this.value;
    const text = Object.is(this.value, -0) ? "-0.0" : Number.isInteger(this.value) ? this.value.toFixed(1) : String(this.value);
    return { $numberDouble: text };
  }
  [__toBridge]() { return __tagged("double", __doubleText(this.value)); }
}

const __DECIMAL = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)$/i;

class Decimal128 extends BSONValue {
  // new Decimal128("1.10") or Decimal128.fromString("1.10"); the host checks precision and range.
  constructor(text) {
    super();
    if (text instanceof Decimal128) {
      this._string = text._string;
      this._bytes = text._bytes;
      return;
    }
    if (typeof text !== "string" || !__DECIMAL.test(text)) throw new TypeError("a Decimal128 needs a decimal number as a string");
    this._string = text;
    this._bytes = null;
  }
  static fromString(text) { return new Decimal128(text); }
  static __exact(bytes, text) {
    const d = Object.create(Decimal128.prototype);
    d._bytes = bytes;
    d._string = text;
    return d;
  }
  toString() { return this._string; }
  toJSON() { return { $numberDecimal: this._string }; }
  equals(other) {
    if (!(other instanceof Decimal128)) return false;
    if (this._bytes !== null && other._bytes !== null) return this._bytes === other._bytes;
    return this._string === other._string;
  }
  toExtendedJSON() { return { $numberDecimal: this._string }; }
  [__toBridge]() { return __tagged("decimal", this._bytes, this._string); }
}

class Binary extends BSONValue {
  constructor(buffer = new Uint8Array(0), subType = 0) {
    super();
    if (buffer instanceof Uint8Array) this.buffer = new Uint8Array(buffer);
    else if (buffer instanceof ArrayBuffer) this.buffer = new Uint8Array(buffer.slice(0));
    else if (Array.isArray(buffer) && buffer.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) this.buffer = Uint8Array.from(buffer);
    else throw new TypeError("a Binary needs a Uint8Array, an ArrayBuffer or an array of bytes");
    if (!Number.isInteger(subType) || subType < 0 || subType > 255) throw new RangeError("a Binary subtype is a whole number from 0 to 255");
    this.sub_type = subType;
  }
  /** The bytes as UTF-8 text (an HTTPS endpoint's request body: `body.text()`). */
  text() { return new TextDecoder().decode(this.buffer); }
  static createFromBase64(text, subType = 0) { return new Binary(__fromBase64(text), subType); }
  static createFromHexString(text, subType = 0) { return new Binary(__unhex(text), subType); }
  length() { return this.buffer.length; }
  toString(encoding = "base64") {
    if (encoding === "hex") return __hex(this.buffer);
    if (encoding === "base64") return __toBase64(this.buffer);
    throw new TypeError("Binary.toString takes 'base64' or 'hex'");
  }
  toJSON() { return __toBase64(this.buffer); }
  equals(other) {
    return other instanceof Binary && other.sub_type === this.sub_type && __hex(other.buffer) === __hex(this.buffer);
  }
  toExtendedJSON() {
    return { $binary: { base64: __toBase64(this.buffer), subType: (this.sub_type < 16 ? "0" : "") + this.sub_type.toString(16) } };
  }
  [__toBridge]() { return __tagged("binary", this.sub_type, __hex(this.buffer)); }
}
Object.assign(Binary, {
  SUBTYPE_DEFAULT: 0, SUBTYPE_FUNCTION: 1, SUBTYPE_BYTE_ARRAY: 2, SUBTYPE_UUID_OLD: 3, SUBTYPE_UUID: 4,
  SUBTYPE_MD5: 5, SUBTYPE_ENCRYPTED: 6, SUBTYPE_COLUMN: 7, SUBTYPE_SENSITIVE: 8, SUBTYPE_VECTOR: 9,
  SUBTYPE_USER_DEFINED: 128,
});

const __isU32 = (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

class Timestamp extends BSONValue {
  // new Timestamp({ t, i }), new Timestamp(low = i, high = t), or from a Long / BigInt.
  constructor(low, high) {
    super();
    let t;
    let i;
    if (low instanceof Long || typeof low === "bigint") {
      const v = BigInt.asUintN(64, typeof low === "bigint" ? low : low.toBigInt());
      t = Number(v >> 32n);
      i = Number(v & 0xffffffffn);
    } else if (low !== null && typeof low === "object") {
      t = low.t;
      i = low.i;
    } else {
      i = low;
      t = high;
    }
    if (!__isU32(t) || !__isU32(i)) throw new RangeError("a Timestamp needs t and i, whole numbers from 0 to 4294967295");
    this.t = t;
    this.i = i;
  }
  getHighBits() { return this.t; }
  getLowBits() { return this.i; }
  toString() { return `Timestamp(${this.t}, ${this.i})`; }
  toJSON() { return { $timestamp: { t: this.t, i: this.i } }; }
  equals(other) { return other instanceof Timestamp && other.t === this.t && other.i === this.i; }
  toExtendedJSON() { return { $timestamp: { t: this.t, i: this.i } }; }
  [__toBridge]() { return __tagged("timestamp", this.t, this.i); }
}

class MinKey extends BSONValue {
  equals(other) { return other instanceof MinKey; }
  toJSON() { return { $minKey: 1 }; }
  toExtendedJSON() { return { $minKey: 1 }; }
  [__toBridge]() { return __tagged("minKey"); }
}

class MaxKey extends BSONValue {
  equals(other) { return other instanceof MaxKey; }
  toJSON() { return { $maxKey: 1 }; }
  toExtendedJSON() { return { $maxKey: 1 }; }
  [__toBridge]() { return __tagged("maxKey"); }
}

// A BSON regular expression JavaScript's RegExp cannot hold exactly (PCRE syntax, or the l and
// x options); values from the database arrive as one when `new RegExp` would change them.
class BSONRegExp extends BSONValue {
  constructor(pattern, options = "") {
    super();
    if (typeof pattern !== "string" || typeof options !== "string") throw new TypeError("a BSONRegExp needs a pattern and options as strings");
    if (!/^[ilmsux]*$/.test(options)) throw new TypeError("BSONRegExp options are among i, l, m, s, u and x");
    this.pattern = pattern;
    this.options = [...new Set(options)].sort().join("");
  }
  toString() { return `/${this.pattern}/${this.options}`; }
  toJSON() { return this.toExtendedJSON(); }
  equals(other) { return other instanceof BSONRegExp && other.pattern === this.pattern && other.options === this.options; }
  toExtendedJSON() { return { $regularExpression: { pattern: this.pattern, options: this.options } }; }
  [__toBridge]() { return __tagged("regex", this.pattern, this.options); }
}

class BSONSymbol extends BSONValue {
  constructor(value) {
    super();
    if (typeof value !== "string") throw new TypeError("a BSONSymbol needs a string");
    this.value = value;
  }
  valueOf() { return this.value; }
  toString() { return this.value; }
  toJSON() { return this.value; }
  equals(other) { return other instanceof BSONSymbol && other.value === this.value; }
  toExtendedJSON() { return { $symbol: this.value }; }
  [__toBridge]() { return __tagged("symbol", this.value); }
}

class Code extends BSONValue {
  constructor(code, scope = null) {
    super();
    if (typeof code === "function") code = code.toString();
    if (typeof code !== "string") throw new TypeError("a Code needs its source as a string");
    if (scope !== null && (typeof scope !== "object" || Array.isArray(scope))) throw new TypeError("a Code scope is a document");
    this.code = code;
    this.scope = scope;
  }
  toJSON() { return this.scope === null ? { code: this.code } : { code: this.code, scope: this.scope }; }
  equals(other) { return other instanceof Code && other.code === this.code && EJSON.stringify(other.scope) === EJSON.stringify(this.scope); }
  toExtendedJSON(relaxed, serialize) {
    return this.scope === null ? { $code: this.code } : { $code: this.code, $scope: serialize(this.scope) };
  }
  [__toBridge](nested) {
    return this.scope === null ? __tagged("code", this.code) : __tagged("code", this.code, nested(this.scope, "$scope"));
  }
}

class DBPointer extends BSONValue {
  constructor(namespace, oid) {
    super();
    if (typeof namespace !== "string") throw new TypeError("a DBPointer needs a namespace");
    this.namespace = namespace;
    this.oid = new ObjectId(oid);
  }
  equals(other) { return other instanceof DBPointer && other.namespace === this.namespace && other.oid.equals(this.oid); }
  toJSON() { return this.toExtendedJSON(); }
  toExtendedJSON() { return { $dbPointer: { $ref: this.namespace, $id: { $oid: this.oid.toHexString() } } }; }
  [__toBridge]() { return __tagged("dbPointer", this.namespace, this.oid.toHexString()); }
}

// ---------------------------------------------------------------------------------------------
// EJSON: Extended JSON for the function's own use (canonical, or relaxed by default).

function __ejsonSerialize(value, relaxed, stack) {
  switch (typeof value) {
    case "number":
      if (relaxed && Number.isFinite(value)) return value;
      if (!relaxed && Number.isInteger(value) && value >= -2147483648 && value <= 2147483647 && !Object.is(value, -0)) return { $numberInt: String(value) };
      return new Double(value).toExtendedJSON(false);
    case "bigint": return { $numberLong: value.toString() };
    case "function":
    case "symbol":
    case "undefined":
      return undefined;
  }
  if (value === null || typeof value !== "object") return value;
  if (stack.includes(value)) throw new TypeError("EJSON: cannot serialize a cyclic structure");
  const serialize = (inner) => {
    stack.push(value);
    const out = __ejsonSerialize(inner, relaxed, stack);
    stack.pop();
    return out;
  };
  if (value instanceof BSONValue) return value.toExtendedJSON(relaxed, serialize);
  if (value instanceof Date) {
    const time = value.getTime();
    if (Number.isNaN(time)) return null;
    const year = value.getUTCFullYear();
    if (relaxed && year >= 1970 && year <= 9999) return { $date: value.toISOString() };
    return { $date: { $numberLong: String(time) } };
  }
  if (value instanceof RegExp) return { $regularExpression: { pattern: value.source, options: [...value.flags].sort().join("") } };
  if (value instanceof Uint8Array) return new Binary(value).toExtendedJSON();
  if (Array.isArray(value)) return value.map((item) => { const out = serialize(item); return out === undefined ? null : out; });
  const out = {};
  for (const key of Object.keys(value)) {
    const item = serialize(value[key]);
    if (item === undefined) continue;
    if (key === "__proto__") Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    else out[key] = item;
  }
  return out;
}

function __ejsonRevive(v, relaxed) {
  const keys = Object.keys(v);
  const only = (...names) => keys.length === names.length && names.every((n) => __hasOwn(v, n));
  if (only("$oid") && typeof v.$oid === "string") return new ObjectId(v.$oid);
  if (only("$date")) {
    const d = v.$date;
    if (typeof d === "string") return new Date(Date.parse(d));
    if (typeof d === "number") return new Date(d);
    if (d && typeof d === "object" && typeof d.$numberLong === "string") return new Date(Number(d.$numberLong));
  }
  if (only("$numberInt") && typeof v.$numberInt === "string") return relaxed ? Number(v.$numberInt) : new Int32(Number(v.$numberInt));
  if (only("$numberLong") && typeof v.$numberLong === "string") {
    const long = Long.fromString(v.$numberLong);
    return relaxed && Number.isSafeInteger(long.toNumber()) ? long.toNumber() : long;
  }
  if (only("$numberDouble") && typeof v.$numberDouble === "string") return relaxed ? Number(v.$numberDouble) : new Double(Number(v.$numberDouble));
  if (only("$numberDecimal") && typeof v.$numberDecimal === "string") return new Decimal128(v.$numberDecimal);
  if (only("$binary") && v.$binary && typeof v.$binary === "object") return Binary.createFromBase64(v.$binary.base64, parseInt(v.$binary.subType, 16));
  if (only("$regularExpression") && v.$regularExpression && typeof v.$regularExpression === "object") {
    return __makeRegExp(v.$regularExpression.pattern, v.$regularExpression.options);
  }
  if (only("$timestamp") && v.$timestamp && typeof v.$timestamp === "object") return new Timestamp(v.$timestamp);
  if (only("$minKey")) return new MinKey();
  if (only("$maxKey")) return new MaxKey();
  if (only("$symbol") && typeof v.$symbol === "string") return new BSONSymbol(v.$symbol);
  if (only("$code") && typeof v.$code === "string") return new Code(v.$code);
  if (only("$code", "$scope") && typeof v.$code === "string") return new Code(v.$code, __ejsonDeserialize(v.$scope, relaxed));
  if (only("$undefined")) return undefined;
  if (only("$dbPointer") && v.$dbPointer && typeof v.$dbPointer === "object" && v.$dbPointer.$id) {
    return new DBPointer(v.$dbPointer.$ref, v.$dbPointer.$id.$oid);
  }
  return null;
}

function __ejsonDeserialize(value, relaxed) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => __ejsonDeserialize(item, relaxed));
  if (value instanceof BSONValue || value instanceof Date || value instanceof RegExp) return value;
  const revived = __ejsonRevive(value, relaxed);
  if (revived !== null || __hasOwn(value, "$undefined")) return revived;
  const out = {};
  for (const key of Object.keys(value)) {
    const item = __ejsonDeserialize(value[key], relaxed);
    if (key === "__proto__") Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    else out[key] = item;
  }
  return out;
}

const __relaxed = (options) => !(options && options.relaxed === false);

const EJSON = {
  serialize: (value, options) => __ejsonSerialize(value, __relaxed(options), []),
  deserialize: (value, options) => __ejsonDeserialize(value, __relaxed(options)),
  stringify(value, replacer, space, options) {
    if (replacer !== null && typeof replacer === "object" && !Array.isArray(replacer)) {
      options = replacer;
      replacer = undefined;
      space = undefined;
    } else if (space !== null && typeof space === "object") {
      options = space;
      space = undefined;
    }
    return JSON.stringify(EJSON.serialize(value, options), replacer, space);
  },
  parse: (text, options) => EJSON.deserialize(JSON.parse(text), options),
};


return {
  Long, Int32, Double, Decimal128, Binary, Timestamp, MinKey, MaxKey, BSONRegExp, BSONSymbol, Code,
  DBPointer, EJSON,
};
})()
