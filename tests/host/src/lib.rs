// SPDX-License-Identifier: GPL-2.0

//! Host build of xen_pv_net's kernel-independent modules.
//!
//! The very same source files that the kernel module compiles (under
//! `rust/`) are included here, so `cargo test` exercises the code that runs
//! in the kernel. The crate is `no_std` like the kernel crate (except for
//! the test build: the test harness needs `std`), and enables the lints the
//! kernel build enforces. The tests are unit tests of this crate
//! (`src/tests/`), so the modules' items can stay `pub(crate)` as in the
//! kernel crate, and what only the tests use is `#[cfg(test)]`.

#![cfg_attr(not(test), no_std)]
// Without the tests nothing in this crate uses the modules, so all of them
// would be reported as dead code. Whether the driver leaves anything unused
// is checked where it matters: by the kernel build, which compiles the same
// files without `cfg(test)` together with their users, the kernel glue.
#![cfg_attr(not(test), allow(dead_code))]
// The lints the kernel build enables (Makefile, scripts/Makefile.build,
// rust/Makefile).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(non_ascii_idents)]
#![warn(rust_2018_idioms)]
#![warn(unreachable_pub)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::ignored_unit_patterns)]
#![warn(clippy::mut_mut)]
#![warn(clippy::needless_bitwise_bool)]
#![warn(clippy::needless_continue)]
#![warn(clippy::unnecessary_safety_comment)]
#![warn(clippy::unnecessary_safety_doc)]

#[path = "../../../rust/netif.rs"]
mod netif;

#[path = "../../../rust/ring.rs"]
mod ring;

#[path = "../../../rust/back_ring.rs"]
mod back_ring;

#[path = "../../../rust/grant.rs"]
mod grant;

#[path = "../../../rust/queue.rs"]
mod queue;

#[path = "../../../rust/tx_queue.rs"]
mod tx_queue;

#[path = "../../../rust/rx_queue.rs"]
mod rx_queue;

#[path = "../../../rust/negotiate.rs"]
mod negotiate;

#[path = "../../../rust/detect.rs"]
mod detect;

#[path = "../../../rust/stats.rs"]
mod stats;

#[cfg(test)]
mod tests;
