//! Everything that writes: `fix --output` and `generate`'s files, and on a node the transaction
//! (lock, backups, atomic writes, rollback), the choice of changes at a prompt, and the wait
//! for the API server to come back.

pub mod health;
pub(crate) mod interrupt;
pub mod node;
pub mod output;
pub mod prompt;
pub mod select;
