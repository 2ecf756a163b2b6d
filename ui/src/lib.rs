//! Rota's user interface: a Leptos client-side app compiled to wasm32 and embedded in the
//! desktop shell. `app` is the window's shell, `state` the state views share and how they read
//! and write it, one file per view (`sessions`, `settings/*`), reusable widgets in
//! `components/`, and every backend call through [`ipc`].
//!
//! Boundaries: depends on `rota-types` only for data; talks to the shell exclusively through
//! the typed commands of `rota_types::command` and the shell's events.

mod app;
mod components;
pub mod ipc;
mod sessions;
mod settings;
mod state;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point, run by the generated module's `init()`.
#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
