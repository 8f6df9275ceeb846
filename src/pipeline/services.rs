//! The service records at the end of a JSON Lines run: written in the
//! inventory's order, a round of services at a time, every other round
//! rendered by one more thread so that the part of the run after the last
//! packet takes half the time where a second core is there.

use std::io::{self, Write};
use std::thread;

use crate::inventory::Service;
use crate::output::json;

/// Services rendered per round: the memory a round's buffer holds is a few
/// hundred records, whatever the size of the inventory.
const ROUND: usize = 256;

/// What a service record carries besides the service.
pub(super) struct ServiceRecords<'a> {
    pub policy: &'a str,
    pub observer: Option<&'a str>,
    /// Each service's group (`--group-by`), if any.
    pub group: &'a (dyn Fn(&Service) -> Option<String> + Sync),
    /// An alert record after the service's for each finding judged per
    /// service (`kex.dh_reuse`).
    pub alerts: bool,
    /// Render on a second thread as well.
    pub two_threads: bool,
}

/// A JSON Lines record (with `observer.name` when there is one).
pub(super) fn write_value(out: &mut dyn Write, v: &serde_json::Value, observer: Option<&str>) -> io::Result<()> {
    let stamped;
    let v = match observer {
        Some(name) => {
            let mut copy = v.clone();
            copy["observer"] = serde_json::json!({"name": name});
            stamped = copy;
            &stamped
        }
        None => v,
    };
    serde_json::to_writer(&mut *out, v).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

impl ServiceRecords<'_> {
    /// Appends the records of `services` (and their alerts) to `buf`.
    fn render(&self, services: &[&Service], buf: &mut Vec<u8>) {
        let per_service = crate::policy::service::JUDGED_PER_SERVICE;
        for service in services {
            json::write_service(buf, service, self.policy, (self.group)(service).as_deref(), self.observer);
            buf.push(b'\n');
            if self.alerts {
                for finding in json::service_alert_findings(service, per_service) {
                    json::write_service_alert(buf, service, finding, self.policy, self.observer);
                    buf.push(b'\n');
                }
            }
        }
    }

    /// Writes the records of `services` in their order, a round at a time
    /// into a buffer kept from round to round. With two threads, one more
    /// renders every other round for the whole run, into buffers that go
    /// back and forth.
    pub(super) fn write(&self, out: &mut dyn Write, services: &[&Service]) -> io::Result<()> {
        let mut mine = Vec::new();
        if !self.two_threads || services.len() <= ROUND {
            for round in services.chunks(ROUND) {
                mine.clear();
                self.render(round, &mut mine);
                out.write_all(&mine)?;
            }
            return Ok(());
        }
        let writer_cpu = super::placement::current_cpu();
        thread::scope(|scope| {
            let (rendered_tx, rendered) = crossbeam_channel::bounded::<Vec<u8>>(2);
            let (spare, spare_rx) = crossbeam_channel::bounded::<Vec<u8>>(2);
            scope.spawn(move || {
                super::placement::keep_off(writer_cpu);
                let mut theirs = Vec::new();
                for round in services.chunks(ROUND).skip(1).step_by(2) {
                    theirs.clear();
                    self.render(round, &mut theirs);
                    // The writer stopped (a write failed): nothing more to do.
                    if rendered_tx.send(theirs).is_err() {
                        return;
                    }
                    theirs = spare_rx.try_recv().unwrap_or_default();
                }
            });
            for (i, round) in services.chunks(ROUND).enumerate() {
                if i % 2 == 0 {
                    mine.clear();
                    self.render(round, &mut mine);
                    out.write_all(&mine)?;
                } else {
                    // A panic of the other thread closes the channel, and
                    // the scope raises it again here on the way out.
                    let Ok(theirs) = rendered.recv() else { break };
                    out.write_all(&theirs)?;
                    let _ = spare.send(theirs);
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Endpoint;
    use crate::inventory::Inventory;
    use crate::policy::{self, Profile};
    use crate::tls::facts::SessionFacts;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn records_rendered_on_two_threads_are_those_of_one_in_the_same_order() {
        let profile = Profile::builtin("hipaa").expect("the hipaa profile");
        let mut inventory = Inventory::with_memory_limit(256 << 20);
        // Sessions in clear to 700 services (almost three rounds), a few
        // clients each.
        for i in 0..2_100u32 {
            let server = Endpoint { ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i / 3)), port: 443 + (i / 3 % 2) as u16 };
            let client = Endpoint { ip: IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i)), port: 40_000 };
            let facts = SessionFacts::new(i64::from(i) * 1_000_000, client, server, None);
            let verdict = policy::evaluate(&facts, &profile);
            inventory.add(&facts, &verdict, &profile);
        }
        inventory.finish(&profile);
        let services = inventory.services();
        assert_eq!(services.len(), 700);
        let group = |s: &Service| Some(s.ip.to_string());
        let records = |two_threads| {
            let r = ServiceRecords { policy: "hipaa", observer: Some("tap \"1\""), group: &group, alerts: true, two_threads };
            let mut out = Vec::new();
            r.write(&mut out, &services).expect("written into memory");
            out
        };
        let one = records(false);
        assert_eq!(records(true), one);
        let lines: Vec<serde_json::Value> =
            one.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).expect("JSON")).collect();
        let order: Vec<String> = lines
            .iter()
            .filter(|v| v["event"]["dataset"] == "tlsaudit.service")
            .map(|v| format!("{}:{}", v["destination"]["ip"].as_str().unwrap_or(""), v["destination"]["port"]))
            .collect();
        let expected: Vec<String> = services.iter().map(|s| format!("{}:{}", s.ip, s.port)).collect();
        assert_eq!(order, expected);
        assert!(lines.iter().all(|v| v["observer"]["name"] == "tap \"1\""));
    }
}
