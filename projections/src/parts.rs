//! A [`State`] cut into parts for checkpoints (issue 15), each encoded on its own with
//! bincode 2.0.1 (serde, standard config), so that a checkpoint stores what changed since
//! the last one only once (parts are content-addressed by the engine) and a query for one
//! employee decodes only the global part, that employee's block and the blocks of its lots.
//!
//! The parts: the global one (plan, rules, market, periods, capital changes, skipped
//! events: everything but what follows), the employees in blocks of
//! [`EMPLOYEES_PER_BLOCK`] consecutive ids (each with its employees' deadlines), the lots in
//! blocks of [`LOTS_PER_BLOCK`] by index, one part per purchase, and the dispositions in
//! blocks of [`DISPOSITIONS_PER_BLOCK`]. Lots, purchases and dispositions change at a
//! purchase or a sale only, so most of their blocks are shared by every later checkpoint.
//! [`State::from_parts`] gives back a state equal to the one cut (the same encoding).

use std::collections::{BTreeMap, BTreeSet};

use espp_events::{Day, EmployeeId, Rules, RulesPatch};
use serde::{Deserialize, Serialize};

use crate::employee::Employee;
use crate::holdings::{CapitalChangeDone, Disposition};
use crate::market::Market;
use crate::period::Periods;
use crate::purchase::{Lot, PurchaseDone};
use crate::ser::Bytes;
use crate::state::{Plan, Skipped, State};

// Changing any of these sizes changes what a stored part list means: bump
// `CHECKPOINT_FORMAT_VERSION` with it.

/// Employees in one block.
pub const EMPLOYEES_PER_BLOCK: usize = 64;
/// Lots in one block.
pub const LOTS_PER_BLOCK: usize = 1024;
/// Dispositions in one block.
pub const DISPOSITIONS_PER_BLOCK: usize = 2048;

/// A state's parts, encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedParts {
    /// Everything but the employees, lots, purchases and dispositions.
    pub global: Vec<u8>,
    /// Each block of employees: its first id and its bytes, in id order.
    pub employees: Vec<(EmployeeId, Vec<u8>)>,
    /// The lots, [`LOTS_PER_BLOCK`] a block, in order.
    pub lots: Vec<Vec<u8>>,
    /// One a purchase, in order.
    pub purchases: Vec<Vec<u8>>,
    /// The dispositions, [`DISPOSITIONS_PER_BLOCK`] a block, in order.
    pub dispositions: Vec<Vec<u8>>,
}

#[derive(Serialize)]
struct GlobalRef<'a> {
    overrides: &'a Option<RulesPatch>,
    day: Option<Day>,
    through_seq: u64,
    plan: &'a Plan,
    rules: &'a Rules,
    market: &'a Market,
    periods: &'a Periods,
    shares_outstanding: Option<Bytes>,
    skipped: &'a [Skipped],
    capital_changes: &'a [CapitalChangeDone],
    closed: Option<(Day, u64)>,
    /// Deadlines of ids no employee block holds.
    deadlines: Vec<&'a (Day, EmployeeId)>,
}

#[derive(Deserialize)]
struct Global {
    overrides: Option<RulesPatch>,
    day: Option<Day>,
    through_seq: u64,
    plan: Plan,
    rules: Rules,
    market: Market,
    periods: Periods,
    shares_outstanding: Option<Bytes>,
    skipped: Vec<Skipped>,
    capital_changes: Vec<CapitalChangeDone>,
    closed: Option<(Day, u64)>,
    deadlines: Vec<(Day, EmployeeId)>,
}

type Block = (Vec<(EmployeeId, Employee)>, Vec<(Day, EmployeeId)>);

/// The head of a stored purchase part: what a one-employee fold takes from it (the fields
/// of [`PurchaseDone`] before its allocations, in its order).
#[derive(Deserialize)]
struct PurchaseHead {
    period: espp_events::PeriodId,
    date: Day,
    _grant_date: Day,
    #[serde(with = "crate::ser::dec")]
    _fmv_grant: rust_decimal::Decimal,
    #[serde(with = "crate::ser::dec")]
    _fmv_purchase: rust_decimal::Decimal,
    #[serde(with = "crate::ser::dec")]
    _price: rust_decimal::Decimal,
    #[serde(with = "crate::ser::dec")]
    shares: rust_decimal::Decimal,
    prorated: bool,
}

/// A purchase as every account took part in it: what a one-employee fold needs of the
/// others (`State::set_outside_purchases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseTotals {
    /// The period bought.
    pub period: String,
    /// The purchase's day.
    pub date: Day,
    /// The shares bought for every account.
    pub shares: rust_decimal::Decimal,
    /// Whether §13 prorated it.
    pub prorated: bool,
}

/// The totals of a stored purchase part (one of [`EncodedParts::purchases`]), decoding
/// only its head, not its allocations.
pub fn purchase_totals(bytes: &[u8]) -> Result<PurchaseTotals, PartError> {
    let (h, _) =
        bincode::serde::decode_from_slice::<PurchaseHead, _>(bytes, bincode::config::standard())
            .map_err(|e| PartError(e.to_string()))?;
    Ok(PurchaseTotals {
        period: h.period.to_string(),
        date: h.date,
        shares: h.shares,
        prorated: h.prorated,
    })
}

/// Why parts do not make a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checkpoint part does not decode: {0}")]
pub struct PartError(pub String);

fn enc<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    match bincode::serde::encode_to_vec(v, bincode::config::standard()) {
        Ok(b) => b,
        Err(e) => unreachable!("encoding a checkpoint part into memory failed: {e}"),
    }
}

fn dec<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, PartError> {
    let (v, used) = bincode::serde::decode_from_slice::<T, _>(bytes, bincode::config::standard())
        .map_err(|e| PartError(e.to_string()))?;
    if used != bytes.len() {
        return Err(PartError("trailing bytes".into()));
    }
    Ok(v)
}

impl State {
    /// The state cut into parts (see the module's documentation).
    pub fn to_parts(&self) -> EncodedParts {
        let ids: Vec<&EmployeeId> = self.employees.keys().collect();
        let firsts: Vec<&EmployeeId> = ids.chunks(EMPLOYEES_PER_BLOCK).map(|c| c[0]).collect();
        let mut employees = Vec::with_capacity(firsts.len());
        let mut block_deadlines: Vec<Vec<&(Day, EmployeeId)>> = vec![Vec::new(); firsts.len()];
        let mut global_deadlines = Vec::new();
        for d in &self.deadlines {
            if self.employees.contains_key(d.1.as_str()) {
                let i = firsts.partition_point(|f| **f <= d.1).saturating_sub(1);
                block_deadlines[i].push(d);
            } else {
                global_deadlines.push(d);
            }
        }
        for (chunk, deadlines) in ids.chunks(EMPLOYEES_PER_BLOCK).zip(block_deadlines) {
            let members: Vec<(&EmployeeId, &Employee)> = chunk
                .iter()
                .filter_map(|id| self.employees.get_key_value(id.as_str()))
                .collect();
            employees.push((chunk[0].clone(), enc(&(members, deadlines))));
        }
        let global = enc(&GlobalRef {
            overrides: &self.overrides,
            day: self.day,
            through_seq: self.through_seq,
            plan: &self.plan,
            rules: &self.rules,
            market: &self.market,
            periods: &self.periods,
            shares_outstanding: self.shares_outstanding.map(Bytes),
            skipped: &self.skipped,
            capital_changes: &self.capital_changes,
            closed: self.closed,
            deadlines: global_deadlines,
        });
        EncodedParts {
            global,
            employees,
            lots: self.lots.chunks(LOTS_PER_BLOCK).map(enc).collect(),
            purchases: self.purchases.iter().map(enc).collect(),
            dispositions: self
                .dispositions
                .chunks(DISPOSITIONS_PER_BLOCK)
                .map(enc)
                .collect(),
        }
    }

    fn from_global(bytes: &[u8]) -> Result<(State, Vec<(Day, EmployeeId)>), PartError> {
        let g: Global = dec(bytes)?;
        let state = State {
            overrides: g.overrides,
            day: g.day,
            through_seq: g.through_seq,
            plan: g.plan,
            rules: g.rules,
            market: g.market,
            periods: g.periods,
            shares_outstanding: g.shares_outstanding.map(|b| b.0),
            skipped: g.skipped,
            capital_changes: g.capital_changes,
            closed: g.closed,
            ..State::default()
        };
        Ok((state, g.deadlines))
    }

    /// The state put back together from its parts: `global`, then the employee blocks, lot
    /// blocks, purchases and disposition blocks, each in order.
    pub fn from_parts<'a>(
        global: &[u8],
        employees: impl IntoIterator<Item = &'a [u8]>,
        lots: impl IntoIterator<Item = &'a [u8]>,
        purchases: impl IntoIterator<Item = &'a [u8]>,
        dispositions: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<State, PartError> {
        let (mut state, deadlines) = State::from_global(global)?;
        let mut all_deadlines: Vec<(Day, EmployeeId)> = deadlines;
        let mut map = BTreeMap::new();
        for b in employees {
            let (members, deadlines): Block = dec(b)?;
            map.extend(members);
            all_deadlines.extend(deadlines);
        }
        state.employees = map;
        state.deadlines = all_deadlines.into_iter().collect::<BTreeSet<_>>();
        for b in lots {
            state.lots.extend(dec::<Vec<Lot>>(b)?);
        }
        for b in purchases {
            state.purchases.push(dec::<PurchaseDone>(b)?);
        }
        for b in dispositions {
            state.dispositions.extend(dec::<Vec<Disposition>>(b)?);
        }
        Ok(state)
    }

    /// The state as far as employee `id` sees it, from the global part, the employee's
    /// block (None when no block holds it) and `lot_block(i)`, the bytes of lot block `i`:
    /// only that employee (with only its lots, renumbered), no purchase, no disposition.
    /// Folding the global events and that employee's own (never a purchase: it needs every
    /// account) into it gives the employee's account as a fold of the whole state does.
    pub fn for_employee(
        global: &[u8],
        block: Option<&[u8]>,
        id: &str,
        lot_block: &mut dyn FnMut(usize) -> Result<Vec<u8>, PartError>,
    ) -> Result<State, PartError> {
        let (mut state, deadlines) = State::from_global(global)?;
        let mut set: BTreeSet<(Day, EmployeeId)> = deadlines.into_iter().collect();
        if let Some(b) = block {
            let (members, deadlines): Block = dec(b)?;
            set.extend(deadlines.into_iter().filter(|d| d.1.as_str() == id));
            if let Some((eid, mut e)) = members.into_iter().find(|(k, _)| k.as_str() == id) {
                let mut loaded: Option<(usize, Vec<Lot>)> = None;
                let mut lots = Vec::with_capacity(e.lots.len());
                for &i in &e.lots {
                    let b = i / LOTS_PER_BLOCK;
                    if loaded.as_ref().is_none_or(|(n, _)| *n != b) {
                        loaded = Some((b, dec(&lot_block(b)?)?));
                    }
                    let lot = loaded
                        .as_ref()
                        .and_then(|(_, v)| v.get(i % LOTS_PER_BLOCK))
                        .filter(|l| l.employee.as_str() == id)
                        .ok_or_else(|| PartError(format!("lot {i} of {id} is not in its block")))?;
                    lots.push(lot.clone());
                }
                e.lots = (0..lots.len()).collect();
                state.lots = lots;
                state.employees.insert(eid, e);
            }
        }
        state.deadlines = set;
        Ok(state)
    }

    /// Whether employee `id` was ever hired.
    pub fn has_employee(&self, id: &str) -> bool {
        self.employees.contains_key(id)
    }
}
