//! Per-OS expectations: scenario code names the meaning, this module gives the value.
//!
//! Each supported OS has one submodule defining the same items; a port is one more module.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;
