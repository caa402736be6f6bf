//! The pure, deterministic fold of espp-ledger: events in `(date, seq)` order become plan
//! state, accounts, lots and purchases, and the projection JSON of INTERCHANGE.md.
//!
//! No I/O, no clock, no randomness, no hash-map order in any output. Deciding whether an
//! event is acceptable ([`State::apply`] returning a [`Rejection`]) and changing the state
//! happen in that order: a refused event leaves the state as it was only if the caller kept
//! a clone; the engine folds batches on a clone and keeps it only when all of it folds.
//!
//! Code map: [`state`] orders days, runs deadlines and dispatches events; `plan` (adoption,
//! approval, amendment, termination, periods, prices), `participation` (employees, enrolment,
//! payroll), `life` (§14–§18: stopping, leaving, leave, elections, death), `purchase`
//! (§8, §9, §13), `market` (FMV), `period` (the schedule), `employee` (accounts and the status),
//! `accounts` (an employee's statement accounts, the closed ones kept encoded), `employees`
//! (them in id order, found by a hash), `eligibility` (§4 on a period's first day),
//! `holdings` (§10, §11, §25, §27: capital changes, dividends, certificates, sales and their
//! classification), `num` (checked decimals and formats), `fields` (the projection's employee
//! and purchase figures as rows, for `diff`), `output` (projection, statements, digest),
//! `render` (the projection JSON written straight from the state), `parts` (a state cut into
//! checkpoint parts), `tax` (Form 3922 and the year's dispositions), `ser` (the decimals' serde form,
//! so a whole [`State`] round-trips through bincode).

mod accounts;
mod eligibility;
mod employee;
mod employees;
mod explain;
mod fields;
mod holdings;
mod life;
mod market;
mod num;
mod output;
mod participation;
pub mod parts;
mod parts_fast;
mod period;
mod plan;
mod purchase;
mod render;
mod report;
mod ser;
pub mod state;
mod tax;

pub use employee::Status;
pub use explain::{PeriodInfo, Trace};
pub use fields::{
    parsed as parsed_field, AllocationView, Cell, EmployeeRow, EmployeeView, Field, ProjectionRows,
    PurchaseView, Raw, RowView, Rows, Shown, ALLOCATION_FIELDS, EMPLOYEE_FIELDS, PURCHASE_FIELDS,
};
pub use num::text as decimal_text;
pub use output::{canonical_json, digest_of, with_provenance, Lookup};
pub use parts::HoldingsMark;
pub use plan::{check_overrides, check_rules};
pub use render::Provenance;
pub use state::{Rejection, State};
pub use tax::{DISPOSITION_COLUMNS, FORM3922_COLUMNS};
