//! The query API (work in progress).
