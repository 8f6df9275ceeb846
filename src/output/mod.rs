//! Output: JSON Lines records as docs/SCHEMA.md defines them, and the text report
//! for people. Everything taken from the wire is escaped for the terminal
//! (`crate::util::escape`).

pub mod certificates;
pub mod change;
mod cleartext;
pub mod csv;
pub mod fields;
pub mod groups;
pub mod html;
pub mod json;
pub mod json_writer;
pub mod stream_sink;
pub mod text;
