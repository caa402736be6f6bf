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

use std::collections::BTreeSet;

use espp_events::{Day, EmployeeId, Event, Rules, RulesPatch};
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

type Block = crate::parts_fast::Block;

/// An employee block decoded: by hand when `parts_fast` is sure of it, else by serde.
fn employee_block(bytes: &[u8]) -> Result<Block, PartError> {
    match crate::parts_fast::employee_block(bytes) {
        Some(block) => Ok(block),
        None => dec(bytes),
    }
}

/// What the hand decoder makes of the employee block `bytes` (tests): None when it leaves
/// the block to serde; else whether serde decodes it too, to the same employees (the same
/// `Debug` and the same bytes re-encoded).
#[doc(hidden)]
pub fn employee_block_by_hand_agrees(bytes: &[u8]) -> Option<bool> {
    let by_hand = crate::parts_fast::employee_block(bytes)?;
    let Ok(by_serde) = dec::<Block>(bytes) else {
        return Some(false);
    };
    let mut a = Vec::new();
    let mut b = Vec::new();
    enc_into(&mut a, &by_serde);
    enc_into(&mut b, &by_hand);
    Some(a == b && format!("{by_serde:?}") == format!("{by_hand:?}"))
}

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

fn dec<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, PartError> {
    let (v, used) = bincode::serde::decode_from_slice::<T, _>(bytes, bincode::config::standard())
        .map_err(|e| PartError(e.to_string()))?;
    if used != bytes.len() {
        return Err(PartError("trailing bytes".into()));
    }
    Ok(v)
}

/// A mark of a state's holdings (lots, purchases, dispositions), for `verify`, which names
/// a state's parts at every checkpoint it passes and need not encode again the holdings'
/// blocks that cannot have changed since it last did (issue 15: they were about half of
/// that encoding).
///
/// A nonzero mark says: since the mark was given, this state's holdings only grew at their
/// ends (a purchase pushes lots and a purchase; nothing else happened to them). Marks are
/// unique in the process and given only to one state: a fresh empty one
/// ([`State::new`](crate::State::new)), or one whose holdings a record changed in place or may have (every
/// event but those that [`folds_without_holdings`]
/// and a purchase). Anything else gets 0, "unknown": a clone (two states may then grow
/// apart under the same mark), a state put together from parts or given holdings
/// ([`State::fill_holdings`]). So two looks at states with the same nonzero mark see the
/// same holdings up to the shorter's length, and a block full at the first look is the
/// same block at the second.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HoldingsMark(u64);

impl HoldingsMark {
    /// A mark no other state has had in this process.
    pub(crate) fn fresh() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        HoldingsMark(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// The mark, None when nothing is known (see the type's documentation).
    pub fn known(&self) -> Option<u64> {
        (self.0 != 0).then_some(self.0)
    }
}

impl Clone for HoldingsMark {
    /// A clone's holdings may grow apart from the original's: unknown.
    fn clone(&self) -> Self {
        HoldingsMark(0)
    }
}

/// Leading holdings' parts a caller of [`State::each_part_but`] knows already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Known {
    /// Lot blocks.
    pub lot_blocks: usize,
    /// Purchases.
    pub purchases: usize,
    /// Disposition blocks.
    pub disposition_blocks: usize,
}

/// Which part [`State::each_part`] hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind<'a> {
    /// The global part.
    Global,
    /// A block of employees, named by its first id.
    Employees(&'a EmployeeId),
    /// A block of lots.
    Lots,
    /// One purchase.
    Purchase,
    /// A block of dispositions.
    Dispositions,
}

/// Encodes `v` into `buf` (cleared first) with bincode's standard configuration.
fn enc_into<T: Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) {
    buf.clear();
    if let Err(e) = bincode::serde::encode_into_std_write(v, buf, bincode::config::standard()) {
        unreachable!("encoding a checkpoint part into memory failed: {e}")
    }
}

impl State {
    /// The state cut into parts (see the module's documentation).
    pub fn to_parts(&self) -> EncodedParts {
        let mut parts = EncodedParts::default();
        self.each_part(&mut |kind, bytes| match kind {
            PartKind::Global => parts.global = bytes.to_vec(),
            PartKind::Employees(first) => parts.employees.push((first.clone(), bytes.to_vec())),
            PartKind::Lots => parts.lots.push(bytes.to_vec()),
            PartKind::Purchase => parts.purchases.push(bytes.to_vec()),
            PartKind::Dispositions => parts.dispositions.push(bytes.to_vec()),
        });
        parts
    }

    /// Encodes the parts one at a time into one buffer, handing each to `f` in the order of
    /// a part list (the global part, the employee blocks, the lot blocks, the purchases, the
    /// disposition blocks): the bytes [`State::to_parts`] holds, without holding them all
    /// (`verify` hashes each as it comes, issue 15).
    pub fn each_part(&self, f: &mut dyn FnMut(PartKind<'_>, &[u8])) {
        self.each_part_but(Known::default(), f)
    }

    /// [`State::each_part`] without the first `known.lot_blocks` lot blocks, the first
    /// `known.purchases` purchases and the first `known.disposition_blocks` disposition
    /// blocks: a caller that knows those parts already (see
    /// [`HoldingsMark`]) is handed the others only, in order.
    pub fn each_part_but(&self, known: Known, f: &mut dyn FnMut(PartKind<'_>, &[u8])) {
        let mut buf = self.each_account_part(f);
        for block in self.lots.chunks(LOTS_PER_BLOCK).skip(known.lot_blocks) {
            enc_into(&mut buf, block);
            f(PartKind::Lots, &buf);
        }
        for p in self.purchases.iter().skip(known.purchases) {
            enc_into(&mut buf, p);
            f(PartKind::Purchase, &buf);
        }
        let dispositions = self.dispositions.chunks(DISPOSITIONS_PER_BLOCK);
        for block in dispositions.skip(known.disposition_blocks) {
            enc_into(&mut buf, block);
            f(PartKind::Dispositions, &buf);
        }
    }

    /// How many of the holdings' parts are whole and cannot change while the holdings only
    /// grow at their ends: the full lot blocks, every purchase, the full disposition blocks.
    pub fn settled_holdings(&self) -> Known {
        Known {
            lot_blocks: self.lots.len() / LOTS_PER_BLOCK,
            purchases: self.purchases.len(),
            disposition_blocks: self.dispositions.len() / DISPOSITIONS_PER_BLOCK,
        }
    }

    /// The first parts of [`State::each_part`] only: the global part and the employee
    /// blocks, the accounts (all a *lean* state has, see [`State::fill_holdings`]: its
    /// holdings are named by the checkpoint it came from). Gives back the buffer used.
    pub fn each_account_part(&self, f: &mut dyn FnMut(PartKind<'_>, &[u8])) -> Vec<u8> {
        let ids: Vec<&EmployeeId> = self.employees.keys().collect();
        let firsts: Vec<&EmployeeId> = ids.chunks(EMPLOYEES_PER_BLOCK).map(|c| c[0]).collect();
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
        let mut buf = Vec::new();
        enc_into(
            &mut buf,
            &GlobalRef {
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
            },
        );
        f(PartKind::Global, &buf);
        for (chunk, deadlines) in ids.chunks(EMPLOYEES_PER_BLOCK).zip(block_deadlines) {
            let members: Vec<(&EmployeeId, &Employee)> = chunk
                .iter()
                .filter_map(|id| self.employees.get_key_value(id.as_str()))
                .collect();
            enc_into(&mut buf, &(members, deadlines));
            f(PartKind::Employees(chunk[0]), &buf);
        }
        buf
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
        global: &'a [u8],
        employees: impl IntoIterator<Item = &'a [u8]>,
        lots: impl IntoIterator<Item = &'a [u8]>,
        purchases: impl IntoIterator<Item = &'a [u8]>,
        dispositions: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<State, PartError> {
        let employees: Vec<&[u8]> = employees.into_iter().collect();
        let lots: Vec<&[u8]> = lots.into_iter().collect();
        let purchases: Vec<&[u8]> = purchases.into_iter().collect();
        State::from_part_stream(
            (employees.len(), lots.len(), purchases.len()),
            std::iter::once(global)
                .chain(employees)
                .chain(lots)
                .chain(purchases)
                .chain(dispositions),
        )
    }

    /// [`State::from_parts`] from one stream of parts in that order, `counts` = (employee
    /// blocks, lot blocks, purchases), the rest dispositions: each part is decoded as it
    /// comes and can be dropped before the next is read (a whole checkpoint's bytes are
    /// ~100 MB at 100,000 employees: never all held with the state they decode to).
    pub fn from_part_stream(
        counts: (usize, usize, usize),
        parts: impl IntoIterator<Item = impl AsRef<[u8]>>,
    ) -> Result<State, PartError> {
        let mut parts = parts.into_iter();
        let missing = || PartError("parts missing".into());
        let global = parts.next().ok_or_else(missing)?;
        let (mut state, deadlines) = State::from_global(global.as_ref())?;
        drop(global);
        let mut all_deadlines: Vec<(Day, EmployeeId)> = deadlines;
        let mut map =
            crate::employees::InIdOrder::with_room(counts.0.saturating_mul(EMPLOYEES_PER_BLOCK));
        for _ in 0..counts.0 {
            let b = parts.next().ok_or_else(missing)?;
            let (members, deadlines): Block = employee_block(b.as_ref())?;
            for (id, e) in members {
                map.push(id, e);
            }
            all_deadlines.extend(deadlines);
        }
        state.employees = map.finish();
        state.deadlines = all_deadlines.into_iter().collect::<BTreeSet<_>>();
        // Every block but the last is full: reserved once, not grown by doubling (a copy and
        // fresh pages at each step: the lots are most of a state's bytes).
        // Fallible: a count from a damaged list fails the decode below, not the allocator.
        let _ = state
            .lots
            .try_reserve(counts.1.saturating_mul(LOTS_PER_BLOCK));
        for _ in 0..counts.1 {
            let b = parts.next().ok_or_else(missing)?;
            state.lots.extend(dec::<Vec<Lot>>(b.as_ref())?);
        }
        for _ in 0..counts.2 {
            let b = parts.next().ok_or_else(missing)?;
            state.purchases.push(dec::<PurchaseDone>(b.as_ref())?);
        }
        for b in parts {
            state
                .dispositions
                .extend(dec::<Vec<Disposition>>(b.as_ref())?);
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
            let (members, deadlines): Block = employee_block(b)?;
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

    /// Puts the holdings back into a state put together without them ([`State::from_parts`]
    /// with no lot, purchase or disposition block: a *lean* state): the lot blocks, purchases
    /// and disposition blocks of the checkpoint it came from, decoded. Only sound when every
    /// record folded into the lean state since that checkpoint [`folds_without_holdings`]:
    /// then its holdings are still the checkpoint's, byte for byte.
    pub fn fill_holdings<'a>(
        &mut self,
        lots: impl IntoIterator<Item = &'a [u8]>,
        purchases: impl IntoIterator<Item = &'a [u8]>,
        dispositions: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), PartError> {
        let mut all_lots = Vec::new();
        for b in lots {
            all_lots.extend(dec::<Vec<Lot>>(b)?);
        }
        let mut all_purchases = Vec::new();
        for b in purchases {
            all_purchases.push(dec::<PurchaseDone>(b)?);
        }
        let mut all_dispositions = Vec::new();
        for b in dispositions {
            all_dispositions.extend(dec::<Vec<Disposition>>(b)?);
        }
        self.lots = all_lots;
        self.purchases = all_purchases;
        self.dispositions = all_dispositions;
        self.holdings_mark = HoldingsMark::default();
        Ok(())
    }

    /// Makes this state lean again ([`State::fill_holdings`] puts them back): drops its
    /// lots, purchases and dispositions, freeing their memory. Only sound where the holdings
    /// are a checkpoint's, byte for byte, and the caller keeps that checkpoint's name to
    /// fill them in from (every record folded since it [`folds_without_holdings`]).
    pub fn drop_holdings(&mut self) {
        self.lots = Vec::new();
        self.purchases = Vec::new();
        self.dispositions = Vec::new();
    }

    /// Whether employee `id` was ever hired.
    pub fn has_employee(&self, id: &str) -> bool {
        self.employees.contains_key(id)
    }
}

/// Whether folding `event`, and the deadlines that run before it, never reads or changes
/// the state's lots, purchases or dispositions (the holdings: the parts a lean state, see
/// [`State::fill_holdings`], goes without). Decided by what each handler touches (issue 15:
/// an append of a payday decodes only the global part and the employee blocks):
///
/// - The deadlines (a period's opening and close, windows' defaults, leaves' limits, the
///   plan's term or approval lapse) change employees and the global part only; only the
///   Board's termination certificates shares, and that is an event, not a deadline.
/// - Not free: a purchase or a plan's termination (they make lots and purchases), a capital
///   change (scales the lots), a dividend, a certificate request and a sale (read and change
///   lots, sales add dispositions), an employee change (ineligibility certificates the whole
///   shares held, §19(b)), a plan amendment (a change in control may execute a purchase).
///   Refusals are no exception: the closed-books refusal names the last purchase's period,
///   which a lean state does not know, so a lean state's refusal is re-judged on the whole
///   state by its caller.
pub fn folds_without_holdings(event: &Event) -> bool {
    match event {
        Event::PlanAdopted { .. }
        | Event::StockholdersApproved { .. }
        | Event::PeriodScheduled { .. }
        | Event::MarketPrice { .. }
        | Event::SharesOutstanding { .. }
        | Event::EmployeeHired { .. }
        | Event::OwnershipReported { .. }
        | Event::Enrolled { .. }
        | Event::RateChanged { .. }
        | Event::Payroll { .. }
        | Event::DeductionReversed { .. }
        | Event::OtherPlanPurchase { .. }
        | Event::DeductionsStopped { .. }
        | Event::EmploymentEnded { .. }
        | Event::LeaveStarted { .. }
        | Event::LeaveEnded { .. }
        | Event::CashPayment { .. }
        | Event::Election { .. }
        | Event::Died { .. } => true,
        Event::Purchase { .. }
        | Event::PlanTerminated { .. }
        | Event::PlanAmended { .. }
        | Event::CapitalChange { .. }
        | Event::Dividend { .. }
        | Event::CertificateRequested { .. }
        | Event::SharesSold { .. }
        | Event::EmployeeChanged { .. } => false,
    }
}
