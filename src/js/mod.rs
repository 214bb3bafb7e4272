//! Running App Services JavaScript functions unchanged (`exports = async function (…) {…}`) in
//! QuickJS (through `rquickjs`): small, fast to start, no JIT, a fresh isolated runtime per
//! call with the call's time limit and a memory limit.
//!
//! Calls into the host (`context.services…collection(…).find(…)`, `context.functions.execute`)
//! return Promises that Expanse settles by running the operation through the same guarded
//! collections and function registry as Rust functions. Values cross the boundary as Extended
//! JSON, so ObjectIds and dates survive the round trip.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use rquickjs::{Context as JsContext, Function as JsFunction, Runtime};

use crate::auth::BoxFuture;
use crate::functions::{Context, Function};
use crate::guard::FindOneAndOptions;
use crate::store::{FindOptions, Store};

const PRELUDE: &str = include_str!("prelude.js");

/// Default memory limit of one call's JavaScript heap.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// A JavaScript function source.
#[derive(Debug, Clone)]
pub struct JsSource {
    /// The function's name.
    pub name: String,
    /// The source (`exports = function …`).
    pub source: std::sync::Arc<str>,
    /// Time limit of one call (also enforced around host operations).
    pub time_limit: Duration,
    /// Memory limit of the call's heap.
    pub memory_limit: usize,
}

impl<S: Store + Clone + 'static> Function<S> for JsSource {
    fn call(&self, ctx: Context<S>, args: Vec<Bson>) -> BoxFuture<'static, Result<Bson, String>> {
        let source = self.clone();
        Box::pin(async move {
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || run(&source, ctx, args, handle))
                .await
                .map_err(|e| format!("the JavaScript call did not finish: {e}"))?
        })
    }
}

fn to_json(value: Bson) -> String {
    value.into_canonical_extjson().to_string()
}

fn from_json(text: &str) -> Result<Bson, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid value from JavaScript: {e}"))?;
    Bson::try_from(value).map_err(|e| format!("invalid Extended JSON from JavaScript: {e}"))
}

/// One host request: what the script asked for.
struct Request {
    id: u32,
    body: String,
}

/// Runs one call to completion on the current (blocking) thread.
fn run<S: Store + Clone + 'static>(
    source: &JsSource,
    ctx: Context<S>,
    args: Vec<Bson>,
    handle: tokio::runtime::Handle,
) -> Result<Bson, String> {
    let deadline = Instant::now() + source.time_limit;
    let runtime = Runtime::new().map_err(|e| format!("cannot start QuickJS: {e}"))?;
    runtime.set_memory_limit(source.memory_limit);
    runtime.set_max_stack_size(1024 * 1024);
    runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() > deadline)));
    let js = JsContext::full(&runtime).map_err(|e| format!("cannot start QuickJS: {e}"))?;
    let requests: Rc<RefCell<Vec<Request>>> = Rc::new(RefCell::new(Vec::new()));
    let outcome: Rc<RefCell<Option<Result<String, String>>>> = Rc::new(RefCell::new(None));
    let logs: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
    let info = context_info(&ctx);
    let arguments = to_json(Bson::Array(args));
    let timed_out = |what: &str| {
        format!(
            "{what}: exceeded the time limit of {:.1} s",
            source.time_limit.as_secs_f64()
        )
    };

    js.with(|js| -> Result<(), String> {
        let globals = js.globals();
        let r = requests.clone();
        let o = outcome.clone();
        let l = logs.clone();
                fn install<'js>(globals: &rquickjs::Object<'js>, name: &str, f: rquickjs::Result<JsFunction<'js>>) -> Result<(), String> {
            globals.set(name, f.map_err(|e| e.to_string())?).map_err(|e| e.to_string())
        }
        install(&globals, "__enqueue", JsFunction::new(js.clone(), move |id: u32, body: String| r.borrow_mut().push(Request { id, body })))?;
        install(&globals, "__done", JsFunction::new(js.clone(), move |ok: bool, payload: String| {
            *o.borrow_mut() = Some(if ok { Ok(payload) } else { Err(payload) });
        }))?;
        install(&globals, "__log", JsFunction::new(js.clone(), move |line: String| l.borrow_mut().push(line)))?;
        install(&globals, "__newObjectId", JsFunction::new(js.clone(), || bson::oid::ObjectId::new().to_hex()))?;
        let evaluate = |code: &str, what: &str| -> Result<(), String> {
            js.eval::<(), _>(code).map_err(|_| describe_exception(&js.catch(), what))
        };
        evaluate(PRELUDE, "the prelude")?;
        evaluate(&source.source, &format!("function {}", source.name))?;
        let start = format!(
            "globalThis.context = __makeContext(EJSON.parse({info}));\n\
             if (typeof exports !== 'function') {{ __done(false, 'the source does not assign a function to exports'); }} else {{\n\
             Promise.resolve().then(() => exports(...EJSON.parse({arguments})))\n\
               .then((v) => __done(true, EJSON.stringify(v === undefined ? null : v)),\n\
                     (e) => __done(false, e && e.message !== undefined ? String(e.message) : String(e))); }}",
            info = serde_json::Value::String(info.clone()),
            arguments = serde_json::Value::String(arguments.clone()),
        );
        evaluate(&start, "the call")
    })
    .map_err(|e| if Instant::now() > deadline { timed_out(&e) } else { e })?;

    loop {
        loop {
            match runtime.execute_pending_job() {
                Ok(true) => continue,
                Ok(false) => break,
                Err(_) => {
                    if Instant::now() > deadline {
                        return Err(timed_out("the function"));
                    }
                    break;
                }
            }
        }
        flush_logs(&ctx, &logs);
        if let Some(result) = outcome.borrow_mut().take() {
            return match result {
                Ok(json) => from_json(&json),
                Err(message) if Instant::now() > deadline => Err(timed_out(&message)),
                Err(message) => Err(message),
            };
        }
        let pending: Vec<Request> = requests.borrow_mut().drain(..).collect();
        if pending.is_empty() {
            return Err("the function's promise never settled".into());
        }
        let mut answers = Vec::with_capacity(pending.len());
        for request in pending {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let answer = handle.block_on(async {
                tokio::time::timeout(remaining, perform(&ctx, &request.body)).await
            });
            let answer = answer.unwrap_or_else(|_| Err(timed_out("a database or function call")));
            answers.push((request.id, answer));
        }
        js.with(|js| -> Result<(), String> {
            let resolve: JsFunction = js.globals().get("__resolve").map_err(|e| e.to_string())?;
            for (id, answer) in answers {
                let (ok, payload) = match answer {
                    Ok(value) => (true, to_json(value)),
                    Err(message) => (false, message),
                };
                resolve
                    .call::<_, ()>((id, ok, payload))
                    .map_err(|_| describe_exception(&js.catch(), "resolving a host call"))?;
            }
            Ok(())
        })?;
    }
}

fn describe_exception(value: &rquickjs::Value<'_>, what: &str) -> String {
    if let Some(exception) = value.as_exception() {
        let message = exception.message().unwrap_or_default();
        if message == "interrupted" {
            return format!("{what} was interrupted");
        }
        return format!("{what}: {message}");
    }
    format!("{what}: {value:?}")
}

fn flush_logs<S: Store + Clone + 'static>(ctx: &Context<S>, logs: &Rc<RefCell<Vec<String>>>) {
    for line in logs.borrow_mut().drain(..) {
        tracing::info!(target: "expanse::functions::log", caller = %ctx.user().id, "{line}");
        ctx.log(line);
    }
}

/// What the script's `context` holds, as Extended JSON.
fn context_info<S: Store + Clone + 'static>(ctx: &Context<S>) -> String {
    let user = ctx.user();
    let mut user_doc = user.document().clone();
    if user.is_system() {
        user_doc = doc! {"type": "system", "data": {}, "custom_data": {}, "identities": []};
    }
    let services: Vec<Bson> = ctx.service_names().into_iter().map(Bson::String).collect();
    let info = doc! {
        "user": user_doc,
        "runningAsSystem": ctx.running_as_system(),
        "values": ctx.values_document(),
        "environment": ctx.environment().clone(),
        "request": ctx.request().cloned().map(Bson::Document).unwrap_or(Bson::Null),
        "app": ctx.app(),
        "services": services,
    };
    to_json(Bson::Document(info))
}

fn arg_doc(args: &[Bson], i: usize) -> Document {
    args.get(i)
        .and_then(|a| a.as_document().cloned())
        .unwrap_or_default()
}

/// Performs one host request.
async fn perform<S: Store + Clone + 'static>(ctx: &Context<S>, body: &str) -> Result<Bson, String> {
    let request = match from_json(body)? {
        Bson::Document(d) => d,
        _ => return Err("malformed host request".into()),
    };
    let args: Vec<Bson> = request.get_array("args").cloned().unwrap_or_default();
    match request.get_str("kind").unwrap_or_default() {
        "execute" => {
            let name = request
                .get_str("name")
                .map_err(|_| "functions.execute needs a name")?;
            ctx.execute(name, args).await.map_err(|e| e.to_string())
        }
        "collection" => {
            let service = request.get_str("service").unwrap_or_default();
            let coll = ctx
                .services()
                .get(service)
                .ok_or_else(|| format!("no data source named {service:?}"))?
                .db(request.get_str("db").unwrap_or_default())
                .collection(request.get_str("coll").unwrap_or_default());
            let docs = |d: Vec<Document>| Bson::Array(d.into_iter().map(Bson::Document).collect());
            let error = |e: crate::guard::GuardError| e.to_string();
            let method = request.get_str("method").unwrap_or_default();
            Ok(match method {
                "find" => {
                    let options = arg_doc(&args, 2);
                    let find = FindOptions {
                        projection: args.get(1).and_then(|p| p.as_document().cloned()),
                        ..FindOptions::from_document(&options)
                    };
                    docs(coll.find(&arg_doc(&args, 0), &find).await.map_err(error)?)
                }
                "aggregate" => {
                    let pipeline: Vec<Document> = match args.first() {
                        Some(Bson::Array(stages)) => stages
                            .iter()
                            .filter_map(|s| s.as_document().cloned())
                            .collect(),
                        _ => Vec::new(),
                    };
                    docs(coll.aggregate(&pipeline).await.map_err(error)?)
                }
                "findOne" => coll
                    .find_one(&arg_doc(&args, 0))
                    .await
                    .map_err(error)?
                    .map(Bson::Document)
                    .unwrap_or(Bson::Null),
                "count" => Bson::Int64(coll.count(&arg_doc(&args, 0)).await.map_err(error)? as i64),
                "insertOne" => Bson::Document(
                    doc! {"insertedId": coll.insert_one(arg_doc(&args, 0)).await.map_err(error)?},
                ),
                "insertMany" => {
                    let documents: Vec<Document> = match args.first() {
                        Some(Bson::Array(items)) => items
                            .iter()
                            .filter_map(|d| d.as_document().cloned())
                            .collect(),
                        _ => return Err("insertMany needs an array of documents".into()),
                    };
                    Bson::Document(
                        doc! {"insertedIds": coll.insert_many(documents).await.map_err(error)?},
                    )
                }
                "updateOne" | "updateMany" | "replaceOne" => {
                    let upsert = arg_doc(&args, 2).get_bool("upsert").unwrap_or(false);
                    let (query, second) = (arg_doc(&args, 0), arg_doc(&args, 1));
                    let r = match method {
                        "updateOne" => coll.update_one(&query, &second, upsert).await,
                        "updateMany" => coll.update_many(&query, &second, upsert).await,
                        _ => coll.replace_one(&query, &second, upsert).await,
                    };
                    Bson::Document(r.map_err(error)?.to_document())
                }
                "deleteOne" => Bson::Document(
                    doc! {"deletedCount": coll.delete_one(&arg_doc(&args, 0)).await.map_err(error)? as i64},
                ),
                "deleteMany" => Bson::Document(
                    doc! {"deletedCount": coll.delete_many(&arg_doc(&args, 0)).await.map_err(error)? as i64},
                ),
                "findOneAndUpdate" | "findOneAndReplace" | "findOneAndDelete" => {
                    let query = arg_doc(&args, 0);
                    let found = match method {
                        "findOneAndDelete" => {
                            let options = FindOneAndOptions::from_document(&arg_doc(&args, 1));
                            coll.find_one_and_delete(&query, &options).await
                        }
                        _ => {
                            let second = arg_doc(&args, 1);
                            let options = FindOneAndOptions::from_document(&arg_doc(&args, 2));
                            if method == "findOneAndUpdate" {
                                coll.find_one_and_update(&query, &second, &options).await
                            } else {
                                coll.find_one_and_replace(&query, &second, &options).await
                            }
                        }
                    };
                    found
                        .map_err(error)?
                        .map(Bson::Document)
                        .unwrap_or(Bson::Null)
                }
                other => return Err(format!("collection.{other} is not supported")),
            })
        }
        other => Err(format!("unknown host request {other:?}")),
    }
}
