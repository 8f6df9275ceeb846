//! What the live-capture tests share: a network namespace with a veth pair
//! made for the test, and the processes the test starts in it, watched
//! line by line and ended by their PID.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A network namespace holding the veth pair `replay0` (tcpreplay's end) and
/// `listen0` (tlsaudit's end); deleted, with the pair, when dropped.
pub struct Namespace {
    name: String,
}

impl Namespace {
    pub fn create(tag: &str) -> Namespace {
        let name = format!("tlsaudit-{tag}-{}", std::process::id());
        let made = Command::new("ip").args(["netns", "add", &name]).output().expect("`ip` runs (apt-get install iproute2)");
        assert!(
            made.status.success(),
            "cannot create network namespace {name} (the test needs root): {}",
            String::from_utf8_lossy(&made.stderr).trim()
        );
        let ns = Namespace { name };
        // No IPv6 in the namespace: no router solicitations or duplicate
        // address probes join the replayed packets on the wire.
        ns.run(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.run(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        // Loopback up: the metrics endpoint is scraped there.
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns.add_veth_pair();
        ns
    }

    pub fn add_veth_pair(&self) {
        self.run(&["ip", "link", "add", "replay0", "mtu", "9000", "type", "veth", "peer", "name", "listen0", "mtu", "9000"]);
        self.run(&["ip", "link", "set", "replay0", "up"]);
        self.run(&["ip", "link", "set", "listen0", "up"]);
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command(args[0]).args(&args[1..]).output().expect("`ip netns exec` runs");
        assert!(
            out.status.success(),
            "in namespace {}: {} failed: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Ends a child process this test started, by its PID, if it still runs.
pub struct Started(pub Child);

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A tlsaudit this test started (in its namespace), its standard error
/// read line by line as it comes.
pub struct Watched {
    pub child: Started,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub said: Vec<String>,
}

impl Watched {
    pub fn spawn(command: &mut Command) -> Watched {
        let mut child = Started(command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("tlsaudit starts"));
        let (tx, lines) = mpsc::channel();
        let stderr = BufReader::new(child.0.stderr.take().expect("piped stderr"));
        let reader = std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Watched { child, lines, reader: Some(reader), said: Vec::new() }
    }

    /// Reads lines until one contains `what`; false after `within` of silence.
    pub fn wait_for(&mut self, what: &str, within: Duration) -> bool {
        while let Ok(line) = self.lines.recv_timeout(within) {
            let found = line.contains(what);
            self.said.push(line);
            if found {
                return true;
            }
        }
        false
    }

    /// Ends it with SIGTERM (by its PID) and waits up to `within`; its exit
    /// code and everything it said.
    pub fn stop(mut self, within: Duration) -> (Option<i32>, Vec<String>) {
        let pid = self.child.0.id().to_string();
        let term = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(term.success(), "could not signal tlsaudit (pid {pid})");
        let deadline = Instant::now() + within;
        let code = loop {
            if let Some(status) = self.child.0.try_wait().expect("wait for tlsaudit") {
                break status.code();
            }
            assert!(Instant::now() < deadline, "tlsaudit did not stop within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(r) = self.reader.take() {
            r.join().expect("stderr reader");
        }
        self.said.extend(self.lines.try_iter());
        (code, std::mem::take(&mut self.said))
    }
}

/// Whether the process is stopped (state T in /proc/PID/stat).
pub fn is_stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("T")
}

pub fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().expect("kill runs");
    assert!(sent.success(), "could not signal tlsaudit (pid {pid}) with {name}");
}
