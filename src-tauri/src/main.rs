// No console window on Windows release builds; the app lives in its window and the tray.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// The app hosts the gateway: its per-request allocations are cheaper with this allocator.
#[global_allocator]
static GLOBAL: rota_gateway::GlobalAllocator = rota_gateway::GlobalAllocator;

fn main() {
    rota_app::run();
}
