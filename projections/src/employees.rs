//! The fold's employees: listed in id order (every output, checkpoint part and digest lists
//! them so) and found by id with one hash probe.
//!
//! Why not a `BTreeMap<EmployeeId, Employee>` (what this replaced, issue 15): nearly every
//! record is a payroll, and each looked its employee up by id string through the tree — at
//! 10,000 employees some thirty string compares and a cache miss a level, at 100,000 a level
//! more; perf of `verify` put that and `Employee`s stored inside the tree's nodes at a large
//! share of the fold. Here the employees live in a `Vec` in the order they were hired, a
//! hash index of places in it finds one, and a `BTreeMap` from id to place keeps the id order for whatever
//! lists them. Nothing observable changes: every iteration is in id order, exactly the
//! order the `BTreeMap` gave, and the serde form is the map's, byte for byte (checkpoint
//! parts, `bincode` of a whole state).
//!
//! The index's hash ([`IdHash`]) is keyed per process (a random seed), never iterated, and
//! never part of any output: a hash map's order cannot leak into a digest.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use espp_events::EmployeeId;
use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::employee::Employee;

/// The employees of a state (see the module's documentation).
#[derive(Clone, Default)]
pub(crate) struct Employees {
    /// Each id's place in `slab`, in id order: the order everything is listed in.
    order: BTreeMap<EmployeeId, u32>,
    /// The employees with their ids, in the order they were first inserted.
    slab: Vec<(EmployeeId, Employee)>,
    /// Each employee's place in `slab`, by the hash of its id: 4 bytes an entry (plus
    /// hashbrown's control byte), so that the index stays in cache and a lookup touches
    /// memory once more only where the employee itself is (its id is compared there).
    index: HashTable<u32>,
    hash: IdHash,
    /// The place last found by [`Employees::get_mut`]. A payroll feed lists a payday's
    /// employees in one order, nearly always the order they were hired in, so the next
    /// employee asked for is most often the one after it in `slab`: looked at there first,
    /// it is found without the index (at 100,000 employees the index no longer stays in
    /// cache while the employees stream through it: perf of a 10M `verify` showed its two
    /// misses, the control bytes and the entry, as most of a payroll's fold).
    hint: u32,
}

impl Employees {
    /// How many employees.
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// The place in `slab` of id `id`.
    #[inline]
    fn place(&self, id: &str) -> Option<usize> {
        let slab = &self.slab;
        let found = self.index.find(self.hash.hash_one(id), |i| {
            slab.get(*i as usize).is_some_and(|(k, _)| k.as_str() == id)
        });
        found.map(|i| *i as usize)
    }

    /// [`Employees::place`], looking first after and at the place last found.
    #[inline]
    fn place_hinted(&self, id: &str) -> Option<usize> {
        let last = self.hint as usize;
        for i in [last + 1, last] {
            if self.slab.get(i).is_some_and(|(k, _)| k.as_str() == id) {
                return Some(i);
            }
        }
        self.place(id)
    }

    /// The employee with id `id`.
    #[inline]
    pub(crate) fn get(&self, id: &str) -> Option<&Employee> {
        self.slab.get(self.place_hinted(id)?).map(|(_, e)| e)
    }

    /// The employee with id `id`, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Employee> {
        let i = self.place_hinted(id)?;
        // `i` fits: every place in `slab` does (see `insert`).
        self.hint = i as u32;
        self.slab.get_mut(i).map(|(_, e)| e)
    }

    /// The stored id equal to `id`, and its employee.
    pub(crate) fn get_key_value(&self, id: &str) -> Option<(&EmployeeId, &Employee)> {
        self.slab.get(self.place(id)?).map(|(k, e)| (k, e))
    }

    /// Whether `id` is here.
    pub(crate) fn contains_key(&self, id: &str) -> bool {
        self.place(id).is_some()
    }

    /// Inserts `e` as `id`; gives back the employee it replaces, if any.
    pub(crate) fn insert(&mut self, id: EmployeeId, e: Employee) -> Option<Employee> {
        if let Some(old) = self.get_mut(id.as_str()) {
            return Some(std::mem::replace(old, e));
        }
        let Some(i) = self.next_place() else {
            return Some(e);
        };
        self.push_at(id.clone(), e, i);
        self.order.insert(id, i);
        None
    }

    /// The place the next employee put in the slab takes. None past `u32::MAX`: more
    /// employees than can be held in memory anyway (each is hundreds of bytes), refused
    /// rather than wrapped.
    fn next_place(&self) -> Option<u32> {
        u32::try_from(self.slab.len()).ok()
    }

    /// Puts `e`, of an id not here, in the slab at place `i` ([`Employees::next_place`])
    /// and in the index, not in `order`.
    fn push_at(&mut self, id: EmployeeId, e: Employee, i: u32) {
        let (slab, hash) = (&self.slab, self.hash);
        self.index
            .insert_unique(hash.hash_one(id.as_str()), i, |j| {
                slab.get(*j as usize)
                    .map_or(0, |(k, _)| hash.hash_one(k.as_str()))
            });
        self.slab.push((id, e));
    }

    /// `order` from the slab, whose ids are all distinct ([`InIdOrder`]).
    fn build_order(&mut self) {
        // Sorted already when the slab is: `collect` then builds the tree in one pass.
        self.order = (0u32..)
            .zip(&self.slab)
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
    }

    /// Room for `n` more employees, if it can be had: for a decode that knows how many
    /// are coming, so that the slab is not grown by doubling (a copy of every employee and
    /// fresh pages at each step: issue 15, a payday's append decodes 10,000). Fallible: a
    /// count read from damaged bytes fails the decode later, not the allocator now.
    pub(crate) fn try_reserve(&mut self, n: usize) {
        if self.slab.try_reserve(n).is_ok() {
            let (slab, hash) = (&self.slab, self.hash);
            let _ = self.index.try_reserve(n, |j| {
                slab.get(*j as usize)
                    .map_or(0, |(k, _)| hash.hash_one(k.as_str()))
            });
        }
    }

    /// Every id, in id order.
    pub(crate) fn keys(&self) -> impl DoubleEndedIterator<Item = &EmployeeId> + '_ {
        self.order.keys()
    }

    /// Every employee with its id, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&EmployeeId, &Employee)> + '_ {
        self.order
            .values()
            .filter_map(|i| self.slab.get(*i as usize).map(|(k, e)| (k, e)))
    }

    /// Every employee, in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Employee> + '_ {
        self.iter().map(|(_, e)| e)
    }

    /// Every employee, in id order, to change (a handler that stops at the first refusal
    /// refuses at the same employee as before).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Employee> + '_ {
        let mut each: Vec<Option<&mut Employee>> =
            self.slab.iter_mut().map(|(_, e)| Some(e)).collect();
        self.order
            .values()
            .filter_map(move |i| each.get_mut(*i as usize).and_then(Option::take))
    }
}

/// Builds [`Employees`] from employees listed in id order, as a checkpoint's blocks list
/// them: each is put in the slab and the index, and the id order is built once at the end
/// from the sorted ids (issue 15: searching it for each of a payday's 10,000 decoded
/// employees was a third of putting them in). One out of order — never written so — and
/// the rest are inserted one by one as usual; the employees are the same either way.
pub(crate) struct InIdOrder {
    employees: Employees,
    /// Every id so far came after the one before, and `order` is not built yet.
    sorted: bool,
}

impl InIdOrder {
    /// Room for `n` employees (as [`Employees::try_reserve`]).
    pub(crate) fn with_room(n: usize) -> Self {
        let mut employees = Employees::default();
        employees.try_reserve(n);
        InIdOrder {
            employees,
            sorted: true,
        }
    }

    /// Adds `e` as `id` (replacing an employee of the same id, as [`Employees::insert`]).
    pub(crate) fn push(&mut self, id: EmployeeId, e: Employee) {
        let all = &mut self.employees;
        if self.sorted && all.slab.last().is_none_or(|(last, _)| *last < id) {
            if let Some(i) = all.next_place() {
                all.push_at(id, e, i);
                return;
            }
        }
        if self.sorted {
            all.build_order();
            self.sorted = false;
        }
        all.insert(id, e);
    }

    /// The employees.
    pub(crate) fn finish(mut self) -> Employees {
        if self.sorted {
            self.employees.build_order();
        }
        self.employees
    }
}

impl<'a> IntoIterator for &'a Employees {
    type Item = (&'a EmployeeId, &'a Employee);
    type IntoIter = Box<dyn Iterator<Item = Self::Item> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl IntoIterator for Employees {
    type Item = (EmployeeId, Employee);
    type IntoIter = std::vec::IntoIter<(EmployeeId, Employee)>;
    /// Every employee with its id, in id order.
    fn into_iter(self) -> Self::IntoIter {
        let mut each: Vec<Option<(EmployeeId, Employee)>> =
            self.slab.into_iter().map(Some).collect();
        let all: Vec<(EmployeeId, Employee)> = self
            .order
            .into_values()
            .filter_map(|i| each.get_mut(i as usize)?.take())
            .collect();
        all.into_iter()
    }
}

impl FromIterator<(EmployeeId, Employee)> for Employees {
    fn from_iter<T: IntoIterator<Item = (EmployeeId, Employee)>>(iter: T) -> Self {
        let mut all = Employees::default();
        all.extend(iter);
        all
    }
}

impl Extend<(EmployeeId, Employee)> for Employees {
    fn extend<T: IntoIterator<Item = (EmployeeId, Employee)>>(&mut self, iter: T) {
        for (k, e) in iter {
            self.insert(k, e);
        }
    }
}

impl fmt::Debug for Employees {
    /// As the map it replaced prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Employees {
    /// A map in id order: what `BTreeMap<EmployeeId, Employee>` wrote, byte for byte.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, e) in self.iter() {
            map.serialize_entry(k, e)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Employees {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<EmployeeId, Employee>::deserialize(d)?;
        Ok(map.into_iter().collect())
    }
}

/// The index's hash: a multiply-and-fold of 8 bytes at a time (the ids are short ASCII,
/// `E000123`), keyed by a random seed drawn once per process so that ids chosen to collide
/// cannot be prepared in advance. Not a cryptographic hash, and never needs to be: only the
/// index's speed depends on it, never an answer.
#[derive(Clone, Copy)]
pub(crate) struct IdHash {
    seed: u64,
}

impl Default for IdHash {
    fn default() -> Self {
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed = *SEED.get_or_init(|| {
            // SipHash of nothing under std's random keys: a random u64.
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        });
        IdHash { seed }
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.seed)
    }
}

/// The state of one [`IdHash`] hashing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdHasher(u64);

/// An odd constant with bits spread (the fractional part of π).
const MIX: u64 = 0x243f_6a88_85a3_08d3;

/// The 128-bit product of `x` and `y`, its halves xored: every input bit reaches every
/// output bit's neighbourhood.
#[inline]
fn fold_mul(x: u64, y: u64) -> u64 {
    let p = u128::from(x).wrapping_mul(u128::from(y));
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            h = fold_mul(h ^ u64::from_le_bytes(b), MIX);
        }
        let rest = words.remainder();
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        // The length too, so that trailing zero bytes are not lost.
        h = fold_mul(h ^ u64::from_le_bytes(b), MIX ^ bytes.len() as u64);
        self.0 = h;
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0 = fold_mul(self.0 ^ u64::from(i), MIX);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use espp_events::Day;
    use rust_decimal::Decimal;

    fn id(s: &str) -> EmployeeId {
        EmployeeId::new(s).expect("an id")
    }

    fn hired(hours: i64) -> Employee {
        let day = Day::parse("2026-01-01").expect("a day");
        Employee::hired(day, Decimal::from(hours), Decimal::from(12))
    }

    /// Built in id order with the id order made at the end, or out of order (a repeated id
    /// replacing the first, as `insert` does): the same employees as inserting each, found
    /// by id and listed in id order alike.
    #[test]
    fn built_in_id_order_as_inserted() {
        let sorted = ["A", "A1", "B", "E1", "E10", "E9", "Z0"];
        let unsorted = ["A", "B", "E1", "A1", "E9", "B", "Z0"];
        for ids in [&sorted[..], &unsorted[..]] {
            let mut inserted = Employees::default();
            let mut built = InIdOrder::with_room(ids.len());
            for (n, s) in ids.iter().enumerate() {
                inserted.insert(id(s), hired(n as i64));
                built.push(id(s), hired(n as i64));
            }
            let built = built.finish();
            let list = |all: &Employees| -> Vec<(String, Decimal)> {
                all.iter()
                    .map(|(k, e)| (k.to_string(), e.weekly_hours))
                    .collect()
            };
            assert_eq!(list(&built), list(&inserted), "{ids:?}");
            assert_eq!(built.len(), inserted.len());
            for s in ids {
                let hours = |all: &Employees| all.get(s).map(|e| e.weekly_hours);
                assert_eq!(hours(&built), hours(&inserted), "{s}");
            }
        }
        // The repeated "B" kept its second value (hired with 5 hours).
        let mut built = InIdOrder::with_room(0);
        for (n, s) in unsorted.iter().enumerate() {
            built.push(id(s), hired(n as i64));
        }
        assert_eq!(
            built.finish().get("B").map(|e| e.weekly_hours),
            Some(Decimal::from(5))
        );
    }

    /// Inserted out of order, listed in id order by every iteration, as the map was.
    #[test]
    fn lists_in_id_order_whatever_the_insertion_order() {
        let ids = ["E9", "A1", "E10", "B", "A", "Z0", "E1"];
        let mut map = BTreeMap::new();
        let mut all = Employees::default();
        for (n, s) in ids.iter().enumerate() {
            map.insert(id(s), hired(n as i64));
            all.insert(id(s), hired(n as i64));
        }
        let hours = |e: &Employee| e.weekly_hours;
        let want: Vec<(String, Decimal)> =
            map.iter().map(|(k, e)| (k.to_string(), hours(e))).collect();
        let got: Vec<(String, Decimal)> =
            all.iter().map(|(k, e)| (k.to_string(), hours(e))).collect();
        assert_eq!(got, want);
        let keys: Vec<&str> = all.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["A", "A1", "B", "E1", "E10", "E9", "Z0"]);
        assert_eq!(format!("{all:?}"), format!("{map:?}"));
        let values: Vec<Decimal> = all.values().map(hours).collect();
        assert_eq!(values, want.iter().map(|w| w.1).collect::<Vec<_>>());
        // values_mut in id order: number them as they come.
        for (n, e) in all.values_mut().enumerate() {
            e.months_per_year = Decimal::from(n as i64);
        }
        let months: Vec<(String, Decimal)> = all
            .iter()
            .map(|(k, e)| (k.to_string(), e.months_per_year))
            .collect();
        let numbered: Vec<(String, Decimal)> = want
            .iter()
            .enumerate()
            .map(|(n, w)| (w.0.clone(), Decimal::from(n as i64)))
            .collect();
        assert_eq!(months, numbered);
        let owned: Vec<String> = all
            .clone()
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(owned, want.iter().map(|w| w.0.clone()).collect::<Vec<_>>());
    }

    /// Found by id; an insert under a present id replaces, as the map's did.
    #[test]
    fn finds_and_replaces_by_id() {
        let mut all = Employees::default();
        assert!(all.insert(id("E1"), hired(40)).is_none());
        assert!(all.insert(id("E2"), hired(30)).is_none());
        let old = all.insert(id("E1"), hired(20)).expect("replaced");
        assert_eq!(old.weekly_hours, Decimal::from(40));
        assert_eq!(all.len(), 2);
        assert_eq!(
            all.get("E1").map(|e| e.weekly_hours),
            Some(Decimal::from(20))
        );
        assert!(all.get("E3").is_none());
        assert!(all.contains_key("E2"));
        assert!(!all.contains_key("E"));
        assert_eq!(all.get_key_value("E2").map(|(k, _)| k.as_str()), Some("E2"));
        if let Some(e) = all.get_mut("E2") {
            e.weekly_hours = Decimal::from(35);
        }
        assert_eq!(
            all.get("E2").map(|e| e.weekly_hours),
            Some(Decimal::from(35))
        );
    }

    /// Thousands inserted in a scrambled order (the index grows and rehashes): each found.
    #[test]
    fn finds_each_of_many() {
        let mut all = Employees::default();
        let n = 5000i64;
        for k in 0..n {
            let j = (k * 2654435761) % n;
            assert!(all.insert(id(&format!("E{j}")), hired(j)).is_none());
        }
        assert_eq!(all.len(), 5000);
        for j in 0..n {
            let e = all.get(&format!("E{j}")).expect("found");
            assert_eq!(e.weekly_hours, Decimal::from(j));
        }
        assert!(all.get("E5000").is_none());
        // Changed in the order they were inserted (found by the hint), then in id order.
        for k in 0..n {
            let j = (k * 2654435761) % n;
            let e = all.get_mut(&format!("E{j}")).expect("found");
            e.weekly_hours = Decimal::from(j + 1);
            assert!(all.get_mut(&format!("E{}", n + j)).is_none());
        }
        for j in 0..n {
            let e = all.get_mut(&format!("E{j}")).expect("found");
            assert_eq!(e.weekly_hours, Decimal::from(j + 1));
        }
        let keys: Vec<&EmployeeId> = all.keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    /// The serde form is the map's, byte for byte (checkpoint parts depend on it).
    #[test]
    fn encodes_as_the_map_did() {
        let mut map = BTreeMap::new();
        let mut all = Employees::default();
        for (n, s) in ["E3", "E1", "E2", "D"].iter().enumerate() {
            map.insert(id(s), hired(n as i64 + 1));
            all.insert(id(s), hired(n as i64 + 1));
        }
        let cfg = bincode::config::standard();
        let a = bincode::serde::encode_to_vec(&map, cfg).expect("encodes");
        let b = bincode::serde::encode_to_vec(&all, cfg).expect("encodes");
        assert_eq!(a, b);
        let (back, _): (Employees, usize) =
            bincode::serde::decode_from_slice(&b, cfg).expect("decodes");
        let again = bincode::serde::encode_to_vec(&back, cfg).expect("encodes");
        assert_eq!(again, a);
    }

    /// Ids that differ only in trailing bytes or length hash apart (not a guarantee of the
    /// hash, a check that no byte is dropped).
    #[test]
    fn the_hash_sees_every_byte() {
        let h = IdHash::default();
        let of = |s: &str| h.hash_one(s);
        let ids = [
            "E1",
            "E10",
            "E100",
            "E0000001",
            "E00000010",
            "E0000001.",
            "1E",
        ];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(of(a), of(b), "{a} {b}");
            }
        }
    }
}
