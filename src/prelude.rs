//! What std's prelude gives, from `alloc`, so that the same code builds with
//! std (tests, native) and without it (the shipped wasm modules, feature `pkg`).
//! Every module starts with `use crate::prelude::*;`.

pub use alloc::borrow::ToOwned;
pub use alloc::boxed::Box;
pub use alloc::format;
pub use alloc::string::{String, ToString};
pub use alloc::vec;
pub use alloc::vec::Vec;
