//! Live capture from a network interface with libpcap: promiscuous mode, snap
//! length, kernel buffer size, a BPF filter, the kernel's drop counters,
//! reopening a failed interface, and giving up root (`--user`) while keeping
//! only what reopening needs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::thread::{CapabilitySet, CapabilitySets};

use super::RawPacket;

/// Pause when no packet is ready.
const IDLE_SLEEP: Duration = Duration::from_millis(5);

/// Settings of a live capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub interface: String,
    pub snaplen: i32,
    /// Kernel buffer in bytes.
    pub buffer_size: i32,
    pub promiscuous: bool,
    pub filter: Option<String>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Report a status line this often.
    pub status_interval: Option<Duration>,
    /// Run as this user once the capture is open (root is dropped).
    pub user: Option<String>,
    /// Hand the counters to `PacketHandler::publish` this often (metrics).
    pub publish_every: Option<Duration>,
}

/// Drop counters reported by libpcap.
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveStats {
    pub received: u64,
    pub dropped_by_kernel: u64,
    pub dropped_by_interface: u64,
}

impl LiveStats {
    fn add(self, other: LiveStats) -> LiveStats {
        LiveStats {
            received: self.received + other.received,
            dropped_by_kernel: self.dropped_by_kernel + other.dropped_by_kernel,
            dropped_by_interface: self.dropped_by_interface + other.dropped_by_interface,
        }
    }
}

/// Lists the interfaces libpcap can open, one line each.
pub fn list_interfaces() -> Result<Vec<String>, pcap::Error> {
    Ok(pcap::Device::list()?
        .into_iter()
        .enumerate()
        .map(|(i, d)| match d.desc {
            Some(desc) => format!("{}.{} ({})", i + 1, d.name, desc),
            None => format!("{}.{}", i + 1, d.name),
        })
        .collect())
}

/// Wall-clock time in microseconds since the epoch.
pub fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Receives what a live capture delivers.
pub trait PacketHandler {
    fn packet(&mut self, packet: RawPacket<'_>);
    /// Called at least every 100 ms with the wall clock (microseconds), so
    /// that buffered packets move on and idle flows time out.
    fn idle(&mut self, now: i64);
    /// Called every status interval with libpcap's counters so far.
    fn status(&mut self, pcap: LiveStats);
    /// Called every `publish_every` with libpcap's counters so far.
    fn publish(&mut self, _pcap: LiveStats) {}
}

/// An opened live capture, ready to run.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    linktype: u32,
}

/// Why opening an interface failed, with what the user can do about it.
fn open_error(iface: &str, e: pcap::Error) -> String {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("permission") || lower.contains("not permitted") {
        " (capturing needs root or the CAP_NET_RAW capability)"
    } else if lower.contains("no such device") {
        " (tlsaudit -D lists the interfaces)"
    } else {
        ""
    };
    format!("{}: cannot start capture: {text}{hint}", crate::util::escape::escape_terminal(iface.as_bytes()))
}

/// Opens the interface and applies the filter, before anything else starts.
pub fn open(opts: &LiveOptions) -> Result<LiveCapture, String> {
    let live = open_handle(opts)?;
    if let Some(user) = &opts.user {
        drop_privileges(user)?;
    } else if !nix::unistd::geteuid().is_root() {
        // Started unprivileged with capabilities (systemd's
        // AmbientCapabilities, or file capabilities on the binary). A
        // failure leaves them as they were: capture goes on.
        let _ = narrow_to_capture_capabilities();
    }
    eprintln!(
        "tlsaudit: listening on {}, link type {}, snapshot length {} bytes{}",
        crate::util::escape::escape_terminal(opts.interface.as_bytes()),
        live.linktype,
        opts.snaplen,
        opts.user.as_ref().map(|u| format!(", running as {}", crate::util::escape::escape_terminal(u.as_bytes()))).unwrap_or_default()
    );
    Ok(live)
}

/// What opening an interface needs: raw sockets, and promiscuous mode.
const CAPTURE_CAPABILITIES: CapabilitySet = CapabilitySet::NET_RAW.union(CapabilitySet::NET_ADMIN);

/// Set once the capture thread holds only the capture capabilities, not
/// effective: after `--user`, or when started unprivileged.
static CAPABILITIES_NARROWED: AtomicBool = AtomicBool::new(false);

/// Capability sets of the calling thread with nothing inheritable.
fn capability_sets(effective: CapabilitySet, permitted: CapabilitySet) -> CapabilitySets {
    CapabilitySets { effective, permitted, inheritable: CapabilitySet::empty() }
}

/// Gives up root for `name`: its groups, then its group, then its user id,
/// and checks that root cannot be had back. The open capture handle stays
/// usable. The capture thread keeps CAP_NET_RAW and CAP_NET_ADMIN permitted
/// but not effective, and raises them only to open the interface again
/// after a failure; threads started later give them up (see
/// `renounce_capabilities`).
fn drop_privileges(name: &str) -> Result<(), String> {
    use nix::unistd::{setgid, setgroups, setuid, Uid, User};
    use rustix::thread::set_keep_capabilities;
    let shown = crate::util::escape::escape_terminal(name.as_bytes());
    let user = User::from_name(name)
        .map_err(|e| format!("--user {shown}: cannot look the user up: {e}"))?
        .ok_or_else(|| format!("--user {shown}: no such user (create a system user for tlsaudit)"))?;
    let fail = |what: &str, e: nix::Error| format!("--user {shown}: cannot {what}: {e} (--user needs tlsaudit started as root)");
    let fail_caps = |what: &str, e: rustix::io::Errno| format!("--user {shown}: cannot {what}: {e}");
    set_keep_capabilities(true).map_err(|e| fail_caps("keep capabilities across the user change", e))?;
    setgroups(&[user.gid]).map_err(|e| fail("set the supplementary groups", e))?;
    setgid(user.gid).map_err(|e| fail("set the group id", e))?;
    setuid(user.uid).map_err(|e| fail("set the user id", e))?;
    set_keep_capabilities(false).map_err(|e| fail_caps("reset the keep-capabilities flag", e))?;
    narrow_to_capture_capabilities().map_err(|e| fail_caps("limit the capabilities to CAP_NET_RAW and CAP_NET_ADMIN", e))?;
    if !user.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!("--user {shown}: root privileges could be taken back; refusing to run"));
    }
    Ok(())
}

/// Leaves the calling (capture) thread CAP_NET_RAW and CAP_NET_ADMIN, as far
/// as it holds them (a container may lack CAP_NET_ADMIN), permitted but not
/// effective, and no other capability. Threads started afterwards give up
/// even those (`renounce_capabilities`), and reopening raises them
/// (`with_capture_capabilities`).
fn narrow_to_capture_capabilities() -> rustix::io::Result<()> {
    use rustix::thread::{capabilities, set_capabilities};
    let held = capabilities(None)?;
    set_capabilities(None, capability_sets(CapabilitySet::empty(), held.permitted & CAPTURE_CAPABILITIES))?;
    CAPABILITIES_NARROWED.store(true, Ordering::SeqCst);
    Ok(())
}

/// For threads that only analyse packets: once the capture thread's
/// capabilities are narrowed, they drop even those it keeps for reopening.
pub fn renounce_capabilities() {
    if CAPABILITIES_NARROWED.load(Ordering::SeqCst) {
        // Nothing to do about a failure: the sets only ever shrink here.
        let _ = rustix::thread::set_capabilities(None, capability_sets(CapabilitySet::empty(), CapabilitySet::empty()));
    }
}

/// Runs `f` with the kept capture capabilities raised, once they were narrowed.
fn with_capture_capabilities<T>(f: impl FnOnce() -> T) -> T {
    if !CAPABILITIES_NARROWED.load(Ordering::SeqCst) {
        return f();
    }
    let Ok(held) = rustix::thread::capabilities(None) else { return f() };
    let raised = rustix::thread::set_capabilities(None, capability_sets(held.permitted, held.permitted)).is_ok();
    let result = f();
    if raised {
        let _ = rustix::thread::set_capabilities(None, capability_sets(CapabilitySet::empty(), held.permitted));
    }
    result
}

fn open_handle(opts: &LiveOptions) -> Result<LiveCapture, String> {
    let iface = &opts.interface;
    let cap = pcap::Capture::from_device(iface.as_str())
        .map_err(|e| open_error(iface, e))?
        .promisc(opts.promiscuous)
        .snaplen(opts.snaplen)
        .buffer_size(opts.buffer_size)
        // The kernel hands over a buffer block at least every 100 ms.
        .timeout(100);
    // Non-blocking reads: with TPACKET_V3 libpcap waits in poll() without a
    // timeout while no packet arrives, and the loop would never see the stop
    // flag or the end of --duration. When nothing is ready the loop sleeps
    // for IDLE_SLEEP instead.
    let mut cap = cap.open().and_then(|c| c.setnonblock()).map_err(|e| open_error(iface, e))?;
    if let Some(expr) = &opts.filter {
        cap.filter(expr, true).map_err(|e| format!("invalid filter expression {expr:?}: {e}"))?;
    }
    let linktype = cap.get_datalink().0 as u32;
    Ok(LiveCapture { cap, linktype })
}

/// How often a failed interface is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Captures until `stop` is set or the duration ends. An interface that
/// fails (goes down, disappears) is opened again every second, with a
/// warning; libpcap's counters of every handle opened are added up.
pub fn capture(live: LiveCapture, opts: &LiveOptions, stop: &AtomicBool, handler: &mut dyn PacketHandler) -> Result<LiveStats, String> {
    let LiveCapture { mut cap, mut linktype } = live;
    // Counters of the handles closed so far.
    let mut before = LiveStats::default();
    let iface = crate::util::escape::escape_terminal(opts.interface.as_bytes());
    let started = Instant::now();
    let mut last_idle = Instant::now();
    let mut last_status = Instant::now();
    let mut last_publish = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if opts.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        match cap.next_packet() {
            Ok(p) => {
                // time_t and suseconds_t are narrower than i64 on 32-bit targets.
                #[allow(clippy::useless_conversion)]
                let ts = i64::from(p.header.ts.tv_sec) * 1_000_000 + i64::from(p.header.ts.tv_usec);
                handler.packet(RawPacket { ts, linktype, data: p.data, orig_len: p.header.len });
            }
            Err(pcap::Error::TimeoutExpired) => std::thread::sleep(IDLE_SLEEP),
            Err(e) => {
                if let Ok(s) = pcap_stats(&mut cap, &iface) {
                    before = before.add(s);
                }
                eprintln!("tlsaudit: warning: {iface}: capture failed ({e}); opening it again every second");
                let mut tried = Instant::now();
                // Why the last attempt failed, said once for each new reason.
                let mut last_reason = String::new();
                loop {
                    if stop.load(Ordering::Relaxed) || opts.duration.is_some_and(|d| started.elapsed() >= d) {
                        return Ok(before);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    handler.idle(now_micros());
                    if tried.elapsed() < REOPEN_EVERY {
                        continue;
                    }
                    tried = Instant::now();
                    match with_capture_capabilities(|| open_handle(opts)) {
                        Ok(fresh) => {
                            cap = fresh.cap;
                            linktype = fresh.linktype;
                            eprintln!("tlsaudit: {iface}: capturing again");
                            break;
                        }
                        Err(reason) if reason != last_reason => {
                            eprintln!("tlsaudit: warning: {reason}; still trying every second");
                            last_reason = reason;
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        if last_idle.elapsed() >= Duration::from_millis(100) {
            handler.idle(now_micros());
            last_idle = Instant::now();
            if opts.status_interval.is_some_and(|every| last_status.elapsed() >= every) {
                handler.status(before.add(pcap_stats(&mut cap, &iface)?));
                last_status = Instant::now();
            }
            if opts.publish_every.is_some_and(|every| last_publish.elapsed() >= every) {
                handler.publish(before.add(pcap_stats(&mut cap, &iface)?));
                last_publish = Instant::now();
            }
        }
    }
    Ok(before.add(pcap_stats(&mut cap, &iface)?))
}

fn pcap_stats(cap: &mut pcap::Capture<pcap::Active>, iface: &str) -> Result<LiveStats, String> {
    let s = cap.stats().map_err(|e| format!("{iface}: cannot read capture statistics: {e}"))?;
    Ok(LiveStats {
        received: u64::from(s.received),
        dropped_by_kernel: u64::from(s.dropped),
        dropped_by_interface: u64::from(s.if_dropped),
    })
}
