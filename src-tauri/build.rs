fn main() {
    // App-command permissions are generated from the one list of command names in rota-types,
    // so a command cannot be registered without being declared (and granted) and vice versa.
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(rota_types::COMMAND_NAMES)),
    )
    .expect("tauri-build failed");
}
