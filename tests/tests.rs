//! Workspace integration tests (filled in below).
