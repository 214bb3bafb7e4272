//! JavaScript calls share QuickJS runtimes and their hardened contexts (one idle runtime per
//! thread, its context serving call after call), never what a call can reach: each test has one
//! call try to leave something behind — globals, `Object.prototype` and `Array.prototype`
//! changes, a changed `context`, changes to `BSON`, `EJSON`, `utils`, `Buffer`, closures kept in a
//! timer, a promise or a `FinalizationRegistry` (absent from a call's context; tried in case it
//! comes back), a function source's top-level state, a global `let` declared by an indirect
//! eval, a global that cannot be deleted, a new prototype for the global object, the engine's
//! stack-trace settings — and later calls, by another user or of another app, look for it. The
//! calls run one after the other on one thread, so they do reuse the runtime and its context.
//! Built-ins are frozen, so most attempts fail inside the polluting call; each attempt is made
//! on its own, so one refused does not hide another. The time and memory limits stop a runaway
//! call without harming the next one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{bson, doc, Bson};
use expanse::functions::Functions;
use expanse::store::MemoryStore;
use expanse::{App, User};

use crate::common::apps::write_app;

/// Leaves everything it can behind: its argument is the secret. Each attempt on its own (most
/// are refused: the built-ins are frozen); the call succeeds whatever they do.
const POLLUTE: &str = r#"
exports = function (secret) {
  const attempts = [
    () => { globalThis.secret = secret; },
    () => { Object.prototype.polluted = secret; },
    () => { Array.prototype.polluted = secret; },
    () => Object.defineProperty(Object.prototype, "hidden", { value: secret, enumerable: false, configurable: false }),
    () => { JSON.parse = (text) => ({ hijacked: secret }); },
    () => { Math.random = () => 0.42; },
    () => { Date.now = () => 42; },
    () => { String.prototype.trim = function () { return secret; }; },
    () => { Promise.prototype.then = function () { return secret; }; },
    () => { BSON.ObjectId = function () { return secret; }; },
    () => { console.log = () => {}; },
    () => { context.user.id = secret; },
    () => { context.user.custom_data = { stolen: secret }; },
    () => { context.values.get = () => secret; },
    () => { context.functions.execute = () => secret; },
    () => { context.services.get = () => secret; },
    () => { Object.prototype.toString = () => secret; },
    () => { Error.prototype.name = secret; },
    () => Object.freeze(Object.prototype),
  ];
  for (const attempt of attempts) {
    try { attempt(); } catch (e) { /* refused */ }
  }
  return "polluted";
};
"#;

/// Tries, one way per call, what would outlive a call in a context that is kept: a global
/// lexical binding from an indirect eval, a global that cannot be deleted, a prototype for the
/// global object, the engine's stack-trace settings, a global object that takes no new
/// property.
const POLLUTE_REALM: &str = r#"
exports = function (secret, way) {
  const ways = {
    evalLet: () => (0, eval)(`let leakedLexical = ${JSON.stringify(secret)};`),
    evalVar: () => (0, eval)(`var leakedVar = ${JSON.stringify(secret)};`),
    pinned: () => Object.defineProperty(globalThis, "pinned", { value: secret, configurable: false }),
    prototype: () => Object.setPrototypeOf(globalThis, { inheritedSecret: secret }),
    protoSetter: () => { globalThis.__proto__ = { inheritedSecret: secret }; },
    stackTrace: () => { Error.prepareStackTrace = () => secret; },
    stackLimit: () => { Error.stackTraceLimit = 0; },
    preventExtensions: () => Object.preventExtensions(globalThis),
    symbolGlobal: () => { globalThis[Symbol.for("leak")] = secret; },
    getterGlobal: () => Object.defineProperty(globalThis, "getterSecret", { get: () => secret, configurable: true }),
  };
  try { ways[way](); } catch (e) { /* refused */ }
  return "polluted";
};
"#;

/// Leaves closures behind: in timers, in promises that never settle or settle later, in a
/// finalization registry; each logs the secret (and bumps a global counter) when it runs. Some
/// do run before this call ends (the microtasks, the finalizers of what this call collected):
/// their lines belong to this call's log. None may run in a later call.
const LINGER: &str = r#"
exports = function (secret) {
  const leak = () => { console.log("leak " + secret); globalThis.ran = (globalThis.ran || 0) + 1; };
  setTimeout(leak, 0);
  setTimeout(leak, 5);
  setImmediate(leak);
  new Promise(() => {}).then(leak);
  let resolveLater;
  new Promise((r) => { resolveLater = r; }).then(leak);
  globalThis.resolveLater = resolveLater;
  // Calls have no FinalizationRegistry (App Services never had one); if it came back, its
  // callbacks must not reach a later call either.
  if (typeof FinalizationRegistry === "function") {
    const registry = new FinalizationRegistry(leak);
    for (let i = 0; i < 100; i++) registry.register({ big: "x".repeat(1000) }, i);
    globalThis.registry = registry;
  }
  Promise.resolve().then(() => Promise.resolve().then(() => Promise.resolve().then(leak)));
  return "lingering";
};
"#;

/// Reports what it can see of earlier calls.
const PROBE: &str = r#"
exports = function () {
  const seen = [];
  const look = (what, value) => { if (value !== undefined && value !== false) seen.push(what + "=" + String(value)); };
  look("globalThis.secret", globalThis.secret);
  look("Object.prototype.polluted", ({}).polluted);
  look("Array.prototype.polluted", [].polluted);
  look("Object.prototype.hidden", ({}).hidden);
  look("Object.prototype.toString", Object.prototype.toString.call([]) !== "[object Array]" ? "replaced" : undefined);
  look("Error.prototype.name", new Error("x").name !== "Error" ? new Error("x").name : undefined);
  look("leakedLexical", typeof leakedLexical !== "undefined" ? leakedLexical : undefined);
  look("leakedVar", typeof leakedVar !== "undefined" ? leakedVar : undefined);
  look("pinned", globalThis.pinned);
  look("inheritedSecret", globalThis.inheritedSecret);
  look("prepareStackTrace", typeof new Error("x").stack !== "string" || !new Error("x").stack.includes("probe.js") ? String(new Error("x").stack) : undefined);
  look("stackTraceLimit", Error.stackTraceLimit === 0);
  look("extensible", !Object.isExtensible(globalThis));
  look("symbol global", globalThis[Symbol.for("leak")]);
  look("getterSecret", globalThis.getterSecret);
  look("JSON.parse", JSON.parse('{"a":1}').hijacked);
  look("Math.random", Math.random() === 0.42);
  look("Date.now", Date.now() === 42);
  look("String.prototype.trim", " x ".trim() !== "x" ? " x ".trim() : undefined);
  look("Promise.prototype.then", typeof Promise.resolve(1).then(() => 1) !== "object" ? "replaced" : undefined);
  look("BSON.ObjectId", typeof new BSON.ObjectId() !== "object" ? "replaced" : undefined);
  look("context.values.get", context.values.get("greeting") !== "hi" ? context.values.get("greeting") : undefined);
  look("context.functions.execute", typeof context.functions.execute("x") === "string" ? "replaced" : undefined);
  look("context.services.get", typeof context.services.get("mongodb-atlas") === "string" ? "replaced" : undefined);
  look("custom_data", context.user.custom_data && context.user.custom_data.stolen);
  look("resolveLater", globalThis.resolveLater);
  look("registry", globalThis.registry);
  look("ran", globalThis.ran);
  for (const key of Object.getOwnPropertyNames(globalThis)) {
    if (/secret|leak|polluted|hidden/i.test(key)) seen.push("global " + key);
  }
  return { user: context.user.id, seen };
};
"#;

/// Changes what the parts of the prelude define (the BSON types, EJSON,
/// utils, Buffer), and plants values in the slots those parts are handed over in.
const POLLUTE_LAZY: &str = r#"
exports = function (secret) {
  const attempts = [
    () => { BSON.Long.prototype.leak = secret; },
    () => { BSON.Long.fromNumber = () => secret; },
    () => { EJSON.stringify = () => secret; },
    () => { utils.crypto.hash = () => secret; },
    () => { Buffer.prototype.leak = secret; },
    () => { Buffer.from = () => secret; },
    () => { BSON.ObjectId.prototype.leak = secret; },
    () => { globalThis.__lazyExtras = { Long: secret }; },
    () => { globalThis.__lazyNode = { utils: secret }; },
  ];
  for (const attempt of attempts) {
    try { attempt(); } catch (e) { /* refused */ }
  }
  return "polluted";
};
"#;

/// Plants values in the slots before anything is loaded.
const PLANT_LAZY: &str = r#"
exports = function (secret) {
  globalThis.__lazyExtras = { Long: secret, EJSON: secret };
  globalThis.__lazyNode = { utils: secret, Buffer: secret };
  return "planted";
};
"#;

/// Reports what it can see of the above.
const PROBE_LAZY: &str = r#"
exports = function () {
  const seen = [];
  if (globalThis.__lazyExtras !== undefined || globalThis.__lazyNode !== undefined) seen.push("slot");
  if (BSON.Long.prototype.leak !== undefined) seen.push("Long.prototype");
  if (!(BSON.Long.fromNumber(1) instanceof BSON.Long)) seen.push("Long.fromNumber");
  if (EJSON.stringify({ a: 1 }) !== '{"a":1}') seen.push("EJSON.stringify");
  if (utils.crypto.hash("sha256", "x").length() !== 32) seen.push("utils.crypto.hash");
  if (Buffer.prototype.leak !== undefined) seen.push("Buffer.prototype");
  if (!(Buffer.from("x") instanceof Buffer)) seen.push("Buffer.from");
  if (new BSON.ObjectId().leak !== undefined) seen.push("ObjectId.prototype");
  if (globalThis.__lazyExtras !== undefined || globalThis.__lazyNode !== undefined) seen.push("slot after loading");
  return seen;
};
"#;

/// The standard library a call has, and what App Services never had.
const INTRINSICS: &str = r#"
exports = function () {
  const present = { Date, RegExp, JSON, Promise, Map, Set, WeakMap, WeakSet, Uint8Array, DataView, ArrayBuffer, BigInt, Reflect, Symbol, Math, eval };
  const missing = Object.keys(present).filter((name) => present[name] === undefined);
  const absent = ["Proxy", "WeakRef", "FinalizationRegistry", "performance", "atob", "btoa"].filter((name) => typeof globalThis[name] !== "undefined");
  return { missing, absent, works: [new Date(0).toISOString(), /a+/.test("caa"), JSON.stringify(new Map([[1, 2]]).get(1)), (2n ** 64n).toString()] };
};
"#;

/// A source with top-level state: every call must see it fresh.
const COUNTER: &str = r#"
let calls = 0;
var total = 0;
const memo = [];
exports = function () {
  calls += 1;
  total += 1;
  memo.push(calls);
  return [calls, total, memo.length];
};
"#;

/// Waits for the host first (a guarded read), then pollutes: the call runs on a blocking
/// thread, whose runtime is reused too.
const POLLUTE_AFTER_IO: &str = r#"
exports = async function (secret) {
  await context.services.get("mongodb-atlas").db("db").collection("notes").findOne({});
  globalThis.secret = secret;
  try { Object.prototype.polluted = secret; } catch (e) { /* refused */ }
  try { Array.prototype.polluted = secret; } catch (e) { /* refused */ }
  context.user.id = secret;
  setTimeout(() => { globalThis.ran = 1; console.log("leak " + secret); }, 0);
  new Promise(() => {}).then(() => console.log("leak " + secret));
  return "polluted";
};
"#;

const PROBE_AFTER_IO: &str = r#"
exports = async function () {
  await context.services.get("mongodb-atlas").db("db").collection("notes").findOne({});
  const seen = [];
  if (globalThis.secret !== undefined) seen.push("globalThis.secret");
  if (({}).polluted !== undefined) seen.push("Object.prototype.polluted");
  if ([].polluted !== undefined) seen.push("Array.prototype.polluted");
  if (globalThis.ran !== undefined) seen.push("ran");
  return { user: context.user.id, seen };
};
"#;

/// Walks everything a call reaches from the global object and from `context` (properties,
/// accessors' functions, prototypes) and tries to leave the secret on each object and in each
/// writable property.
const POLLUTE_ALL: &str = r#"
exports = function (secret) {
  const seen = new Set();
  const todo = [globalThis, context];
  while (todo.length > 0) {
    const o = todo.pop();
    if ((typeof o !== "object" && typeof o !== "function") || o === null || seen.has(o)) continue;
    seen.add(o);
    try { o.__leak = secret; } catch (e) { /* refused */ }
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (d === undefined) continue;
      if ("value" in d) {
        todo.push(d.value);
        if (d.writable && key !== "__leak" && (typeof d.value !== "object" || d.value === null) && typeof d.value !== "function") {
          try { o[key] = secret; } catch (e) { /* refused */ }
        }
      } else {
        todo.push(d.get, d.set);
      }
    }
    todo.push(Object.getPrototypeOf(o));
  }
  return "polluted";
};
"#;

/// The same walk, reporting where it finds a secret.
const PROBE_ALL: &str = r#"
exports = function () {
  const seen = new Set();
  const found = [];
  const todo = [[globalThis, "globalThis"], [context, "context"]];
  while (todo.length > 0 && found.length < 20) {
    const [o, path] = todo.pop();
    if ((typeof o !== "object" && typeof o !== "function") || o === null || seen.has(o)) continue;
    seen.add(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (d === undefined) continue;
      const at = `${path}.${String(key)}`;
      if (key === "__leak") found.push(at);
      if ("value" in d) {
        if (typeof d.value === "string" && d.value.includes("secret")) found.push(at);
        todo.push([d.value, at]);
      } else {
        todo.push([d.get, `${at}<get>`], [d.set, `${at}<set>`]);
      }
    }
    todo.push([Object.getPrototypeOf(o), `${path}.<prototype>`]);
  }
  return found;
};
"#;

/// What code does with built-ins that are frozen: its own objects and classes behave as usual
/// (own `name`, `message`, `toString`, `constructor` on instances and on its own prototypes), a
/// change to a built-in is refused with a `TypeError`.
const BUILT_INS: &str = r#"
exports = function () {
  class NotFound extends Error {
    constructor(what) {
      super(`${what} not found`);
      this.name = "NotFound";
    }
  }
  const e = new NotFound("note");
  const plain = new Error();
  plain.message = "set later";
  const o = { a: 1 };
  o.toString = () => "mine";
  o.constructor = "kept";
  function Legacy() {}
  Legacy.prototype.toString = function () { return "legacy"; };
  Legacy.prototype.extra = 7;
  const refused = [];
  for (const [what, attempt] of Object.entries({
    "Object.prototype": () => { Object.prototype.polluted = 1; },
    "Array.prototype.push": () => { Array.prototype.push = null; },
    "Object.prototype.toString": () => { Object.prototype.toString = null; },
    "JSON": () => { JSON.parse = null; },
  })) {
    try { attempt(); } catch (err) { if (err instanceof TypeError) refused.push(what); }
  }
  return {
    error: [e.name, e.message, String(e), e instanceof NotFound, e instanceof Error],
    plain: plain.message,
    object: [String(o), o.constructor, Object.keys(o)],
    legacy: [String(new Legacy()), new Legacy().extra],
    refused,
    frozen: Object.isFrozen(Object.prototype) && Object.isFrozen(BSON.Long.prototype),
  };
};
"#;

const SPIN: &str = "exports = () => { while (true) {} };";
const BOMB: &str =
    "exports = () => { const a = []; while (true) a.push('x'.repeat(1024) + a.length); };";
/// Holds `mib` MiB at once.
const HOLD: &str = "exports = (mib) => 'x'.repeat(mib * 1024 * 1024).length;";

const SOURCES: &[(&str, &str)] = &[
    ("pollute", POLLUTE),
    ("polluteRealm", POLLUTE_REALM),
    ("polluteAll", POLLUTE_ALL),
    ("probeAll", PROBE_ALL),
    ("builtIns", BUILT_INS),
    ("linger", LINGER),
    ("probe", PROBE),
    ("counter", COUNTER),
    ("polluteAfterIo", POLLUTE_AFTER_IO),
    ("probeAfterIo", PROBE_AFTER_IO),
    ("polluteLazy", POLLUTE_LAZY),
    ("plantLazy", PLANT_LAZY),
    ("probeLazy", PROBE_LAZY),
    ("intrinsics", INTRINSICS),
    ("spin", SPIN),
    ("bomb", BOMB),
    ("hold", HOLD),
];

fn app(name: &str, greeting: &str) -> (tempfile::TempDir, Arc<App>) {
    let config: Vec<String> = SOURCES
        .iter()
        .map(|(name, _)| format!(r#"{{"name": "{name}"}}"#))
        .collect();
    let mut files: Vec<(String, String)> = vec![
        ("root_config.json".into(), format!(r#"{{"name": "{name}"}}"#)),
        ("functions/config.json".into(), format!("[{}]", config.join(","))),
        (
            "data_sources/mongodb-atlas/config.json".into(),
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#.into(),
        ),
        (
            "data_sources/mongodb-atlas/db/notes/rules.json".into(),
            r#"{"database": "db", "collection": "notes", "roles": [{"name": "all", "apply_when": {}, "read": true, "write": true}]}"#.into(),
        ),
        (
            "values/greeting.json".into(),
            format!(r#"{{"name": "greeting", "value": "{greeting}"}}"#),
        ),
    ];
    for (name, source) in SOURCES {
        files.push((format!("functions/{name}.js"), (*source).to_owned()));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = write_app(&refs);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    (dir, app)
}

fn functions(app: Arc<App>) -> Functions<MemoryStore> {
    functions_within(app, Duration::from_millis(1500))
}

fn functions_within(app: Arc<App>, time_limit: Duration) -> Functions<MemoryStore> {
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.notes": [{"_id": 1, "title": "a"}]})
        .unwrap();
    Functions::builder(app, store)
        .time_limit(time_limit)
        .memory_limit(16 * 1024 * 1024)
        .build()
        .unwrap()
        .0
}

fn clean_probe(user: &str) -> Bson {
    bson!({"user": user, "seen": []})
}

async fn no_leak_lines(f: &Functions<MemoryStore>) {
    let log = f.take_log();
    assert!(
        !log.iter().any(|l| l.contains("leak")),
        "a closure of an earlier call ran: {log:?}"
    );
}

/// `polluter` called by alice with `args`, then `probe` by bob, which must see `expected`.
async fn pollute_then_probe(
    f: &Functions<MemoryStore>,
    polluter: &str,
    args: Vec<Bson>,
    probe: &str,
    expected: Bson,
    what: &str,
) {
    assert_eq!(
        f.call(&User::new("alice"), polluter, args, None)
            .await
            .unwrap(),
        bson!("polluted"),
        "{what}"
    );
    assert_eq!(
        f.call(&User::new("bob"), probe, vec![], None)
            .await
            .unwrap(),
        expected,
        "{what}"
    );
}

#[tokio::test]
async fn globals_prototypes_and_context_do_not_survive_a_call() {
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    for round in 0..5 {
        let secret = format!("alice-secret-{round}");
        let what = format!("round {round}");
        pollute_then_probe(
            &f,
            "pollute",
            vec![bson!(secret)],
            "probe",
            clean_probe("bob"),
            &what,
        )
        .await;
    }
}

#[tokio::test]
async fn changes_to_bson_ejson_utils_and_buffer_do_not_survive_a_call() {
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    for round in 0..3 {
        assert_eq!(
            f.call(&alice, "polluteLazy", vec![bson!("alice-secret")], None)
                .await
                .unwrap(),
            bson!("polluted")
        );
        assert_eq!(
            f.call(&bob, "probeLazy", vec![], None).await.unwrap(),
            bson!([]),
            "round {round}"
        );
        assert_eq!(
            f.call(&alice, "plantLazy", vec![bson!("alice-secret")], None)
                .await
                .unwrap(),
            bson!("planted")
        );
        assert_eq!(
            f.call(&bob, "probeLazy", vec![], None).await.unwrap(),
            bson!([]),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_call_has_the_standard_library_and_not_what_app_services_never_had() {
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    assert_eq!(
        f.call(&User::new("alice"), "intrinsics", vec![], None)
            .await
            .unwrap(),
        bson!({
            "missing": [],
            "absent": [],
            "works": ["1970-01-01T00:00:00.000Z", true, "2", "18446744073709551616"],
        })
    );
}

#[tokio::test]
async fn closures_in_timers_promises_and_finalizers_never_run_in_a_later_call() {
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    for _ in 0..5 {
        assert_eq!(
            f.call(&alice, "linger", vec![bson!("alice-secret")], None)
                .await
                .unwrap(),
            bson!("lingering")
        );
        // What ran within the call is the call's own.
        f.take_log();
        assert_eq!(
            f.call(&bob, "probe", vec![], None).await.unwrap(),
            clean_probe("bob")
        );
        no_leak_lines(&f).await;
    }
    // Give a timer of the first call time to come due, then call again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        f.call(&bob, "probe", vec![], None).await.unwrap(),
        clean_probe("bob")
    );
    no_leak_lines(&f).await;
}

#[tokio::test]
async fn a_sources_top_level_state_starts_fresh_each_call() {
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    let alice = User::new("alice");
    for _ in 0..5 {
        assert_eq!(
            f.call(&alice, "counter", vec![], None).await.unwrap(),
            bson!([1, 1, 1])
        );
    }
}

#[tokio::test]
async fn nothing_crosses_between_apps() {
    let (_d1, one) = app("one", "hi");
    let (_d2, two) = app("two", "hi");
    let (f1, f2) = (functions(one), functions(two));
    let alice = User::new("alice");
    for _ in 0..3 {
        f1.call(&alice, "pollute", vec![bson!("from-app-one")], None)
            .await
            .unwrap();
        f1.call(&alice, "linger", vec![bson!("from-app-one")], None)
            .await
            .unwrap();
        f1.take_log();
        assert_eq!(
            f2.call(&alice, "probe", vec![], None).await.unwrap(),
            clean_probe("alice")
        );
        no_leak_lines(&f2).await;
    }
}

#[test]
fn calls_that_wait_for_the_host_share_nothing_either() {
    // A multi-threaded runtime: these calls run on blocking threads, whose runtimes are kept
    // too.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    rt.block_on(async {
        for round in 0..10 {
            assert_eq!(
                f.call(&alice, "polluteAfterIo", vec![bson!("alice-secret")], None)
                    .await
                    .unwrap(),
                bson!("polluted")
            );
            assert_eq!(
                f.call(&bob, "probeAfterIo", vec![], None).await.unwrap(),
                clean_probe("bob"),
                "round {round}"
            );
            assert_eq!(
                f.call(&bob, "probe", vec![], None).await.unwrap(),
                clean_probe("bob"),
                "round {round}"
            );
            no_leak_lines(&f).await;
        }
    });
}

#[tokio::test]
async fn a_runaway_call_is_stopped_and_the_next_call_is_whole() {
    let (_d, app) = app("one", "hi");
    let (f, quick) = (
        functions(app.clone()),
        functions_within(app, Duration::from_millis(300)),
    );
    let alice = User::new("alice");
    for _ in 0..2 {
        let started = Instant::now();
        let err = quick.call(&alice, "spin", vec![], None).await.unwrap_err();
        assert!(err.to_string().contains("time limit"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        let err = f.call(&alice, "bomb", vec![], None).await.unwrap_err();
        assert!(err.to_string().contains("out of memory"), "{err}");
        // The next call has the whole budget and the whole time limit.
        assert_eq!(
            f.call(&alice, "hold", vec![bson!(6)], None).await.unwrap(),
            bson!(6 * 1024 * 1024)
        );
        assert_eq!(
            f.call(&alice, "probe", vec![], None).await.unwrap(),
            clean_probe("alice")
        );
    }
}

#[tokio::test]
async fn what_a_kept_context_could_carry_never_reaches_the_next_call() {
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    let ways = [
        "evalLet",
        "evalVar",
        "pinned",
        "prototype",
        "protoSetter",
        "stackTrace",
        "stackLimit",
        "preventExtensions",
        "symbolGlobal",
        "getterGlobal",
    ];
    for round in 0..2 {
        for way in ways {
            let args = vec![bson!("alice-secret"), bson!(way)];
            let what = format!("{way}, round {round}");
            pollute_then_probe(&f, "polluteRealm", args, "probe", clean_probe("bob"), &what).await;
        }
    }
}

#[tokio::test]
async fn code_works_as_usual_on_frozen_built_ins() {
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    let alice = User::new("alice");
    for _ in 0..2 {
        assert_eq!(
            f.call(&alice, "builtIns", vec![], None).await.unwrap(),
            bson!({
                "error": ["NotFound", "note not found", "NotFound: note not found", true, true],
                "plain": "set later",
                "object": ["mine", "kept", ["a", "toString", "constructor"]],
                "legacy": ["legacy", 7],
                "refused": ["Object.prototype", "Array.prototype.push", "Object.prototype.toString", "JSON"],
                "frozen": true,
            })
        );
    }
}

#[tokio::test]
async fn nothing_reachable_from_globals_or_context_keeps_what_a_call_wrote() {
    let (_d, app) = app("one", "hi");
    let f = functions(app);
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    // The walk itself finds nothing in a call that wrote nothing.
    assert_eq!(
        f.call(&bob, "probeAll", vec![], None).await.unwrap(),
        bson!([])
    );
    for round in 0..3 {
        assert_eq!(
            f.call(&alice, "polluteAll", vec![bson!("alice-secret")], None)
                .await
                .unwrap(),
            bson!("polluted")
        );
        assert_eq!(
            f.call(&bob, "probeAll", vec![], None).await.unwrap(),
            bson!([]),
            "round {round}"
        );
        assert_eq!(
            f.call(&bob, "probe", vec![], None).await.unwrap(),
            clean_probe("bob"),
            "round {round}"
        );
    }
}
