//! The partner REST API.

pub mod v1;
