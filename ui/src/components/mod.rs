//! Widgets shared by several views.

pub mod confirm;
pub mod copy_line;
pub mod gateway_pill;
pub mod icons;
pub mod notice;
pub mod toggle;
pub mod usage_bar;
