//! Serde forms of the decimals inside [`State`](crate::State), for checkpoints stored with
//! bincode in serde mode.
//!
//! `rust_decimal`'s own serde form is a string read back through `deserialize_any`, which
//! bincode cannot decode; these `with` modules store a decimal as its sign, scale and
//! mantissa (see [`Bytes`]), so a decoded state equals the encoded one bit for bit (scale
//! included: `1.50` stays `1.50`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A decimal as one byte of sign and scale and its mantissa as a bincode varint: a money
/// amount takes 5 to 9 bytes instead of 16, and decodes back bit for bit (sign of zero and
/// scale included: `1.50` stays `1.50`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bytes(pub Decimal);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        // Scale is at most 28: bit 7 holds the sign.
        let head = (d.scale() as u8) | if d.is_sign_negative() { 0x80 } else { 0 };
        (head, d.mantissa().unsigned_abs()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (head, m) = <(u8, u128)>::deserialize(d)?;
        let bad = || serde::de::Error::custom("a decimal out of range");
        let m = i128::try_from(m).map_err(|_| bad())?;
        let mut x =
            Decimal::try_from_i128_with_scale(m, u32::from(head & 0x7f)).map_err(|_| bad())?;
        x.set_sign_negative(head & 0x80 != 0);
        Ok(Bytes(x))
    }
}

/// `Decimal`.
pub(crate) mod dec {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        Bytes(*d).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        Ok(Bytes::deserialize(d)?.0)
    }
}

/// `Option<Decimal>`.
pub(crate) mod opt_dec {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        d.map(Bytes).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Ok(Option::<Bytes>::deserialize(d)?.map(|b| b.0))
    }
}

/// `BTreeMap<K, Option<Decimal>>`.
pub(crate) mod opt_dec_map {
    use super::*;
    pub fn serialize<K: Serialize + Ord, S: Serializer>(
        m: &BTreeMap<K, Option<Decimal>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, v.map(Bytes))))
    }
    pub fn deserialize<'de, K: Deserialize<'de> + Ord, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<K, Option<Decimal>>, D::Error> {
        let m = BTreeMap::<K, Option<Bytes>>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.map(|b| b.0))).collect())
    }
}
