//! `config`: checks of the recorder's environment files (spec §13): syntax,
//! every variable's type and range, the tracked-contracts grammar, and the
//! conventions that keep production, development and staging apart.

pub mod check;
pub mod envfile;
pub mod report;
pub mod show;
pub mod tracked;
pub mod vars;
