// Hardening a context once, so that it can serve call after call with nothing of one call
// reaching the next (the module "expanse:harden", compiled to bytecode once per process, strict
// mode: see compiled.rs and realm.rs). Run after the prelude and all its parts are loaded, before
// any function's code. An expression: a function that hardens the context it runs in — and
// `shared`, the objects calls share that no global reaches (the `context.http` object…) — and
// gives `{ end }`.
//
// What it does:
// - Every object reachable from the global object — constructors, prototypes, `Math`, `JSON`,
//   `BSON`, `utils`, `Buffer`, the prelude's helpers, and the intrinsics only syntax reaches
//   (generator and async function prototypes, iterator prototypes) — is frozen. A call can no
//   more change `Object.prototype` or `JSON.parse` than it can `undefined`.
// - So that ordinary code keeps working on frozen prototypes, a handful of inherited properties
//   code assigns on its own objects (`constructor`, `name`, `message`, `toString`, `valueOf`,
//   `toJSON`, `then`…) become accessors whose setter gives the object an own property, as if
//   the inherited one were writable; on the prototype itself the assignment is refused.
// - The global object stays extensible (a call may create globals of its own), but every
//   property it has now becomes read-only and non-configurable; `end` deletes what a call added.
// - What QuickJS keeps for the whole context behind a setter (`Error.stackTraceLimit`,
//   `Error.prepareStackTrace`) is turned into a read-only value.
// - `eval` stays (direct eval included), but touching it marks the context: an indirect eval can
//   declare global `let`/`const`/`class` bindings that nothing can delete, so a context whose
//   call touched `eval` is never used again.
// An object whose state lives outside its properties (a Map, a Set, a typed array with bytes, a
// Date) must not be reachable: freezing would not stop its state from changing, so hardening
// fails, naming it, and no context is made.
((shared) => {
const getPrototypeOf = Object.getPrototypeOf;
const ownKeys = Reflect.ownKeys;
const describe = Object.getOwnPropertyDescriptor;
const define = Object.defineProperty;
const freeze = Object.freeze;
const isExtensible = Object.isExtensible;
const deleteProperty = Reflect.deleteProperty;
const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

// The inherited properties code assigns on its own objects.
const OVERRIDABLE = [
  "constructor", "name", "message", "toString", "toLocaleString", "valueOf", "toJSON",
  "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "then", "catch", "finally",
];

// Context-wide state behind setters.
for (const name of ["stackTraceLimit", "prepareStackTrace"]) {
  const d = describe(Error, name);
  if (d !== undefined && d.set !== undefined) {
    define(Error, name, { value: d.get.call(Error), writable: false, enumerable: d.enumerable, configurable: false });
  }
}

let evalTouched = false;
const realEval = globalThis.eval;
define(globalThis, "eval", {
  get() {
    evalTouched = true;
    return realEval;
  },
  enumerable: false,
  configurable: true,
});

// `key` of `proto` as an accessor: reading gives the value; assigning on an object inheriting
// it gives that object an own property; assigning on `proto` itself is refused.
function makeOverridable(proto, key) {
  const d = describe(proto, key);
  if (d === undefined || !("value" in d) || !d.writable || !d.configurable) return;
  const value = d.value;
  define(proto, key, {
    get() { return value; },
    set(given) {
      if (this === proto) throw new TypeError(`Cannot assign to read only property '${String(key)}' of a built-in object`);
      if (hasOwn(this, key)) this[key] = given;
      else define(this, key, { value: given, writable: true, enumerable: true, configurable: true });
    },
    enumerable: d.enumerable,
    configurable: true,
  });
}

const isPrototype = (o) => {
  const d = describe(o, "constructor");
  return d !== undefined && typeof d.value === "function" && d.value.prototype === o;
};

// What keeps state outside its properties: the tag says what an object may be (a prototype has
// its constructor's tag too), the probe — which throws for anything else — whether it is.
const objectTag = (o) => Object.prototype.toString.call(o);
const probes = {
  "[object Map]": ["a Map", (o) => Map.prototype.has.call(o, undefined)],
  "[object Set]": ["a Set", (o) => Set.prototype.has.call(o, undefined)],
  "[object WeakMap]": ["a WeakMap", (o) => WeakMap.prototype.has.call(o, {})],
  "[object WeakSet]": ["a WeakSet", (o) => WeakSet.prototype.has.call(o, {})],
  "[object Date]": ["a Date", (o) => Date.prototype.getTime.call(o)],
  "[object ArrayBuffer]": ["an ArrayBuffer", (o) => describe(ArrayBuffer.prototype, "byteLength").get.call(o)],
};
function mutableState(o) {
  if (ArrayBuffer.isView(o)) return o.byteLength > 0 ? "a typed array or DataView with bytes" : null;
  const probe = probes[objectTag(o)];
  if (probe === undefined) return null;
  try {
    probe[1](o);
    return probe[0];
  } catch (e) {
    return null;
  }
}

// The intrinsics only syntax reaches.
const syntaxRoots = [
  function* () {}, async function () {}, async function* () {}, (function* () {})(), (async function* () {})(),
  [][Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](), ""[Symbol.iterator](),
  /a/[Symbol.matchAll]("a"), (function () { return arguments; })(),
].map(getPrototypeOf);
if (typeof Iterator === "function") {
  syntaxRoots.push(getPrototypeOf([].values().map((x) => x)));
  syntaxRoots.push(getPrototypeOf(Iterator.from({ next: () => ({ done: true }) })));
}

const isObject = (v) => (typeof v === "object" && v !== null) || typeof v === "function";
const seen = new Set([globalThis]);
// Objects still to harden, each with the key it was found under (for an error).
const todo = [];
const visit = (v, key) => {
  if (isObject(v) && !seen.has(v)) {
    seen.add(v);
    todo.push(v, key);
  }
};
// Every object `o`'s own properties hold (values, getters, setters), each under its key.
const visitProperties = (o) => {
  const descriptors = Object.getOwnPropertyDescriptors(o);
  for (const key of ownKeys(descriptors)) {
    const d = descriptors[key];
    visit(d.value, key);
    visit(d.get, key);
    visit(d.set, key);
  }
};
for (const root of [...syntaxRoots, ...shared, realEval]) visit(root, "an intrinsic");
visitProperties(globalThis);
const problems = [];
while (todo.length > 0) {
  const key = todo.pop();
  const o = todo.pop();
  const state = mutableState(o);
  if (state !== null) problems.push(`${String(key)} is ${state}`);
  if (isPrototype(o)) for (const name of OVERRIDABLE) makeOverridable(o, name);
  visitProperties(o);
  visit(getPrototypeOf(o), key);
  freeze(o);
}
if (problems.length > 0) throw new Error(`cannot harden the JavaScript realm: ${problems.join("; ")}`);

// The global object: every property read-only and fixed.
for (const key of ownKeys(globalThis)) {
  const d = describe(globalThis, key);
  const { enumerable } = d;
  if ("value" in d) define(globalThis, key, { value: d.value, writable: false, enumerable, configurable: false });
  else define(globalThis, key, { get: d.get, set: d.set, enumerable, configurable: false });
}
const baseline = new Set(ownKeys(globalThis));
const globalPrototype = getPrototypeOf(globalThis);

// Ends a call: deletes the globals it added; false if the context cannot serve another call
// (a global it added cannot be deleted, the global object was made non-extensible or given
// another prototype, or `eval` was touched).
function end() {
  const keys = ownKeys(globalThis);
  let clean = !evalTouched && isExtensible(globalThis) && getPrototypeOf(globalThis) === globalPrototype;
  // The baseline's properties cannot be deleted: as many keys as it has means none was added.
  if (keys.length === baseline.size) return clean;
  for (const key of keys) {
    if (!baseline.has(key) && !deleteProperty(globalThis, key)) clean = false;
  }
  return clean;
}

return freeze({ end });
})
