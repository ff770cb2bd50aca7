//! Admin tools that drive the call state machine without HTTP or a phone:
//! `simulate`, `test` (flow scenarios) and `graph` (diagrams).

pub mod driver;
pub mod graph;
pub mod scenario;
pub mod simulate;
