// SPDX-License-Identifier: GPL-2.0

//! Host build of xen_pv_net's kernel-independent modules.
//!
//! The very same source files that the kernel module compiles (under
//! `rust/`) are included here, so `cargo test` exercises the code that runs
//! in the kernel. The crate is `no_std` like the kernel crate, and enables
//! the lints the kernel build enforces.

#![no_std]
// The lints the kernel build enables (scripts/Makefile.build, rust/Makefile).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(non_ascii_idents)]
#![warn(rust_2018_idioms)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::ignored_unit_patterns)]
#![warn(clippy::mut_mut)]
#![warn(clippy::needless_bitwise_bool)]
#![warn(clippy::needless_continue)]
#![warn(clippy::unnecessary_safety_comment)]
#![warn(clippy::unnecessary_safety_doc)]

#[path = "../../../rust/netif.rs"]
pub mod netif;

#[path = "../../../rust/ring.rs"]
pub mod ring;

#[path = "../../../rust/grant.rs"]
pub mod grant;

#[path = "../../../rust/queue.rs"]
pub mod queue;

#[path = "../../../rust/negotiate.rs"]
pub mod negotiate;

#[path = "../../../rust/detect.rs"]
pub mod detect;

#[path = "../../../rust/stats.rs"]
pub mod stats;
