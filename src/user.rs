//! Who is making a request: an application user (rules apply) or the system (rules bypassed).

use bson::{doc, Bson, Document};

/// `%%user.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserType {
    /// Logged in through any provider except API keys.
    Normal,
    /// Logged in with an API key.
    Server,
    /// The system user (triggers, system functions): no id, rules bypassed.
    System,
}

impl UserType {
    /// The spelling App Services uses.
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Normal => "normal",
            UserType::Server => "server",
            UserType::System => "system",
        }
    }
}

/// An application user as rules and functions see it (`%%user`, `context.user`).
///
/// ```
/// use bson::doc;
/// use expanse::User;
/// let alice = User::new("u1").with_data(doc! {"email": "a@example.com"});
/// assert_eq!(alice.document().get_str("id").unwrap(), "u1");
/// assert_eq!(alice.document().get_document("custom_data").unwrap(), &doc! {});
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The user id (a hex ObjectId string in App Services).
    pub id: String,
    /// `normal`, `server` or `system`.
    pub user_type: UserType,
    /// Metadata from the auth providers (`%%user.data`).
    pub data: Document,
    /// The custom user data document (`%%user.custom_data`), `{}` when there is none.
    pub custom_data: Document,
    /// Linked identities: `{id, provider_type}`.
    pub identities: Vec<Document>,
    document: Document,
}

impl User {
    /// A normal user with no data.
    pub fn new(id: impl Into<String>) -> User {
        User::build(
            id.into(),
            UserType::Normal,
            Document::new(),
            Document::new(),
            Vec::new(),
        )
    }

    /// The system user.
    pub fn system() -> User {
        User::build(
            String::new(),
            UserType::System,
            Document::new(),
            Document::new(),
            Vec::new(),
        )
    }

    fn build(
        id: String,
        user_type: UserType,
        data: Document,
        custom_data: Document,
        identities: Vec<Document>,
    ) -> User {
        let mut user = User {
            id,
            user_type,
            data,
            custom_data,
            identities,
            document: Document::new(),
        };
        user.refresh();
        user
    }

    fn refresh(&mut self) {
        let mut document = doc! {
            "type": self.user_type.as_str(),
            "data": self.data.clone(),
            "custom_data": self.custom_data.clone(),
            "identities": self.identities.iter().cloned().map(Bson::Document).collect::<Vec<_>>(),
        };
        if self.user_type != UserType::System {
            document.insert("id", self.id.clone());
        }
        self.document = document;
    }

    /// With provider metadata (`%%user.data`).
    pub fn with_data(mut self, data: Document) -> User {
        self.data = data;
        self.refresh();
        self
    }

    /// With custom user data (`%%user.custom_data`).
    pub fn with_custom_data(mut self, custom_data: Document) -> User {
        self.custom_data = custom_data;
        self.refresh();
        self
    }

    /// With a user type.
    pub fn with_type(mut self, user_type: UserType) -> User {
        self.user_type = user_type;
        self.refresh();
        self
    }

    /// With identities.
    pub fn with_identities(mut self, identities: Vec<Document>) -> User {
        self.identities = identities;
        self.refresh();
        self
    }

    /// The `%%user` document: `{id, type, data, custom_data, identities}`.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// Whether this is the system user.
    pub fn is_system(&self) -> bool {
        self.user_type == UserType::System
    }
}
