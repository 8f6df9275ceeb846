//! The hash of the tables keyed by what came off the wire (connections,
//! fragments, services, caches): foldhash through hashlink, seeded at
//! random for each table, so that a sender cannot pick keys that collide.
//! Fuzz builds (`cfg(fuzzing)`) hash with fixed keys instead: with random
//! seeds the probing in the hash tables took other branches from one
//! process to the next, so that an input's coverage was not its own and the
//! fuzzer never stopped finding "new" edges.

/// Builds the hasher of a table keyed by wire data.
#[cfg(not(fuzzing))]
pub type KeyedHash = hashlink::DefaultHashBuilder;

/// Builds the hasher of a table keyed by wire data (fixed keys: fuzz builds).
#[cfg(fuzzing)]
pub type KeyedHash = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;
