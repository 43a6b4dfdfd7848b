//! STAC `file:checksum` values: self-describing [multihashes] in lowercase hex, and the hashers
//! that check them.
//!
//! Every algorithm a STAC item is likely to name is supported: MD5 and SHA-1 (weak: they catch
//! accidents, not tampering), SHA-2 (224, 256, 384, 512, 512/224, 512/256), SHA-3 (224, 256, 384,
//! 512), BLAKE2b and BLAKE2s at every length the multihash table gives them, and BLAKE3. A digest
//! shorter than the algorithm's output is a truncated one (the multihash rule) and compared as
//! such. Unknown codes are reported, never guessed at.
//!
//! [multihashes]: https://github.com/multiformats/multihash

use std::fmt;

use serde::{Serialize, Serializer};
use sha2::Digest;

/// A hash algorithm named by a multihash code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `md5` (0xd5). Weak.
    Md5,
    /// `sha1` (0x11). Weak.
    Sha1,
    /// `sha2-224` (0x1013).
    Sha2_224,
    /// `sha2-256` (0x12).
    Sha2_256,
    /// `sha2-384` (0x20).
    Sha2_384,
    /// `sha2-512` (0x13).
    Sha2_512,
    /// `sha2-512-224` (0x1014).
    Sha2_512_224,
    /// `sha2-512-256` (0x1015).
    Sha2_512_256,
    /// `sha3-224` (0x17).
    Sha3_224,
    /// `sha3-256` (0x16).
    Sha3_256,
    /// `sha3-384` (0x15).
    Sha3_384,
    /// `sha3-512` (0x14).
    Sha3_512,
    /// `blake2b-<bits>` (0xb201..=0xb240): the output length in bytes, 1 to 64.
    Blake2b(u8),
    /// `blake2s-<bits>` (0xb241..=0xb260): the output length in bytes, 1 to 32.
    Blake2s(u8),
    /// `blake3` (0x1e), an extendable output: any length.
    Blake3,
}

/// Wyvern's algorithm: what its STAC items carry.
pub const WYVERN_ALGORITHM: Algorithm = Algorithm::Blake2b(64);

impl Algorithm {
    /// The algorithms STAC items are seen to use: every fixed one, and BLAKE2b/BLAKE2s at their
    /// usual lengths.
    pub const ALL: [Self; 17] = [
        Self::Md5,
        Self::Sha1,
        Self::Sha2_224,
        Self::Sha2_256,
        Self::Sha2_384,
        Self::Sha2_512,
        Self::Sha2_512_224,
        Self::Sha2_512_256,
        Self::Sha3_224,
        Self::Sha3_256,
        Self::Sha3_384,
        Self::Sha3_512,
        Self::Blake2b(32),
        Self::Blake2b(48),
        Self::Blake2b(64),
        Self::Blake2s(32),
        Self::Blake3,
    ];

    /// The algorithm of a multihash code, `None` when it is not one of these.
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0xd5 => Self::Md5,
            0x11 => Self::Sha1,
            0x1013 => Self::Sha2_224,
            0x12 => Self::Sha2_256,
            0x20 => Self::Sha2_384,
            0x13 => Self::Sha2_512,
            0x1014 => Self::Sha2_512_224,
            0x1015 => Self::Sha2_512_256,
            0x17 => Self::Sha3_224,
            0x16 => Self::Sha3_256,
            0x15 => Self::Sha3_384,
            0x14 => Self::Sha3_512,
            0xb201..=0xb240 => Self::Blake2b((code - 0xb200) as u8),
            0xb241..=0xb260 => Self::Blake2s((code - 0xb240) as u8),
            0x1e => Self::Blake3,
            _ => return None,
        })
    }

    /// The multihash code.
    pub fn code(self) -> u64 {
        match self {
            Self::Md5 => 0xd5,
            Self::Sha1 => 0x11,
            Self::Sha2_224 => 0x1013,
            Self::Sha2_256 => 0x12,
            Self::Sha2_384 => 0x20,
            Self::Sha2_512 => 0x13,
            Self::Sha2_512_224 => 0x1014,
            Self::Sha2_512_256 => 0x1015,
            Self::Sha3_224 => 0x17,
            Self::Sha3_256 => 0x16,
            Self::Sha3_384 => 0x15,
            Self::Sha3_512 => 0x14,
            Self::Blake2b(bytes) => 0xb200 + u64::from(bytes),
            Self::Blake2s(bytes) => 0xb240 + u64::from(bytes),
            Self::Blake3 => 0x1e,
        }
    }

    /// The digest's natural length in bytes (BLAKE3's default for an extendable output).
    pub fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha2_224 | Self::Sha2_512_224 | Self::Sha3_224 => 28,
            Self::Sha2_256 | Self::Sha2_512_256 | Self::Sha3_256 | Self::Blake3 => 32,
            Self::Sha2_384 | Self::Sha3_384 => 48,
            Self::Sha2_512 | Self::Sha3_512 => 64,
            Self::Blake2b(bytes) | Self::Blake2s(bytes) => usize::from(bytes),
        }
    }

    /// MD5 and SHA-1 have known collisions: a match catches accidents, not tampering.
    pub fn is_weak(self) -> bool {
        matches!(self, Self::Md5 | Self::Sha1)
    }

    /// A hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        Hasher(match self {
            Self::Md5 => State::Md5(md5::Md5::new()),
            Self::Sha1 => State::Sha1(sha1::Sha1::new()),
            Self::Sha2_224 => State::Sha2_224(sha2::Sha224::new()),
            Self::Sha2_256 => State::Sha2_256(sha2::Sha256::new()),
            Self::Sha2_384 => State::Sha2_384(sha2::Sha384::new()),
            Self::Sha2_512 => State::Sha2_512(sha2::Sha512::new()),
            Self::Sha2_512_224 => State::Sha2_512_224(sha2::Sha512_224::new()),
            Self::Sha2_512_256 => State::Sha2_512_256(sha2::Sha512_256::new()),
            Self::Sha3_224 => State::Sha3_224(sha3::Sha3_224::new()),
            Self::Sha3_256 => State::Sha3_256(sha3::Sha3_256::new()),
            Self::Sha3_384 => State::Sha3_384(sha3::Sha3_384::new()),
            Self::Sha3_512 => State::Sha3_512(sha3::Sha3_512::new()),
            Self::Blake2b(bytes) => {
                State::Blake2b(blake2b_simd::Params::new().hash_length(usize::from(bytes)).to_state())
            }
            Self::Blake2s(bytes) => {
                State::Blake2s(blake2s_simd::Params::new().hash_length(usize::from(bytes)).to_state())
            }
            Self::Blake3 => State::Blake3(Box::default()),
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Md5 => f.write_str("md5"),
            Self::Sha1 => f.write_str("sha1"),
            Self::Sha2_224 => f.write_str("sha2-224"),
            Self::Sha2_256 => f.write_str("sha2-256"),
            Self::Sha2_384 => f.write_str("sha2-384"),
            Self::Sha2_512 => f.write_str("sha2-512"),
            Self::Sha2_512_224 => f.write_str("sha2-512-224"),
            Self::Sha2_512_256 => f.write_str("sha2-512-256"),
            Self::Sha3_224 => f.write_str("sha3-224"),
            Self::Sha3_256 => f.write_str("sha3-256"),
            Self::Sha3_384 => f.write_str("sha3-384"),
            Self::Sha3_512 => f.write_str("sha3-512"),
            Self::Blake2b(bytes) => write!(f, "blake2b-{}", u32::from(*bytes) * 8),
            Self::Blake2s(bytes) => write!(f, "blake2s-{}", u32::from(*bytes) * 8),
            Self::Blake3 => f.write_str("blake3"),
        }
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A hex multihash, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Multihash {
    /// One of the supported algorithms, with the digest to compare against.
    Known {
        /// The algorithm.
        algorithm: Algorithm,
        /// The expected digest (possibly truncated).
        digest: Vec<u8>,
    },
    /// A well-formed multihash whose code is not a supported algorithm.
    Unknown {
        /// The code.
        code: u64,
    },
}

impl Multihash {
    /// Parses a `file:checksum` value; `Err` says why it is not a multihash.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text.trim()).map_err(|e| format!("not hexadecimal ({e})"))?;
        let mut rest = bytes.as_slice();
        let code = varint(&mut rest).ok_or("the code is not a valid varint")?;
        let len = varint(&mut rest).ok_or("the length is not a valid varint")?;
        if len != rest.len() as u64 {
            return Err(format!("it says {len} digest bytes but holds {}", rest.len()));
        }
        let Some(algorithm) = Algorithm::from_code(code) else {
            return Ok(Self::Unknown { code });
        };
        let longest = if algorithm == Algorithm::Blake3 { BLAKE3_KEPT } else { algorithm.output_len() };
        if rest.is_empty() || rest.len() > longest {
            return Err(format!("{algorithm} digests of {} bytes are not supported (1 to {longest})", rest.len()));
        }
        Ok(Self::Known { algorithm, digest: rest.to_vec() })
    }

    /// The hex multihash of `digest` computed with `algorithm`.
    pub fn encode(algorithm: Algorithm, digest: &[u8]) -> String {
        let mut out = Vec::with_capacity(digest.len() + 6);
        put_varint(&mut out, algorithm.code());
        put_varint(&mut out, digest.len() as u64);
        out.extend_from_slice(digest);
        hex::encode(out)
    }
}

/// An unsigned LEB128 varint of at most 9 bytes (the multiformats limit).
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(9) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A running digest of one algorithm.
#[derive(Clone)]
pub struct Hasher(State);

#[derive(Clone)]
enum State {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha2_224(sha2::Sha224),
    Sha2_256(sha2::Sha256),
    Sha2_384(sha2::Sha384),
    Sha2_512(sha2::Sha512),
    Sha2_512_224(sha2::Sha512_224),
    Sha2_512_256(sha2::Sha512_256),
    Sha3_224(sha3::Sha3_224),
    Sha3_256(sha3::Sha3_256),
    Sha3_384(sha3::Sha3_384),
    Sha3_512(sha3::Sha3_512),
    Blake2b(blake2b_simd::State),
    Blake2s(blake2s_simd::State),
    Blake3(Box<blake3::Hasher>),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// Hashes more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            State::Md5(h) => h.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha2_224(h) => h.update(data),
            State::Sha2_256(h) => h.update(data),
            State::Sha2_384(h) => h.update(data),
            State::Sha2_512(h) => h.update(data),
            State::Sha2_512_224(h) => h.update(data),
            State::Sha2_512_256(h) => h.update(data),
            State::Sha3_224(h) => h.update(data),
            State::Sha3_256(h) => h.update(data),
            State::Sha3_384(h) => h.update(data),
            State::Sha3_512(h) => h.update(data),
            State::Blake2b(h) => {
                h.update(data);
            }
            State::Blake2s(h) => {
                h.update(data);
            }
            State::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// The digest: the algorithm's natural length (BLAKE3: 64 bytes of its output,
    /// enough for any multihash a STAC item carries).
    pub fn finalize(self) -> Vec<u8> {
        match self.0 {
            State::Md5(h) => h.finalize().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha2_224(h) => h.finalize().to_vec(),
            State::Sha2_256(h) => h.finalize().to_vec(),
            State::Sha2_384(h) => h.finalize().to_vec(),
            State::Sha2_512(h) => h.finalize().to_vec(),
            State::Sha2_512_224(h) => h.finalize().to_vec(),
            State::Sha2_512_256(h) => h.finalize().to_vec(),
            State::Sha3_224(h) => h.finalize().to_vec(),
            State::Sha3_256(h) => h.finalize().to_vec(),
            State::Sha3_384(h) => h.finalize().to_vec(),
            State::Sha3_512(h) => h.finalize().to_vec(),
            State::Blake2b(h) => h.finalize().as_bytes().to_vec(),
            State::Blake2s(h) => h.finalize().as_bytes().to_vec(),
            State::Blake3(h) => {
                let mut out = vec![0; BLAKE3_KEPT];
                h.finalize_xof().fill(&mut out);
                out
            }
        }
    }
}

/// How much of BLAKE3's extendable output is computed: longer BLAKE3 multihashes are reported as
/// not supported.
pub(crate) const BLAKE3_KEPT: usize = 64;

/// How a computed digest compares with an expected multihash digest: equal on the expected
/// length (a truncated multihash compares a prefix).
pub fn digest_matches(expected: &[u8], actual: &[u8]) -> bool {
    !expected.is_empty() && actual.len() >= expected.len() && actual[..expected.len()] == *expected
}

#[cfg(test)]
mod tests {
    use super::{Algorithm, Multihash};

    /// The digests of "abc" in well-known test vectors, as multihashes.
    #[test]
    fn known_vectors_round_trip() {
        let vectors = [
            (Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (Algorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (Algorithm::Sha2_256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                Algorithm::Sha2_512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (Algorithm::Sha3_256, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
            (Algorithm::Blake2s(32), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"),
            (Algorithm::Blake3, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"),
        ];
        for (algorithm, hex_digest) in vectors {
            let mut hasher = algorithm.hasher();
            hasher.update(b"a");
            hasher.update(b"bc");
            let digest = hasher.finalize();
            assert_eq!(hex::encode(&digest[..algorithm.output_len()]), hex_digest, "{algorithm}");
            let encoded = Multihash::encode(algorithm, &digest[..algorithm.output_len()]);
            assert_eq!(
                Multihash::parse(&encoded),
                Ok(Multihash::Known { algorithm, digest: hex::decode(hex_digest).expect("hex") }),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn codes_and_prefixes() {
        assert!(Multihash::encode(Algorithm::Blake2b(64), &[0; 64]).starts_with("c0e40240"));
        assert!(Multihash::encode(Algorithm::Blake2b(32), &[0; 32]).starts_with("a0e40220"));
        assert!(Multihash::encode(Algorithm::Sha2_256, &[0; 32]).starts_with("1220"));
        assert!(Multihash::encode(Algorithm::Md5, &[0; 16]).starts_with("d50110"));
        assert_eq!(Algorithm::Blake2b(32).to_string(), "blake2b-256");
        for algorithm in [Algorithm::Sha2_224, Algorithm::Sha3_512, Algorithm::Blake2s(16), Algorithm::Sha2_512_256] {
            assert_eq!(Algorithm::from_code(algorithm.code()), Some(algorithm));
        }
    }

    #[test]
    fn malformed_and_unknown() {
        assert_eq!(Multihash::parse("1203aabb"), Err("it says 3 digest bytes but holds 2".to_owned()));
        assert!(Multihash::parse("zz").is_err());
        assert!(Multihash::parse("1205abcd").is_err(), "length says 5, holds 2");
        assert!(Multihash::parse("12ff").is_err(), "an unfinished varint");
        assert_eq!(Multihash::parse("a40302aabb"), Ok(Multihash::Unknown { code: 0x1a4 }));
        assert!(Multihash::parse(&format!("1221{}", "00".repeat(33))).is_err(), "33 bytes of SHA-256");
    }
}
