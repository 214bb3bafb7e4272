// The globals App Services functions rely on, built for one call. Host functions provided by
// Expanse: __enqueue(id, requestJson), __done(ok, resultJson), __log(line), __newObjectId().
var exports = undefined;

class ObjectId {
  constructor(hex) {
    if (hex === undefined) hex = __newObjectId();
    if (hex instanceof ObjectId) hex = hex.toHexString();
    if (typeof hex !== "string" || !/^[0-9a-fA-F]{24}$/.test(hex)) throw new Error("invalid ObjectId: " + hex);
    this._hex = hex.toLowerCase();
  }
  toHexString() { return this._hex; }
  toString() { return this._hex; }
  toJSON() { return this._hex; }
  equals(other) { return other instanceof ObjectId && other._hex === this._hex; }
}

const __revive = (key, v) => {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1) {
      if (keys[0] === "$oid") return new ObjectId(v.$oid);
      if (keys[0] === "$date") {
        const d = v.$date;
        if (d && typeof d === "object" && "$numberLong" in d) return new Date(Number(d.$numberLong));
        return new Date(typeof d === "string" ? Date.parse(d) : d);
      }
      if (keys[0] === "$numberLong" || keys[0] === "$numberInt" || keys[0] === "$numberDouble") return Number(v[keys[0]]);
    }
  }
  return v;
};

const __serialize = (v) => {
  if (v === null || v === undefined) return v;
  if (v instanceof ObjectId) return { $oid: v.toHexString() };
  if (v instanceof Date) return { $date: { $numberLong: String(v.getTime()) } };
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : __serialize(x)));
  if (typeof v === "number" && !Number.isFinite(v)) return { $numberDouble: String(v) };
  if (typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) if (v[k] !== undefined && typeof v[k] !== "function") out[k] = __serialize(v[k]);
    return out;
  }
  return v;
};

const EJSON = {
  parse: (text) => JSON.parse(text, __revive),
  stringify: (value) => JSON.stringify(__serialize(value)),
  serialize: __serialize,
  deserialize: (value) => JSON.parse(JSON.stringify(value), __revive),
};

const BSON = { ObjectId };

const console = {
  log: (...parts) => __log(parts.map((p) => (typeof p === "string" ? p : EJSON.stringify(p))).join(" ")),
};
console.info = console.log;
console.warn = console.log;
console.error = console.log;

const __pending = new Map();
let __nextRequest = 1;
function __call(request) {
  const id = __nextRequest++;
  return new Promise((resolve, reject) => {
    __pending.set(id, { resolve, reject });
    __enqueue(id, EJSON.stringify(request));
  });
}
function __resolve(id, ok, payload) {
  const p = __pending.get(id);
  __pending.delete(id);
  if (ok) p.resolve(EJSON.parse(payload));
  else p.reject(new Error(payload));
}

function __cursor(service, db, coll, method, first, second) {
  const options = {};
  const cursor = {
    sort(spec) { options.sort = spec; return cursor; },
    limit(n) { options.limit = n; return cursor; },
    skip(n) { options.skip = n; return cursor; },
    toArray() { return __call({ kind: "collection", service, db, coll, method, args: [first, second, options] }); },
    next() { return cursor.toArray().then((all) => (all.length ? all[0] : null)); },
  };
  return cursor;
}

function __collection(service, db, coll) {
  const op = (method, ...args) => __call({ kind: "collection", service, db, coll, method, args });
  return {
    find: (query = {}, projection = undefined) => __cursor(service, db, coll, "find", query, projection),
    findOne: (query = {}, projection = undefined) => op("findOne", query, projection),
    count: (query = {}) => op("count", query),
    aggregate: (pipeline = []) => __cursor(service, db, coll, "aggregate", pipeline),
    insertOne: (document) => op("insertOne", document),
    insertMany: (documents) => op("insertMany", documents),
    updateOne: (query, update, options = {}) => op("updateOne", query, update, options),
    updateMany: (query, update, options = {}) => op("updateMany", query, update, options),
    replaceOne: (query, replacement, options = {}) => op("replaceOne", query, replacement, options),
    deleteOne: (query) => op("deleteOne", query),
    deleteMany: (query) => op("deleteMany", query),
    findOneAndUpdate: (query, update, options = {}) => op("findOneAndUpdate", query, update, options),
    findOneAndReplace: (query, replacement, options = {}) => op("findOneAndReplace", query, replacement, options),
    findOneAndDelete: (query, options = {}) => op("findOneAndDelete", query, options),
  };
}

function __makeContext(info) {
  return {
    user: info.user,
    environment: info.environment,
    request: info.request,
    app: info.app,
    runningAsSystem: () => info.runningAsSystem,
    values: { get: (name) => info.values[name] },
    functions: { execute: (name, ...args) => __call({ kind: "execute", name, args }) },
    services: {
      get: (name) =>
        info.services.includes(name)
          ? { db: (db) => ({ collection: (coll) => __collection(name, db, coll) }) }
          : undefined,
    },
    http: undefined,
  };
}
