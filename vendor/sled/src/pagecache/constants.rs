use super::*;

// crc: u32 4
// kind: u8 1
// seg num: u64 9 (varint)
// pid: u64 9 (varint)
// len: u64 9 (varint)
/// Log messages have a header that might eb up to this length.
pub const MAX_MSG_HEADER_LEN: usize = 32;

/// Log segments have a header of this length.
pub const SEG_HEADER_LEN: usize = 20;

/// The minimum number of items per segment.
/// Items larger than this fraction of an `io_buf`
/// will be stored as an off-log blob.
pub const MINIMUM_ITEMS_PER_SEGMENT: usize = 4;

/// During testing, this should never be exceeded.
#[allow(unused)]
pub const MAX_SPACE_AMPLIFICATION: f64 = 5.;

pub(crate) const META_PID: PageId = 0;
pub(crate) const COUNTER_PID: PageId = 1;
pub(crate) const BATCH_MANIFEST_PID: PageId = PageId::max_value() - 666;

pub(crate) const PAGE_CONSOLIDATION_THRESHOLD: usize = 10;
// espp-ledger patch: 65 (sled 0.34.7: 50). A segment is cleaned once at most this share of
// it is live; at 50 a ledger of short `espp append` processes settled near 2.3 times its live
// bytes (330 B/event at 10M events), at 65 it is 304 B/event, for ~4% of a payday append.
pub(crate) const SEGMENT_CLEANUP_THRESHOLD: usize = 65;

/// espp-ledger patch: the bytes of keys and values past which a leaf of 3 keys or more
/// splits (`Node::should_split`). sled reads, rewrites and relocates a node whole: a leaf of
/// 16 values of ~20 KB (the ledger's chunks, checkpoint parts, index blocks) made each read
/// of one value read ~320 KB, and each rewrite write as much.
pub(crate) const LEAF_SPLIT_BYTES: u64 = 128 * 1024;

// Allows for around 1 trillion items to be stored
// 2^37 * (assuming 50% node fill, 8 items per leaf)
// and well below 1% of nodes being non-leaf nodes.
#[cfg(target_pointer_width = "64")]
pub(crate) const MAX_PID_BITS: usize = 37;

// Allows for around 32 billion items to be stored
// 2^32 * (assuming 50% node fill of 8 items per leaf)
// and well below 1% of nodes being non-leaf nodes.
// Assumed to be enough for a 32-bit system.
#[cfg(target_pointer_width = "32")]
pub(crate) const MAX_PID_BITS: usize = 32;
