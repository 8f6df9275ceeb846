//! DICOM's vocabulary for what an association does: the service class of
//! a SOP class UID (PS3.4) and the names of DIMSE commands (PS3.7).

/// The service class of an abstract syntax (a SOP class UID, PS3.4).
pub(super) fn service(uid: &[u8]) -> &'static str {
    let uid = uid.strip_suffix(b"\0").unwrap_or(uid);
    if uid == b"1.2.840.10008.1.1" {
        "verification"
    } else if uid.starts_with(b"1.2.840.10008.5.1.4.1.1.") {
        "storage"
    } else if uid.starts_with(b"1.2.840.10008.5.1.4.1.2.") {
        "query-retrieve"
    } else if uid.starts_with(b"1.2.840.10008.5.1.4.31") {
        "worklist"
    } else {
        "other"
    }
}

/// A DIMSE Command Field's name (PS3.7 §E.1), requests and responses alike.
pub(super) fn dimse_name(command: u16) -> Option<&'static str> {
    Some(match command & 0x7fff {
        0x0001 => "C-STORE",
        0x0010 => "C-GET",
        0x0020 => "C-FIND",
        0x0021 => "C-MOVE",
        0x0030 => "C-ECHO",
        0x0100 => "N-EVENT-REPORT",
        0x0110 => "N-GET",
        0x0120 => "N-SET",
        0x0130 => "N-ACTION",
        0x0140 => "N-CREATE",
        0x0150 => "N-DELETE",
        0x0fff => "C-CANCEL",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_commands() {
        assert_eq!(service(b"1.2.840.10008.5.1.4.1.1.2\0"), "storage");
        assert_eq!(service(b"1.2.840.10008.1.1"), "verification");
        assert_eq!(service(b"1.2.3"), "other");
        assert_eq!((dimse_name(0x0001), dimse_name(0x8001), dimse_name(0x0030)), (Some("C-STORE"), Some("C-STORE"), Some("C-ECHO")));
        assert_eq!(dimse_name(0x4242), None);
    }
}
