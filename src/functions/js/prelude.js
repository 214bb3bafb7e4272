// The globals App Services functions rely on, built once per context (see realm.rs). A module (compiled once per
// process to bytecode, see compiled.rs): what the function's code, prelude_extras.js,
// prelude_node.js and the host reach by name is put on the global object at the end.
// Host functions provided by Expanse: __enqueue(id, request), __done(ok, payload), __log(line),
// __newObjectId(), __importLazy(name) (evaluates "expanse:extras", prelude_extras.js,
// "expanse:node", prelude_node.js, or "expanse:services", prelude_services.js, from bytecode in
// this context: see compiled.rs),
// __native(op, a, b, c, d) (crypto, JWT, randomness: see native.rs). Constants: __MAX_DEPTH (MongoDB's 100 levels), __MAX_RESULT_SIZE (16 MiB).
//
// Values cross to and from the host in the bridge's encoding (src/functions/js/bridge.rs): JSON, with
// Int32 as a JSON integer and every other BSON type as {"\u0000": [type, ...payload]}. A BSON
// field name can never be "\u0000", so no document is ever mistaken for a tagged value.

const __TAG = "\u0000";
const __toBridge = Symbol("toBridge");
const __tagged = (...parts) => ({ [__TAG]: parts });
const __hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

// The intrinsics the conversion to the host uses, taken before the function's code runs: a
// function that replaces Array.prototype.includes or JSON.stringify for itself cannot make the
// bridge misread what it returns.
const __uncurry = (f) => Function.prototype.call.bind(f);
const __arrayIncludes = __uncurry(Array.prototype.includes);
const __arrayPush = __uncurry(Array.prototype.push);
const __arrayPop = __uncurry(Array.prototype.pop);
const __stringIncludes = __uncurry(String.prototype.includes);
const __isEnumerable = __uncurry(Object.prototype.propertyIsEnumerable);
const __objectToString = __uncurry(Object.prototype.toString);
const __objectKeys = Object.keys;
const __ownSymbols = Object.getOwnPropertySymbols;
const __defineProperty = Object.defineProperty;
const __isArray = Array.isArray;
const __jsonStringify = JSON.stringify;

// ---------------------------------------------------------------------------------------------
// Bytes

function __hex(bytes) {
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

function __unhex(text) {
  if (typeof text !== "string" || text.length % 2 !== 0 || /[^0-9a-fA-F]/.test(text)) {
    throw new TypeError("invalid hexadecimal string");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

// ---------------------------------------------------------------------------------------------
// BSON types, as App Services functions had them (a minimal, exact subset of js-bson's API).
// ObjectId lives here; the others, and EJSON, are in prelude_extras.js, loaded by __warm.

class BSONValue {}

class ObjectId extends BSONValue {
  constructor(id) {
    super();
    if (id === undefined || id === null) id = __newObjectId();
    else if (id instanceof ObjectId) id = id.toHexString();
    if (typeof id !== "string" || !/^[0-9a-fA-F]{24}$/.test(id)) {
      throw new TypeError("invalid ObjectId: expected 24 hexadecimal digits");
    }
    this._hex = id.toLowerCase();
  }
  static isValid(id) {
    if (id instanceof ObjectId) return true;
    return typeof id === "string" && /^[0-9a-fA-F]{24}$/.test(id);
  }
  static createFromHexString(hex) { return new ObjectId(hex); }
  toHexString() { return this._hex; }
  toString() { return this._hex; }
  toJSON() { return this._hex; }
  getTimestamp() { return new Date(parseInt(this._hex.slice(0, 8), 16) * 1000); }
  equals(other) {
    if (other instanceof ObjectId) return other._hex === this._hex;
    return typeof other === "string" && other.toLowerCase() === this._hex;
  }
  toExtendedJSON() { return { $oid: this._hex }; }
  [__toBridge]() { return __tagged("oid", this._hex); }
}

const __I64_MIN = -(2n ** 63n);
const __I64_MAX = 2n ** 63n - 1n;
const __doubleText = (n) => (Object.is(n, -0) ? "-0" : String(n));

// The parts (loaded by __warm): the module, evaluated in this context at once, leaves its
// object in a global slot, taken here (the host function is kept from before the function's own
// code runs).
const __import = __importLazy;
function __load(name, slot) {
  __import(name);
  const loaded = globalThis[slot];
  if (loaded === undefined || loaded === null) throw new Error(`${name} could not be loaded`);
  delete globalThis[slot];
  return loaded;
}

// The rest of the BSON types and EJSON.
let __loadedExtras = null;
function __extras() {
  if (__loadedExtras === null) __loadedExtras = __load("expanse:extras", "__lazyExtras");
  return __loadedExtras;
}

const __EXTRA_TYPES = ["Long", "Int32", "Double", "Decimal128", "Binary", "Timestamp", "MinKey", "MaxKey", "BSONRegExp", "BSONSymbol", "Code", "DBPointer"];

const BSON = { BSONValue, ObjectId, ObjectID: ObjectId };
for (const name of __EXTRA_TYPES) {
  Object.defineProperty(BSON, name, { get: () => __extras()[name], enumerable: true, configurable: true });
}
Object.defineProperty(globalThis, "EJSON", { get: () => __extras().EJSON, configurable: true, enumerable: false });

// utils, Buffer, TextEncoder/TextDecoder, crypto and timers (prelude_node.js).
let __loadedNode = null;
function __node() {
  if (__loadedNode === null) __loadedNode = __load("expanse:node", "__lazyNode");
  return __loadedNode;
}
const __NODE_GLOBALS = ["utils", "Buffer", "TextEncoder", "TextDecoder", "crypto", "setTimeout", "clearTimeout", "setImmediate", "setInterval", "clearInterval"];

// The host's view of the timers: milliseconds until the next one is due (-1: none), and
// running the earliest due one.
function __timerDue() { return __loadedNode === null ? -1 : __loadedNode.__timerDue(); }
function __timerFire() { __loadedNode.__timerFire(); }

// A BSON regular expression as a native RegExp when JavaScript gives back the same pattern and
// flags; otherwise as a BSONRegExp, so that nothing is rewritten on the way.
function __makeRegExp(pattern, options) {
  if (/^[imsu]*$/.test(options)) {
    try {
      const re = new RegExp(pattern, options);
      if (re.source === pattern) return re;
    } catch (e) {
      // not JavaScript syntax
    }
  }
  return new (__extras().BSONRegExp)(pattern, options);
}

// ---------------------------------------------------------------------------------------------
// The bridge: JavaScript values to the host's encoding, refusing what has no exact BSON.

const __PATH_PART_MAX = 64;

function __renderPath(state) {
  let out = state.root;
  for (const step of state.path) {
    if (typeof step === "number") out += `[${step}]`;
    else out += "." + (step.length > __PATH_PART_MAX ? step.slice(0, __PATH_PART_MAX) + "…" : step);
  }
  return out;
}

function __fail(problem, state) {
  throw new TypeError(`${problem} (at ${__renderPath(state)})`);
}

const __refuse = (what, state) => __fail(`${what} cannot be converted to BSON`, state);

function __grow(state, bytes) {
  state.size += bytes;
  if (state.sizeLimit && state.size > state.sizeLimit) {
    __fail(`the result is larger than ${state.sizeLimit / (1024 * 1024)} MiB, MongoDB's document limit`, state);
  }
}

function __encodeNumber(n) {
  if (Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 && !Object.is(n, -0)) return n;
  return __tagged("double", __doubleText(n));
}

function __encodeString(s, state) {
  __grow(state, s.length + 8);
  if (/\p{Cs}/u.test(s)) __refuse("a string with an unpaired surrogate", state);
  return s;
}

function __encodeRegExp(re, state) {
  const extra = re.flags.replace(/[imsu]/g, "");
  if (extra) __refuse(`a RegExp with the flag${extra.length > 1 ? "s" : ""} ${[...extra].join(", ")} (BSON takes i, m, s and u)`, state);
  return __tagged("regex", re.source, [...re.flags].sort().join(""));
}

function __enter(value, state, containers) {
  if (containers > __MAX_DEPTH) __fail(`a document or array is nested deeper than ${__MAX_DEPTH} levels`, state);
  if (__arrayIncludes(state.stack, value)) __refuse("a cyclic reference", state);
  __arrayPush(state.stack, value);
}

function __encodeArray(items, state, containers) {
  __enter(items, state, containers);
  const out = [];
  for (let i = 0; i < items.length; i++) {
    __arrayPush(state.path, i);
    __arrayPush(out, __encode(items[i], state, containers));
    __arrayPop(state.path);
    __grow(state, 4);
  }
  __arrayPop(state.stack);
  return out;
}

function __encodeObject(object, state, containers) {
  __enter(object, state, containers);
  const out = {};
  const keys = __objectKeys(object);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    __arrayPush(state.path, key);
    if (__stringIncludes(key, "\u0000")) __refuse("a field name with a NUL character", state);
    const value = __encode(object[key], state, containers);
    if (key === "__proto__") __defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
    __arrayPop(state.path);
    __grow(state, key.length + 2);
  }
  const symbols = __ownSymbols(object);
  for (let k = 0; k < symbols.length; k++) {
    if (__isEnumerable(object, symbols[k])) __refuse("an object with Symbol keys", state);
  }
  __arrayPop(state.stack);
  return out;
}

const __article = (name) => (/^[AEIOU]/.test(name) ? "an " : "a ") + name;

function __encode(value, state, containers) {
  switch (typeof value) {
    case "string": return __encodeString(value, state);
    case "boolean": __grow(state, 2); return value;
    case "number": __grow(state, 9); return __encodeNumber(value);
    case "bigint":
      if (value < __I64_MIN || value > __I64_MAX) __refuse("a BigInt beyond 64 bits", state);
      __grow(state, 9);
      return __tagged("long", value.toString());
    case "undefined": return __tagged("undefined");
    case "symbol": return __refuse("a Symbol", state);
    case "function": return __refuse("a function", state);
  }
  if (value === null) return null;
  __grow(state, 16);
  if (value instanceof BSONValue) {
    if (__arrayIncludes(state.stack, value)) __refuse("a cyclic reference", state);
    __arrayPush(state.stack, value);
    const nested = (inner, step) => {
      __arrayPush(state.path, step);
      const out = __encode(inner, state, containers + 1);
      __arrayPop(state.path);
      return out;
    };
    const out = value[__toBridge](nested);
    __arrayPop(state.stack);
    return out;
  }
  if (value instanceof Date) {
    const time = value.getTime();
    if (Number.isNaN(time)) __refuse("an invalid Date", state);
    return __tagged("date", time);
  }
  if (value instanceof RegExp) return __encodeRegExp(value, state);
  if (value instanceof Uint8Array) {
    __grow(state, value.length);
    return __tagged("binary", 0, __hex(value));
  }
  if (__isArray(value)) return __encodeArray(value, state, containers + 1);
  const kind = __objectToString(value).slice(8, -1);
  if (kind !== "Object") __refuse(__article(kind), state);
  return __encodeObject(value, state, containers + 1);
}

// A value in the host's encoding; `root` names it in errors, and `sizeLimit` (0 for none)
// bounds its approximate size (the host measures exactly).
function __forHost(value, root, sizeLimit = 0) {
  return __encode(value, { root, path: [], stack: [], size: 0, sizeLimit }, 0);
}

const __toHost = (value, root, sizeLimit = 0) => __jsonStringify(__forHost(value, root, sizeLimit));

function __decodeTagged(parts) {
  const x = __extras;
  switch (parts[0]) {
    case "double": {
      const n = Number(parts[1]);
      return Number.isInteger(n) ? new (x().Double)(n) : n;
    }
    case "long": return new (x().Long)(BigInt(parts[1]));
    case "date": return new Date(parts[1]);
    case "oid": return new ObjectId(parts[1]);
    case "regex": return __makeRegExp(parts[1], parts[2]);
    case "binary": return new (x().Binary)(__unhex(parts[2]), parts[1]);
    case "timestamp": return new (x().Timestamp)({ t: parts[1], i: parts[2] });
    case "decimal": return x().Decimal128.__exact(parts[1], parts[2]);
    case "code": return new (x().Code)(parts[1], parts.length > 2 ? __decode(parts[2]) : null);
    case "symbol": return new (x().BSONSymbol)(parts[1]);
    case "undefined": return undefined;
    case "minKey": return new (x().MinKey)();
    case "maxKey": return new (x().MaxKey)();
    case "dbPointer": return new (x().DBPointer)(parts[1], parts[2]);
  }
  throw new TypeError("an unknown value type came from the host");
}

// Decodes in place: the objects are JSON.parse's own (an own "__proto__" key is a plain field).
function __decode(value) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = __decode(value[i]);
    return value;
  }
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === __TAG) return __decodeTagged(value[__TAG]);
  for (const key of keys) value[key] = __decode(value[key]);
  return value;
}

const __fromHost = (text) => __decode(JSON.parse(text));

function __show(value) {
  if (typeof value === "string") return value;
  if (value === null || value === undefined || typeof value === "boolean" || typeof value === "number") return String(value);
  try {
    return String(EJSON.stringify(value));
  } catch (e) {
    return String(value);
  }
}

const console = {
  log: (...parts) => __log(parts.map(__show).join(" ")),
};
console.info = console.log;
console.warn = console.log;
console.error = console.log;

// ---------------------------------------------------------------------------------------------
// Host calls.

// The database and `context.functions.execute` (prelude_services.js): loaded by __warm, handed
// the prelude's own bridge.
let __loadedServices = null;
function __services() {
  if (__loadedServices === null) __loadedServices = __load("expanse:services", "__lazyServices")(__forHost, __fromHost);
  return __loadedServices;
}

// The host settles request `id` (only ever sent by the services part, so it is loaded).
function __resolve(id, ok, payload) { __services().resolve(id, ok, payload); }

// context.http: prelude_node.js shapes the request and the response (loaded by __warm);
// the host (http.rs) sends it to the app's allowed hosts only.
const __HTTP = {};
for (const method of ["get", "post", "put", "patch", "delete", "head"]) {
  __HTTP[method] = (request) => __node().__http(method, request, __services().call);
}

function __makeContext(info) {
  return {
    user: info.user,
    environment: info.environment,
    request: info.request,
    app: info.app,
    runningAsSystem: () => info.runningAsSystem,
    values: { get: (name) => (__hasOwn(info.values, name) ? info.values[name] : undefined) },
    functions: {
      execute: (name, ...args) => __services().call({ kind: "execute", name: String(name) }, args, []),
    },
    services: {
      get: (name) =>
        info.services.includes(name)
          ? { db: (db) => ({ collection: (coll) => __services().collection(name, db, coll) }) }
          : undefined,
    },
    http: __HTTP,
  };
}

// What went wrong, and where in the function's source: "message (at functions/f.js:3:9)", then
// the stack's other frames in the app's functions.
function __message(error) {
  let message;
  try {
    message = error && error.message !== undefined ? String(error.message) : String(error);
  } catch (e) {
    return "the function threw a value that cannot be shown";
  }
  try {
    const stack = error && typeof error.stack === "string" ? error.stack : "";
    const frames = stack.split("\n").map((l) => l.trim()).filter((l) => l.indexOf("functions/") >= 0);
    if (frames.length === 0) return message;
    const place = frames[0].split(" ").pop().replace(/[()]/g, "");
    return `${message} (at ${place})` + (frames.length > 1 ? "\n  " + frames.join("\n  ") : "");
  } catch (e) {
    return message;
  }
}

// The call's `context` (the global `context` reads it; null between calls).
let __context = null;

// Runs `main` (what the function's source left in `exports`) with the arguments; settles with
// the result in the host's encoding, or with the message of whatever went wrong (the result's
// conversion included).
function __start(main, infoText, argsText) {
  const info = __fromHost(infoText);
  __context = __makeContext(info);
  if (typeof main !== "function") {
    __done(false, "the source does not assign a function to exports");
    return;
  }
  const args = __fromHost(argsText);
  const endpoint = info.endpoint === true ? __endpointResponse() : null;
  if (endpoint !== null) __arrayPush(args, endpoint.response);
  Promise.resolve()
    .then(() => main(...args))
    .then((value) => {
      const result = value === undefined ? null : value;
      return __toHost(endpoint === null ? result : { result, response: endpoint.state() }, "result", __MAX_RESULT_SIZE);
    })
    .then((text) => __done(true, text), (error) => __done(false, __message(error)));
}

// The `response` an HTTPS endpoint function gets: what it sets comes back beside its result.
function __endpointResponse() {
  let status = null;
  let body = null;
  const headers = [];
  const text = (v, what) => {
    if (typeof v !== "string") throw new TypeError(`response.${what} takes strings`);
    return v;
  };
  const response = {
    setStatusCode(code) {
      if (!Number.isInteger(code) || code < 100 || code > 599) throw new RangeError("response.setStatusCode takes a whole number from 100 to 599");
      status = code;
    },
    setBody(value) {
      if (typeof value === "string" || __isExtrasBinary(value)) body = value;
      else throw new TypeError("response.setBody takes a string or a BSON.Binary");
    },
    setHeader(name, value) {
      const key = text(name, "setHeader").toLowerCase();
      for (let i = headers.length - 1; i >= 0; i--) if (headers[i][0].toLowerCase() === key) headers.splice(i, 1);
      __arrayPush(headers, [name, text(value, "setHeader")]);
    },
    addHeader(name, value) {
      __arrayPush(headers, [text(name, "addHeader"), text(value, "addHeader")]);
    },
  };
  return { response, state: () => ({ status, headers, body }) };
}

const __isExtrasBinary = (v) => __loadedExtras !== null && v instanceof __loadedExtras.Binary;

// Makes this context ready to serve calls, once: every part loaded (the BSON extras and EJSON,
// the Node subset, host calls), then the whole realm hardened (harden.js). `__end` after each
// call gives back whether the context can serve another.
let __hardened = null;
function __warm() {
  for (const name of __EXTRA_TYPES) {
    Object.defineProperty(BSON, name, { value: __extras()[name], writable: true, enumerable: true, configurable: true });
  }
  Object.defineProperty(globalThis, "EJSON", { value: __extras().EJSON, writable: true, configurable: true, enumerable: false });
  for (const name of __NODE_GLOBALS) {
    Object.defineProperty(globalThis, name, { value: __node()[name], writable: true, configurable: true, enumerable: false });
  }
  // What no global reaches but calls share: hardened too.
  const shared = [__extras(), __node(), __services(), __HTTP];
  __hardened = __load("expanse:harden", "__lazyHarden")(shared);
}

// Ends a call: its `context`, timers and pending host calls dropped, the globals it added
// deleted; false if the context must not serve another call.
function __end() {
  __context = null;
  if (__loadedNode !== null) __loadedNode.__timersReset();
  if (__loadedServices !== null) __loadedServices.reset();
  return __hardened !== null && __hardened.end();
}

// What is reached by global name, as the declarations of a script would have been.
const __GLOBALS = {
  console, BSON, BSONValue, ObjectId, __toBridge, __tagged, __hasOwn, __hex,
  __unhex, __I64_MIN, __I64_MAX, __doubleText, __extras, __makeRegExp, __message, __start,
  __resolve, __timerDue, __timerFire, __isExtrasBinary, __warm, __end,
};
for (const name of Object.keys(__GLOBALS)) {
  Object.defineProperty(globalThis, name, { value: __GLOBALS[name], writable: true, configurable: true, enumerable: false });
}
Object.defineProperty(globalThis, "context", { get: () => __context, configurable: true, enumerable: false });
