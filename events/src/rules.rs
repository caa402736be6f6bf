//! The plan's rules (DOMAIN.md §2): the full set with the plan's defaults, and the partial
//! set carried by `plan_adopted`, `plan_amended` and a compliance team's `--rules` file.

use serde::{Deserialize, Serialize};

use crate::value::{Fraction, Money, PerShare, Quantity, Shares};

/// What happens to cash under one share's price at a purchase (§9, §19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Residual {
    /// Carried into the next period (the default).
    CarryForward,
    /// Refunded.
    Refund,
}

impl Residual {
    /// Every spelling, in order.
    pub const ALL: &'static [&'static str] = &["carry_forward", "refund"];
    /// The interchange spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Residual::CarryForward => "carry_forward",
            Residual::Refund => "refund",
        }
    }
    /// Parses the interchange spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "carry_forward" => Some(Residual::CarryForward),
            "refund" => Some(Residual::Refund),
            _ => None,
        }
    }
}

/// A count in the rules (months, years, decimal places), checked to a sane range so that no
/// later date or decimal arithmetic can overflow on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Count(u32);

impl Count {
    /// The largest count accepted (a century of months).
    pub const MAX: u32 = 1200;
    /// Checked constructor.
    pub fn new(n: u32) -> Option<Self> {
        (n <= Self::MAX).then_some(Count(n))
    }
    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }
}

macro_rules! define_rules {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr ),* $(,)?) => {
        /// The plan's rules in force: every field set.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Rules {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        /// A partial set of rules: each field present overrides the one in force.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct RulesPatch {
            $( $(#[doc = $doc])* pub $field: Option<$ty>, )*
        }

        impl Default for Rules {
            /// The plan's own terms (DOMAIN.md §2).
            fn default() -> Self {
                Rules { $( $field: $default, )* }
            }
        }

        impl Rules {
            /// These rules with every field of `patch` that is present put in force.
            pub fn with(&self, patch: &RulesPatch) -> Rules {
                let mut r = self.clone();
                $( if let Some(v) = &patch.$field { r.$field = v.clone(); } )*
                r
            }
        }

        impl From<&Rules> for RulesPatch {
            /// Every rule of `rules`, as a patch that sets them all.
            fn from(rules: &Rules) -> Self {
                RulesPatch { $( $field: Some(rules.$field.clone()), )* }
            }
        }

        impl RulesPatch {
            /// The names of the fields, in declaration order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The fields for the reference: names, kinds and purposes from this table
            /// (every one optional; its default is `Rules::default()`'s).
            pub const SPECS: &'static [crate::catalogue::FieldSpec] = &[$(
                crate::catalogue::FieldSpec {
                    name: stringify!($field),
                    kind: <$ty as crate::json::JsonField>::KIND,
                    optional: true,
                    default: "",
                    purpose: concat!("" $(, $doc)*),
                },
            )*];

            /// The fields present, by name.
            pub fn present(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if self.$field.is_some() { out.push(stringify!($field)); } )*
                out
            }

            pub(crate) fn from_fields(f: &mut crate::json::Fields<'_>) -> Result<Self, crate::json::FieldError> {
                Ok(RulesPatch { $( $field: f.get(stringify!($field))?, )* })
            }

            /// The patch as a JSON object, only the fields present.
            pub fn to_json(&self) -> serde_json::Value {
                let mut m = serde_json::Map::new();
                $( crate::json::put(&mut m, stringify!($field), &self.$field); )*
                serde_json::Value::Object(m)
            }
        }
    };
}

define_rules! {
    /// The plan's name.
    name: String = "SAVVIS ESPP".to_string(),
    /// Shares that may be bought under the plan (§1).
    share_reserve: Shares = Shares::literal(6_000_000, 0),
    /// The highest contribution rate (§6).
    max_rate: Fraction = Fraction::literal(10, 2),
    /// Rates are multiples of this (§6: whole percents).
    rate_step: Fraction = Fraction::literal(1, 2),
    /// The purchase price as a fraction of the lower FMV (§8).
    price_factor: Fraction = Fraction::literal(85, 2),
    /// The par value: the price never goes below it (§8).
    par_value: PerShare = PerShare::literal(1, 2),
    /// Decimal places of the purchase price, always rounded up (§8).
    price_decimals: Count = Count(4),
    /// FMV at grant that one employee may buy per calendar year (§9).
    annual_limit: Money = Money::literal(25_000, 0),
    /// Months of service before a period's first day (§4(a)).
    min_service_months: Count = Count(3),
    /// Customary months of employment a year (§4(b)).
    min_customary_months: Count = Count(5),
    /// Weekly hours must be more than this (§4(c)).
    min_weekly_hours: Quantity = Quantity::literal(20, 0),
    /// Ownership after the purchase must stay below this fraction (§4(d)).
    ownership_limit: Fraction = Fraction::literal(5, 2),
    /// Buy whole shares only (§9); false buys fractions to `share_decimals`.
    whole_shares: bool = true,
    /// Decimal places of fractional shares.
    share_decimals: Count = Count(4),
    /// Cash under one share's price: carried forward or refunded (§9, §19).
    residual: Residual = Residual::CarryForward,
    /// A leave longer than this without guaranteed re-employment ends employment (§17).
    leave_limit_months: Count = Count(3),
    /// Stockholders must approve within this many months of adoption (§24).
    approval_window_months: Count = Count(12),
    /// No purchase on or after adoption plus this many years (§24).
    term_years: Count = Count(10),
}
