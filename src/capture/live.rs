//! Live capture from a network interface with libpcap: promiscuous mode, snap
//! length, kernel buffer size, a BPF filter, the kernel's drop counters,
//! reopening a failed interface, and giving up root (`--user`) while keeping
//! only what reopening needs. With several capture rings (`--capture-threads`)
//! each ring is a libpcap handle of its own (a TPACKET_V3 ring), and the rings
//! form one PACKET_FANOUT group that shares the interface's connections out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::thread::{CapabilitySet, CapabilitySets};

use super::RawPacket;

/// The longest wait for the kernel to hand over packets before the loop
/// looks at the stop flag and the clock again.
const IDLE_WAIT: Duration = Duration::from_millis(50);

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
    /// Capture rings sharing the interface (PACKET_FANOUT by flow hash);
    /// one is a plain libpcap capture.
    pub rings: usize,
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

/// An opened live capture (one ring), ready to run.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    linktype: u32,
    /// The fanout group the ring belongs to, with several rings.
    group: Option<Arc<FanoutGroup>>,
    /// The ring's number among them (0 for a plain capture).
    pub ring: usize,
}

/// The rings' PACKET_FANOUT group: its number, which changes when the
/// interface comes back after failing (the old group stays bound to the
/// device that went away).
pub struct FanoutGroup {
    id: Mutex<Option<u16>>,
}

impl FanoutGroup {
    /// Adds a freshly opened ring: to the group if it can, else to a new
    /// group that the other rings then join as they reopen.
    fn enter(&self, cap: &pcap::Capture<pcap::Active>) -> std::io::Result<()> {
        let mut id = self.id.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(current) = *id {
            if super::fanout::join_group(cap, current).is_ok() {
                return Ok(());
            }
        }
        *id = Some(super::fanout::create_group(cap)?);
        Ok(())
    }
}

/// A filter no packet passes: a ring holds it until it is in the fanout
/// group, so that it never gets a packet another ring gets too.
const PASS_NOTHING: &str = "less 0";

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

/// Opens the interface (each of its rings) and applies the filter, before
/// anything else starts.
pub fn open(opts: &LiveOptions) -> Result<Vec<LiveCapture>, String> {
    let rings = open_rings(opts)?;
    if let Some(user) = &opts.user {
        drop_privileges(user)?;
    } else if !nix::unistd::geteuid().is_root() {
        // Started unprivileged with capabilities (systemd's
        // AmbientCapabilities, or file capabilities on the binary). A
        // failure leaves them as they were: capture goes on.
        let _ = narrow_to_capture_capabilities();
    }
    eprintln!(
        "tlsaudit: listening on {}, link type {}, snapshot length {} bytes{}{}",
        crate::util::escape::escape_terminal(opts.interface.as_bytes()),
        rings[0].linktype,
        opts.snaplen,
        if rings.len() > 1 { format!(", {} capture rings (fanout by flow)", rings.len()) } else { String::new() },
        opts.user.as_ref().map(|u| format!(", running as {}", crate::util::escape::escape_terminal(u.as_bytes()))).unwrap_or_default()
    );
    Ok(rings)
}

/// The smallest kernel buffer a capture ring gets: in the live benchmark,
/// rings of 256 KiB lost packets even at 38 Mbit/s, rings of 2 MiB none at
/// the top speed of the replay.
const MIN_RING_BUFFER: i32 = 2 << 20;

/// The kernel buffer of each ring: the one asked for, shared by the rings,
/// each getting at least MIN_RING_BUFFER; one ring gets what was asked.
fn ring_buffer(opts: &LiveOptions) -> i32 {
    match opts.rings {
        0 | 1 => opts.buffer_size,
        n => (opts.buffer_size / n as i32).max(MIN_RING_BUFFER),
    }
}

fn open_rings(opts: &LiveOptions) -> Result<Vec<LiveCapture>, String> {
    if opts.rings <= 1 {
        return Ok(vec![open_handle(opts, None)?]);
    }
    let group = Arc::new(FanoutGroup { id: Mutex::new(None) });
    let mut rings = Vec::with_capacity(opts.rings);
    for ring in 0..opts.rings {
        rings.push(LiveCapture { ring, ..open_ring(opts, &group, false)? });
    }
    // Every ring is in the group: now they may take packets.
    for ring in &mut rings {
        set_filter(&mut ring.cap, opts)?;
    }
    Ok(rings)
}

/// Opens one ring passing nothing, puts it in the fanout group, and (with
/// `filter`) gives it the capture filter.
fn open_ring(opts: &LiveOptions, group: &Arc<FanoutGroup>, filter: bool) -> Result<LiveCapture, String> {
    let mut ring = open_handle(opts, Some(Arc::clone(group)))?;
    ring.cap.filter(PASS_NOTHING, true).map_err(|e| format!("{}: cannot hold back packets while joining the capture rings: {e}", shown(opts)))?;
    group.enter(&ring.cap).map_err(|e| {
        format!("{}: cannot share the interface among capture rings (PACKET_FANOUT): {e} (give --capture-threads 1)", shown(opts))
    })?;
    if filter {
        set_filter(&mut ring.cap, opts)?;
    }
    Ok(ring)
}

/// The interface's name as the terminal may show it.
fn shown(opts: &LiveOptions) -> String {
    crate::util::escape::escape_terminal(opts.interface.as_bytes())
}

/// The capture filter, or one passing everything.
fn set_filter(cap: &mut pcap::Capture<pcap::Active>, opts: &LiveOptions) -> Result<(), String> {
    let expr = opts.filter.as_deref().unwrap_or("");
    cap.filter(expr, true).map_err(|e| format!("invalid filter expression {expr:?}: {e}"))
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

/// Opens the interface once: a plain capture with its filter, or (in a
/// `group`) a ring still to be given one.
fn open_handle(opts: &LiveOptions, group: Option<Arc<FanoutGroup>>) -> Result<LiveCapture, String> {
    let iface = &opts.interface;
    let cap = pcap::Capture::from_device(iface.as_str())
        .map_err(|e| open_error(iface, e))?
        .promisc(opts.promiscuous)
        .snaplen(opts.snaplen)
        .buffer_size(ring_buffer(opts))
        // The kernel hands over a buffer block at least every 100 ms.
        .timeout(100);
    // Non-blocking reads: with TPACKET_V3 libpcap waits in poll() without a
    // timeout while no packet arrives, and the loop would never see the stop
    // flag or the end of --duration. When nothing is ready the loop waits in
    // poll() itself, at most IDLE_WAIT (`wait_for_packets`).
    let mut cap = cap.open().and_then(|c| c.setnonblock()).map_err(|e| open_error(iface, e))?;
    if group.is_none() && opts.filter.is_some() {
        set_filter(&mut cap, opts)?;
    }
    let linktype = cap.get_datalink().0 as u32;
    Ok(LiveCapture { cap, linktype, group, ring: 0 })
}

/// Opens a failed ring again: alone, or back into its fanout group.
fn reopen(opts: &LiveOptions, group: &Option<Arc<FanoutGroup>>) -> Result<LiveCapture, String> {
    match group {
        None => open_handle(opts, None),
        Some(group) => open_ring(opts, group, true),
    }
}

/// How often a failed interface is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Captures until `stop` is set or the duration ends. An interface that
/// fails (goes down, disappears) is opened again every second, with a
/// warning; libpcap's counters of every handle opened are added up.
pub fn capture(live: LiveCapture, opts: &LiveOptions, stop: &AtomicBool, handler: &mut dyn PacketHandler) -> Result<LiveStats, String> {
    let LiveCapture { mut cap, mut linktype, group, ring } = live;
    // Counters of the handles closed so far.
    let mut before = LiveStats::default();
    let iface = match &group {
        Some(_) => format!("{} (capture ring {ring})", shown(opts)),
        None => shown(opts),
    };
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
            Err(pcap::Error::TimeoutExpired) => wait_for_packets(&cap),
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
                    match with_capture_capabilities(|| reopen(opts, &group)) {
                        Ok(fresh) => {
                            cap = fresh.cap;
                            linktype = fresh.linktype;
                            eprintln!("tlsaudit: {iface}: capturing again");
                            break;
                        }
                        Err(reason) if reason != last_reason => {
                            // With several rings, each says which it is.
                            match &group {
                                Some(_) => eprintln!("tlsaudit: warning: capture ring {ring}: {reason}; still trying every second"),
                                None => eprintln!("tlsaudit: warning: {reason}; still trying every second"),
                            }
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

/// Waits until the kernel hands over a block of packets, or IDLE_WAIT. A
/// sleep of fixed length instead would leave full blocks with the kernel,
/// which drops what comes next when its buffer is small.
fn wait_for_packets(cap: &pcap::Capture<pcap::Active>) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let timeout = Timespec { tv_sec: 0, tv_nsec: IDLE_WAIT.as_nanos() as _ };
    let mut fds = [PollFd::new(cap, PollFlags::IN)];
    let trouble = PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL;
    if poll(&mut fds, Some(&timeout)).map_or(true, |_| fds[0].revents().intersects(trouble)) {
        // Interrupted by a signal, or a socket in trouble that libpcap has
        // not reported yet: pause rather than spin.
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn pcap_stats(cap: &mut pcap::Capture<pcap::Active>, iface: &str) -> Result<LiveStats, String> {
    let s = cap.stats().map_err(|e| format!("{iface}: cannot read capture statistics: {e}"))?;
    Ok(LiveStats {
        received: u64::from(s.received),
        dropped_by_kernel: u64::from(s.dropped),
        dropped_by_interface: u64::from(s.if_dropped),
    })
}
