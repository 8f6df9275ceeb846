//! The ServerKeyExchange, read by the layout the negotiated suite's key
//! exchange gives it: DH or EC parameters, a PSK identity hint before them
//! (DHE_PSK, ECDHE_PSK) or alone (PSK, RSA_PSK), an SRP group, a temporary
//! RSA key, and the signature over them when the suite authenticates the
//! server with its certificate. A message that does not fill its layout
//! exactly is malformed: guessing would turn a length field into a prime.

use tls_parser::{ECParametersContent, TlsCipherAu, TlsCipherKx, TlsCipherSuite};

use super::facts::{public_value_digest, KexMethod, KeyExchangeFacts};

/// How one suite lays out its ServerKeyExchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub method: KexMethod,
    /// A signature by the certificate's key follows the parameters.
    pub signed: bool,
}

/// The layout of `suite`'s ServerKeyExchange; None when the suite sends
/// none (RSA key transport, static (EC)DH, Kerberos, GOST key transport,
/// TLS 1.3) or is unknown.
pub fn layout(suite: u16) -> Option<Layout> {
    let s = TlsCipherSuite::from_id(suite)?;
    // RFC 6655 §4 defines TLS_PSK_DHE_WITH_AES_*_CCM_8 as DHE_PSK suites;
    // tls-parser's table lists their fields the other way round.
    if matches!(suite, 0xC0AA | 0xC0AB) {
        return Some(Layout { method: KexMethod::DhePsk, signed: false });
    }
    // PSK-authenticated suites (DHE_PSK, ECDHE_PSK, RSA_PSK) sign nothing.
    let signed = matches!(
        s.au,
        TlsCipherAu::Rsa | TlsCipherAu::Dss | TlsCipherAu::Ecdsa | TlsCipherAu::Srp_Rsa | TlsCipherAu::Srp_Dss
    );
    let method = match (s.kx, s.au) {
        (TlsCipherKx::Dhe, TlsCipherAu::Psk) => KexMethod::DhePsk,
        (TlsCipherKx::Dhe, _) => KexMethod::Dhe,
        (TlsCipherKx::Ecdhe, TlsCipherAu::Psk) => KexMethod::EcdhePsk,
        (TlsCipherKx::Ecdhe, _) => KexMethod::Ecdhe,
        (TlsCipherKx::Dh, TlsCipherAu::Null) => KexMethod::DhAnon,
        (TlsCipherKx::Ecdh | TlsCipherKx::Aecdh, TlsCipherAu::Null) => KexMethod::EcdhAnon,
        (TlsCipherKx::Psk, _) => KexMethod::Psk,
        (TlsCipherKx::Rsa, TlsCipherAu::Psk) => KexMethod::RsaPsk,
        // Only export suites send a temporary RSA key; any RSA suite that
        // does is read the same way.
        (TlsCipherKx::Rsa, _) => KexMethod::RsaExport,
        (TlsCipherKx::Srp, _) => KexMethod::Srp,
        (TlsCipherKx::Eccpwd, _) => KexMethod::Eccpwd,
        _ => return None,
    };
    Some(Layout { method, signed })
}

/// A bounds-checked reader over the message body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.0.get(..2)?;
        self.0 = &self.0[2..];
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.0.get(..n)?;
        self.0 = &self.0[n..];
        Some(b)
    }

    /// A vector with a one-byte length.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()? as usize;
        self.bytes(n)
    }

    /// A vector with a two-byte length.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.bytes(n)
    }
}

/// Bits of a big-endian unsigned integer, leading zeros not counted.
pub fn significant_bits(value: &[u8]) -> u32 {
    let lead = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    match value[lead..].first() {
        Some(b) => (value.len() - lead - 1) as u32 * 8 + (8 - b.leading_zeros()),
        None => 0,
    }
}

/// Reads a ServerKeyExchange body by `layout`; `tls12` says whether the
/// signature names its scheme. None when the body does not fit the layout.
pub fn parse(body: &[u8], layout: Layout, tls12: bool) -> Option<KeyExchangeFacts> {
    let mut r = Reader(body);
    let mut kx = KeyExchangeFacts {
        method: layout.method,
        dh_bits: None,
        srp_bits: None,
        rsa_bits: None,
        curve: None,
        psk_hint: false,
        signed: layout.signed,
        signature_scheme: None,
        server_public: None,
    };
    if matches!(layout.method, KexMethod::DhePsk | KexMethod::EcdhePsk | KexMethod::Psk | KexMethod::RsaPsk) {
        kx.psk_hint = !r.vec16()?.is_empty();
    }
    match layout.method {
        KexMethod::Dhe | KexMethod::DhePsk | KexMethod::DhAnon => {
            let prime = r.vec16()?;
            let _generator = r.vec16()?;
            let public = r.vec16()?;
            kx.dh_bits = Some(significant_bits(prime));
            kx.server_public = Some(public_value_digest(public));
        }
        KexMethod::Ecdhe | KexMethod::EcdhePsk | KexMethod::EcdhAnon => {
            let (rest, params) = tls_parser::parse_ecdh_params(r.0).ok()?;
            r.0 = rest;
            kx.curve = Some(match params.curve_params.params_content {
                ECParametersContent::NamedGroup(g) => g.0,
                // Explicit curve parameters: prime field or characteristic two.
                _ if params.curve_params.curve_type.0 == 1 => 0xFF01,
                _ => 0xFF02,
            });
            kx.server_public = Some(public_value_digest(params.public.point));
        }
        KexMethod::Psk | KexMethod::RsaPsk => {}
        KexMethod::Srp => {
            let prime = r.vec16()?;
            let _generator = r.vec16()?;
            let _salt = r.vec8()?;
            let public = r.vec16()?;
            kx.srp_bits = Some(significant_bits(prime));
            kx.server_public = Some(public_value_digest(public));
        }
        KexMethod::RsaExport => {
            let modulus = r.vec16()?;
            let _exponent = r.vec16()?;
            kx.rsa_bits = Some(significant_bits(modulus));
        }
        KexMethod::Eccpwd => {
            let _salt = r.vec8()?;
            let (rest, params) = tls_parser::parse_ecdh_params(r.0).ok()?;
            r.0 = rest;
            if let ECParametersContent::NamedGroup(g) = params.curve_params.params_content {
                kx.curve = Some(g.0);
            }
            let _scalar = r.vec8()?;
            kx.server_public = Some(public_value_digest(params.public.point));
        }
    }
    if layout.signed {
        if tls12 {
            kx.signature_scheme = Some(r.u16()?);
        }
        let _signature = r.vec16()?;
    }
    r.0.is_empty().then_some(kx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_follow_the_key_exchange_not_the_cipher() {
        let method = |id| layout(id).map(|l| (l.method, l.signed));
        assert_eq!(method(0xCCAD), Some((KexMethod::DhePsk, false)));
        assert_eq!(method(0xCCAC), Some((KexMethod::EcdhePsk, false)));
        assert_eq!(method(0xCCAB), Some((KexMethod::Psk, false)));
        assert_eq!(method(0xCCAE), Some((KexMethod::RsaPsk, false)));
        assert_eq!(method(0xCCAA), Some((KexMethod::Dhe, true)));
        assert_eq!(method(0xC02F), Some((KexMethod::Ecdhe, true)));
        assert_eq!(method(0x00A6), Some((KexMethod::DhAnon, false)));
        assert_eq!(method(0xC018), Some((KexMethod::EcdhAnon, false)));
        assert_eq!(method(0xC01D), Some((KexMethod::Srp, false)));
        assert_eq!(method(0xC01E), Some((KexMethod::Srp, true)));
        assert_eq!(method(0xC0AA), Some((KexMethod::DhePsk, false)));
        assert_eq!(method(0x0003), Some((KexMethod::RsaExport, true)));
        // Static DH from a certificate and TLS 1.3 send no ServerKeyExchange.
        assert_eq!(method(0x0031), None);
        assert_eq!(method(0x1301), None);
    }

    /// ECCPWD (RFC 8492) has no stack that records it; one message by hand:
    /// salt, secp256r1, a 65-byte element, a 32-byte scalar, no signature.
    #[test]
    fn eccpwd_reads_salt_curve_element_and_scalar() {
        let mut body = vec![4, 1, 2, 3, 4, 3, 0x00, 0x17, 65, 4];
        body.extend([7u8; 64]);
        body.push(32);
        body.extend([9u8; 32]);
        let l = layout(0xC0B0).expect("ECCPWD suite");
        let kx = parse(&body, l, true).expect("fits the layout");
        assert_eq!((kx.method, kx.curve, kx.signed), (KexMethod::Eccpwd, Some(0x0017), false));
        assert!(parse(&body[..body.len() - 1], l, true).is_none(), "a short scalar is malformed");
    }

    #[test]
    fn significant_bits_ignore_leading_zeros() {
        assert_eq!(significant_bits(&[0, 0, 0x80, 0]), 16);
        assert_eq!(significant_bits(&[0x01]), 1);
        assert_eq!(significant_bits(&[0, 0]), 0);
        assert_eq!(significant_bits(&[]), 0);
    }
}
