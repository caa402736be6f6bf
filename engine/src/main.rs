//! The `espp` command line.
fn main() {}
