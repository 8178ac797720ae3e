//! The projector runtime and the read models (work in progress).
