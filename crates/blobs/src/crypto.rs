//! The at-rest format of a blob: a header, then the plaintext in 64 KiB chunks, each
//! sealed with AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar, Rogaway,
//! Vizár): the nonce carries the chunk's position and a last-chunk flag, so chunks
//! cannot be reordered, dropped or appended, and the blob cannot be truncated,
//! undetected.
//!
//! ```text
//! header  = "WVB1" ‖ salt (16 random bytes)                        20 bytes
//! chunk i = AES-256-GCM(key, nonce = 0⁵⁶ ‖ i (32-bit BE) ‖ last, aad, plaintext i) ‖ tag (16)
//! key     = HKDF-SHA256(ikm = workspace data key, salt, info = "workvault blob v1" ‖ workspace id ‖ name)
//! aad     = "workvault blob v1" ‖ workspace id ‖ name
//! ```
//!
//! AES-256-GCM is `ring`'s (the TLS stack's own, with the CPU's AES and carry-less
//! multiply instructions); the STREAM nonce is laid out as RustCrypto's `StreamBE32`
//! lays it out.
//!
//! Every blob has its own key (derived with a fresh salt), so the all-zero nonce
//! prefix is never reused under one key, and a blob copied under another name or into
//! another workspace does not decrypt. Chunk `i` of the plaintext is at ciphertext
//! offset `HEADER + i × (CHUNK + TAG)`, so a ranged read fetches and opens only the
//! chunks it needs.

use hkdf::Hkdf;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;
use workvault_domain::blob::{BlobError, BlobKey, DataKey};
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK: u64 = 64 * 1024;
/// The AEAD tag after each chunk.
pub const TAG: u64 = 16;
/// The header's length.
pub const HEADER: u64 = 20;
const MAGIC: &[u8; 4] = b"WVB1";
const INFO: &[u8] = b"workvault blob v1";

/// How many chunks a plaintext of `size` bytes takes (an empty blob has one, empty,
/// last chunk, so even it authenticates).
pub fn chunks(size: u64) -> u64 {
    size.div_ceil(CHUNK).max(1)
}

/// The ciphertext length of a plaintext of `size` bytes.
pub fn sealed_len(size: u64) -> u64 {
    HEADER + chunks(size) * TAG + size
}

/// Where sealed chunk `i` starts.
pub fn chunk_offset(i: u64) -> u64 {
    HEADER + i * (CHUNK + TAG)
}

/// The cipher of one blob.
pub struct BlobCipher {
    key: LessSafeKey,
    aad: Vec<u8>,
}

impl std::fmt::Debug for BlobCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobCipher([redacted])")
    }
}

/// The STREAM nonce of chunk `i`: a zero prefix (7 bytes), the 32-bit big-endian
/// position, the last-chunk flag.
fn nonce(i: u64, last: bool) -> Result<Nonce, BlobError> {
    let pos = u32::try_from(i).map_err(|_| BlobError::Corrupt("chunk index out of range".into()))?;
    let mut n = [0u8; 12];
    n[7..11].copy_from_slice(&pos.to_be_bytes());
    n[11] = u8::from(last);
    Ok(Nonce::assume_unique_for_key(n))
}

impl BlobCipher {
    /// The header of a new blob with this salt.
    pub fn header(salt: &[u8; 16]) -> [u8; HEADER as usize] {
        let mut h = [0u8; HEADER as usize];
        h[..4].copy_from_slice(MAGIC);
        h[4..].copy_from_slice(salt);
        h
    }

    /// The salt of a stored header, if it is one of ours.
    pub fn salt_of(header: &[u8]) -> Result<[u8; 16], BlobError> {
        if header.len() < HEADER as usize || &header[..4] != MAGIC {
            return Err(BlobError::Corrupt("not a Workvault blob (bad header)".into()));
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&header[4..HEADER as usize]);
        Ok(salt)
    }

    /// The cipher for blob `key` with `salt`, under the workspace's data key.
    pub fn new(dek: &DataKey, salt: &[u8; 16], key: &BlobKey) -> Self {
        let mut aad = Vec::with_capacity(INFO.len() + 16 + key.name.len());
        aad.extend_from_slice(INFO);
        aad.extend_from_slice(key.workspace.as_uuid().as_bytes());
        aad.extend_from_slice(key.name.as_bytes());
        let mut okm = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 255 × 32 limit, so expand cannot fail.
        let _ = Hkdf::<Sha256>::new(Some(salt), dek.expose()).expand(&aad, okm.as_mut());
        // A 32-byte key is what AES-256-GCM takes, so this cannot fail either.
        let unbound = UnboundKey::new(&AES_256_GCM, okm.as_ref()).unwrap_or_else(|_| unreachable!());
        Self { key: LessSafeKey::new(unbound), aad }
    }

    /// Seals plaintext chunk `i` in place (appends the tag).
    pub fn seal(&self, i: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), BlobError> {
        let tag = self.seal_in_place(i, last, buf)?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Seals plaintext chunk `i` in place, in a slice of a larger buffer; returns the
    /// tag, which goes right after it.
    pub fn seal_in_place(&self, i: u64, last: bool, chunk: &mut [u8]) -> Result<[u8; TAG as usize], BlobError> {
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(i, last)?, Aad::from(&self.aad), chunk)
            .map_err(|_| BlobError::Corrupt("could not seal a chunk".into()))?;
        let mut out = [0u8; TAG as usize];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens sealed chunk `i` in place (checks and removes the tag).
    pub fn open(&self, i: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), BlobError> {
        let plain = self
            .key
            .open_in_place(nonce(i, last)?, Aad::from(&self.aad), buf)
            .map_err(|_| BlobError::Corrupt(format!("chunk {i} does not authenticate")))?
            .len();
        buf.truncate(plain);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workvault_domain::id::WorkspaceId;

    fn key(ws: u128, name: &str) -> BlobKey {
        BlobKey::new(WorkspaceId::from_uuid(uuid::Uuid::from_u128(ws)), name).expect("valid name")
    }

    fn seal_all(c: &BlobCipher, plain: &[u8]) -> Vec<Vec<u8>> {
        let n = chunks(plain.len() as u64);
        (0..n)
            .map(|i| {
                let start = (i * CHUNK) as usize;
                let end = (start + CHUNK as usize).min(plain.len());
                let mut buf = plain[start..end].to_vec();
                c.seal(i, i + 1 == n, &mut buf).expect("seal");
                buf
            })
            .collect()
    }

    #[test]
    fn layout_arithmetic() {
        assert_eq!(chunks(0), 1);
        assert_eq!(chunks(1), 1);
        assert_eq!(chunks(CHUNK), 1);
        assert_eq!(chunks(CHUNK + 1), 2);
        assert_eq!(sealed_len(0), HEADER + TAG);
        assert_eq!(sealed_len(CHUNK + 1), HEADER + 2 * TAG + CHUNK + 1);
        assert_eq!(chunk_offset(2), HEADER + 2 * (CHUNK + TAG));
    }

    #[test]
    fn chunks_open_only_in_place_under_their_own_key() {
        let dek = DataKey::from_bytes([7; 32]);
        let salt = [1; 16];
        let k = key(1, "photo-a");
        let c = BlobCipher::new(&dek, &salt, &k);
        let plain: Vec<u8> = (0..(2 * CHUNK + 10)).map(|i| (i % 251) as u8).collect();
        let sealed = seal_all(&c, &plain);
        assert_eq!(sealed.len(), 3);
        // Each chunk opens at its own position with the right last flag.
        let mut c1 = sealed[1].clone();
        c.open(1, false, &mut c1).expect("open");
        assert_eq!(&c1[..], &plain[CHUNK as usize..2 * CHUNK as usize]);
        // Reordered, or the last chunk dropped (truncation): refused.
        assert!(c.open(0, false, &mut sealed[1].clone()).is_err(), "moved chunk");
        assert!(c.open(1, true, &mut sealed[1].clone()).is_err(), "truncated after chunk 1");
        // A flipped bit: refused.
        let mut flipped = sealed[2].clone();
        flipped[3] ^= 1;
        assert!(c.open(2, true, &mut flipped).is_err());
        // Another workspace, another name, another key, another salt: refused.
        for other in [
            BlobCipher::new(&dek, &salt, &key(2, "photo-a")),
            BlobCipher::new(&dek, &salt, &key(1, "photo-b")),
            BlobCipher::new(&DataKey::from_bytes([8; 32]), &salt, &k),
            BlobCipher::new(&dek, &[2; 16], &k),
        ] {
            assert!(other.open(2, true, &mut sealed[2].clone()).is_err());
        }
    }

    #[test]
    fn headers_round_trip_and_foreign_bytes_are_refused() {
        let salt = [9; 16];
        assert_eq!(BlobCipher::salt_of(&BlobCipher::header(&salt)).expect("ours"), salt);
        assert!(BlobCipher::salt_of(b"\xff\xd8\xff\xe0 a plain JPEG....").is_err());
        assert!(BlobCipher::salt_of(b"WVB1").is_err());
    }
}
