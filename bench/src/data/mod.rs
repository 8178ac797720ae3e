//! Generated data: users and approvals inserted in bulk, and a history of messages written
//! straight into the event log with COPY (the projector then folds it into the read tables).

pub mod csv;
pub mod generator;
pub mod load;
pub mod population;
pub mod skew;
pub mod text;
pub mod users;

pub use generator::{Activity, GeneratedEvent, Generator};
pub use load::{load_events, LoadReport};
pub use population::{Population, PASSWORD};
pub use users::create_users;
