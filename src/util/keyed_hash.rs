//! The hash of the tables keyed by what came off the wire (connections,
//! fragments, services, caches): foldhash through hashlink, seeded at
//! random for each table, so that a sender cannot pick keys that collide.
//! Fuzz builds (`cfg(fuzzing)`) hash with foldhash's fixed seeds instead:
//! with random seeds the probing in the hash tables took other branches from
//! one process to the next, so that an input's coverage was not its own and
//! the fuzzer never stopped finding "new" edges. The function is the release
//! build's, so the fuzzer runs the code that ships (std's fixed-key SipHash,
//! used before, made a replay of the `reassembly` corpus 15% slower).

/// Builds the hasher of a table keyed by wire data.
#[cfg(not(fuzzing))]
pub type KeyedHash = hashlink::DefaultHashBuilder;

/// Builds the hasher of a table keyed by wire data (fixed seeds: fuzz builds).
#[cfg(fuzzing)]
pub type KeyedHash = foldhash::fast::FixedState;
