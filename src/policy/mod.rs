//! Compliance judgement: turns the facts of a session into findings under a
//! policy profile. Parsers produce facts; this module only reads them.

pub mod suite;
