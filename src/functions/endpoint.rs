//! Calling a function as an HTTPS endpoint: App Services passes it two arguments,
//! `({query, headers, body}, response)`, and `response` (`setStatusCode`, `setBody`,
//! `setHeader`, `addHeader`) is state the function builds and the server answers with.
//!
//! The state is an [`EndpointResponse`] the call's [`Context`] holds
//! ([`Context::endpoint_response`]): a Rust function changes it directly; a JavaScript function
//! gets a `response` object whose state comes back with its result and is copied into it.
//!
//! ```
//! use expanse::functions::EndpointResponse;
//! let mut r = EndpointResponse::default();
//! r.set_status(201).unwrap();
//! r.set_header("X-Kind", "a");
//! r.add_header("x-kind", "b");
//! r.set_body(b"done".to_vec());
//! assert_eq!(r.headers, [("X-Kind".to_owned(), "a".to_owned()), ("x-kind".to_owned(), "b".to_owned())]);
//! assert!(r.set_status(42).is_err());
//! ```

use std::sync::{Arc, Mutex};

use bson::{Bson, Document};

use super::error::FunctionError;
use super::runtime::Functions;
use super::{CallTree, Context};
use crate::app::{EndpointConfig, EndpointRunAs};
use crate::expr::Bindings;
use crate::store::Store;
use crate::User;

/// What an endpoint function set on its `response`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointResponse {
    /// `setStatusCode` (100–599).
    pub status: Option<u16>,
    /// `setHeader` / `addHeader`, in order (names as the function wrote them).
    pub headers: Vec<(String, String)>,
    /// `setBody` (a string is its UTF-8 bytes).
    pub body: Option<Vec<u8>>,
}

/// A status code outside 100–599.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an HTTP status code is a whole number from 100 to 599 (got {0})")]
pub struct BadStatus(pub i64);

impl EndpointResponse {
    /// `setStatusCode`.
    pub fn set_status(&mut self, code: i64) -> Result<(), BadStatus> {
        match u16::try_from(code) {
            Ok(c) if (100..=599).contains(&c) => {
                self.status = Some(c);
                Ok(())
            }
            _ => Err(BadStatus(code)),
        }
    }

    /// `setHeader`: replaces every value of the header (names compare case-insensitively).
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.add_header(name, value);
    }

    /// `addHeader`: one more value.
    pub fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// `setBody`.
    pub fn set_body(&mut self, body: Vec<u8>) {
        self.body = Some(body);
    }

    /// Reads the state a JavaScript `response` object hands back:
    /// `{status: int|null, headers: [[name, value], …], body: string|Binary|null}`.
    pub(crate) fn from_js(state: &Document) -> Result<EndpointResponse, String> {
        let mut out = EndpointResponse::default();
        match state.get("status") {
            None | Some(Bson::Null) => {}
            Some(Bson::Int32(c)) => out.set_status(i64::from(*c)).map_err(|e| e.to_string())?,
            Some(Bson::Int64(c)) => out.set_status(*c).map_err(|e| e.to_string())?,
            Some(Bson::Double(c)) if c.fract() == 0.0 => {
                out.set_status(*c as i64).map_err(|e| e.to_string())?
            }
            Some(_) => return Err("the response's status code is not a number".into()),
        }
        if let Some(Bson::Array(pairs)) = state.get("headers") {
            for pair in pairs {
                if let Bson::Array(p) = pair {
                    if let [Bson::String(n), Bson::String(v)] = p.as_slice() {
                        out.add_header(n, v);
                    }
                }
            }
        }
        match state.get("body") {
            None | Some(Bson::Null) => {}
            Some(Bson::String(s)) => out.set_body(s.as_bytes().to_vec()),
            Some(Bson::Binary(b)) => out.set_body(b.bytes.clone()),
            Some(_) => return Err("the response's body is neither a string nor a Binary".into()),
        }
        Ok(out)
    }
}

/// The shared slot a call's context holds.
pub(crate) type ResponseSlot = Arc<Mutex<EndpointResponse>>;

/// What an endpoint call produced: the function's return value and its response state.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointOutcome {
    /// What the function returned (`null` for `undefined`).
    pub result: Bson,
    /// What it set on `response`.
    pub response: EndpointResponse,
}

/// The user an endpoint call runs as, decided by the endpoint (or its function) configuration.
#[derive(Debug, Clone)]
pub enum EndpointCaller {
    /// The authenticated caller (application authentication); rules apply as them.
    User(Box<User>),
    /// System authentication (`run_as_system`): rules are bypassed.
    System,
}

/// Unwraps `{result, response}` (what the prelude returns for an endpoint call), keeping the
/// response in `slot`.
pub(crate) fn unwrap_js(value: Bson, slot: &ResponseSlot) -> Result<Bson, String> {
    let Bson::Document(mut wrapped) = value else {
        return Err("the endpoint call returned no response state".into());
    };
    let state = match wrapped.remove("response") {
        Some(Bson::Document(d)) => d,
        _ => return Err("the endpoint call returned no response state".into()),
    };
    let response = EndpointResponse::from_js(&state)?;
    if let Ok(mut s) = slot.lock() {
        *s = response;
    }
    Ok(wrapped.remove("result").unwrap_or(Bson::Null))
}

impl<S: Store + Clone + 'static> Functions<S> {
    /// Calls `name` as an HTTPS endpoint with `request` (`{query, headers, body}`) and a
    /// `response` it may set; `meta` is `context.request`. Private functions may be endpoint
    /// functions; `can_evaluate` (the function's, then `endpoint_can_evaluate`) is checked.
    /// `caller` is who authenticated; the function runs as its configured execution user
    /// (system, `run_as_user_id`, the script's user) or, by default, as the caller.
    pub async fn call_endpoint(
        &self,
        caller: EndpointCaller,
        endpoint: &EndpointConfig,
        request: Document,
        meta: Document,
    ) -> Result<EndpointOutcome, FunctionError> {
        let name = endpoint.function_name.as_str();
        let tree: CallTree = self.new_tree();
        let mut config = self.config(name)?.clone();
        // Who the function runs as: the endpoint's own setting wins over the function's.
        match &endpoint.run_as {
            Some(EndpointRunAs::System) => config.run_as_system = true,
            Some(EndpointRunAs::UserId(id)) => {
                config.run_as_system = false;
                config.run_as_user_id = Some(id.clone());
                config.run_as_user_id_script_source = None;
            }
            Some(EndpointRunAs::Script(script)) => {
                config.run_as_system = false;
                config.run_as_user_id = None;
                config.run_as_user_id_script_source = Some(script.clone());
            }
            None => {}
        }
        let endpoint_can_evaluate = endpoint.can_evaluate.as_ref();
        let caller = match caller {
            EndpointCaller::User(u) => *u,
            EndpointCaller::System => User::system(),
        };
        for can_evaluate in config.can_evaluate.iter().chain(endpoint_can_evaluate) {
            let ctx = Bindings::new()
                .user(caller.document())
                .values(&self.app().values)
                .environment(&self.app().environment)
                .request(&meta);
            if !can_evaluate.evaluate(&ctx) {
                return Err(FunctionError::CannotEvaluate(name.to_owned()));
            }
        }
        let execution = self.execution_user(&config, &caller, &tree).await?;
        // User ID authentication (`run_as_user_id`, or a script's user): that user is also
        // `context.user`, there being no other caller.
        let caller = if caller.is_system() && !execution.is_system() {
            execution.clone()
        } else {
            caller
        };
        let slot: ResponseSlot = Arc::new(Mutex::new(EndpointResponse::default()));
        let ctx = Context::new(
            self.registry(),
            caller,
            execution,
            0,
            Some(Arc::new(meta)),
            tree,
        )
        .with_endpoint_response(slot.clone());
        let result = self.run(name, ctx, vec![Bson::Document(request)]).await?;
        let response = slot.lock().map(|r| r.clone()).unwrap_or_default();
        Ok(EndpointOutcome { result, response })
    }
}
