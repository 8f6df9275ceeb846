//! A passive grade per service, A to F, in the manner of SSL Labs' SSL
//! Server Rating Guide: the grade starts at A and each weakness seen caps
//! it. It reads the findings raised on the service under the policy in
//! force, so it grades only what clients negotiated — an active scanner
//! also probes what the server would accept — and a rule the policy turns
//! off does not lower it. docs/COMPLIANCE.md ("Passive grade") sets the
//! caps beside SSL Labs' and says where they differ.

use super::{Assessment, RuleId};

/// What a cap stands for, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    A,
    B,
    C,
    /// Certificate trust failed (SSL Labs' "T"): the grade of the rest is
    /// of no use while clients cannot tell the server from an impostor.
    T,
    F,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::T => "T",
            Grade::F => "F",
        }
    }
}

/// The cap a rule puts on the grade, if any.
fn cap(rule: RuleId) -> Option<Grade> {
    use RuleId::*;
    Some(match rule {
        // No encryption, or none worth the name: F.
        PlaintextPhiProtocol | PlaintextCredentials | PlaintextHttp | PlaintextProtocol | StarttlsNotOffered | StarttlsNotUsed
        | StarttlsStripped => Grade::F,
        ProtoSslv2 | ProtoSslv3 | CipherNull | CipherAnon | CipherExport | CipherDes | CipherRc4 | CertSigMd5 | KexSigMd5 => Grade::F,
        // Trust: T.
        CertExpired | CertNotYetValid | CertSelfSigned | CertUntrustedChain | CertHostnameMismatch | CertSigSha1 => Grade::T,
        // A 64-bit block cipher, compression (CRIME), insecure renegotiation: C.
        Cipher3des | ExtCompression | ExtNoSecureRenegotiation => Grade::C,
        // Old protocols, no forward secrecy, small keys and groups: B.
        ProtoTls10 | ProtoTls11 | CipherNoFs | KexDhLt2048 | KexEcCurveWeak | CertRsaLt2048 | CertEcLt224 | KexSigSha1 | CipherWeakMac => {
            Grade::B
        }
        _ => return None,
    })
}

/// The grade of a service from the rules raised on it; None when it was
/// not assessed (nothing it negotiated was seen). Also the rules that set
/// the grade (those at the cap).
pub fn grade(assessment: Assessment, rules: impl IntoIterator<Item = RuleId>) -> Option<(Grade, Vec<RuleId>)> {
    if assessment == Assessment::NotAssessed {
        return None;
    }
    let capped: Vec<(RuleId, Grade)> = rules.into_iter().filter_map(|r| cap(r).map(|g| (r, g))).collect();
    let worst = capped.iter().map(|(_, g)| *g).max().unwrap_or(Grade::A);
    let mut why: Vec<RuleId> = capped.into_iter().filter(|(_, g)| *g == worst).map(|(r, _)| r).collect();
    why.sort();
    Some((worst, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        let g = |rules: &[RuleId]| grade(Assessment::NonCompliant, rules.iter().copied()).map(|(g, _)| g);
        assert_eq!(g(&[]), Some(Grade::A));
        assert_eq!(g(&[RuleId::CipherCbc, RuleId::ExtNoEms]), Some(Grade::A), "no cap");
        assert_eq!(g(&[RuleId::ProtoTls10, RuleId::CipherCbc]), Some(Grade::B));
        assert_eq!(g(&[RuleId::ProtoTls10, RuleId::Cipher3des]), Some(Grade::C));
        assert_eq!(g(&[RuleId::Cipher3des, RuleId::CertUntrustedChain]), Some(Grade::T));
        assert_eq!(g(&[RuleId::CertUntrustedChain, RuleId::PlaintextCredentials]), Some(Grade::F));
        assert_eq!(grade(Assessment::NotAssessed, []), None);
        let (_, why) = grade(Assessment::NonCompliant, [RuleId::ProtoTls11, RuleId::CipherNoFs, RuleId::CipherCbc]).unwrap();
        assert_eq!(why, [RuleId::CipherNoFs, RuleId::ProtoTls11]);
    }
}
