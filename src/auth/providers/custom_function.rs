//! `custom-function` (https://www.mongodb.com/docs/atlas/app-services/authentication/custom-function/): the app's authentication function gets the client's
//! payload and returns the user's external id (a string, or `{id}` / `{id, name}`); a throw
//! refuses the login (401 with the thrown message).

use bson::{Bson, Document};

use super::Authenticated;
use crate::app::AuthProviderConfig;
use crate::auth::error::AuthError;
use crate::auth::service::{identity, Auth, NORMAL};
use crate::store::Store;

impl<S: Store + Clone> Auth<S> {
    pub(crate) async fn custom_function_login(
        &self,
        provider: &AuthProviderConfig,
        payload: Document,
    ) -> Result<Authenticated, AuthError> {
        let name = provider
            .text("authFunctionName")
            .ok_or_else(|| AuthError::Config("no authFunctionName".into()))?;
        let answer = match self.call(name, vec![Bson::Document(payload)]).await {
            Ok(a) => a,
            Err(AuthError::CreationFunction { message, .. }) => {
                return Err(AuthError::FunctionRefused(message))
            }
            Err(e) => return Err(e),
        };
        let (id, display) = match &answer {
            Bson::String(id) => (id.clone(), None),
            Bson::Document(d) => (
                match d.get("id") {
                    Some(Bson::String(s)) => s.clone(),
                    Some(Bson::ObjectId(o)) => o.to_hex(),
                    _ => String::new(),
                },
                d.get_str("name").ok().map(str::to_owned),
            ),
            _ => (String::new(), None),
        };
        if id.is_empty() {
            return Err(AuthError::FunctionRefused(
                "the authentication function returned no id".into(),
            ));
        }
        let mut data = Document::new();
        if let Some(name) = display {
            data.insert("name", name);
        }
        Ok(Authenticated {
            identity: identity(id, "custom-function", data.clone()),
            user_data: data,
            user_type: NORMAL,
            owner: None,
        })
    }
}
