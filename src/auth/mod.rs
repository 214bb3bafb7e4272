//! Users' custom data (reference §3).

mod custom_data;

pub use custom_data::find_custom_data;
