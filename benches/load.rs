//! Placeholder replaced by the load comparison.
fn main() {}
