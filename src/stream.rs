//! The byte stream of one direction of a TCP connection as reassembly
//! delivers it to the protocol analysers: data in order, or word of what was
//! lost. Reassembly (`flow`) produces it, the analysers (`tls`) consume it,
//! and neither needs the other to speak of it.

/// The next piece of a reassembled stream.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The next bytes of the stream, starting where the previous event ended.
    Data(&'a [u8]),
    /// This many bytes of the stream were lost.
    Gap(u32),
}
