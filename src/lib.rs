//! Expanse: MongoDB Atlas App Services rule expressions, collection rules, custom user data and
//! functions, reproduced on your own MongoDB.

pub mod query;
