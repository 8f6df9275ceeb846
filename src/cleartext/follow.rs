//! Follows the framed messages of one direction of a session in clear past
//! the bytes kept for reading it: the DICOM Upper Layer's PDUs (PS3.8 §9.3)
//! and SMB's messages over direct TCP (a 4-byte length before each, MS-SMB2
//! §2.1). Only the first bytes of each message are gathered, into a fixed
//! buffer, and looked at: the first DIMSE command of a DICOM association,
//! and whether SMB messages travel encrypted (a TRANSFORM header) or as
//! file operations in clear. What the heads showed is kept; nothing else.

/// Bytes gathered from the start of each message: a P-DATA-TF's PDU and
/// PDV headers and the command elements up to the Command Field (after an
/// Affected SOP Class UID of at most 64 bytes), or the SMB2 header.
const HEAD: usize = 112;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Type, reserved, 4-byte big-endian length.
    Dicom,
    /// Zero, 3-byte big-endian length.
    Smb,
}

impl Framing {
    fn header_len(self) -> usize {
        match self {
            Framing::Dicom => 6,
            Framing::Smb => 4,
        }
    }
}

/// What the heads of one direction's messages showed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Followed {
    /// The Command Field of the first DIMSE command (PS3.7 §9.3), e.g.
    /// 0x0001 C-STORE-RQ, 0x8001 C-STORE-RSP.
    pub dicom_command: Option<u16>,
    /// The service class of that command's Affected SOP Class UID.
    pub dicom_service: Option<&'static str>,
    /// SMB2 messages behind a TRANSFORM header (encrypted).
    pub smb_encrypted_messages: u32,
    /// The first file operation that crossed in clear (SMB2 CREATE, READ,
    /// WRITE, ...; SMB1's file commands).
    pub smb_plain_operation: Option<&'static str>,
    /// Messages whose head was looked at.
    pub messages: u32,
    /// The walk stopped: bytes were lost, or a message was not framed as
    /// the protocol frames them.
    pub lost: bool,
}

/// The walk over one direction's messages.
#[derive(Debug, Clone)]
pub struct Follow {
    framing: Framing,
    head: [u8; HEAD],
    /// Bytes of the current message's head gathered so far.
    have: usize,
    /// The current message's length, header included, once its header is in.
    total: Option<usize>,
    /// Bytes of the current message still to pass over after its head.
    skip: usize,
    pub seen: Followed,
}

impl Follow {
    /// A walk, when the first bytes of a direction start a DICOM PDU or an
    /// SMB message.
    pub fn start(first: &[u8]) -> Option<Follow> {
        // The detector hands on at least 6 bytes: as much of "SMB" as came.
        let smb = first.len() >= 6 && first[0] == 0 && matches!(first[4], 0xfc..=0xff) && b"SMB".starts_with(&first[5..first.len().min(8)]);
        let dicom = first.len() >= 6 && matches!(first[0], 1..=3) && first[1] == 0;
        let framing = if smb {
            Framing::Smb
        } else if dicom {
            Framing::Dicom
        } else {
            return None;
        };
        Some(Follow { framing, head: [0; HEAD], have: 0, total: None, skip: 0, seen: Followed::default() })
    }

    /// Bytes were lost: the framing cannot be followed further.
    pub fn lose(&mut self) {
        self.seen.lost = true;
    }

    /// Takes the next bytes of the direction.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        let header_len = self.framing.header_len();
        while !self.seen.lost {
            if self.skip > 0 {
                if bytes.is_empty() {
                    return;
                }
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let want = self.total.map_or(header_len, |t| t.min(HEAD));
            if self.have < want {
                if bytes.is_empty() {
                    return;
                }
                let n = (want - self.have).min(bytes.len());
                self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                continue;
            }
            match self.total {
                None => match self.message_length() {
                    Some(total) => self.total = Some(total),
                    None => self.seen.lost = true,
                },
                Some(total) => {
                    self.inspect();
                    self.skip = total - self.have;
                    self.have = 0;
                    self.total = None;
                }
            }
        }
    }

    /// The length of the message whose header is in, header included;
    /// None when the header is not one the protocol sends.
    fn message_length(&self) -> Option<usize> {
        let h = &self.head;
        match self.framing {
            // PDU types 1 to 7 (PS3.8 §9.3.1).
            Framing::Dicom => {
                let len = u32::from_be_bytes([h[2], h[3], h[4], h[5]]) as usize;
                ((1..=7).contains(&h[0]) && h[1] == 0).then_some(6 + len)
            }
            // A session message, or a keep-alive (0x85) with no body.
            Framing::Smb => {
                let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
                (h[0] == 0 || (h[0] == 0x85 && len == 0)).then_some(4 + len)
            }
        }
    }

    fn inspect(&mut self) {
        self.seen.messages = self.seen.messages.saturating_add(1);
        let message = &self.head[..self.have];
        match self.framing {
            Framing::Dicom => self.dicom(),
            Framing::Smb => match message.get(4..8) {
                Some([0xfd, b'S', b'M', b'B']) => self.seen.smb_encrypted_messages = self.seen.smb_encrypted_messages.saturating_add(1),
                Some([0xfe, b'S', b'M', b'B']) => {
                    let command = message.get(16..18).map(|c| u16::from_le_bytes([c[0], c[1]]));
                    if let Some(name) = command.and_then(smb2_file_operation) {
                        self.seen.smb_plain_operation.get_or_insert(name);
                    }
                }
                Some([0xff, b'S', b'M', b'B']) => {
                    if let Some(name) = message.get(8).and_then(|c| smb1_file_operation(*c)) {
                        self.seen.smb_plain_operation.get_or_insert(name);
                    }
                }
                _ => {}
            },
        }
    }

    /// A P-DATA-TF whose first PDV is a command: its Command Field and
    /// Affected SOP Class UID (implicit VR little endian, PS3.7 §6.3.1).
    fn dicom(&mut self) {
        let m = &self.head[..self.have];
        if m[0] != 0x04 || self.seen.dicom_command.is_some() {
            return;
        }
        // PDV item: length (4), presentation context id, message control
        // header (bit 0: a command).
        let Some(&[_, _, _, _, _, control]) = m.get(6..12) else { return };
        if control & 1 == 0 {
            return;
        }
        let mut elements = &m[12..];
        while let [g0, g1, e0, e1, l0, l1, l2, l3, rest @ ..] = elements {
            let (group, element) = (u16::from_le_bytes([*g0, *g1]), u16::from_le_bytes([*e0, *e1]));
            let len = u32::from_le_bytes([*l0, *l1, *l2, *l3]) as usize;
            if group != 0 {
                return;
            }
            let Some(value) = rest.get(..len) else { return };
            match element {
                0x0002 => self.seen.dicom_service = Some(super::dimse::service(value)),
                0x0100 if len == 2 => {
                    self.seen.dicom_command = Some(u16::from_le_bytes([value[0], value[1]]));
                    return;
                }
                _ => {}
            }
            elements = &rest[len..];
        }
    }
}

/// SMB2 commands that read or change files (MS-SMB2 §2.2.1): crossing in
/// clear, they show a session without encryption. NEGOTIATE, SESSION_SETUP,
/// LOGOFF, TREE_CONNECT/DISCONNECT (in clear before a share's encryption
/// starts), CANCEL and ECHO are not counted.
fn smb2_file_operation(command: u16) -> Option<&'static str> {
    Some(match command {
        5 => "CREATE",
        6 => "CLOSE",
        7 => "FLUSH",
        8 => "READ",
        9 => "WRITE",
        10 => "LOCK",
        11 => "IOCTL",
        14 => "QUERY_DIRECTORY",
        15 => "CHANGE_NOTIFY",
        16 => "QUERY_INFO",
        17 => "SET_INFO",
        18 => "OPLOCK_BREAK",
        _ => return None,
    })
}

/// SMB1's file commands (MS-CIFS §2.2.2.1); SMB1 cannot encrypt at all.
fn smb1_file_operation(command: u8) -> Option<&'static str> {
    Some(match command {
        0x75 => "TREE_CONNECT_ANDX",
        0xa2 => "NT_CREATE_ANDX",
        0x2e => "READ_ANDX",
        0x2f => "WRITE_ANDX",
        0x32 => "TRANSACTION2",
        0x25 => "TRANSACTION",
        0xa0 => "NT_TRANSACT",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-DATA-TF with one command PDV: C-STORE-RQ of CT Image Storage.
    fn c_store_rq() -> Vec<u8> {
        let uid = b"1.2.840.10008.5.1.4.1.1.2\0";
        let mut command = Vec::new();
        let element = |e: u16, value: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&e.to_le_bytes());
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        };
        element(0x0000, &0u32.to_le_bytes(), &mut command);
        element(0x0002, uid, &mut command);
        element(0x0100, &1u16.to_le_bytes(), &mut command);
        element(0x0110, &7u16.to_le_bytes(), &mut command);
        let mut pdv = ((command.len() + 2) as u32).to_be_bytes().to_vec();
        pdv.extend_from_slice(&[1, 0x03]);
        pdv.extend_from_slice(&command);
        let mut pdu = vec![0x04, 0];
        pdu.extend_from_slice(&(pdv.len() as u32).to_be_bytes());
        pdu.extend_from_slice(&pdv);
        pdu
    }

    #[test]
    fn dicom_command_is_found_past_a_large_association_request() {
        let mut stream = vec![0x01, 0, 0, 0, 0x25, 0x80];
        stream.resize(6 + 0x2580, 0x20);
        stream[6..8].copy_from_slice(&[0, 1]);
        stream.extend_from_slice(&c_store_rq());
        // Every way of cutting the stream into two chunks reads the same.
        for cut in [1, 5, 6, 7, 100, 0x2586, 0x2587, 0x2590, stream.len() - 1] {
            let mut f = Follow::start(&stream[..cut.max(6)]).expect("DICOM");
            f.feed(&stream[..cut]);
            f.feed(&stream[cut..]);
            assert_eq!((f.seen.dicom_command, f.seen.dicom_service), (Some(1), Some("storage")), "cut at {cut}");
            assert_eq!(f.seen.messages, 2);
        }
    }

    #[test]
    fn smb_messages_are_told_apart() {
        let message = |protocol: u8, command: u16| {
            let mut m = vec![0, 0, 0, 68, protocol, b'S', b'M', b'B'];
            m.resize(4 + 68, 0);
            m[16..18].copy_from_slice(&command.to_le_bytes());
            m
        };
        let stream = [message(0xfe, 0), message(0xfe, 3), message(0xfd, 0), message(0xfd, 0), message(0xfe, 14)].concat();
        let mut f = Follow::start(&stream).expect("SMB");
        for byte in stream.chunks(3) {
            f.feed(byte);
        }
        assert_eq!((f.seen.smb_encrypted_messages, f.seen.smb_plain_operation, f.seen.messages), (2, Some("QUERY_DIRECTORY"), 5));
        // A message not framed as SMB frames them ends the walk.
        f.feed(&[0x81, 0, 0, 0]);
        f.feed(&message(0xfe, 8));
        assert!(f.seen.lost && f.seen.messages == 5);
        // The first chunk may hold only the length and the start of the header.
        assert!(Follow::start(&stream[..6]).is_some() && Follow::start(b"\x00\x00\x00\x44\xfeSQL").is_none());
    }

    #[test]
    fn other_protocols_are_not_followed() {
        for first in [&b"GET / HTTP/1.1\r\n"[..], b"\x16\x03\x01\x02\x00\x01", b"\x00\x00\x00\x08\x04\xd2\x16\x2f"] {
            assert!(Follow::start(first).is_none(), "{first:?}");
        }
    }
}
