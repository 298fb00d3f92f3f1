//! Bearer secrets: sign-in links, sessions, invites (and later share, submit and
//! tracking links). A token is 256 random bits, shown to its holder once, base64url
//! encoded. Stores keep only its SHA-256 ([`TokenHash`]) and look up by it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ports::Rng;

/// Number of random bytes in a token (256 bits).
pub const TOKEN_BYTES: usize = 32;

/// A plain token. Its `Debug` never prints the secret, and its memory is wiped on drop.
#[derive(Clone)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// Draws a fresh token from the random source.
    pub fn generate(rng: &dyn Rng) -> Self {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        rng.fill(bytes.as_mut());
        Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
    }

    /// Accepts a token presented by a client. Anything that cannot be one of ours
    /// (wrong length or alphabet) is refused before it reaches a store.
    pub fn parse(presented: &str) -> Option<Self> {
        let well_formed =
            presented.len() == 43 && presented.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(Zeroizing::new(presented.to_owned())))
    }

    /// The secret itself, to be shown once (in a URL or a cookie).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash the stores keep.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// SHA-256 of a token: what the database holds.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps 32 bytes read back from a store.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads a stored digest of any length; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}

impl PartialEq for TokenHash {
    /// Constant-time: a store found the row by this hash, and the use case checks the
    /// match again without leaking timing.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeqRng;

    #[test]
    fn tokens_are_256_bits_base64url_and_parse_back() {
        let rng = SeqRng::default();
        let t = Token::generate(&rng);
        assert_eq!(t.expose().len(), 43);
        let back = Token::parse(t.expose()).expect("own token parses");
        assert_eq!(back.hash(), t.hash());
        assert_ne!(Token::generate(&rng).hash(), t.hash());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "short", &"a".repeat(44), &format!("{}=", "a".repeat(42)), &"ä".repeat(22)] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let t = Token::generate(&SeqRng::default());
        assert!(!format!("{t:?}").contains(t.expose()));
    }
}
