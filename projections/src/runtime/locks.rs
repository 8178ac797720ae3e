//! Advisory lock keys. Two-key form `(class, hashtext(projection))` so that they never collide
//! with other users of advisory locks in the same database.

/// Session lock held by the one active projector (leader) of a projection.
pub(crate) const LEADER: i32 = 0x4853_0001;
/// Transaction lock taken by every writer of a projection's tables and checkpoint (the live
/// batch, and the swap of `rebuild`), so that two writers never interleave.
pub(crate) const APPLY: i32 = 0x4853_0002;
/// Session lock of a running `rebuild` or `verify`, one at a time per projection.
pub(crate) const OPERATOR: i32 = 0x4853_0003;
