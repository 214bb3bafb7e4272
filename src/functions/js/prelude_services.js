// Host calls: the database and `context.functions.execute` — the module "expanse:services"
// (compiled to bytecode once per process, strict mode: see compiled.rs), loaded by the prelude's
// __warm when a context is made (see prelude.js). An expression: a function of the prelude's
// bridge (`forHost` encodes a value for the host, `fromHost` decodes an answer), giving `call`,
// `resolve`, `collection` and `reset` (between calls).
((__forHost, __fromHost) => {
const __pending = new Map();
let __nextRequest = 1;

// Sends a request; `args` cross in the bridge's encoding, `names` name them in errors. Trailing
// `undefined` arguments are left out, as if not given.
function __call(request, args, names) {
  let text;
  try {
    const given = args.slice();
    while (given.length > 0 && given[given.length - 1] === undefined) given.pop();
    const encoded = [];
    for (let i = 0; i < given.length; i++) encoded.push(__forHost(given[i], names[i] || `arguments[${i}]`));
    text = JSON.stringify({ ...request, args: encoded });
  } catch (e) {
    return Promise.reject(e);
  }
  const id = __nextRequest++;
  return new Promise((resolve, reject) => {
    __pending.set(id, { resolve, reject });
    __enqueue(id, text);
  });
}

// An answer for no pending request (a script may send requests of its own through __enqueue)
// is dropped.
function __resolve(id, ok, payload) {
  const p = __pending.get(id);
  if (p === undefined) return;
  __pending.delete(id);
  if (!ok) {
    p.reject(new Error(payload));
    return;
  }
  let value;
  try {
    value = __fromHost(payload);
  } catch (e) {
    p.reject(e);
    return;
  }
  p.resolve(value);
}

const __PARAMETERS = {
  find: ["filter", "projection", "options"],
  findOne: ["filter", "projection", "options"],
  count: ["filter", "options"],
  aggregate: ["pipeline", "options"],
  insertOne: ["document", "options"],
  insertMany: ["documents", "options"],
  updateOne: ["filter", "update", "options"],
  updateMany: ["filter", "update", "options"],
  replaceOne: ["filter", "replacement", "options"],
  deleteOne: ["filter", "options"],
  deleteMany: ["filter", "options"],
  findOneAndUpdate: ["filter", "update", "options"],
  findOneAndReplace: ["filter", "replacement", "options"],
  findOneAndDelete: ["filter", "options"],
};

// A cursor: sort/limit/skip are options of the call `toArray` makes (the host refuses those a
// method does not apply).
function __cursor(op, method, args) {
  const position = __PARAMETERS[method].indexOf("options");
  const chained = {};
  const cursor = {
    sort(spec) { chained.sort = spec; return cursor; },
    limit(n) { chained.limit = n; return cursor; },
    skip(n) { chained.skip = n; return cursor; },
    toArray() {
      const call = args.slice();
      if (Object.keys(chained).length > 0) {
        const given = call[position];
        const options = given === undefined || given === null ? {} : given;
        call[position] = typeof options === "object" && !Array.isArray(options) ? { ...options, ...chained } : options;
      }
      return op(method, call);
    },
    next() { return cursor.toArray().then((all) => (all.length ? all[0] : null)); },
  };
  return cursor;
}

function __collection(service, db, coll) {
  const op = (method, args) => __call({ kind: "collection", service, db, coll, method }, args, __PARAMETERS[method]);
  const methods = {};
  for (const method of Object.keys(__PARAMETERS)) {
    methods[method] = (...args) => op(method, args);
  }
  methods.find = (...args) => __cursor(op, "find", args);
  methods.aggregate = (...args) => __cursor(op, "aggregate", args);
  return methods;
}

// Between calls: no request pending, ids from 1 again.
function __reset() {
  __pending.clear();
  __nextRequest = 1;
}

return { call: __call, resolve: __resolve, collection: __collection, reset: __reset };
})
