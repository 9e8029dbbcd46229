//! Content addresses: blake3 hashes as 64 lowercase hex characters.

use super::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The blake3 hash of a code blob; also the blob's name on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeHash([u8; 32]);

impl CodeHash {
    pub fn of(bytes: &[u8]) -> Self {
        CodeHash(*blake3::hash(bytes).as_bytes())
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let mut out = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() || s.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(Invalid::new(format!(
                "Invalid code hash '{}': expected 64 lowercase hex characters (blake3)",
                super::names::truncate(s)
            )));
        }
        Ok(CodeHash(out))
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// blake3 of any content (configuration versions), as 64 lowercase hex characters.
pub fn content_hash_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

impl fmt::Display for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl TryFrom<String> for CodeHash {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        CodeHash::parse(&s)
    }
}
impl From<CodeHash> for String {
    fn from(h: CodeHash) -> String {
        h.to_hex()
    }
}

/// blake3 of arbitrary bytes as hex: used for artifacts, whose hash is recorded at compile
/// time and checked before every load.
pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = CodeHash::of(b"abc");
        assert_eq!(CodeHash::parse(&h.to_hex()).unwrap(), h);
        assert!(CodeHash::parse("abc").is_err());
        assert!(CodeHash::parse(&h.to_hex().to_uppercase()).is_err());
        assert!(CodeHash::parse(&"g".repeat(64)).is_err());
    }
}
