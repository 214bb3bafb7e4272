//! Authenticating one request by its credentials without opening a session: what HTTPS
//! endpoints with application authentication do with the `email`+`password`, `apiKey` and
//! `jwtTokenString` request headers.

use bson::Document;

use super::providers::Credential;
use super::service::Auth;
use super::AuthError;
use crate::store::Store;
use crate::User;

impl<S: Store + Clone> Auth<S> {
    /// The user a credential stands for, as rules see them (custom data read when
    /// `fetch_custom_user_data`, else `{}`). With `create_user`, an identity that has no user
    /// yet gets one (as a login would); without it such a credential is refused with
    /// [`AuthError::UserNotFound`]. Logins are recorded; no session is opened.
    pub async fn authenticate_request(
        &self,
        credential: Credential,
        create_user: bool,
        fetch_custom_user_data: bool,
    ) -> Result<User, AuthError> {
        self.start().await?;
        let authenticated = self.authenticate(credential).await?;
        if !create_user && authenticated.owner.is_none() {
            let identity = &authenticated.identity;
            let known = self
                .users
                .find_by_identity(&identity.provider_type, &identity.id)
                .await?;
            if known.is_none() {
                return Err(AuthError::UserNotFound);
            }
        }
        let user = self.sign_in(authenticated).await?.to_user();
        let custom_data = if fetch_custom_user_data {
            self.custom_data(&user.id).await?
        } else {
            Document::new()
        };
        Ok(user.with_custom_data(custom_data))
    }
}
