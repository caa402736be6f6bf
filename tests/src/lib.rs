//! Test-support crate: the end-to-end tests live in tests/tests/.
