// SPDX-License-Identifier: GPL-2.0

//! The host tests, compiled only by `cargo test`: unit tests of the crate,
//! so they reach the modules' `pub(crate)` items and the test-only ones
//! (`#[cfg(test)]`, such as the backend half of the ring that the simulated
//! backend drives) that the kernel module does not ship.

mod common;

mod detect;
mod fuzz;
mod grant;
mod layout;
mod negotiate;
mod offload;
mod ring;
mod rx_queue;
mod sim;
mod tx_queue;
