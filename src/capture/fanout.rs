//! PACKET_FANOUT: several capture sockets on one interface share its traffic,
//! each connection going whole to one socket. The kernel picks the socket by
//! its symmetric flow hash (both directions of a connection hash alike) after
//! putting IP fragments back together, so each capture thread sees whole
//! connections.
//!
//! Setting and reading this socket option are the only calls into the C
//! library tlsaudit makes itself (libpcap opens the sockets and maps their
//! TPACKET_V3 rings): neither nix nor rustix wraps PACKET_FANOUT. This is the
//! one module allowed `unsafe`, for those two calls.

#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd};

/// By flow hash, IP fragments reassembled before hashing.
const HASH_DEFRAG: u32 = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;

/// Makes `socket` the first member of a new fanout group, whose number the
/// kernel picks so that no other program's group is joined by mistake;
/// returns that number for the other members.
pub fn create_group(socket: &impl AsFd) -> io::Result<u16> {
    set(socket, (HASH_DEFRAG | libc::PACKET_FANOUT_FLAG_UNIQUEID) << 16)?;
    // The option reads back as id | type << 16 | flags << 24.
    Ok((get(socket)? & 0xffff) as u16)
}

/// Adds `socket` to the group `id` made by `create_group`.
pub fn join_group(socket: &impl AsFd, id: u16) -> io::Result<()> {
    set(socket, u32::from(id) | HASH_DEFRAG << 16)
}

fn set(socket: &impl AsFd, value: u32) -> io::Result<()> {
    let value = value as libc::c_int;
    // SAFETY: the descriptor is open for the whole call (borrowed from its
    // owner); the option's value is an int on this stack frame, and the
    // length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get(socket: &impl AsFd) -> io::Result<u32> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as in `set`; the kernel writes at most `len` bytes into the
    // int on this stack frame and stores the length it wrote in `len`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 && len as usize == size_of::<libc::c_int>() {
        Ok(value as u32)
    } else if rc == 0 {
        Err(io::Error::other("PACKET_FANOUT read back with an unexpected size"))
    } else {
        Err(io::Error::last_os_error())
    }
}
