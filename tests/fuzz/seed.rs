//! Writes the seed corpora of the fuzz targets from the bundled captures
//! (`captures/`): their files, frames, connections and certificates.
//! `cargo run --bin seed -- OUT_DIR` (run-fuzz.sh does it).

#[allow(dead_code)]
#[path = "../../benches/e2e/generate.rs"]
mod generate;

use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

/// The certificates (DER) of the Certificate messages in a server's bytes
/// (TLS 1.2 and older; TLS 1.3 sends them encrypted).
fn certificates(server: &[u8]) -> Vec<Vec<u8>> {
    let mut handshake = Vec::new();
    let mut at = 0;
    while at + 5 <= server.len() && server[at] == 22 {
        let len = usize::from(u16::from_be_bytes([server[at + 3], server[at + 4]]));
        handshake.extend_from_slice(&server[at + 5..(at + 5 + len).min(server.len())]);
        at += 5 + len;
    }
    let u24 = |b: &[u8], i: usize| b.get(i..i + 3).map(|x| (usize::from(x[0]) << 16) | (usize::from(x[1]) << 8) | usize::from(x[2]));
    let mut out = Vec::new();
    let mut m = 0;
    while let Some(len) = u24(&handshake, m + 1) {
        let body = &handshake[(m + 4).min(handshake.len())..(m + 4 + len).min(handshake.len())];
        if handshake[m] == 11 {
            let mut c = 3;
            while let Some(clen) = u24(body, c) {
                if let Some(der) = body.get(c + 3..c + 3 + clen) {
                    out.push(der.to_vec());
                }
                c += 3 + clen;
            }
        }
        m += 4 + len;
    }
    out
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: seed OUT_DIR"));
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let captures = repo.join("captures");
    let mut files: Vec<PathBuf> = [captures.clone(), captures.join("matrix")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).expect("captures/").flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f).expect("read a capture");
        write(&out.join("capture_file"), &format!("capture-{i}"), &bytes);
        // decode: Ethernet (selector 0), the first frames of the capture.
        let mut frames = vec![0u8];
        let mut at = 24;
        while at + 16 <= bytes.len() && frames.len() < 4096 {
            let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            let frame = &bytes[at + 16..(at + 16 + caplen).min(bytes.len())];
            frames.extend_from_slice(&(frame.len() as u16).to_be_bytes());
            frames.extend_from_slice(frame);
            at += 16 + caplen;
        }
        write(&out.join("decode"), &format!("frames-{i}"), &frames);
    }
    // datagrams: each QUIC and DTLS capture's UDP payloads, with their direction.
    for dir in ["quic", "dtls"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(captures.join(dir)).expect("captures/").flatten().map(|e| e.path()).collect();
        names.sort();
        for (i, f) in names.iter().enumerate() {
            let bytes = std::fs::read(f).expect("read a capture");
            let (mut seed, mut at, mut client_port) = (Vec::new(), 24, None);
            while at + 16 <= bytes.len() {
                let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
                let frame = &bytes[at + 16..(at + 16 + caplen).min(bytes.len())];
                at += 16 + caplen;
                // Ethernet, IPv4 without options, UDP.
                let Some(udp) = frame.get(34..42) else { continue };
                let src_port = u16::from_be_bytes([udp[0], udp[1]]);
                let client = *client_port.get_or_insert(src_port);
                let payload = &frame[42..];
                seed.push(u8::from(src_port != client));
                seed.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                seed.extend_from_slice(payload);
            }
            write(&out.join("datagrams"), &format!("{dir}-{i}"), &seed);
        }
    }
    // Connections: TLS, STARTTLS and sessions in clear (their readers and
    // the walk over DICOM and SMB messages run in the same stream).
    let dirs = [captures.clone(), captures.join("matrix"), captures.join("starttls"), captures.join("cleartext")];
    let templates = generate::load_templates(&dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    for (i, t) in templates.iter().enumerate() {
        let (mut client, mut server) = (Vec::new(), Vec::new());
        let mut segments = vec![0x02, 0, 0, 0, 0x03, 0, 0, 0];
        for (to_server, bytes) in &t.payloads {
            if *to_server { client.extend_from_slice(bytes) } else { server.extend_from_slice(bytes) }
            for piece in bytes.chunks(255) {
                segments.extend_from_slice(&[u8::from(!*to_server), 0, 0, piece.len() as u8]);
                segments.extend_from_slice(piece);
            }
        }
        write(&out.join("reassembly"), &format!("connection-{i}"), &segments);
        let mut stream = vec![15u8];
        stream.extend_from_slice(&(client.len().min(65_535) as u16).to_be_bytes());
        stream.extend_from_slice(&client[..client.len().min(65_535)]);
        stream.extend_from_slice(&server);
        write(&out.join("tls_stream"), &format!("connection-{i}"), &stream);
        for (j, der) in certificates(&server).iter().enumerate() {
            write(&out.join("certificate"), &format!("cert-{i}-{j}"), der);
        }
    }
}
