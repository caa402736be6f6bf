//! Serde forms of the decimals inside [`State`](crate::State), for checkpoints stored with
//! bincode in serde mode.
//!
//! `rust_decimal`'s own serde form is a string read back through `deserialize_any`, which
//! bincode cannot decode; these `with` modules store a decimal as its exact 16-byte form
//! (`Decimal::serialize`), so a decoded state equals the encoded one bit for bit (scale
//! included: `1.50` stays `1.50`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A decimal as its 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bytes(pub Decimal);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Bytes(Decimal::deserialize(<[u8; 16]>::deserialize(d)?)))
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

/// `BTreeMap<K, Decimal>`.
pub(crate) mod dec_map {
    use super::*;
    pub fn serialize<K: Serialize + Ord, S: Serializer>(
        m: &BTreeMap<K, Decimal>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, Bytes(*v))))
    }
    pub fn deserialize<'de, K: Deserialize<'de> + Ord, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<K, Decimal>, D::Error> {
        let m = BTreeMap::<K, Bytes>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
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
